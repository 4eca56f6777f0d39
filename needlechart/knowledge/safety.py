"""Safety screening: a verdict for the patient and for each planned needling, with reasons.

Rules follow the APTA (2013) and ISCP (2012) guidance as tabulated in the clinical
reference, with the further rules of docs/knowledge.md (anticoagulation, the spinal canal,
electrical stimulation and its current path, and the factors added since): some factors
bar needling for the whole patient, some only for a limb, a region, a site or a technique,
and the structures beneath a muscle (the lung above all) call for caution on their own.
Removing a factor can only make a verdict milder.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from needlechart.knowledge.errors import InvalidInput, KnowledgeDataError, UnknownCode
from needlechart.knowledge.loader import load
from needlechart.knowledge.muscles import Muscle, muscle, muscles
from needlechart.knowledge.regions import SIDES, region, region_bases, region_ids_for
from needlechart.knowledge.schema import FactorRule, SafetyFile, Side, Verdict

ORDER: dict[Verdict, int] = {"allowed": 0, "caution": 1, "contraindicated": 2}
LIMBS = ("arm", "leg")
ESTIM = "electrical-stimulation"
# Parameters whose value is one of the rule's `choices`.
CHOICE_PARAMS = ("drug_class", "severity", "status")
VKA = "vitamin-k-antagonist"
# Plausible bounds: values outside them are typing errors, refused by name.
INR_RANGE = (0.5, 15.0)
INR_TARGET_RANGE = (1.0, 5.0)
PLATELET_RANGE = (0.0, 1500.0)
# Derived states of a bleeding factor that make deep, non-compressible sites and the spinal
# canal more dangerous; short words for the reasons that name them.
BLEEDING_STATES = {
    "inr-above": "INR above its target range",
    "inr-unknown": "INR not known",
    "medicine-unknown": "blood thinner not recorded",
    "severe": "severe bleeding tendency",
}


@cache
def _rules() -> SafetyFile:
    data = load("safety.json", SafetyFile)
    bases = region_bases()
    for factor in data.factors:
        named = [*factor.regions, *(factor.estim.regions if factor.estim else [])]
        for name in named:
            region_ids_for(name)  # raises if the data names an unknown region
        for slug in factor.muscles:
            muscle(slug)  # raises if the data names an unknown muscle
    for zone, names in data.body_zones.items():
        for name in names:
            if name not in bases:
                raise KnowledgeDataError(f"body zone {zone} names unknown region {name!r}")
    structures = {rule.structure for rule in data.structures}
    for entry in muscles():
        for at_risk in entry.structures_at_risk:
            if at_risk.structure not in structures:
                raise KnowledgeDataError(
                    f"muscle {entry.slug}: no safety rule for structure {at_risk.structure!r}"
                )
            for key in at_risk.sources:
                if key not in data.sources:
                    raise KnowledgeDataError(
                        f"muscle {entry.slug}: {at_risk.structure} cites unknown source {key!r}"
                    )
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


def _short(sources: Iterable[str]) -> str:
    entries = [_rules().sources[key] for key in dict.fromkeys(sources)]
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
    drug_class: str | None = None
    inr: float | None = None
    # The patient's INR target range, low and high (warfarin-type medicine).
    inr_target: tuple[float, float] | None = None
    # Platelet count, x10^9/L.
    platelets: float | None = None
    severity: str | None = None
    status: str | None = None
    detail: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The factor as the engine reads it back: only the details given."""
        data: dict[str, Any] = {"code": self.code}
        for name in Factor.__slots__[1:]:
            value = getattr(self, name)
            if value not in (None, "", ()):
                data[name] = list(value) if isinstance(value, tuple) else value
        return data


@dataclass(frozen=True, slots=True)
class LeadTo:
    """The other needle of an electrical-stimulation pair: its muscle and side."""

    muscle: str
    side: Side | None = None


@dataclass(frozen=True, slots=True)
class PlanItem:
    muscle: str
    side: Side | None = None
    technique: str = "dry-needling"
    lead_to: LeadTo | None = None


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    text: str
    source: str
    verdict: Verdict
    # "high" marks a stronger caution (e.g. a lung risk factor over the lung).
    level: str = "standard"
    # Set for reasons that apply to every planned item, not only to the patient.
    everywhere: bool = False
    # For a bleeding factor in a state of BLEEDING_STATES: the factor's code.
    bleeding: str | None = None
    # The screening factor the reason comes from (its rule's code), where one does: a
    # derived state has a code of its own ("anticoagulant-inr-above", "dvt-suspected").
    factor: str | None = None

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
        lead = self.item.lead_to
        return {
            "muscle": self.item.muscle,
            "side": self.item.side,
            "technique": self.item.technique,
            "lead_to": {"muscle": lead.muscle, "side": lead.side} if lead else None,
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


def _refused(code: str, param: str, message: str) -> InvalidInput:
    """A refused detail of a factor; `param` lets a form show it beside its field."""
    separator = " " if message.startswith("needs ") else ": "
    error = InvalidInput(f"factor {code}{separator}{message}")
    error.param = param  # type: ignore[attr-defined]
    return error


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _inr_target(value: Any, code: str) -> tuple[float, float]:
    """A target range as two numbers, [2.0, 3.0], or as text, "2.0-3.0"."""
    parts: list[Any] = []
    if isinstance(value, str):
        number = r"(\d+(?:[.,]\d+)?)"
        found = re.fullmatch(rf"\s*{number}\s*(?:-|\u2013|to)\s*{number}\s*", value)
        parts = [float(g.replace(",", ".")) for g in found.groups()] if found else []
    elif isinstance(value, list | tuple) and all(_is_number(v) for v in value):
        parts = [float(v) for v in value]
    low_bound, high_bound = INR_TARGET_RANGE
    if len(parts) != 2 or not low_bound <= parts[0] < parts[1] <= high_bound:
        raise _refused(
            code,
            "inr_target",
            f"INR target range must be two numbers from {low_bound:g} to {high_bound:g}, "
            f"the lower first (such as 2.0-3.0), not {value!r}",
        )
    return parts[0], parts[1]


# Factors that may be given more than once, each time for another limb or region.
REPEATABLE = frozenset(
    {"lymphedema", "lymphedema-risk", "local-infection", "joint-surgery", "malignancy",
     "impaired-sensation", "dvt"}
)  # fmt: skip


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
        raise _refused(rule.code, "limb", f"needs limb 'arm' or 'leg', not {limb!r}")
    if rule.scope == "limb" and limb is None:
        raise _refused(rule.code, "limb", "needs limb 'arm' or 'leg', not None")
    regions = data.get("regions", [])
    if not isinstance(regions, list | tuple) or not all(isinstance(r, str) for r in regions):
        raise _refused(rule.code, "regions", "regions must be a list of region ids")
    if rule.scope == "region" and not regions:
        raise _refused(rule.code, "regions", "needs the regions it affects")
    for name in regions:
        region_ids_for(name)  # an unknown region raises UnknownCode naming it
    trimester = data.get("trimester")
    if trimester is not None and (type(trimester) is not int or trimester not in (1, 2, 3)):
        raise _refused(rule.code, "trimester", f"trimester must be 1, 2 or 3, not {trimester!r}")
    inr = data.get("inr")
    if inr is not None and (not _is_number(inr) or not INR_RANGE[0] <= inr <= INR_RANGE[1]):
        raise _refused(rule.code, "inr", f"INR must be a number from 0.5 to 15, not {inr!r}")
    inr_target = data.get("inr_target")
    if inr_target is not None:
        inr_target = _inr_target(inr_target, rule.code)
    platelets = data.get("platelets")
    if platelets is not None and (
        not _is_number(platelets) or not PLATELET_RANGE[0] <= platelets <= PLATELET_RANGE[1]
    ):
        raise _refused(
            rule.code,
            "platelets",
            f"platelet count must be a number from 0 to 1500 (x10^9/L), not {platelets!r}",
        )
    chosen = {}
    for param in CHOICE_PARAMS:
        value = data.get(param)
        allowed = rule.choices.get(param, {})
        if value is not None and value not in allowed:
            raise _refused(
                rule.code, param, f"{param} must be one of {', '.join(allowed)}, not {value!r}"
            )
        chosen[param] = value
    return Factor(
        code=rule.code,
        limb=limb,
        side=_side(data.get("side"), rule.code),
        regions=tuple(dict.fromkeys(regions)),
        trimester=trimester,
        drug=_text(data.get("drug"), f"factor {rule.code}: drug"),
        drug_class=chosen["drug_class"],
        inr=inr,
        inr_target=inr_target,
        platelets=platelets,
        severity=chosen["severity"],
        status=chosen["status"],
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


def _lead_to(data: Any, technique: str) -> LeadTo | None:
    if data is None:
        return None
    if technique != ESTIM:
        raise InvalidInput(
            f"lead_to names the paired needle of electrical stimulation; technique "
            f"{technique} takes none"
        )
    if isinstance(data, LeadTo):
        data = {"muscle": data.muscle, "side": data.side}
    if not isinstance(data, Mapping) or not isinstance(data.get("muscle"), str):
        raise InvalidInput(f"lead_to is an object with a muscle, not {data!r}")
    extra = set(data) - {"muscle", "side"}
    if extra:
        raise InvalidInput(f"lead_to does not take {', '.join(sorted(extra))}")
    entry = muscle(data["muscle"])
    side = _side(data.get("side"), f"lead_to {entry.slug}")
    return LeadTo(entry.slug, side if entry.sided else None)


def parse_item(data: Mapping[str, Any] | PlanItem) -> PlanItem:
    if isinstance(data, PlanItem):
        data = {
            "muscle": data.muscle,
            "side": data.side,
            "technique": data.technique,
            "lead_to": data.lead_to,
        }
    if not isinstance(data, Mapping) or not isinstance(data.get("muscle"), str):
        raise InvalidInput(f"a plan item is an object with a muscle, not {data!r}")
    extra = set(data) - {"muscle", "side", "technique", "lead_to"}
    if extra:
        raise InvalidInput(f"a plan item does not take {', '.join(sorted(extra))}")
    entry = muscle(data["muscle"])
    technique = data.get("technique", "dry-needling")
    if not isinstance(technique, str):
        raise InvalidInput(f"technique must be text, not {technique!r}")
    if technique not in techniques():
        raise UnknownCode("technique", technique)
    side = _side(data.get("side"), entry.slug)
    lead = _lead_to(data.get("lead_to"), technique)
    return PlanItem(entry.slug, side if entry.sided else None, technique, lead)


# --- rules ---------------------------------------------------------------------------------


def _where(factor: Factor) -> str:
    rule = factor_rule(factor.code)
    parts = []
    if factor.limb:
        parts.append(f"{factor.side + ' ' if factor.side else ''}{factor.limb}")
    elif factor.side:
        parts.append(factor.side)
    if factor.regions:
        parts.append(", ".join(_region_label(name) for name in factor.regions))
    if factor.trimester:
        parts.append(f"trimester {factor.trimester}")
    if factor.drug:
        parts.append(factor.drug)
    for param in CHOICE_PARAMS:
        value = getattr(factor, param)
        if value:
            label = rule.choices[param][value].split(" (")[0]
            parts.append(label[:1].lower() + label[1:])
    if factor.inr is not None:
        parts.append(f"INR {factor.inr:g}")
    if factor.inr_target is not None:
        parts.append(f"INR target {factor.inr_target[0]:g}-{factor.inr_target[1]:g}")
    if factor.platelets is not None:
        parts.append(f"platelets {factor.platelets:g} x10^9/L")
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
    everywhere: bool = False,
    bleeding: str | None = None,
) -> Reason:
    body = text or rule.text
    return Reason(
        code or rule.code,
        f"{rule.label}{_where(factor)}: {body}",
        _short(rule.sources),
        verdict,
        level or rule.level,
        everywhere,
        bleeding,
        rule.code,
    )


def _needling_ids(entry: Muscle, side: Side | None) -> set[str]:
    ids: set[str] = set()
    for base in entry.needling_regions:
        ids.update(region_ids_for(base, side))
    return ids


def _limb_hit(entry: Muscle, side: Side | None, factor: Factor, attribute: str = "limb") -> bool:
    """Whether the muscle is needled in the factor's limb (or, with "limb_root", its root)."""
    if factor.side and side and factor.side != side:
        return False
    ids = _needling_ids(entry, side)
    return any(getattr(region(rid), attribute) == factor.limb for rid in ids)


def _joint_hit(entry: Muscle, side: Side | None, factor: Factor) -> bool:
    """Whether the muscle crosses or lies over a joint named by the factor's regions."""
    for name in factor.regions:
        for rid in region_ids_for(name):
            found = region(rid)
            side_fits = not (found.side and side and found.side != side)
            if found.joint and found.joint in entry.joints and side_fits:
                return True
    return False


def _regions_hit(
    entry: Muscle, side: Side | None, names: Iterable[str], only: Side | None = None
) -> bool:
    """Whether the muscle is needled through the named regions (on side `only` if given)."""
    affected = {rid for name in names for rid in region_ids_for(name, only)}
    return bool(_needling_ids(entry, side) & affected)


def _hits(rule: FactorRule, factor: Factor, entry: Muscle, side: Side | None) -> bool:
    """Whether a limb, region, site or structure rule reaches this muscle on this side."""
    if rule.scope == "limb":
        return _limb_hit(entry, side, factor)
    if rule.scope == "region":
        return _regions_hit(entry, side, factor.regions) or (
            rule.code == "joint-surgery" and _joint_hit(entry, side, factor)
        )
    if rule.scope == "site":
        return _regions_hit(entry, side, rule.regions, factor.side)
    if rule.scope == "structure":
        return any(s.structure == rule.structure for s in entry.structures_at_risk)
    return False


def _verdict(reasons: Iterable[Reason]) -> Verdict:
    return max((r.verdict for r in reasons), key=ORDER.__getitem__, default="allowed")


def _policy_verdict(rule: FactorRule, policy: Mapping[str, Verdict]) -> Verdict:
    wanted = policy.get(rule.code)
    if wanted is None:
        return rule.verdict
    if not rule.clinic_may_block or ORDER[wanted] < ORDER[rule.verdict]:
        raise InvalidInput(f"a clinic may not set factor {rule.code} to {wanted}")
    return wanted


def _drug_class(rule: FactorRule, factor: Factor) -> str | None:
    """The anticoagulant's class: as given, implied by an INR, or named in `drug`."""
    if factor.drug_class:
        return factor.drug_class
    if factor.inr is not None or factor.inr_target is not None:
        return VKA
    words = set(re.findall(r"[a-z]+", (factor.drug or "").lower()))
    found = [cls for cls, names in rule.known_names.items() if words & set(names)]
    return VKA if VKA in found else (found[0] if found else None)


def _state(rule: FactorRule, factor: Factor) -> str | None:
    """A state of the factor, derived from its details, that calls for more than its rule."""
    if rule.code == "anticoagulant":
        drug_class = _drug_class(rule, factor)
        if drug_class is None:
            return "medicine-unknown"
        if drug_class != VKA:
            return None
        high = factor.inr_target[1] if factor.inr_target else rule.limits["inr_target_high"]
        if factor.inr is None:
            return "inr-unknown"
        return "inr-above" if factor.inr > high else None
    if rule.code == "bleeding-disorder":
        low_platelets = factor.platelets is not None and (
            factor.platelets < rule.limits["platelets_below"]
        )
        return "severe" if factor.severity == "severe" or low_platelets else None
    if rule.code == "dvt":
        # Not yet assessed until the clinician records it as diagnosed and treated.
        return None if factor.status == "treated" else "suspected"
    return None


def _state_text(rule: FactorRule, factor: Factor, state: str) -> str:
    text = rule.texts[state]
    if state == "inr-above" and factor.inr is not None:
        low, high = factor.inr_target or (
            rule.limits["inr_target_low"],
            rule.limits["inr_target_high"],
        )
        text += f" Target range {low:g}-{high:g}."
    if state == "inr-unknown" and factor.inr_target is None:
        low, high = rule.limits["inr_target_low"], rule.limits["inr_target_high"]
        text += f" Without a recorded target, the usual range {low:g}-{high:g} applies."
    return text.replace("{platelets_below}", f"{rule.limits.get('platelets_below', 0):g}")


def _patient_reasons(factors: list[Factor], policy: Mapping[str, Verdict]) -> list[Reason]:
    reasons = []
    for factor in factors:
        rule = factor_rule(factor.code)
        if rule.scope == "patient":
            verdict = _policy_verdict(rule, policy)
            reasons.append(_reason(rule, factor, verdict, everywhere=True))
        else:
            # Limited to a limb, region, site, technique or structure: the patient may still
            # be needled elsewhere, so the whole-patient verdict is a caution.
            reasons.append(_reason(rule, factor, "caution"))
        state = _state(rule, factor)
        if state:
            reasons.append(
                _reason(
                    rule,
                    factor,
                    "contraindicated" if state == "suspected" else "caution",
                    _state_text(rule, factor, state),
                    code=f"{rule.code}-{state}",
                    level="high",
                    everywhere=True,
                    bleeding=state if state in BLEEDING_STATES else None,
                )
            )
    return reasons


def _ends(item: PlanItem) -> list[tuple[Muscle, Side | None]]:
    """The needles of the item: its own, and for electrical stimulation the paired one."""
    ends = [(muscle(item.muscle), item.side)]
    if item.lead_to:
        ends.append((muscle(item.lead_to.muscle), item.lead_to.side))
    return ends


def _factor_reasons(
    item: PlanItem, factors: list[Factor], policy: Mapping[str, Verdict]
) -> tuple[list[Reason], set[str]]:
    """The reasons each factor's rule gives this item, and the structures they reached."""
    entry = muscle(item.muscle)
    reasons: list[Reason] = []
    reached: set[str] = set()
    for factor in factors:
        rule = factor_rule(factor.code)
        if rule.scope == "technique":
            hit = item.technique == rule.technique
        else:
            hit = rule.scope != "site" and _hits(rule, factor, entry, item.side)
        if hit:
            reasons.append(_reason(rule, factor, _policy_verdict(rule, policy)))
            if rule.structure:
                reached.add(rule.structure)
        elif rule.root_text and _limb_hit(entry, item.side, factor, "limb_root"):
            reasons.append(
                _reason(rule, factor, "caution", rule.root_text, code=f"{rule.code}-root")
            )
        if rule.regions and _regions_hit(entry, item.side, rule.regions, factor.side):
            first = factor.trimester == 1 and rule.regions_text_first_trimester
            reasons.append(
                _reason(
                    rule,
                    factor,
                    rule.regions_verdict,
                    rule.regions_text_first_trimester if first else rule.regions_text,
                    code=f"{rule.code}-area",
                    level="high" if first else rule.regions_level,
                )
            )
        if entry.slug in rule.muscles:
            reasons.append(
                _reason(rule, factor, "caution", rule.muscles_text, code=f"{rule.code}-site")
            )
        if item.technique == ESTIM and rule.estim:
            reasons.extend(_estim_reasons(item, rule, factor))
    return reasons, reached


def _estim_reasons(item: PlanItem, rule: FactorRule, factor: Factor) -> list[Reason]:
    """What a factor means for electrical stimulation, at either needle of the pair."""
    assert rule.estim is not None
    ends = _ends(item)
    reasons = []
    if rule.scope == "patient" or any(_hits(rule, factor, e, s) for e, s in ends):
        reasons.append(
            _reason(
                rule,
                factor,
                rule.estim.verdict,
                rule.estim.text,
                code=f"{rule.code}-estim",
                level=rule.estim.level,
            )
        )
    if rule.estim.regions and any(_regions_hit(e, s, rule.estim.regions) for e, s in ends):
        reasons.append(
            _reason(
                rule,
                factor,
                rule.estim.regions_verdict,
                rule.estim.regions_text,
                code=f"{rule.code}-estim-area",
                level="high",
            )
        )
    return reasons


# --- the path of the current between paired needles ----------------------------------------

THORAX = {"chest-front", "chest-side", "chest-back"}
UPPER = THORAX | {"arm"}
NECK_FRONT = {"neck-front", "neck-side"}
SPINE = {"neck-back", "chest-back", "low-back"}
ABOVE_DIAPHRAGM = {"head", "neck-front", "neck-side", "neck-back", "arm", *THORAX}
BELOW_DIAPHRAGM = {"abdomen", "low-back", "pelvis", "leg"}
BACK_OR_SIDE = {"neck-back", "chest-back", "chest-side", "low-back", "pelvis"}


@cache
def _zone_of() -> dict[str, str]:
    return {base: zone for zone, bases in _rules().body_zones.items() for base in bases}


def _zones(entry: Muscle) -> set[str]:
    zones = _zone_of()
    return {zones[base] for base in entry.needling_regions if base in zones}


def _crossings(a: set[str], b: set[str], opposite: bool) -> list[str]:
    """What the current between needles in zones `a` and `b` crosses, in a fixed order.

    A coarse model: the current takes the short way through the body between the two
    needles. Opposite sides of the chest, shoulders or arms put the thorax between them;
    so does the front of the chest paired with its back, and a muscle wholly above the
    diaphragm paired with one wholly below it (unless both lie on the back or the side of the
    trunk, where the current runs along the trunk wall). Any part of a muscle counts for the
    first two, so that a muscle spanning two zones is judged by the riskier one; the third
    asks for whole muscles, so that neighbours on the abdominal wall or the flank are not
    taken for a path through the chest.
    """

    def pair(test: Any) -> bool:
        return any(test(x, y) or test(y, x) for x in a for y in b)

    def wholly(zones: set[str], group: set[str]) -> bool:
        return bool(zones) and zones <= group

    vertical = (wholly(a, ABOVE_DIAPHRAGM) and wholly(b, BELOW_DIAPHRAGM)) or (
        wholly(b, ABOVE_DIAPHRAGM) and wholly(a, BELOW_DIAPHRAGM)
    )
    found = []
    chest = (
        (opposite and pair(lambda x, y: x in UPPER and y in UPPER))
        or pair(lambda x, y: x == "chest-front" and y == "chest-back")
        or (vertical and not wholly(a | b, BACK_OR_SIDE))
    )
    if chest:
        found.append("chest")
    if opposite and pair(lambda x, y: x in NECK_FRONT and y in NECK_FRONT):
        found.append("front-of-neck")
    if opposite and pair(lambda x, y: x in SPINE and y in SPINE):
        found.append("spinal-cord")
    if opposite and pair(lambda x, y: x == "head" and y == "head"):
        found.append("head")
    return found


def _end_label(entry: Muscle, side: Side | None) -> str:
    return f"{entry.name} ({side})" if side else entry.name


def _path_reason(crosses: str, where: str, text: str | None = None) -> Reason:
    rule = next(p for p in _rules().current_paths if p.crosses == crosses)
    verdict: Verdict = "allowed" if rule.verdict == "note" else rule.verdict
    return Reason(
        f"estim-path-{crosses}",
        f"{rule.label} ({where}): {text or rule.text}",
        _short(rule.sources),
        verdict,
        "high" if verdict == "contraindicated" else "standard",
    )


def _current_path(item: PlanItem) -> tuple[list[Reason], list[Reason]]:
    """Reasons and notes about where the current of an electrical-stimulation item runs."""
    entry = muscle(item.muscle)
    reasons: list[Reason] = []
    for end, side in _ends(item):
        if "neck-front" in _zones(end):
            reasons.append(_path_reason("front-of-neck", _end_label(end, side)))
    lead = item.lead_to
    if lead is None:
        return reasons, [_path_reason("no-lead", _end_label(entry, item.side))]
    other = muscle(lead.muscle)
    same_muscle = lead.muscle == item.muscle
    if same_muscle and lead.side == item.side and (item.side or not entry.sided):
        return reasons, []  # a pair within one muscle on one side
    where = f"{_end_label(entry, item.side)} to {_end_label(other, lead.side)}"
    a, b = _zones(entry), _zones(other)
    known = (item.side or not entry.sided) and (lead.side or not other.sided)
    if known:
        opposite = bool(item.side and lead.side and item.side != lead.side)
        reasons += [_path_reason(c, where) for c in _crossings(a, b, opposite)]
        return reasons, []
    # One muscle with its sides missing: on one side it is a local pair.
    always = [] if same_muscle else _crossings(a, b, False)
    reasons += [_path_reason(c, where) for c in always]
    if_opposite = [c for c in _crossings(a, b, True) if c not in always]
    if if_opposite:
        labels = ", ".join(
            next(p.label for p in _rules().current_paths if p.crosses == c).lower()
            for c in if_opposite
        )
        rule = next(p for p in _rules().current_paths if p.crosses == "side-unknown")
        reasons.append(_path_reason("side-unknown", where, f"{rule.text}: {labels}."))
    return reasons, []


# --- structures beneath the muscle ---------------------------------------------------------


def _structure_reasons(
    entry: Muscle, factors: list[Factor], patient: list[Reason], reached: set[str]
) -> tuple[list[Reason], list[Reason]]:
    reasons, notes = [], []
    present = {factor.code for factor in factors}
    # The bleeding factors in a more dangerous state, and that state.
    severe_by = {_factor_code_of(r): r.bleeding for r in patient if r.bleeding}
    structure_rules = {s.structure: s for s in _rules().structures}
    for at_risk in entry.structures_at_risk:
        rule = structure_rules[at_risk.structure]
        escalated = sorted(present & set(rule.escalate_with))
        severe = sorted(set(severe_by) & set(rule.escalate_with))
        text = f"{rule.text} {at_risk.detail}"
        source = _short([*rule.sources, *at_risk.sources])
        code = f"structure-{at_risk.structure}"
        if severe and rule.severe_verdict:
            labels = ", ".join(
                f"{factor_rule(c).label.lower()} ({BLEEDING_STATES[severe_by[c]]})" for c in severe
            )
            verdict: Verdict = rule.severe_verdict
            if verdict == "contraindicated":
                text += f" Do not needle this muscle now because of: {labels}."
            else:
                text += f" A stronger caution because of: {labels}."
            reasons.append(Reason(code, text, source, verdict, "high"))
        elif escalated:
            labels = ", ".join(factor_rule(c).label.lower() for c in escalated)
            text += f" A caution here because of: {labels}."
            reasons.append(Reason(code, text, source, "caution", rule.escalated_level))
        elif (at_risk.verdict or rule.verdict) == "caution" or at_risk.structure in reached:
            reasons.append(Reason(code, text, source, "caution"))
        else:
            notes.append(Reason(code, text, source, "allowed"))
    return reasons, notes


def _factor_code_of(reason: Reason) -> str:
    """The factor code of a derived bleeding reason ("anticoagulant-inr-above")."""
    assert reason.bleeding is not None
    return reason.code.removesuffix(f"-{reason.bleeding}")


def _item_reasons(
    item: PlanItem,
    factors: list[Factor],
    patient: list[Reason],
    policy: Mapping[str, Verdict],
) -> tuple[list[Reason], list[Reason]]:
    """The reasons that set the item's verdict, and the notes that do not."""
    entry = muscle(item.muscle)
    reasons = [r for r in patient if r.everywhere]
    found, reached = _factor_reasons(item, factors, policy)
    reasons += found
    notes: list[Reason] = []
    if item.technique == ESTIM:
        path, path_notes = _current_path(item)
        reasons += path
        notes += path_notes
    structure, structure_notes = _structure_reasons(entry, factors, patient, reached)
    return reasons + structure, structure_notes + notes


def screen(
    factors: Iterable[Mapping[str, Any] | Factor],
    plan: Iterable[Mapping[str, Any] | PlanItem] = (),
    *,
    policy: Mapping[str, Verdict] | None = None,
) -> Screening:
    """Screen a patient's factors against a needling plan.

    `factors` are dicts such as {"code": "lymphedema", "limb": "arm", "side": "left"};
    `plan` items are {"muscle": "infraspinatus", "side": "left", "technique":
    "dry-needling" | "electrical-stimulation"}, and an electrical-stimulation item may name
    its paired needle: "lead_to": {"muscle": "deltoid", "side": "left"}. `policy` lets a
    clinic make a factor marked `clinic_may_block` stricter (e.g. {"systemic-infection":
    "contraindicated"}). Unknown codes, muscles, regions and techniques raise UnknownCode
    naming them; details out of range raise InvalidInput naming them.
    """
    parsed = parse_factors(factors)
    items = [parse_item(i) for i in plan]
    patient_reasons = _patient_reasons(parsed, policy or {})
    assessed = []
    for item in items:
        reasons, notes = _item_reasons(item, parsed, patient_reasons, policy or {})
        assessed.append(ItemAssessment(item, _verdict(reasons), tuple(reasons), tuple(notes)))
    return Screening(Assessment(_verdict(patient_reasons), tuple(patient_reasons)), tuple(assessed))
