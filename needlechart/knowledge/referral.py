"""Referral decision support: which muscles typically refer pain to the regions a patient marks.

Referral maps are typical patterns that suggest where to examine; no fixed referral
location should be expected (Fernández-de-las-Peñas & Dommerholt 2018), so a ranking is
a list of muscles worth examining, never a diagnosis.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Literal

from needlechart.knowledge.errors import InvalidInput
from needlechart.knowledge.muscles import Muscle, muscles
from needlechart.knowledge.regions import SIDES, is_sided_base, region, region_ids_for
from needlechart.knowledge.schema import Side

Kind = Literal["primary", "local", "spillover"]
# How strongly a match points at a muscle: its essential zone, the site of its trigger
# points (local pain), or the less constant spillover zone.
WEIGHTS: dict[Kind, float] = {"primary": 1.0, "local": 0.7, "spillover": 0.4}
NOTE = (
    "Typical referral patterns suggest which muscles to examine; they are not a diagnosis, "
    "and a patient's pattern may differ."
)


@dataclass(frozen=True, slots=True)
class Pain:
    name: str  # as given: a region id, or a sided base meaning "side not stated"
    base: str
    side: Side | None  # None: a midline region, or a side not stated
    label: str
    weight: float


@dataclass(frozen=True, slots=True)
class Candidate:
    muscle: str
    name: str
    side: Side | None  # None: either side, or both sides when the pain is on both
    score: float
    matched: tuple[str, ...]
    reasons: tuple[str, ...]
    # Tie-breakers: pain right over the muscle, then main-zone matches, then how much of
    # the muscle's own zone the pain fills (a narrow zone that fits beats a wide one).
    under_pain: int
    primary_matches: int
    precision: float

    def as_json(self) -> dict:
        return {
            "muscle": self.muscle,
            "name": self.name,
            "side": self.side,
            "score": self.score,
            "matched": list(self.matched),
            "reasons": list(self.reasons),
        }


def _pains(regions: Iterable[str] | Mapping[str, float]) -> list[Pain]:
    items = regions.items() if isinstance(regions, Mapping) else ((r, None) for r in regions)
    pains: dict[str, Pain] = {}
    for name, intensity in items:
        if intensity is not None and (
            isinstance(intensity, bool)
            or not isinstance(intensity, int | float)
            or not 0 <= intensity <= 10
        ):
            raise InvalidInput(f"pain intensity for {name} must be 0-10, not {intensity}")
        if intensity == 0:
            continue
        weight = 1.0 if intensity is None else intensity / 10
        if is_sided_base(name):
            known = region(f"{name}-left")
            pains[name] = Pain(name, name, None, f"{known.label} (side not stated)", weight)
        else:
            found = region(name)  # raises UnknownCode naming the region
            pains[name] = Pain(name, found.base, found.side, found.display, weight)
    for pain in pains.values():
        if pain.name == pain.base and any(
            other.base == pain.base and other.side for other in pains.values()
        ):
            raise InvalidInput(
                f"{pain.name} (either side) overlaps a region of the same name with a side; "
                "give each region once"
            )
    return list(pains.values())


def warnings_for(regions: Iterable[str]) -> list[str]:
    """Causes to rule out before treating pain in these regions as muscular."""
    found: dict[str, None] = {}
    for name in regions:
        ids = region_ids_for(name)
        if region(ids[0]).screen_first:
            found[region(ids[0]).screen_first] = None
    return list(found)


@cache
def _zones(slug: str) -> dict[str, Kind]:
    """Each region base of a muscle with the strongest way it relates to the muscle."""
    entry = next(m for m in muscles() if m.slug == slug)
    zones: dict[str, Kind] = {}
    for base in entry.referral.spillover:
        zones[base] = "spillover"
    for base in entry.needling_regions:
        zones[base] = "local"
    for base in entry.referral.primary:
        zones[base] = "primary"
    return zones


def _side_fits(pain: Pain, entry: Muscle, side: Side | None, kind: Kind) -> bool:
    if pain.side is None or side is None:
        return True
    if kind != "local" and entry.referral.bilateral:
        return True
    return pain.side == side


def _reason(pain: Pain, entry: Muscle, side: Side | None, kind: Kind) -> str:
    who = f"the {side} {entry.name.lower()}" if side else f"the {entry.name.lower()}"
    what = {
        "primary": "lies in the typical main referral zone of",
        "spillover": "lies in the typical spillover referral zone of",
        "local": "is where trigger points lie in",
    }[kind]
    both = (
        " (a pattern often felt on both sides)"
        if kind != "local" and entry.referral.bilateral
        else ""
    )
    return f"{pain.label} {what} {who}{both}."


def _candidate(
    entry: Muscle, side: Side | None, pains: list[Pain], total: float, *, mirror: bool = False
) -> Candidate | None:
    """The muscle on one side (or either side) as an explanation of the pain, if it is one.

    `mirror` names, in each reason, the side of the pain: the muscle on both sides.
    """
    zones = _zones(entry.slug)
    matched, reasons, score, primary, under = [], [], 0.0, 0, 0
    for pain in pains:
        kind = zones.get(pain.base)
        if kind is None or not _side_fits(pain, entry, side, kind):
            continue
        matched.append(pain.name)
        reasons.append(_reason(pain, entry, pain.side if mirror else side, kind))
        score += WEIGHTS[kind] * pain.weight
        primary += kind == "primary"
        under += pain.base in entry.needling_regions
    if not matched:
        return None
    own_zone = set(entry.referral.primary) | set(entry.needling_regions)
    precision = len({p.base for p in pains if p.name in matched} & own_zone) / len(own_zone)
    return Candidate(
        muscle=entry.slug,
        name=entry.name,
        side=side,
        score=round(score / total, 3),
        matched=tuple(matched),
        reasons=tuple(reasons),
        under_pain=under,
        primary_matches=primary,
        precision=round(precision, 3),
    )


def _bases(candidate: Candidate, pains: list[Pain]) -> set[str]:
    return {p.base for p in pains if p.name in candidate.matched}


def rank_muscles(
    regions: Iterable[str] | Mapping[str, float], top: int | None = 10
) -> list[Candidate]:
    """Muscles whose typical zones cover the painful regions, best first.

    `regions` is a list of region ids (e.g. "temple-right"), or a mapping of region id to
    pain intensity 0-10 that weights each region. A sided base without its side ("temple")
    means the side was not stated and matches either side. The score is the weighted share
    of the pain the muscle's zones cover (1.0: every region in its main zone).
    """
    if top is not None and top < 1:
        raise InvalidInput("top must be at least 1")
    pains = _pains(regions)
    total = sum(p.weight for p in pains)
    if not pains:
        return []
    candidates: list[Candidate] = []
    for entry in muscles():
        if not entry.sided:
            found = _candidate(entry, None, pains, total)
            candidates.extend([found] if found else [])
            continue
        left, right = (_candidate(entry, side, pains, total) for side in SIDES)
        if left and right and (left.matched, left.score) == (right.matched, right.score):
            # Only midline or side-less pain matched: one entry for either side.
            candidates.append(_either_side(entry, pains, total))
        elif left and right and _bases(left, pains) == _bases(right, pains):
            # The same pattern on both sides (pain in both temples): the muscle on both sides
            # explains it, as one entry.
            both = _candidate(entry, None, pains, total, mirror=True)
            assert both is not None
            candidates.append(both)
        else:
            candidates.extend(c for c in (left, right) if c)
    candidates.sort(
        key=lambda c: (
            -c.score,
            -c.under_pain,
            -c.primary_matches,
            -c.precision,
            c.muscle,
            c.side or "",
        )
    )
    return candidates[:top] if top else candidates


def _either_side(entry: Muscle, pains: list[Pain], total: float) -> Candidate:
    found = _candidate(entry, None, pains, total)
    assert found is not None  # both sides matched, so the side-less view matches too
    return found
