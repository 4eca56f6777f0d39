"""The screen-first warnings shown with every list of muscles to examine."""

from collections.abc import Iterable

from django import template

from needlechart import knowledge

register = template.Library()


def _region_ids(selected: Iterable[object] | None) -> list[str]:
    """Region ids from what the candidates include is given as `selected`.

    The body chart gives region ids; the assessment gives (label, pain mark) pairs, each
    mark with its `region`.
    """
    ids = []
    for item in selected or ():
        if isinstance(item, str):
            ids.append(item)
            continue
        mark = item[1] if isinstance(item, tuple | list) and len(item) == 2 else item
        region = getattr(mark, "region", None)
        if isinstance(region, str):
            ids.append(region)
    return ids


@register.simple_tag(takes_context=True)
def screen_first_warnings(context: template.Context) -> list[dict]:
    """The page's `screen_first` warnings, or those raised by the regions in `selected`.

    Pages that rank muscles themselves pass their ranking's warnings as `screen_first`;
    any other page that includes the candidate list gets them from its marked regions, so
    a warning can never be left out of a list of muscles to examine.
    """
    given = context.get("screen_first")
    if isinstance(given, list | tuple):
        return list(given)
    known = {r.id for r in knowledge.regions()}
    regions = [r for r in _region_ids(context.get("selected")) if r in known]
    return [w.as_json() for w in knowledge.screen_first(regions)]
