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
from needlechart.knowledge.regions import SIDES, is_sided_base, region
from needlechart.knowledge.schema import Side
from needlechart.knowledge.screen_first import ScreenFirst, screen_first

Kind = Literal["primary", "local", "spillover"]
# How strongly a match points at a muscle: its essential referral zone, its less constant
# spillover zone, or only the place where it lies (its trigger points are there, but its
# pattern is felt elsewhere). A muscle that refers pain to a region outweighs one that
# merely lies beneath it, so remote sources are not buried under local muscles.
WEIGHTS: dict[Kind, float] = {"primary": 1.0, "spillover": 0.4, "local": 0.3}
Why = Literal["refers", "lies", "refers-and-lies"]
WHY_LABELS: dict[Why, str] = {
    "refers": "Refers pain there",
    "lies": "Lies under the pain",
    "refers-and-lies": "Refers pain there and lies under it",
}
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
    # The matched regions in its referral zone (main or spillover), and those it lies under.
    refers_to: tuple[str, ...]
    lies_under: tuple[str, ...]
    # Tie-breakers at an equal score: main-zone matches, regions for which the pain guides
    # name it among the most frequent sources, a well-described pattern, how much
    # of the muscle's main referral zone the pain fills (a narrow zone that fits beats a
    # wide one), then remote sources before muscles lying under the pain.
    primary_matches: int
    common_matches: int
    well_described: bool
    precision: float

    @property
    def under_pain(self) -> int:
        return len(self.lies_under)

    @property
    def why(self) -> Why:
        """Why it is listed: it refers pain to the marked regions, lies under them, or both."""
        if self.refers_to and self.lies_under:
            return "refers-and-lies"
        return "refers" if self.refers_to else "lies"

    def as_json(self) -> dict:
        return {
            "muscle": self.muscle,
            "name": self.name,
            "side": self.side,
            "score": self.score,
            "matched": list(self.matched),
            "reasons": list(self.reasons),
            "why": self.why,
            "why_label": WHY_LABELS[self.why],
            "refers_to": list(self.refers_to),
            "lies_under": list(self.lies_under),
            "well_described": self.well_described,
        }


class Ranking(list[Candidate]):
    """Candidates best first, with the screen-first warnings the marked regions raise.

    A list, so callers that iterate, slice or compare it with a list keep working.
    """

    def __init__(
        self, candidates: Iterable[Candidate] = (), warnings: Iterable[ScreenFirst] = ()
    ) -> None:
        super().__init__(candidates)
        self.warnings: tuple[ScreenFirst, ...] = tuple(warnings)

    def as_json(self) -> dict:
        return {
            "candidates": [c.as_json() for c in self],
            "warnings": [w.as_json() for w in self.warnings],
            "note": NOTE,
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


def warnings_for(regions: Iterable[str]) -> tuple[ScreenFirst, ...]:
    """Causes to rule out before treating pain in these regions as muscular."""
    return screen_first(regions)


@cache
def _zones(slug: str) -> dict[str, Kind]:
    """Each region base of a muscle with the strongest way it relates to the muscle.

    Referral outranks location: a region where the muscle lies that is also in its
    spillover zone counts as spillover.
    """
    entry = next(m for m in muscles() if m.slug == slug)
    zones: dict[str, Kind] = {}
    for base in entry.needling_regions:
        zones[base] = "local"
    for base in entry.referral.spillover:
        zones[base] = "spillover"
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
    there = (
        ", and its trigger points lie there"
        if kind != "local" and pain.base in entry.needling_regions
        else ""
    )
    return f"{pain.label} {what} {who}{both}{there}."


def _candidate(
    entry: Muscle, side: Side | None, pains: list[Pain], total: float, *, mirror: bool = False
) -> Candidate | None:
    """The muscle on one side (or either side) as an explanation of the pain, if it is one.

    `mirror` names, in each reason, the side of the pain: the muscle on both sides.
    """
    zones = _zones(entry.slug)
    matched, reasons, refers, lies, score, primary, common = [], [], [], [], 0.0, 0, 0
    for pain in pains:
        kind = zones.get(pain.base)
        if kind is None or not _side_fits(pain, entry, side, kind):
            continue
        matched.append(pain.name)
        reasons.append(_reason(pain, entry, pain.side if mirror else side, kind))
        score += WEIGHTS[kind] * pain.weight
        primary += kind == "primary"
        if kind != "local":
            refers.append(pain.name)
            common += pain.base in entry.referral.common_source_for
        if pain.base in entry.needling_regions:
            lies.append(pain.name)
    if not matched:
        return None
    main_zone = set(entry.referral.primary)
    precision = len({p.base for p in pains if p.name in matched} & main_zone) / len(main_zone)
    return Candidate(
        muscle=entry.slug,
        name=entry.name,
        side=side,
        score=round(score / total, 3),
        matched=tuple(matched),
        reasons=tuple(reasons),
        refers_to=tuple(refers),
        lies_under=tuple(lies),
        primary_matches=primary,
        common_matches=common,
        well_described=entry.referral.well_described,
        precision=round(precision, 3),
    )


def _bases(candidate: Candidate, pains: list[Pain]) -> set[str]:
    return {p.base for p in pains if p.name in candidate.matched}


def rank_muscles(regions: Iterable[str] | Mapping[str, float], top: int | None = 10) -> Ranking:
    """Muscles whose typical zones cover the painful regions, best first.

    `regions` is a list of region ids (e.g. "temple-right"), or a mapping of region id to
    pain intensity 0-10 that weights each region. A sided base without its side ("temple")
    means the side was not stated and matches either side. The score is the weighted share
    of the pain the muscle's zones cover (1.0: every region in its main zone). The result
    also carries the screen-first `warnings` of the painful regions.
    """
    if top is not None and top < 1:
        raise InvalidInput("top must be at least 1")
    pains = _pains(regions)
    total = sum(p.weight for p in pains)
    if not pains:
        return Ranking()
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
            -c.primary_matches,
            -c.common_matches,
            not c.well_described,
            -c.precision,
            c.under_pain,
            c.muscle,
            c.side or "",
        )
    )
    warnings = screen_first(p.name for p in pains)
    return Ranking(candidates[:top] if top else candidates, warnings)


def _either_side(entry: Muscle, pains: list[Pain], total: float) -> Candidate:
    found = _candidate(entry, None, pains, total)
    assert found is not None  # both sides matched, so the side-less view matches too
    return found
