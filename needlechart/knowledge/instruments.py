"""Outcome measures: their scales, important-change thresholds and change classification.

A clinic that holds a licence for a questionnaire (ODI, NDI, QuickDASH ...) adds it as
data: a FHIR Questionnaire JSON whose answer options carry weights and whose scoring
extension says how to total them and what change matters. needlechart ships no licensed
item text.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from needlechart.knowledge.errors import InvalidInput, KnowledgeDataError, UnknownCode
from needlechart.knowledge.loader import load
from needlechart.knowledge.muscles import muscle
from needlechart.knowledge.schema import (
    ROM_REGIONS,
    Instrument,
    InstrumentFile,
    RomMovement,
    Source,
    Threshold,
    name_key,
)

Classification = Literal["improved", "unchanged", "worse"]
SCORING_URL = "https://needlechart.org/fhir/StructureDefinition/scoring"
# Measures whose component names a muscle (or a site) rather than an activity or movement.
MUSCLE_MEASURES = ("mmt", "ppt", "dynamometry")
# R5 names the weight extension itemWeight; R4 questionnaires used ordinalValue.
WEIGHT_URLS = (
    "http://hl7.org/fhir/StructureDefinition/itemWeight",
    "http://hl7.org/fhir/StructureDefinition/ordinalValue",
)


@dataclass(frozen=True, slots=True)
class Questionnaire:
    """A clinic-loaded questionnaire: its instrument entry and the weight of every answer."""

    instrument: Instrument
    method: Literal["sum", "percent"]
    weights: dict[str, dict[str, float]]  # linkId -> answer code -> weight
    source: Source
    resource: dict[str, Any]


_questionnaires: dict[str, Questionnaire] = {}


@cache
def _file() -> InstrumentFile:
    return load("instruments.json", InstrumentFile)


def instruments() -> tuple[Instrument, ...]:
    """The shipped measures followed by the questionnaires a clinic has loaded."""
    return (*_file().instruments, *(q.instrument for q in _questionnaires.values()))


def instrument(code: str) -> Instrument:
    """The instrument of `code`: a shipped measure first, else a loaded questionnaire. Looked
    up by code (charts and exports ask once per measurement)."""
    found = _shipped(_file()).get(code)
    if found is not None:
        return found
    for questionnaire in _questionnaires.values():
        if questionnaire.instrument.code == code:
            return questionnaire.instrument
    raise UnknownCode("instrument", code)


_index: tuple[InstrumentFile, dict[str, Instrument]] | None = None


def _shipped(file: InstrumentFile) -> dict[str, Instrument]:
    """The shipped measures by code, the first of a code kept; made again when the file is
    read again (tests load other data by clearing `_file`)."""
    global _index
    if _index is None or _index[0] is not file:
        _index = (file, {entry.code: entry for entry in reversed(file.instruments)})
    return _index[1]


def rom_movements() -> tuple[RomMovement, ...]:
    return tuple(_file().rom_movements)


def rom_movement(code: str) -> RomMovement:
    for movement in _file().rom_movements:
        if movement.code == code:
            return movement
    raise UnknownCode("range-of-motion movement", code)


@cache
def _rom_names() -> dict[str, RomMovement]:
    # The schema has checked that no name belongs to two movements.
    return {name_key(n): m for m in _file().rom_movements for n in m.names()}


def rom_movement_lookup(text: str) -> RomMovement:
    """The movement a clinician typed or chose: its label in words ("Cervical rotation"),
    another name for it ("Shoulder external rotation"), the option as listed, or its code;
    case and surrounding spaces do not matter."""
    found = _rom_names().get(name_key(text)) if isinstance(text, str) else None
    if found is None:
        raise UnknownCode("range-of-motion movement", text)
    return found


def component_label(code: str, component: str) -> str:
    """What exactly a measure measured, in words: the movement's label for range of motion,
    the muscle's name where a muscle's slug was recorded, else the text as recorded (a PSFS
    activity, a site). Never an internal code, unless the catalogue no longer knows it."""
    component = component or ""
    try:
        if code == "rom":
            return rom_movement_lookup(component).label
        if code in MUSCLE_MEASURES:
            return muscle(component).name
    except UnknownCode:
        pass
    return component


def rom_regions() -> tuple[str, ...]:
    """The body regions the movement list covers, head to foot."""
    return ROM_REGIONS


def source(key: str) -> Source:
    if key in _file().sources:
        return _file().sources[key]
    for questionnaire in _questionnaires.values():
        if key in questionnaire.instrument.sources:
            return questionnaire.source
    raise UnknownCode("source", key)


@dataclass(frozen=True, slots=True)
class Change:
    instrument: str
    baseline: float | None
    follow_up: float
    change: float | None
    classification: Classification
    threshold: str
    source: str
    confirmed: bool
    # "important" or "detectable" (the PSFS values are detectable change, Stratford 1995).
    kind: str = "important"

    def as_json(self) -> dict[str, Any]:
        return {
            "instrument": self.instrument,
            "baseline": self.baseline,
            "follow_up": self.follow_up,
            "change": self.change,
            "classification": self.classification,
            "threshold": self.threshold,
            "source": self.source,
            "threshold_confirmed": self.confirmed,
            "threshold_kind": self.kind,
        }


def _resolve(code: str) -> tuple[Instrument, RomMovement | None]:
    """'rom:shoulder-flexion' names a movement measured with the ROM instrument."""
    if code.startswith("rom:"):
        return instrument("rom"), rom_movement(code.removeprefix("rom:"))
    return instrument(code), None


def _check_range(entry: Instrument, value: float, what: str) -> None:
    if not isinstance(value, int | float) or not entry.holds(value):
        raise InvalidInput(
            f"{entry.code} {what} must be a number from {entry.scale}, not {value!r}"
        )


def _threshold(entry: Instrument, condition: str | None) -> Threshold:
    for override in entry.condition_overrides:
        if condition and any(condition.startswith(c) for c in override.conditions):
            return override
    assert entry.important_change is not None  # schema: every non-global measure has one
    return entry.important_change


def change_rules(instrument_code: str) -> list[tuple[tuple[str, ...], Threshold]]:
    """Every threshold of a measure with the condition codes (prefixes) it applies to, the
    condition-specific ones first and the default last with no codes: what the dashboard's SQL
    is built from, so that it classifies exactly as `classify_change` does."""
    entry, _ = _resolve(instrument_code)
    if entry.important_change is None:
        raise InvalidInput(f"{entry.code} is a global rating and has no change threshold")
    rules: list[tuple[tuple[str, ...], Threshold]] = [
        (tuple(o.conditions), o) for o in entry.condition_overrides
    ]
    return [*rules, ((), entry.important_change)]


def change_rule(instrument_code: str, condition: str | None = None) -> Threshold:
    """The threshold that classifies change of a measure for a condition (an ICD-10-CM code):
    NPRS 2 points or 30% (Farrar 2001), 1.3 points for neck pain (Cleland 2008) ..."""
    entry, _ = _resolve(instrument_code)
    if entry.important_change is None:
        raise InvalidInput(f"{entry.code} is a global rating and has no change threshold")
    return _threshold(entry, condition)


def required_change(rule: Threshold, baseline: float) -> float:
    """The smallest change from `baseline` that meets the rule: the absolute amount, the
    relative share of the baseline, or, when both are given, the smaller of the two if either
    counts (Farrar 2001: 2 points or 30%) and the larger if both are needed."""
    parts = []
    if rule.absolute is not None:
        parts.append(float(rule.absolute))
    if rule.relative is not None:
        parts.append(float(rule.relative) * abs(float(baseline)))
    return min(parts) if rule.combine == "either" else max(parts)


def meets(rule: Threshold, amount: float, baseline: float) -> bool:
    """Whether a change of `amount` from `baseline`, counted in the direction being tested
    (improvement, or worsening), reaches the rule."""
    return amount > 0 and amount >= required_change(rule, baseline) - 1e-9


def describe_threshold(threshold: Threshold, unit: str) -> str:
    """A threshold in words: "at least 2 points or 30% of baseline"."""
    return _describe(threshold, unit)


def _describe(threshold: Threshold, unit: str) -> str:
    parts = []
    if threshold.absolute is not None:
        parts.append(f"{threshold.absolute:g} {unit}")
    if threshold.relative is not None:
        parts.append(f"{threshold.relative:.0%} of baseline")
    joined = (" or " if threshold.combine == "either" else " and ").join(parts)
    text = "at least " + joined
    if threshold.kind == "detectable":
        text += " (smallest detectable change, not an important change)"
    return text


def _short(key: str) -> str:
    entry = source(key)
    return entry.short or entry.citation


def classify_change(
    instrument_code: str,
    baseline: float | None,
    follow_up: float,
    *,
    condition: str | None = None,
    threshold: Threshold | None = None,
) -> Change:
    """Whether a measure improved, stayed the same or worsened by an important amount.

    Global ratings (GROC, PGIC) classify the follow-up rating itself and need no baseline.
    `condition` (an ICD-10-CM code) selects a condition-specific threshold, e.g. 1.3
    NPRS points for neck pain; `threshold` replaces the default with a clinic's own.
    """
    entry, movement = _resolve(instrument_code)
    _check_range(entry, follow_up, "follow-up")
    if entry.kind == "global":
        assert entry.improved_at is not None and entry.worse_at is not None
        better_high = entry.higher_is == "better"
        if (follow_up >= entry.improved_at) if better_high else (follow_up <= entry.improved_at):
            result: Classification = "improved"
        elif (follow_up <= entry.worse_at) if better_high else (follow_up >= entry.worse_at):
            result = "worse"
        else:
            result = "unchanged"
        mark = "{:+g}" if better_high else "level {:g}"
        improved, worse = mark.format(entry.improved_at), mark.format(entry.worse_at)
        text = f"improved at {improved} or better, worse at {worse} or worse"
        if not entry.cutoff_confirmed:
            text += " (cut-offs are a convention)"
        cited = entry.cutoff_source or entry.sources[0]
        return Change(
            instrument_code, None, follow_up, None, result, text, _short(cited),
            entry.cutoff_confirmed,
        )  # fmt: skip
    if baseline is None:
        raise InvalidInput(f"{entry.code} needs a baseline to classify change")
    _check_range(entry, baseline, "baseline")
    rule = threshold or _threshold(entry, condition)
    change = round(follow_up - baseline, 4)
    gain = change if entry.higher_is == "better" else -change
    if meets(rule, gain, baseline):
        result = "improved"
    elif meets(rule, -gain, baseline):
        result = "worse"
    else:
        result = "unchanged"
    described = _describe(rule, entry.unit)
    if movement is not None:
        described += f" ({movement.label}; reference {movement.reference:g} degrees)"
    confirmed = rule.confirmed
    if result == "worse" and rule.worsening == "convention":
        # The source sets the threshold for improvement; using it for worsening is ours.
        described += " (for worsening, applied by convention)"
        confirmed = False
    return Change(
        instrument_code,
        baseline,
        follow_up,
        change,
        result,
        described,
        _short(rule.source),
        confirmed,
        rule.kind,
    )


# --- clinic questionnaires (FHIR Questionnaire as data) ------------------------------------


def _extensions(node: Mapping[str, Any], url: str) -> list[Mapping[str, Any]]:
    return [e for e in node.get("extension", []) if e.get("url") == url]


def _value(ext: Mapping[str, Any]) -> Any:
    for key, value in ext.items():
        if key.startswith("value"):
            return value
    return None


def _scoring(resource: Mapping[str, Any], name: str) -> dict[str, Any]:
    found = _extensions(resource, SCORING_URL)
    if len(found) != 1:
        raise KnowledgeDataError(f"{name}: needs exactly one scoring extension ({SCORING_URL})")
    return {sub["url"]: _value(sub) for sub in found[0].get("extension", [])}


def _weights(resource: Mapping[str, Any], name: str) -> dict[str, dict[str, float]]:
    weights: dict[str, dict[str, float]] = {}
    for item in resource.get("item", []):
        if item.get("type") not in ("choice", "coding"):
            continue
        options = {}
        for option in item.get("answerOption", []):
            code = option.get("valueCoding", {}).get("code")
            weight = next(
                (_value(e) for url in WEIGHT_URLS for e in _extensions(option, url)), None
            )
            if code is None or not isinstance(weight, int | float):
                raise KnowledgeDataError(
                    f"{name}: item {item.get('linkId')} has an option without a code and weight"
                )
            options[code] = float(weight)
        if not options:
            raise KnowledgeDataError(f"{name}: item {item.get('linkId')} has no answer options")
        weights[str(item["linkId"])] = options
    if not weights:
        raise KnowledgeDataError(f"{name}: no scored items")
    return weights


def load_questionnaire(resource: Mapping[str, Any] | Path) -> Instrument:
    """Validate a FHIR Questionnaire with a scoring rule and make it an instrument."""
    name = str(resource) if isinstance(resource, Path) else "questionnaire"
    if isinstance(resource, Path):
        try:
            resource = json.loads(resource.read_text("utf-8"))
        except (OSError, ValueError) as error:
            raise KnowledgeDataError(f"{name}: {error}") from error
    if resource.get("resourceType") != "Questionnaire":
        raise KnowledgeDataError(f"{name}: resourceType must be Questionnaire")
    scoring = _scoring(resource, name)
    weights = _weights(resource, name)
    method = scoring.get("method", "sum")
    if method not in ("sum", "percent"):
        raise KnowledgeDataError(f"{name}: scoring method must be sum or percent")
    maximum = 100.0 if method == "percent" else sum(max(o.values()) for o in weights.values())
    minimum = 0.0 if method == "percent" else sum(min(o.values()) for o in weights.values())
    code = str(scoring.get("code") or resource.get("id") or "")
    key = f"questionnaire-{code}"
    try:
        entry = Instrument(
            code=code,
            name=str(resource.get("title") or resource.get("name") or code),
            kind="questionnaire",
            minimum=minimum,
            maximum=maximum,
            step=0.1,
            unit="%" if method == "percent" else "points",
            higher_is=scoring.get("higherIs", "worse"),
            prompt=str(resource.get("description") or ""),
            important_change=Threshold(
                absolute=scoring.get("importantChange"),
                relative=scoring.get("importantChangeRelative"),
                # Published dual thresholds (ODI: 10 points or 30%) count either one.
                combine=scoring.get("importantChangeCombine", "either"),
                source=key,
                confirmed=True,
            ),
            sources=[key],
        )
        citation = Source(citation=str(scoring.get("source") or ""), short=entry.name)
    except ValueError as error:
        raise KnowledgeDataError(f"{name}: {error}") from error
    if any(i.code == code for i in _file().instruments):
        raise KnowledgeDataError(f"{name}: code {code!r} is a built-in instrument")
    _questionnaires[code] = Questionnaire(entry, method, weights, citation, dict(resource))
    return entry


def load_questionnaires(directory: Path) -> list[Instrument]:
    """Load every *.json Questionnaire in a directory (a clinic's licensed instruments)."""
    return [load_questionnaire(path) for path in sorted(directory.glob("*.json"))]


def questionnaire(code: str) -> Questionnaire:
    try:
        return _questionnaires[code]
    except KeyError:
        raise UnknownCode("questionnaire", code) from None


def score_questionnaire(code: str, answers: Mapping[str, str]) -> float:
    """The total (or percent of the maximum) of a completed questionnaire."""
    loaded = questionnaire(code)
    missing = sorted(set(loaded.weights) - set(answers))
    if missing:
        raise InvalidInput(f"{code}: unanswered items {', '.join(missing)}")
    total = 0.0
    for link_id, options in loaded.weights.items():
        answer = answers[link_id]
        if answer not in options:
            raise InvalidInput(f"{code}: item {link_id} has no answer {answer!r}")
        total += options[answer]
    if loaded.method == "percent":
        low = sum(min(o.values()) for o in loaded.weights.values())
        high = sum(max(o.values()) for o in loaded.weights.values())
        return round((total - low) / (high - low) * 100, 1)
    return total
