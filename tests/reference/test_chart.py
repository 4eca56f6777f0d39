"""The body chart as inline SVG: an image to look at, or a group of buttons to press."""

import re

from needlechart.reference.chart import chart


def _root(svg: str) -> str:
    return re.match(r"<svg[^>]*>", svg).group(0)


def test_an_interactive_chart_is_a_group_of_region_buttons_not_an_image():
    svg = str(chart(interactive=True))
    # An image may not hold controls (axe-core: nested-interactive); a group may.
    assert 'role="group"' in _root(svg) and 'role="img"' not in _root(svg)
    assert 'aria-labelledby="atlas-title"' in _root(svg)
    buttons = re.findall(
        r'<path id="([a-z0-9-]+)" class="region[^"]*" tabindex="0" role="button"', svg
    )
    assert len(buttons) == svg.count('class="region')
    assert "temple-right" in buttons


def test_a_chart_to_look_at_stays_an_image_without_controls():
    svg = str(chart({"temple-right": "is-primary"}))
    assert 'role="img"' in _root(svg)
    assert 'role="button"' not in svg and "tabindex" not in svg
