"""The body chart as inline SVG, with regions marked for a page."""

import re
from collections.abc import Mapping
from functools import cache

from django.utils.safestring import SafeString, mark_safe

from needlechart import knowledge

REGION_PATH = re.compile(r'<path id="(?P<id>[a-z0-9-]+)" class="region"')


@cache
def _svg() -> str:
    svg = knowledge.atlas_svg()
    # The file's own XML declaration and size attributes do not belong inline in HTML.
    svg = re.sub(r"^<\?xml[^>]*>\s*", "", svg)
    return svg.replace("<svg ", '<svg class="atlas" ', 1)


def chart(marks: Mapping[str, str] | None = None, *, interactive: bool = False) -> SafeString:
    """The atlas with extra classes on regions (e.g. {"temple-left": "is-primary"}).

    Interactive charts make each region a keyboard-operable toggle button, and the chart
    a group of them: an image may hold no controls (axe: nested-interactive).
    """
    marks = marks or {}

    def mark(match: re.Match[str]) -> str:
        region_id = match.group("id")
        classes = " ".join(["region", marks.get(region_id, "")]).strip()
        extra = ' tabindex="0" role="button" aria-pressed="false"' if interactive else ""
        return f'<path id="{region_id}" class="{classes}"{extra}'

    svg = REGION_PATH.sub(mark, _svg())
    if interactive:
        svg = svg.replace(' role="img"', ' role="group"', 1)
    # The SVG is a file shipped with the package, not user input.
    return mark_safe(svg)  # noqa: S308


def pain_shades(intensities: Mapping[str, int]) -> dict[str, str]:
    """Classes shading each marked region by its pain (0-10 in six steps): the assessment
    page and the assessment report draw the same chart from this."""
    return {region: f"is-pain-{(intensity + 1) // 2}" for region, intensity in intensities.items()}


def muscle_marks(slug: str, side: str | None) -> dict[str, str]:
    """Classes showing a muscle's needling sites and typical zones on one side."""
    entry = knowledge.muscle(slug)
    marks: dict[str, str] = {}
    zones = [
        (entry.referral.spillover, "is-spillover", entry.referral.bilateral),
        (entry.referral.primary, "is-primary", entry.referral.bilateral),
        (entry.needling_regions, "is-local", False),
    ]
    for bases, css, both_sides in zones:
        for base in bases:
            for region_id in knowledge.region_ids_for(base, None if both_sides else side):
                marks[region_id] = css
    return marks
