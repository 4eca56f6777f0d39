"""Procedure coding for a needling session.

CPT 20560 covers needle insertion without injection into one or two muscles and 20561
three or more (from 2020). The AMA owns the descriptors, so only the codes are shipped.
"""

from collections.abc import Iterable

from needlechart.knowledge.muscles import muscle

CPT_ONE_OR_TWO = "20560"
CPT_THREE_OR_MORE = "20561"
CPT_SOURCE = "AMA CPT 2020: codes 20560 and 20561, counted by distinct muscles needled."


def suggest_cpt(
    muscles: Iterable[str | tuple[str, str | None]], *, count_sides_separately: bool = False
) -> str | None:
    """The CPT code for a session from the muscles needled, or None when none were.

    Items are muscle slugs, or (slug, side) pairs. The same muscle on both sides counts
    once unless `count_sides_separately` is set: payers differ on this, so a clinic
    chooses. Unknown muscles raise UnknownCode naming them.
    """
    distinct: set[tuple[str, str | None]] = set()
    for item in muscles:
        slug, side = (item, None) if isinstance(item, str) else item
        muscle(slug)
        distinct.add((slug, side if count_sides_separately else None))
    if not distinct:
        return None
    return CPT_ONE_OR_TWO if len(distinct) <= 2 else CPT_THREE_OR_MORE
