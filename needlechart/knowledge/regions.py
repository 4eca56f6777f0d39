"""The body-region atlas: region ids with their view and side, and the SVG pain chart."""

from dataclasses import dataclass
from functools import cache
from typing import Literal

from needlechart.knowledge.errors import UnknownCode
from needlechart.knowledge.loader import data_text, load
from needlechart.knowledge.schema import RegionFile, Side

SIDES: tuple[Side, Side] = ("left", "right")


@dataclass(frozen=True, slots=True)
class Region:
    """One clickable region of the chart, e.g. 'temple-left' (base 'temple', side 'left')."""

    id: str
    base: str
    label: str
    view: Literal["front", "back"]
    side: Side | None
    limb: Literal["arm", "leg"] | None
    limb_root: Literal["arm", "leg"] | None = None
    joint: str | None = None

    @property
    def display(self) -> str:
        return f"{self.label} ({self.side})" if self.side else self.label

    def as_json(self) -> dict:
        return {"id": self.id, "label": self.label, "view": self.view, "side": self.side}


@cache
def regions() -> tuple[Region, ...]:
    """Every region id of the chart; sided regions once per side."""
    result = []
    for entry in load("regions.json", RegionFile).regions:
        sides: tuple[Side | None, ...] = SIDES if entry.sided else (None,)
        for side in sides:
            result.append(
                Region(
                    id=f"{entry.base}-{side}" if side else entry.base,
                    base=entry.base,
                    label=entry.label,
                    view=entry.view,
                    side=side,
                    limb=entry.limb,
                    limb_root=entry.limb_root,
                    joint=entry.joint,
                )
            )
    return tuple(result)


@cache
def _by_id() -> dict[str, Region]:
    return {region.id: region for region in regions()}


@cache
def region_bases() -> frozenset[str]:
    return frozenset(region.base for region in regions())


def region(region_id: str) -> Region:
    try:
        return _by_id()[region_id]
    except KeyError:
        raise UnknownCode("region", region_id) from None


def is_sided_base(name: str) -> bool:
    """True for a base such as 'temple' that exists only with a side."""
    return name in region_bases() and name not in _by_id()


def region_ids_for(name: str, side: Side | None = None) -> tuple[str, ...]:
    """Region ids for a name that may be an id or a base (a sided base: `side`, else both)."""
    if name in _by_id():
        return (name,)
    if is_sided_base(name):
        return tuple(f"{name}-{s}" for s in ((side,) if side else SIDES))
    raise UnknownCode("region", name)


@cache
def atlas_svg() -> str:
    """The front and back body chart; every region is a path whose id is the region id."""
    return data_text("atlas.svg")
