"""Safety screening: a verdict for the patient and for each planned needling, with reasons.

Rules follow the APTA (2013) and ISCP (2012) guidance as tabulated in the clinical
reference: some factors bar needling for the whole patient, some only for a limb, a
region or a technique, and the structures beneath a muscle (the lung above all) call for
caution on their own. Removing a factor can only make a verdict milder.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from needlechart.knowledge.errors import InvalidInput, UnknownCode
from needlechart.knowledge.loader import load
from needlechart.knowledge.muscles import Muscle, muscle
from needlechart.knowledge.regions import SIDES, region, region_ids_for
from needlechart.knowledge.schema import FactorRule, SafetyFile, Side, Verdict

ORDER: dict[Verdict, int] = {"allowed": 0, "caution": 1, "contraindicated": 2}
LIMBS = ("arm", "leg")


@cache
def _rules() -> SafetyFile:
    data = load("safety.json", SafetyFile)
    for factor in data.factors:
        for name in factor.regions:
            region_ids_for(name)  # raises if the data names an unknown region
    return data


def factor_rules() -> tuple[FactorRule, ...]:
    return tuple(_rules().factors)


def factor_rule(code: str) -> FactorRule:
    for rule in _rules().factors:
        if rule.code == code:
            return rule
    raise UnknownCode("screening factor", code)


def techniques() -> dict[str, str]:
    return {t.code: t.label for t in _rules().techniques}


def _short(sources: list[str]) -> str:
    entries = [_rules().sources[key] for key in sources]
    return "; ".join(entry.short or entry.citation for entry in entries)


@dataclass(frozen=True, slots=True)
class Factor:
    """One screening answer: a factor code with the details its rule needs."""

    code: str
    limb: str | None = None
    side: Side | None = None
    regions: tuple[str, ...] = ()
    trimester: int | None = None
    drug: str | None = None
    inr: float | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class PlanItem:
    muscle: str
    side: Side | None = None
    technique: str = "dry-needling"


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    text: str
    source: str
    verdict: Verdict
    # "high" marks a stronger caution (e.g. a lung risk factor over the lung).
    level: str = "standard"

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "text": self.text, "source": self.source, "level": self.level}


@dataclass(frozen=True, slots=True)
class Assessment:
    verdict: Verdict
    reasons: tuple[Reason, ...]

    def as_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reasons": [r.as_json() for r in self.reasons]}


@dataclass(frozen=True, slots=True)
class ItemAssessment:
    item: PlanItem
    verdict: Verdict
    reasons: tuple[Reason, ...]
    # Structures to watch that do not change the verdict on their own.
    notes: tuple[Reason, ...] = ()

    @property
    def level(self) -> str | None:
        """For a caution: "high" when any reason is a stronger caution, else "standard"."""
        if self.verdict != "caution":
            return None
        return "high" if any(r.level == "high" for r in self.reasons) else "standard"

    def as_json(self) -> dict[str, Any]:
        return {
            "muscle": self.item.muscle,
            "side": self.item.side,
            "technique": self.item.technique,
            "verdict": self.verdict,
            "caution_level": self.level,
            "reasons": [r.as_json() for r in self.reasons],
            "notes": [n.as_json() for n in self.notes],
        }


@dataclass(frozen=True, slots=True)
class Screening:
    patient: Assessment
    items: tuple[ItemAssessment, ...]

    def as_json(self) -> dict[str, Any]:
        return {"patient": self.patient.as_json(), "items": [i.as_json() for i in self.items]}


# --- input ---------------------------------------------------------------------------------


def _side(value: Any, what: str) -> Side | None:
    if value is None:
        return None
    if value not in SIDES:
        raise InvalidInput(f"{what}: side must be 'left' or 'right', not {value!r}")
    return value


def _text(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 200:
        raise InvalidInput(f"{what} must be text of up to 200 characters, not {value!r}")
    return value.strip() or None


# Factors that may be given more than once, each time for another limb or region.
REPEATABLE = frozenset({"lymphedema", "local-infection", "joint-surgery"})


def parse_factor(data: Mapping[str, Any] | Factor) -> Factor:
    if isinstance(data, Factor):
        data = {k: getattr(data, k) for k in Factor.__slots__ if getattr(data, k) not in (None, ())}
    if not isinstance(data, Mapping) or not isinstance(data.get("code"), str):
        raise InvalidInput(f"a factor is an object with a code, not {data!r}")
    rule = factor_rule(data["code"])
    extra = set(data) - {"code", *rule.params}
    if extra:
        raise InvalidInput(f"factor {rule.code} does not take {', '.join(sorted(extra))}")
    limb = data.get("limb")
    if limb is not None and limb not in LIMBS:
        raise InvalidInput(f"factor {rule.code} needs limb 'arm' or 'leg', not {limb!r}")
    if rule.scope == "limb" and limb is None:
        raise InvalidInput(f"factor {rule.code} needs limb 'arm' or 'leg', not None")
    regions = data.get("regions", [])
    if not isinstance(regions, list | tuple) or not all(isinstance(r, str) for r in regions):
        raise InvalidInput(f"factor {rule.code}: regions must be a list of region ids")
    if rule.scope == "region" and not regions:
        raise InvalidInput(f"factor {rule.code} needs the regions it affects")
    for name in regions:
        region_ids_for(name)  # an unknown region raises UnknownCode naming it
    trimester = data.get("trimester")
    if trimester is not None and (type(trimester) is not int or trimester not in (1, 2, 3)):
        raise InvalidInput(f"factor {rule.code}: trimester must be 1, 2 or 3, not {trimester!r}")
    inr = data.get("inr")
    if inr is not None and (type(inr) not in (int, float) or not 0.5 <= inr <= 15):
        raise InvalidInput(f"factor {rule.code}: INR must be a number from 0.5 to 15, not {inr!r}")
    return Factor(
        code=rule.code,
        limb=limb,
        side=_side(data.get("side"), rule.code),
        regions=tuple(dict.fromkeys(regions)),
        trimester=trimester,
        drug=_text(data.get("drug"), f"factor {rule.code}: drug"),
        inr=inr,
        detail=_text(data.get("detail"), f"factor {rule.code}: detail"),
    )


def parse_factors(factors: Iterable[Mapping[str, Any] | Factor]) -> list[Factor]:
    parsed = [parse_factor(f) for f in factors]
    seen: set[Factor | str] = set()
    for factor in parsed:
        key: Factor | str = factor if factor.code in REPEATABLE else factor.code
        if key in seen:
            raise InvalidInput(f"factor {factor.code} is given twice")
        seen.add(key)
    return parsed


def parse_item(data: Mapping[str, Any] | PlanItem) -> PlanItem:
    if isinstance(data, PlanItem):
        data = {"muscle": data.muscle, "side": data.side, "technique": data.technique}
    if not isinstance(data, Mapping) or not isinstance(data.get("muscle"), str):
        raise InvalidInput(f"a plan item is an object with a muscle, not {data!r}")
    extra = set(data) - {"muscle", "side", "technique"}
    if extra:
        raise InvalidInput(f"a plan item does not take {', '.join(sorted(extra))}")
    entry = muscle(data["muscle"])
    technique = data.get("technique", "dry-needling")
    if not isinstance(technique, str):
        raise InvalidInput(f"technique must be text, not {technique!r}")
    if technique not in techniques():
        raise UnknownCode("technique", technique)
    side = _side(data.get("side"), entry.slug)
    return PlanItem(entry.slug, side if entry.sided else None, technique)


# --- rules ---------------------------------------------------------------------------------


def _where(factor: Factor) -> str:
    parts = []
    if factor.limb:
        parts.append(f"{factor.side + ' ' if factor.side else ''}{factor.limb}")
    if factor.regions:
        parts.append(", ".join(_region_label(name) for name in factor.regions))
    if factor.trimester:
        parts.append(f"trimester {factor.trimester}")
    if factor.drug:
        parts.append(factor.drug)
    if factor.inr is not None:
        parts.append(f"INR {factor.inr:g}")
    if factor.detail:
        parts.append(factor.detail)
    return f" ({'; '.join(parts)})" if parts else ""


def _region_label(name: str) -> str:
    ids = region_ids_for(name)
    return region(ids[0]).display if len(ids) == 1 else f"{region(ids[0]).label} (either side)"


def _reason(
    rule: FactorRule,
    factor: Factor,
    verdict: Verdict,
    text: str | None = None,
    *,
    code: str | None = None,
    level: str | None = None,
) -> Reason:
    body = text or rule.text
    return Reason(
        code or rule.code,
        f"{rule.label}{_where(factor)}: {body}",
        _short(rule.sources),
        verdict,
        level or rule.level,
    )


def _needling_ids(entry: Muscle, side: Side | None) -> set[str]:
    ids: set[str] = set()
    for base in entry.needling_regions:
        ids.update(region_ids_for(base, side))
    return ids


def _limb_hit(entry: Muscle, item: PlanItem, factor: Factor, attribute: str = "limb") -> bool:
    """Whether the item is needled in the factor's limb (or, with "limb_root", its root)."""
    if factor.side and item.side and factor.side != item.side:
        return False
    ids = _needling_ids(entry, item.side)
    return any(getattr(region(rid), attribute) == factor.limb for rid in ids)


def _joint_hit(entry: Muscle, item: PlanItem, factor: Factor) -> bool:
    """Whether the muscle crosses or lies over a joint named by the factor's regions."""
    for name in factor.regions:
        for rid in region_ids_for(name):
            found = region(rid)
            side_fits = not (found.side and item.side and found.side != item.side)
            if found.joint and found.joint in entry.joints and side_fits:
                return True
    return False


def _regions_hit(entry: Muscle, item: PlanItem, names: Iterable[str]) -> bool:
    affected = {rid for name in names for rid in region_ids_for(name)}
    return bool(_needling_ids(entry, item.side) & affected)


def _verdict(reasons: Iterable[Reason]) -> Verdict:
    return max((r.verdict for r in reasons), key=ORDER.__getitem__, default="allowed")


def _policy_verdict(rule: FactorRule, policy: Mapping[str, Verdict]) -> Verdict:
    wanted = policy.get(rule.code)
    if wanted is None:
        return rule.verdict
    if not rule.clinic_may_block or ORDER[wanted] < ORDER[rule.verdict]:
        raise InvalidInput(f"a clinic may not set factor {rule.code} to {wanted}")
    return wanted


def _patient_reasons(factors: list[Factor], policy: Mapping[str, Verdict]) -> list[Reason]:
    reasons = []
    for factor in factors:
        rule = factor_rule(factor.code)
        if rule.scope == "patient":
            reasons.append(_reason(rule, factor, _policy_verdict(rule, policy)))
        else:
            # Limited to a limb, region, technique or structure: the patient may still be
            # needled elsewhere, so the whole-patient verdict is a caution.
            reasons.append(_reason(rule, factor, "caution"))
    return reasons


def _item_reasons(
    item: PlanItem, factors: list[Factor], patient: list[Reason]
) -> tuple[list[Reason], list[Reason]]:
    """The reasons that set the item's verdict, and the notes that do not."""
    entry = muscle(item.muscle)
    reasons = [r for r in patient if factor_rule(r.code).scope == "patient"]
    for factor in factors:
        rule = factor_rule(factor.code)
        hit = (
            (rule.scope == "limb" and _limb_hit(entry, item, factor))
            or (
                rule.scope == "region"
                and (
                    _regions_hit(entry, item, factor.regions)
                    or (rule.code == "joint-surgery" and _joint_hit(entry, item, factor))
                )
            )
            or (rule.scope == "technique" and item.technique == rule.technique)
            or (
                rule.scope == "structure"
                and any(s.structure == rule.structure for s in entry.structures_at_risk)
            )
        )
        if hit:
            reasons.append(_reason(rule, factor, rule.verdict))
        elif rule.root_text and _limb_hit(entry, item, factor, "limb_root"):
            reasons.append(
                _reason(rule, factor, "caution", rule.root_text, code=f"{rule.code}-root")
            )
        if rule.regions and _regions_hit(entry, item, rule.regions):
            first = factor.trimester == 1 and rule.regions_text_first_trimester
            reasons.append(
                _reason(
                    rule,
                    factor,
                    "caution",
                    rule.regions_text_first_trimester if first else rule.regions_text,
                    code=f"{rule.code}-area",
                    level="high" if first else "standard",
                )
            )
    notes = []
    present = {factor.code for factor in factors}
    structure_rules = {s.structure: s for s in _rules().structures}
    for at_risk in entry.structures_at_risk:
        rule = structure_rules[at_risk.structure]
        escalated = sorted(present & set(rule.escalate_with))
        text = f"{rule.text} {at_risk.detail}"
        if rule.verdict == "caution" or escalated:
            if escalated:
                labels = ", ".join(factor_rule(code).label.lower() for code in escalated)
                text += f" A caution here because of: {labels}."
            reasons.append(
                Reason(f"structure-{at_risk.structure}", text, _short(rule.sources), "caution")
            )
        else:
            notes.append(
                Reason(f"structure-{at_risk.structure}", text, _short(rule.sources), "allowed")
            )
    return reasons, notes


def screen(
    factors: Iterable[Mapping[str, Any] | Factor],
    plan: Iterable[Mapping[str, Any] | PlanItem] = (),
    *,
    policy: Mapping[str, Verdict] | None = None,
) -> Screening:
    """Screen a patient's factors against a needling plan.

    `factors` are dicts such as {"code": "lymphedema", "limb": "arm", "side": "left"};
    `plan` items are {"muscle": "infraspinatus", "side": "left", "technique":
    "dry-needling" | "electrical-stimulation"}. `policy` lets a clinic make a factor
    marked `clinic_may_block` stricter (e.g. {"systemic-infection": "contraindicated"}).
    Unknown codes, muscles, regions and techniques raise UnknownCode naming them.
    """
    parsed = parse_factors(factors)
    items = [parse_item(i) for i in plan]
    patient_reasons = _patient_reasons(parsed, policy or {})
    assessed = []
    for item in items:
        reasons, notes = _item_reasons(item, parsed, patient_reasons)
        assessed.append(ItemAssessment(item, _verdict(reasons), tuple(reasons), tuple(notes)))
    return Screening(Assessment(_verdict(patient_reasons), tuple(patient_reasons)), tuple(assessed))
