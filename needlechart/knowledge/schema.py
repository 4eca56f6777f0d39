"""Schemas that every knowledge data file is validated against when it loads.

Each file is versioned, declares its sources once, and every entry cites them by key.
Cross-file references (a muscle naming a region, a condition naming a body area) are
checked by the modules that join the files.
"""

import datetime as dt
from itertools import pairwise
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

Side = Literal["left", "right"]
Verdict = Literal["allowed", "caution", "contraindicated"]
# "neuraxis": the spinal canal; "non-compressible": a deep muscle where bleeding cannot be
# stopped by pressing on the site.
Structure = Literal[
    "lung-pleura", "major-vessel", "nerve", "viscera", "joint-capsule", "neuraxis",
    "non-compressible",
]  # fmt: skip
MuscleArea = Literal[
    "head-neck", "shoulder-girdle", "arm", "forearm-hand", "trunk", "hip", "thigh", "leg-foot"
]  # fmt: skip
SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"


class Frozen(BaseModel):
    # Each model's validator is built when a file of its kind is first read, not when the
    # package is imported: a command that reads the muscles builds the muscles' only.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Source(Frozen):
    citation: str = Field(min_length=10)
    url: str | None = None
    # A short label for screens and reasons, e.g. "APTA 2013".
    short: str | None = None


class SourcedEntry(Frozen):
    """One fact in a data file, citing one source by key."""

    source: str

    def cited(self) -> list[str]:
        return [self.source]


class MultiSourcedEntry(Frozen):
    """One fact in a data file, citing one or more sources by key."""

    sources: list[str] = Field(min_length=1)

    def cited(self) -> list[str]:
        return self.sources


class SourcedFile(Frozen):
    version: str
    description: str
    sources: dict[str, Source]

    def _check(self, entries: "list[SourcedEntry] | list[MultiSourcedEntry]", key: str) -> None:
        seen: set[str] = set()
        for entry in entries:
            for source in entry.cited():
                if source not in self.sources:
                    raise ValueError(f"{getattr(entry, key)} cites unknown source {source!r}")
            identity = getattr(entry, key)
            if identity in seen:
                raise ValueError(f"duplicate {key} {identity!r}")
            seen.add(identity)


# --- episodes ------------------------------------------------------------------------------


class BodyArea(SourcedEntry):
    slug: str = Field(pattern=SLUG)
    label: str


class BodyAreaFile(SourcedFile):
    body_areas: list[BodyArea]

    @model_validator(mode="after")
    def _valid(self) -> "BodyAreaFile":
        self._check(self.body_areas, "slug")
        return self


class Condition(SourcedEntry):
    code: str = Field(pattern=r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")
    # The code's meaning in needlechart's words; the official title where it is short.
    display: str = Field(min_length=3)
    body_area: str
    laterality: Side | Literal["bilateral"] | None
    # Other words clinicians search by ("tennis elbow", "whiplash"); never a second meaning.
    terms: list[str] = []
    # The code is valid for dates of service from `valid_from` to `valid_to` inclusive.
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None

    def valid_on(self, day: dt.date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to
        )

    @property
    def option_label(self) -> str:
        """How the code reads in a list to choose from: "M54.2 Cervicalgia (neck pain)"."""
        return f"{self.code} {self.display}"


class ConditionFile(SourcedFile):
    conditions: list[Condition]

    @model_validator(mode="after")
    def _valid(self) -> "ConditionFile":
        self._check(self.conditions, "code")
        return self


# --- regions and muscles -------------------------------------------------------------------


Joint = Literal["jaw", "shoulder", "elbow", "wrist", "hand", "hip", "knee", "ankle", "foot"]


class RegionEntry(SourcedEntry):
    base: str = Field(pattern=SLUG)
    label: str
    view: Literal["front", "back"]
    sided: bool
    limb: Literal["arm", "leg"] | None
    # The lymph-node area at the root of a limb (axilla, groin), for lymphedema.
    limb_root: Literal["arm", "leg"] | None = None
    joint: Joint | None = None


class RegionFile(SourcedFile):
    regions: list[RegionEntry]

    @model_validator(mode="after")
    def _valid(self) -> "RegionFile":
        self._check(self.regions, "base")
        for region in self.regions:
            if region.base.endswith(("-left", "-right")):
                raise ValueError(f"region base {region.base!r} must not carry a side")
        return self


class Referral(Frozen):
    primary: list[str] = Field(min_length=1)
    spillover: list[str] = []
    # True when the typical pattern is felt on both sides, not only the muscle's own.
    bilateral: bool = False
    # False for patterns described only briefly or by analogy with a neighbour; at an equal
    # fit the ranking puts well-described patterns first.
    well_described: bool = True
    # Regions of its zones for which the pain guides of the trigger-point manual name this
    # muscle among the first, most frequent sources; at an equal fit these come first.
    common_source_for: list[str] = []

    @model_validator(mode="after")
    def _disjoint(self) -> "Referral":
        both = set(self.primary) & set(self.spillover)
        if both:
            raise ValueError(f"regions both primary and spillover: {sorted(both)}")
        outside = set(self.common_source_for) - set(self.primary) - set(self.spillover)
        if outside:
            raise ValueError(f"common_source_for outside the referral zones: {sorted(outside)}")
        return self


class StructureAtRisk(Frozen):
    structure: Structure
    detail: str = Field(min_length=10)
    # For this muscle only, instead of the structure rule's verdict: e.g. the lung behind
    # the scapula is a note, a caution only with a lung risk factor.
    verdict: Literal["note", "caution"] | None = None
    # Sources of this entry beyond the muscle's own, as keys of safety.json's sources
    # (checked when the safety rules load).
    sources: list[str] = []


class MuscleEntry(MultiSourcedEntry):
    slug: str = Field(pattern=SLUG)
    name: str
    area: MuscleArea
    sided: bool
    needling_regions: list[str] = Field(min_length=1)
    referral: Referral
    structures_at_risk: list[StructureAtRisk] = []
    # Joints the muscle crosses or lies over, for screening after joint surgery.
    joints: list[Joint] = []


class MuscleFile(SourcedFile):
    muscles: list[MuscleEntry]

    @model_validator(mode="after")
    def _valid(self) -> "MuscleFile":
        self._check(self.muscles, "slug")
        return self


class ScreenFirstPrompt(MultiSourcedEntry):
    """Causes other than muscle to rule out before treating pain in some regions."""

    code: str = Field(pattern=SLUG)
    label: str
    # Region bases whose pain raises the prompt.
    regions: list[str] = Field(min_length=1)
    text: str = Field(min_length=20)
    # What to ask and look for, each with what to do when it is present.
    signs: list[str] = Field(min_length=1)


class ScreenFirstFile(SourcedFile):
    prompts: list[ScreenFirstPrompt]

    @model_validator(mode="after")
    def _valid(self) -> "ScreenFirstFile":
        self._check(self.prompts, "code")
        return self


# --- safety screening ----------------------------------------------------------------------


class Technique(Frozen):
    code: str = Field(pattern=SLUG)
    label: str


CautionLevel = Literal["standard", "high"]
FactorParam = Literal[
    "limb", "side", "regions", "trimester", "drug", "drug_class", "inr", "inr_target",
    "platelets", "severity", "status", "detail",
]  # fmt: skip


class EstimRule(Frozen):
    """What a factor means for electrical stimulation: wherever the factor's rule applies,
    and more strongly where either needle of a pair lies in `regions`."""

    verdict: Literal["caution", "contraindicated"]
    text: str
    level: CautionLevel = "standard"
    regions: list[str] = []
    regions_verdict: Literal["caution", "contraindicated"] = "contraindicated"
    regions_text: str | None = None

    @model_validator(mode="after")
    def _regions_said(self) -> "EstimRule":
        if bool(self.regions) != bool(self.regions_text):
            raise ValueError("electrical-stimulation regions need their text, and the reverse")
        return self


class FactorRule(MultiSourcedEntry):
    code: str = Field(pattern=SLUG)
    label: str
    # The same factor asked in plain language, for the patient's own questionnaire.
    question: str
    # patient: the whole patient; limb: one limb; region: named regions; technique: one
    # technique; structure: muscles over one structure at risk; site: the rule's own
    # `regions` only (on the factor's side when it gives one), e.g. a breast implant.
    scope: Literal["patient", "limb", "region", "technique", "structure", "site"]
    verdict: Literal["caution", "contraindicated"]
    text: str
    params: list[FactorParam] = []
    # The values a choice parameter takes (drug_class, severity, status), with labels.
    choices: dict[str, dict[str, str]] = {}
    # The parameters the patient's own questionnaire asks (None: all of them).
    patient_params: list[FactorParam] | None = None
    technique: str | None = None
    structure: Structure | None = None
    # Regions where the rule says more (pregnancy: abdomen, low back; a pacemaker: its
    # pocket, on the factor's side when given), what to say there, in general and in the
    # first trimester, with what verdict and level.
    regions: list[str] = []
    regions_text: str | None = None
    regions_text_first_trimester: str | None = None
    regions_verdict: Literal["caution", "contraindicated"] = "caution"
    regions_level: CautionLevel = "standard"
    # Named sites as muscles (pregnancy: the points guidelines list), and what to say there.
    muscles: list[str] = []
    muscles_text: str | None = None
    # Lymphedema: what to say for muscles at the root of the limb (axilla, groin).
    root_text: str | None = None
    # What the factor means for electrical stimulation, beyond the rule itself.
    estim: EstimRule | None = None
    # Texts for the states the engine derives from the parameters ("inr-above",
    # "inr-unknown", "medicine-unknown", "severe", "suspected"), and the numbers they use
    # ("inr_target_low", "inr_target_high", "platelets_below"); safety.py says which.
    texts: dict[str, str] = {}
    limits: dict[str, float] = {}
    # Medicine names recognised in `drug`, by drug_class, when the class is not given.
    known_names: dict[str, list[str]] = {}
    # "high" marks the stronger cautions a reader must not miss.
    level: CautionLevel = "standard"
    clinic_may_block: bool = False

    @model_validator(mode="after")
    def _scope_fields(self) -> "FactorRule":
        if (self.scope == "technique") != (self.technique is not None):
            raise ValueError(f"{self.code}: a technique rule names exactly one technique")
        if (self.scope == "structure") != (self.structure is not None):
            raise ValueError(f"{self.code}: a structure rule names exactly one structure")
        if self.scope == "limb" and "limb" not in self.params:
            raise ValueError(f"{self.code}: a limb rule takes the limb as a parameter")
        if self.scope == "region" and "regions" not in self.params:
            raise ValueError(f"{self.code}: a region rule takes regions as a parameter")
        if self.scope == "site" and not self.regions:
            raise ValueError(f"{self.code}: a site rule names its regions")
        if bool(self.regions) != bool(self.regions_text):
            raise ValueError(f"{self.code}: regions need their text, and the reverse")
        if bool(self.muscles) != bool(self.muscles_text):
            raise ValueError(f"{self.code}: muscles need their text, and the reverse")
        for param, values in self.choices.items():
            if param not in self.params or not values:
                raise ValueError(f"{self.code}: choices for {param!r}, which it does not take")
        for param in ("drug_class", "severity", "status"):
            if param in self.params and param not in self.choices:
                raise ValueError(f"{self.code}: {param} needs its choices")
        unknown = set(self.known_names) - set(self.choices.get("drug_class", {}))
        if unknown:
            raise ValueError(f"{self.code}: known_names for unknown classes {sorted(unknown)}")
        if self.patient_params is not None and set(self.patient_params) - set(self.params):
            raise ValueError(f"{self.code}: patient_params must be among its params")
        return self


class StructureRule(MultiSourcedEntry):
    structure: Structure
    # "note": something to watch that does not change the verdict on its own.
    verdict: Literal["note", "caution"]
    # Factors that turn a note into a caution, e.g. a vessel when the patient bleeds easily,
    # and how strong that caution is.
    escalate_with: list[str] = []
    escalated_level: CautionLevel = "standard"
    # The verdict when a bleeding factor among escalate_with is severe: an INR above its
    # target range or not known, a severe bleeding disorder or a low platelet count.
    severe_verdict: Literal["caution", "contraindicated"] | None = None
    text: str


# Coarse parts of the body, for the path electrical current takes between paired needles.
BodyZone = Literal[
    "head", "neck-front", "neck-side", "neck-back", "chest-front", "chest-side",
    "chest-back", "abdomen", "low-back", "pelvis", "arm", "leg",
]  # fmt: skip
CurrentPath = Literal["chest", "front-of-neck", "spinal-cord", "head", "side-unknown", "no-lead"]
CURRENT_PATHS: tuple[str, ...] = get_args(CurrentPath)


class CurrentPathRule(MultiSourcedEntry):
    """What the engine says when the current between paired needles takes this path."""

    crosses: CurrentPath
    label: str
    # "note" for reminders that do not change the verdict (no lead path recorded).
    verdict: Literal["note", "caution", "contraindicated"]
    text: str


class SafetyFile(SourcedFile):
    techniques: list[Technique]
    factors: list[FactorRule]
    structures: list[StructureRule]
    # Region bases in each zone; a base belongs to one zone at most.
    body_zones: dict[BodyZone, list[str]] = {}
    current_paths: list[CurrentPathRule] = []

    @model_validator(mode="after")
    def _valid(self) -> "SafetyFile":
        self._check(self.factors, "code")
        self._check(self.structures, "structure")
        self._check(self.current_paths, "crosses")
        techniques = {t.code for t in self.techniques}
        codes = {f.code for f in self.factors}
        for rule in self.structures:
            unknown = set(rule.escalate_with) - codes
            if unknown:
                raise ValueError(f"{rule.structure} escalates with unknown factors {unknown}")
        for factor in self.factors:
            if factor.technique and factor.technique not in techniques:
                raise ValueError(f"{factor.code} names unknown technique {factor.technique!r}")
        missing = set(CURRENT_PATHS) - {p.crosses for p in self.current_paths}
        if missing:
            raise ValueError(f"current_paths lacks {sorted(missing)}")
        zoned: dict[str, str] = {}
        for zone, bases in self.body_zones.items():
            for base in bases:
                other = zoned.setdefault(base, zone)
                if other != zone:
                    raise ValueError(f"region {base!r} is in both zones {other} and {zone}")
        return self


# --- outcome measures ----------------------------------------------------------------------


class Threshold(Frozen):
    """A change that counts: at least `absolute` units, `relative` of the baseline, or, when
    both are given, either of them (as Farrar 2001 states the NPRS rule) or both."""

    absolute: float | None = None
    relative: float | None = Field(default=None, gt=0, le=1)
    combine: Literal["either", "both"] = "either"
    # "important": the smallest change that matters to patients; "detectable": the smallest
    # change larger than measurement error (PSFS, Stratford 1995), a different claim.
    kind: Literal["important", "detectable"] = "important"
    # "convention" where the source gives the threshold for improvement only and needlechart
    # applies it to worsening too.
    worsening: Literal["source", "convention"] = "source"
    source: str
    # False for conventions a clinic may change (no study behind the number).
    confirmed: bool = True

    @model_validator(mode="after")
    def _some(self) -> "Threshold":
        if self.absolute is None and self.relative is None:
            raise ValueError("a threshold needs an absolute or a relative change")
        return self


class ConditionThreshold(Threshold):
    conditions: list[str] = Field(min_length=1)


class Level(Frozen):
    value: float
    label: str


class Instrument(MultiSourcedEntry):
    code: str = Field(pattern=SLUG)
    name: str
    kind: Literal["scale", "global", "rom", "questionnaire"]
    minimum: float
    maximum: float
    step: float = 1
    unit: str
    higher_is: Literal["better", "worse"]
    prompt: str
    important_change: Threshold | None = None
    condition_overrides: list[ConditionThreshold] = []
    # Global ratings (GROC, PGIC) classify the follow-up value itself, at cut-offs taken
    # from `cutoff_source` (a convention when not confirmed by a study).
    improved_at: float | None = None
    worse_at: float | None = None
    cutoff_source: str | None = None
    cutoff_confirmed: bool = True
    levels: list[Level] = []
    loinc: str | None = None

    def holds(self, value: object) -> bool:
        """Whether `value` is a number on the instrument's scale: the one range check that
        every measurement, goal, diary entry and classification goes through."""
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
        return self.minimum <= number <= self.maximum

    @property
    def scale(self) -> str:
        """The scale in words: "0 to 10"."""
        return f"{self.minimum:g} to {self.maximum:g}"

    @model_validator(mode="after")
    def _consistent(self) -> "Instrument":
        if self.minimum >= self.maximum:
            raise ValueError(f"{self.code}: minimum must be below maximum")
        if self.kind == "global" and (self.improved_at is None or self.worse_at is None):
            raise ValueError(f"{self.code}: a global rating needs improved_at and worse_at")
        if self.kind != "global" and self.important_change is None:
            raise ValueError(f"{self.code}: needs an important_change threshold")
        return self


# The body regions whose range of motion clinicians measure, head to foot; the movement
# list follows this order. The forearm's turning is listed under the elbow, the foot's
# inversion and eversion under the ankle, as goniometry tables group them.
RomRegion = Literal[
    "cervical spine", "thoracic spine", "lumbar spine", "shoulder", "elbow", "wrist", "hip",
    "knee", "ankle",
]  # fmt: skip
ROM_REGIONS: tuple[str, ...] = get_args(RomRegion)


def name_key(text: str) -> str:
    """A name as typed, made comparable: case and spacing do not matter."""
    return " ".join(text.split()).casefold()


class RomMovement(SourcedEntry):
    """One movement measured with a goniometer, and its normal adult range."""

    code: str = Field(pattern=SLUG)
    joint: RomRegion
    label: str = Field(min_length=3)
    # Other names clinicians use for the same movement ("Shoulder external rotation").
    aliases: list[str] = []
    # Degrees; where the source gives a range, its middle, rounded to a whole degree.
    reference: float = Field(gt=0, le=360)
    reference_range: tuple[float, float] | None = None
    # False where the norm was not checked against its source, or the sources disagree.
    confirmed: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> "RomMovement":
        if self.reference_range is not None:
            low, high = self.reference_range
            if not 0 <= low < high <= 360:
                raise ValueError(f"{self.code}: reference_range must rise within 0-360 degrees")
            if not low <= self.reference <= high:
                raise ValueError(f"{self.code}: reference lies outside its reference_range")
        if any(not alias.strip() for alias in self.aliases):
            raise ValueError(f"{self.code}: empty alias")
        return self

    @property
    def reference_text(self) -> str:
        """The normal range in words: "normal about 70° (60-80°)"."""
        text = f"normal about {self.reference:g}°"
        if self.reference_range is not None:
            text += f" ({self.reference_range[0]:g}-{self.reference_range[1]:g}°)"
        return text

    @property
    def option_label(self) -> str:
        """How the movement reads in a list to choose from: "Cervical rotation — normal ..."."""
        return f"{self.label} — {self.reference_text}"

    def names(self) -> list[str]:
        """Everything a clinician may type or choose for this movement."""
        return [self.code, self.label, *self.aliases, self.option_label]


class InstrumentFile(SourcedFile):
    instruments: list[Instrument]
    rom_movements: list[RomMovement]

    @model_validator(mode="after")
    def _valid(self) -> "InstrumentFile":
        self._check(self.instruments, "code")
        self._check(self.rom_movements, "code")
        named: dict[str, str] = {}
        for movement in self.rom_movements:
            for name in movement.names():
                other = named.setdefault(name_key(name), movement.code)
                if other != movement.code:
                    raise ValueError(f"{name!r} names both {other} and {movement.code}")
        regions = [m.joint for m in self.rom_movements]
        if regions != sorted(regions, key=ROM_REGIONS.index):
            raise ValueError("rom_movements must be listed by region, head to foot")
        for instrument in self.instruments:
            cited = [
                t.source
                for t in [instrument.important_change, *instrument.condition_overrides]
                if t
            ]
            if instrument.cutoff_source:
                cited.append(instrument.cutoff_source)
            for source in cited:
                if source not in self.sources:
                    raise ValueError(f"{instrument.code} threshold cites unknown source {source!r}")
        return self


# --- published adverse-event rates ---------------------------------------------------------


class AdverseEventStudy(SourcedEntry):
    key: str
    label: str
    treatments: int = Field(gt=0)
    minor_events: int = Field(ge=0)
    minor_rate: float = Field(ge=0, le=1)
    major_events: int = Field(ge=0)
    major_rate_upper_bound: float | None = None
    by_type: dict[str, float]
    # Where the paper's own figures disagree, or a count is not as published.
    note: str | None = None


class RareEvent(SourcedEntry):
    key: str
    event: str
    note: str
    treatments: int
    events: int | None = None
    per_million: float | None = None
    per_million_at_risk_areas: float | None = None


class Severity(SourcedEntry):
    minor: list[str]
    major: list[str]


class AdverseEventType(Frozen):
    code: str = Field(pattern=SLUG)
    label: str


class AdverseEventFile(SourcedFile):
    studies: list[AdverseEventStudy]
    rare_events: list[RareEvent]
    severity: Severity
    types: list[AdverseEventType]

    @model_validator(mode="after")
    def _valid(self) -> "AdverseEventFile":
        self._check(self.studies, "key")
        self._check(self.rare_events, "key")
        self._check([self.severity], "source")
        return self


# --- default clinic documents --------------------------------------------------------------


class DocumentEntry(MultiSourcedEntry):
    kind: Literal["consent", "aftercare"]
    title: str
    body: str = Field(min_length=200)


class DocumentFile(SourcedFile):
    documents: list[DocumentEntry]

    @model_validator(mode="after")
    def _valid(self) -> "DocumentFile":
        self._check(self.documents, "kind")
        return self


# --- patient portal ------------------------------------------------------------------------


class CheckinPlan(MultiSourcedEntry):
    """When the portal asks a patient how they are after a session: a clinic convention."""

    # Hours after the session when a check-in is due, in order.
    hours: list[int] = Field(min_length=1)
    # The further check-in when soreness or another effect has not settled.
    extra_hours: int
    # Soreness (0-10) at the last regular check-in from which the extra one is added.
    extra_when_soreness_at_least: int = Field(ge=1, le=10)
    # A check-in can be answered until due + window; after that it has lapsed.
    window_hours: int = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> "CheckinPlan":
        if self.hours[0] <= 0 or any(a >= b for a, b in pairwise(self.hours)):
            raise ValueError(f"check-in hours must be positive and increasing: {self.hours}")
        if self.extra_hours <= self.hours[-1]:
            raise ValueError(
                f"the extra check-in ({self.extra_hours} h) must come after the last"
                f" regular one ({self.hours[-1]} h)"
            )
        return self


class Symptom(MultiSourcedEntry):
    """One item of the checklist a patient ticks at a check-in."""

    code: str = Field(pattern=SLUG)
    # For the patient: plain language, second person, short.
    label: str = Field(min_length=5)
    # For the practitioner reading the check-in.
    clinician_label: str = Field(min_length=5)
    # Ticking it shows the urgent advice at once and alerts the clinic.
    red_flag: bool
    # The adverse-event type the clinic records it as (a code of adverse_events.json).
    adverse_event_type: str = Field(pattern=SLUG)
    # Ticked at the last regular check-in, it adds the extra check-in. False for effects
    # that normally last longer than the schedule (a bruise fades over a week or so).
    extra_checkin: bool


class SorenessEffect(MultiSourcedEntry):
    """From which soreness (0-10) a check-in's soreness is recorded as an adverse event."""

    at_least: int = Field(ge=1, le=10)
    adverse_event_type: str = Field(pattern=SLUG)


class UrgentAdvice(MultiSourcedEntry):
    text: str = Field(min_length=40)


class EducationSection(Frozen):
    heading: str = Field(min_length=1)
    paragraphs: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _no_blank_paragraph(self) -> "EducationSection":
        if any(not paragraph.strip() for paragraph in self.paragraphs):
            raise ValueError(f"section {self.heading!r} has an empty paragraph")
        return self


class EducationPage(MultiSourcedEntry):
    """A page for patients. In the data file, figures are {placeholders} (see portal.py)."""

    slug: str = Field(pattern=SLUG)
    title: str = Field(min_length=1)
    summary: str = Field(min_length=10)
    sections: list[EducationSection] = Field(min_length=1)


class PortalFile(SourcedFile):
    checkin: CheckinPlan
    soreness_effect: SorenessEffect
    urgent_advice: UrgentAdvice
    symptoms: list[Symptom] = Field(min_length=1)
    education_pages: list[EducationPage] = Field(min_length=1)

    @model_validator(mode="after")
    def _valid(self) -> "PortalFile":
        self._check(self.symptoms, "code")
        self._check(self.education_pages, "slug")
        singles = {
            "checkin": self.checkin,
            "soreness_effect": self.soreness_effect,
            "urgent_advice": self.urgent_advice,
        }
        for name, entry in singles.items():
            for source in entry.sources:
                if source not in self.sources:
                    raise ValueError(f"{name} cites unknown source {source!r}")
        if not any(s.red_flag for s in self.symptoms):
            raise ValueError("the symptom checklist needs at least one red flag")
        if self.checkin.extra_when_soreness_at_least < self.soreness_effect.at_least:
            raise ValueError("soreness that adds a check-in must also count as an effect")
        # The type catalogue lives in adverse_events.json. Imported here, not at the top
        # (adverse_events imports this module), so that every parse of the file checks it.
        from needlechart.knowledge.adverse_events import adverse_event_types

        types = adverse_event_types()
        named = [(s.code, s.adverse_event_type) for s in self.symptoms]
        named.append(("soreness_effect", self.soreness_effect.adverse_event_type))
        for code, event_type in named:
            if event_type not in types:
                raise ValueError(f"{code} names unknown adverse-event type {event_type!r}")
        return self
