"""Screen-first prompts: causes other than muscle to rule out before treating pain as muscular.

Wherever muscles are ranked for marked pain, the prompts of the marked regions are shown
with the ranking (chest: heart and lungs; low back: cauda equina, aortic aneurysm, kidneys;
calf: deep vein thrombosis; ...). See docs/knowledge.md.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from needlechart.knowledge.errors import KnowledgeDataError
from needlechart.knowledge.loader import load
from needlechart.knowledge.regions import is_sided_base, region, region_bases, region_ids_for
from needlechart.knowledge.schema import ScreenFirstFile, ScreenFirstPrompt, Source


@dataclass(frozen=True, slots=True)
class ScreenFirst:
    """One prompt raised by the marked regions, naming the regions that raised it."""

    code: str
    label: str
    text: str
    signs: tuple[str, ...]
    regions: tuple[str, ...]  # the marked regions (as given) that raised it
    sources: tuple[tuple[str, Source], ...]

    def as_json(self) -> dict:
        return {
            "code": self.code,
            "label": self.label,
            "text": self.text,
            "signs": list(self.signs),
            "regions": list(self.regions),
            "region_labels": [_label(name) for name in self.regions],
            "sources": [
                {"key": key, **source.model_dump(exclude_none=True)} for key, source in self.sources
            ],
        }

    @property
    def cited(self) -> str:
        """The sources as a short line for screens: "Gulati 2021; Goodman 2018"."""
        return "; ".join(source.short or source.citation for _, source in self.sources)


def _label(name: str) -> str:
    if is_sided_base(name):
        return f"{region(f'{name}-left').label} (side not stated)"
    return region(name).display


@cache
def _file() -> ScreenFirstFile:
    data = load("screen_first.json", ScreenFirstFile)
    bases = region_bases()
    for prompt in data.prompts:
        for base in prompt.regions:
            if base not in bases:
                raise KnowledgeDataError(
                    f"screen-first prompt {prompt.code} names unknown region {base!r}"
                )
    return data


def screen_first_prompts() -> tuple[ScreenFirstPrompt, ...]:
    """Every prompt, head to foot."""
    return tuple(_file().prompts)


def screen_first(regions: Iterable[str]) -> tuple[ScreenFirst, ...]:
    """The prompts raised by pain in these regions (ids, or bases meaning either side).

    Each prompt is listed once, in the file's head-to-foot order, with the regions that
    raised it; an unknown region raises UnknownCode naming it.
    """
    raised: dict[str, list[str]] = {}
    for name in regions:
        base = region(region_ids_for(name)[0]).base
        for prompt in _file().prompts:
            if base in prompt.regions:
                raised.setdefault(prompt.code, []).append(name)
    sources = _file().sources
    return tuple(
        ScreenFirst(
            code=prompt.code,
            label=prompt.label,
            text=prompt.text,
            signs=tuple(prompt.signs),
            regions=tuple(dict.fromkeys(raised[prompt.code])),
            sources=tuple((key, sources[key]) for key in prompt.sources),
        )
        for prompt in _file().prompts
        if prompt.code in raised
    )
