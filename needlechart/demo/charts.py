"""The charts of the demo's episodes of care: screening, consent, an initial assessment,
weekly needling sessions with pain scores, adverse events, aftercare and the odd addendum.
(Their outcomes are `outcomes`; what patients did in the portal, `portal`.)

Everything comes from the demo's one `random.Random` and from `today`, so the same seed and
day give the same charts. Nothing here writes to the database: each record is built as it
was made, with its own time, and `generate` hands them to the services' imports, which check
them with the clinic's rules and audit them.
"""

import datetime as dt
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from django.db.models import prefetch_related_objects

from needlechart import knowledge
from needlechart.accounts import rules
from needlechart.accounts.models import Clinic, Practitioner, Profession, User
from needlechart.charting import services
from needlechart.charting.models import (
    Addendum,
    AdverseEvent,
    AftercareIssue,
    Assessment,
    Consent,
    CoTreatment,
    DocumentTemplate,
    Insertion,
    NeedleSize,
    NeedlingSession,
    PainMark,
    PainQuality,
    ReferredSensation,
    Screening,
    Technique,
    TriggerPointFinding,
)
from needlechart.outcomes.models import (
    CarePlan,
    Discharge,
    Observation,
    PlanGoal,
    PlanTherapy,
    Timing,
)
from needlechart.patients.models import EpisodeOfCare, Patient, Sex

T = TypeVar("T")
SIDES = ("left", "right")


@dataclass(frozen=True)
class Complaint:
    """A typical reason to come for dry needling, with what its chart is made of."""

    key: str
    group: str
    label: str
    # ICD-10-CM codes in preference order; only those valid on the demo's day are used.
    codes: tuple[str, ...]
    body_area: str
    # The usual culprits first: earlier muscles are found and needled more often.
    muscles: tuple[str, ...]
    # Region bases where it hurts, the main one first.
    pain_regions: tuple[str, ...]
    movements: tuple[str, ...]
    activities: tuple[str, ...]
    needle: tuple[str, int]
    weight: int
    # Professions that usually take charge of this kind of care.
    leads: tuple[str, ...]
    # Pain beside the spine: one side, sometimes both.
    spinal: bool = False


PHYSIO, CHIRO, TRAINER = (
    Profession.PHYSIOTHERAPIST,
    Profession.CHIROPRACTOR,
    Profession.ATHLETIC_TRAINER,
)
COMPLAINTS = (
    Complaint(
        "neck", "neck", "neck pain", ("M54.2", "M79.12"), "neck",
        ("upper-trapezius", "levator-scapulae", "splenius-capitis", "suboccipitals",
         "semispinalis-capitis", "sternocleidomastoid", "scalenes"),
        ("neck-posterior", "shoulder-top", "occiput", "temple"),
        ("cervical-rotation", "cervical-lateral-flexion", "cervical-extension"),
        ("Working at a computer for an hour", "Looking over my shoulder when driving",
         "Sleeping through the night", "Reading in bed"),
        ("0.25", 25), 26, (PHYSIO, CHIRO), spinal=True,
    ),
    Complaint(
        "low-back", "low back", "low back pain", ("M54.50", "M54.59", "M62.830", "M54.5"),
        "low-back",
        ("quadratus-lumborum", "lumbar-multifidus", "iliocostalis-lumborum", "gluteus-medius",
         "gluteus-minimus", "iliopsoas"),
        ("low-back", "buttock", "sacral", "hip-lateral"),
        ("hip-flexion",),
        ("Sitting for 30 minutes", "Bending to put on socks", "Lifting shopping bags",
         "Walking for 20 minutes"),
        ("0.30", 50), 26, (PHYSIO, CHIRO), spinal=True,
    ),
    Complaint(
        "shoulder", "shoulder", "shoulder pain", ("M25.511", "M25.512"), "shoulder",
        ("infraspinatus", "supraspinatus", "teres-minor", "deltoid", "subscapularis",
         "pectoralis-minor", "upper-trapezius"),
        ("shoulder-lateral", "shoulder-anterior", "shoulder-posterior", "arm-lateral"),
        ("shoulder-flexion", "shoulder-abduction", "shoulder-lateral-rotation"),
        ("Reaching up to a high shelf", "Putting on a coat", "Lying on the sore side",
         "Washing my hair"),
        ("0.30", 50), 20, (PHYSIO,),
    ),
    Complaint(
        "hip", "hip", "hip pain", ("M25.551", "M25.552"), "hip-buttock",
        ("gluteus-medius", "gluteus-minimus", "piriformis", "tensor-fasciae-latae",
         "quadratus-lumborum"),
        ("hip-lateral", "buttock", "thigh-lateral"),
        ("hip-internal-rotation", "hip-abduction", "hip-flexion"),
        ("Climbing stairs", "Lying on my side at night", "Getting out of the car",
         "Walking for 30 minutes"),
        ("0.30", 60), 14, (PHYSIO, CHIRO),
    ),
    Complaint(
        "calf", "sports", "calf strain", ("M79.18", "M79.1"), "leg-foot",
        ("gastrocnemius", "soleus", "fibularis-longus"),
        ("calf", "heel", "knee-posterior"),
        ("ankle-dorsiflexion",),
        ("Running for 20 minutes", "Hopping on the injured leg", "Walking up hills"),
        ("0.30", 50), 6, (TRAINER, PHYSIO),
    ),
    Complaint(
        "hamstring", "sports", "hamstring strain", ("M79.18", "M79.1"), "thigh-knee",
        ("biceps-femoris", "semitendinosus", "semimembranosus"),
        ("thigh-posterior", "knee-posterior", "buttock"),
        ("hip-flexion",),
        ("Sprinting", "Bending forward to touch my toes", "Sitting through a film"),
        ("0.30", 60), 4, (TRAINER, PHYSIO),
    ),
    Complaint(
        "lateral-elbow", "sports", "lateral elbow pain", ("M79.18", "M79.1"), "arm-elbow",
        ("extensor-carpi-radialis-brevis", "extensor-carpi-radialis-longus", "supinator",
         "brachioradialis", "extensor-digitorum"),
        ("elbow-lateral", "forearm-posterior", "hand-dorsal"),
        ("wrist-extension", "wrist-flexion"),
        ("Gripping a racket", "Lifting a full kettle", "Typing for an hour",
         "Opening a jar"),
        ("0.25", 25), 4, (TRAINER, PHYSIO),
    ),
)  # fmt: skip
# Deep muscles need a longer needle than the complaint's usual one.
LONG_NEEDLES = {
    "quadratus-lumborum": ("0.30", 75),
    "iliopsoas": ("0.30", 75),
    "piriformis": ("0.30", 75),
    "gluteus-medius": ("0.30", 60),
    "gluteus-minimus": ("0.30", 60),
}


class PortalUse(Protocol):
    """What the charts need to know of a patient's portal (see `portal.PortalPatient`)."""

    # The demo patient with the fixed login: her last session is signed, for its check-ins.
    showcase: bool
    # The patient sent the health questions from the portal before the first visit.
    answered_questionnaire: bool


@dataclass
class EpisodePlan:
    """An episode of care with what its chart is generated from."""

    episode: EpisodeOfCare
    complaint: Complaint
    # The painful side first; spinal pain on both sides has both.
    sides: tuple[str, ...]
    visit_days: list[dt.date]
    # Set when the patient has a portal account.
    portal: PortalUse | None = None


@dataclass(frozen=True)
class Given:
    """A needling session charted for an episode, with the pain score before needling."""

    session: NeedlingSession
    at: dt.datetime
    before: int
    # None for a draft.
    signed_at: dt.datetime | None = None
    # Its insertions.
    rows: tuple[Insertion, ...] = ()


@cache
def _complaints_on(today: dt.date) -> tuple[tuple[Complaint, tuple[str, ...]], ...]:
    valid = {c.code for c in knowledge.conditions_valid_on(today)}
    offered = []
    for complaint in COMPLAINTS:
        codes = tuple(code for code in complaint.codes if code in valid)
        if codes:
            offered.append((complaint, codes))
    return tuple(offered)


def pick_complaint(rng: random.Random, today: dt.date) -> tuple[Complaint, str, tuple[str, ...]]:
    """A complaint, its ICD-10-CM code (valid on `today`) and the painful side(s)."""
    offered = _complaints_on(today)
    complaint, codes = rng.choices(offered, weights=[c.weight for c, _ in offered])[0]
    # Sports injuries are all "myalgia of another site": one code, the area says where.
    code = codes[0] if complaint.group == "sports" else rng.choice(codes)
    laterality = knowledge.condition(code).laterality
    if laterality:
        return complaint, code, (laterality,)
    side = rng.choice(SIDES)
    if complaint.spinal and rng.random() < 0.3:
        return complaint, code, (side, "right" if side == "left" else "left")
    return complaint, code, (side,)


def visit_days(rng: random.Random, count: int, last: dt.date) -> list[dt.date]:
    """`count` visit days about a week apart, the last on `last`."""
    days = [last]
    for _ in range(count - 1):
        days.append(days[-1] - dt.timedelta(days=7 + rng.randint(-2, 3)))
    return days[::-1]


class Safety:
    """The safety engine's verdicts, remembered: most patients share the same few plans."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, str, str], knowledge.Screening] = {}

    def screen(
        self, factors: list[dict[str, Any]], muscle: str, side: str, technique: str
    ) -> knowledge.Screening:
        key = (json.dumps(factors, sort_keys=True), muscle, side, technique)
        if key not in self._seen:
            item = {"muscle": muscle, "side": side, "technique": technique}
            self._seen[key] = knowledge.screen(factors, [item])
        return self._seen[key]

    def allowed(self, factors: list[dict[str, Any]], muscle: str, side: str) -> bool:
        verdict = self.screen(factors, muscle, side, "dry-needling").items[0].verdict
        return verdict != "contraindicated"


# --- the clinic --------------------------------------------------------------------------


class ClinicChart:
    """What every chart of one clinic shares: staff, documents, needles, time zone."""

    def __init__(self, clinic: Clinic, practitioners: list[Practitioner]) -> None:
        prefetch_related_objects(practitioners, "credentials")
        self.clinic = clinic
        self.tz = ZoneInfo(clinic.timezone)
        self.practitioners = practitioners
        self.consent = services.current_template(clinic=clinic, kind=DocumentTemplate.Kind.CONSENT)
        self.aftercare = services.current_template(
            clinic=clinic, kind=DocumentTemplate.Kind.AFTERCARE
        )
        self.needles = {
            (f"{n.diameter_mm:.2f}", n.length_mm): n for n in services.needle_sizes(clinic)
        }
        self.safety = Safety()
        self._qualified: dict[dt.date, list[Practitioner]] = {}

    def qualified_on(self, day: dt.date) -> list[Practitioner]:
        if day not in self._qualified:
            self._qualified[day] = [
                p for p in self.practitioners if rules.is_qualified_to_needle(p, on=day)
            ]
        return self._qualified[day]

    def in_charge(self, rng: random.Random, complaint: Complaint, day: dt.date) -> Practitioner:
        """A practitioner able to needle on the first visit, most often one whose profession
        usually leads this kind of care."""
        candidates = self.qualified_on(day) or self.practitioners
        weights = [3 if p.profession in complaint.leads else 1 for p in candidates]
        return rng.choices(candidates, weights=weights)[0]

    def performer(
        self, rng: random.Random, lead: Practitioner, day: dt.date
    ) -> Practitioner | None:
        """The practitioner in charge if qualified that day, else a qualified colleague."""
        qualified = self.qualified_on(day)
        if lead in qualified:
            return lead
        return rng.choice(qualified) if qualified else None

    def at(self, day: dt.date, hour: int, minute: int) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=self.tz)

    def needle(self, size: tuple[str, int]) -> NeedleSize:
        return self.needles.get(size) or next(iter(self.needles.values()))


# --- the records of a batch ----------------------------------------------------------------


@dataclass
class Charts:
    """Everything charted for a batch of episodes, each record as it was made, in order."""

    screenings: list[Screening] = field(default_factory=list)
    consents: list[Consent] = field(default_factory=list)
    assessments: list[Assessment] = field(default_factory=list)
    sessions: list[NeedlingSession] = field(default_factory=list)
    pain_marks: list[PainMark] = field(default_factory=list)
    findings: list[TriggerPointFinding] = field(default_factory=list)
    insertions: list[Insertion] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    adverse_events: list[AdverseEvent] = field(default_factory=list)
    aftercare: list[AftercareIssue] = field(default_factory=list)
    addenda: list[Addendum] = field(default_factory=list)
    care_plans: list[CarePlan] = field(default_factory=list)
    plan_goals: list[PlanGoal] = field(default_factory=list)
    plan_therapies: list[PlanTherapy] = field(default_factory=list)
    discharges: list[Discharge] = field(default_factory=list)
    # Signed once the rows under them are in: (record, when).
    signatures: list[tuple[Assessment | NeedlingSession, dt.datetime]] = field(default_factory=list)
    # A patient's consent to dry needling, signed before their first visit, covers the later
    # episodes too.
    consent_of: dict[int, Consent] = field(default_factory=dict)


# --- screening ---------------------------------------------------------------------------


CO_TREATMENTS = [
    CoTreatment.EXERCISE.value,
    CoTreatment.MANUAL_THERAPY.value,
    CoTreatment.HEAT.value,
]
ANTICOAGULANTS = ("apixaban", "rivaroxaban", "warfarin", "clopidogrel", "aspirin")


def _factor(rng: random.Random, patient: Patient, day: dt.date) -> dict[str, Any] | None:
    """One realistic screening answer for this patient, or None when it does not fit them."""
    age = patient.age(day)
    code = rng.choices(
        ["anticoagulant", "diabetes", "pregnancy", "lymphedema", "prior-thoracic-surgery",
         "metal-allergy", "pacemaker", "epilepsy"],
        weights=[6, 7, 3, 3, 3, 2, 2, 1],
    )[0]  # fmt: skip
    if code == "anticoagulant" and age >= 45:
        drug = rng.choice(ANTICOAGULANTS)
        factor: dict[str, Any] = {"code": code, "drug": drug}
        if drug == "warfarin":
            factor["inr"] = round(rng.uniform(2.0, 3.2), 1)
        return factor
    if code == "pregnancy" and patient.sex == Sex.FEMALE and age <= 44:
        return {"code": code, "trimester": rng.randint(1, 3)}
    if code == "lymphedema":
        # Mostly an arm after breast-cancer surgery; sometimes a leg.
        return {"code": code, "limb": rng.choice(["arm", "arm", "leg"]), "side": rng.choice(SIDES)}
    if code == "pacemaker" and age >= 60:
        return {"code": code}
    if code in ("diabetes", "prior-thoracic-surgery", "metal-allergy", "epilepsy"):
        return {"code": code}
    return None


def _factors(rng: random.Random, patient: Patient, day: dt.date) -> list[dict[str, Any]]:
    """Most patients have nothing to declare; some one or two factors."""
    if rng.random() < 0.7:
        return []
    wanted = 2 if rng.random() < 0.2 else 1
    factors: list[dict[str, Any]] = []
    for _ in range(wanted):
        factor = _factor(rng, patient, day)
        if factor and factor["code"] not in [f["code"] for f in factors]:
            factors.append(factor)
    return services.clean_factors(factors)


# --- helpers -----------------------------------------------------------------------------


def _clamp(value: float, low: int = 0, high: int = 10) -> int:
    return max(low, min(high, round(value)))


def _favour_first(rng: random.Random, items: Sequence[T], count: int) -> list[T]:
    """`count` distinct items, earlier ones more likely (the usual culprits)."""
    pool = list(items)
    chosen = []
    for _ in range(min(count, len(pool))):
        item = rng.choices(pool, weights=range(len(pool) + 1, 1, -1))[0]
        pool.remove(item)
        chosen.append(item)
    return chosen


def _regions(bases: Sequence[str], side: str) -> list[str]:
    return [rid for base in bases for rid in knowledge.region_ids_for(base, side)]


def _pain_course(rng: random.Random, baseline: int, visits: int, responder: bool) -> list[int]:
    """NPRS before each session: responders improve with noise; the others stay about the
    same or get slightly worse."""
    # The change by the last visit: most of the pain gone, or about none.
    change = -baseline * rng.uniform(0.45, 0.85) if responder else rng.uniform(-0.5, 1.5)
    course = [baseline]
    for visit in range(1, visits):
        progress = visit / max(visits - 1, 1)
        course.append(_clamp(baseline + change * progress + rng.gauss(0, 0.6)))
    return course


# --- adverse events ------------------------------------------------------------------------


@dataclass(frozen=True)
class EventShape:
    """How an event of one type usually runs: onset, duration, what was done, words."""

    onsets: tuple[str, ...]
    duration: tuple[int, int, str]
    actions: tuple[str, ...]
    # Events at a needle site name the muscle; whole-body ones do not.
    local: bool
    description: str
    severity: str = AdverseEvent.Severity.MILD


MINOR_EVENTS = {
    "bruising": EventShape(("within-24h", "during"), (2, 7, "days"), ("none", "self-care"), True,
                           "Small bruise at a needle site."),
    "bleeding": EventShape(("during",), (1, 3, "minutes"), ("none",), True,
                           "A drop of blood at a needle site; stopped with pressure."),
    "pain-during": EventShape(("during",), (1, 5, "minutes"), ("none",), True,
                              "Sharp pain on insertion; the needle was withdrawn a little."),
    "pain-after": EventShape(("within-24h",), (1, 2, "days"), ("self-care",), True,
                             "Soreness at the needled muscle, eased with heat and walking."),
    "aggravation": EventShape(("within-24h",), (1, 2, "days"), ("self-care",), False,
                              "The usual pain was worse the evening after the session."),
    "drowsiness": EventShape(("during", "within-24h"), (1, 4, "hours"), ("none",), False,
                             "Felt tired after the session; rested at home."),
    "headache": EventShape(("within-24h",), (2, 8, "hours"), ("self-care",), False,
                           "Mild headache later that day; settled with rest and water."),
    "nausea": EventShape(("during",), (10, 30, "minutes"), ("none",), False,
                         "Felt queasy while lying down; settled sitting up with water."),
}  # fmt: skip
MAJOR_EVENTS = {
    "fainting": EventShape(("during",), (5, 20, "minutes"), ("clinician",), False,
                           "Fainted briefly; needles removed, legs raised, recovered fully "
                           "and was driven home.", AdverseEvent.Severity.MODERATE),
    "nerve-irritation": EventShape(("during",), (3, 10, "days"), ("clinician",), True,
                                   "Shooting pain and tingling on insertion; tingling lasted "
                                   "a few days and was reviewed.", AdverseEvent.Severity.MODERATE),
    "aggravation": EventShape(("within-24h",), (3, 6, "days"), ("clinician",), False,
                              "Marked flare of the usual pain that limited work for a few "
                              "days; reviewed early.", AdverseEvent.Severity.MODERATE),
}  # fmt: skip
# Minor events on about a quarter of sessions (Brady 2014: 19%, Boyce 2020: 37%); major
# ones about 1 in 1,000 (Boyce 2020: 20 in 20,464).
MINOR_RATE = 0.26
MAJOR_RATE = 0.001


@cache
def _minor_weights() -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The event types weighted as Brady 2014 reports them."""
    known = knowledge.adverse_event_types()
    brady = next(s for s in knowledge.published_rates().studies if s.key == "brady-2014")
    types = tuple(t for t in brady.by_type if t in known and t in MINOR_EVENTS)
    return types, tuple(brady.by_type[t] for t in types)


# --- one episode ---------------------------------------------------------------------------


class EpisodeCharter:
    """Charts one episode from its plan; adds the records to a `Charts`."""

    def __init__(
        self,
        rng: random.Random,
        ctx: ClinicChart,
        plan: EpisodePlan,
        today: dt.date,
        out: Charts,
    ) -> None:
        self.rng, self.ctx, self.plan, self.out = rng, ctx, plan, out
        self.safety = ctx.safety
        self.episode = plan.episode
        self.complaint = plan.complaint
        self.side = plan.sides[0]
        # Nothing is recorded as happening today or later.
        self.cutoff = ctx.at(today, 0, 0)
        # Set before the first visit (`_screen_and_consent`).
        self.factors: list[dict[str, Any]] = []
        self.pool: list[tuple[str, str]] = []
        self.screening: Screening
        self.consent: Consent
        # Set by the assessment: the PSFS activities and the movement measured, at baseline.
        self.psfs: list[tuple[str, int]] = []
        self.rom: tuple[str, int] | None = None
        self.qol = 5
        # The sessions charted, and the adverse events after them.
        self.given: list[Given] = []
        self.events: list[AdverseEvent] = []
        # Set by `chart`, for the outcomes: who leads, the first visit, the pain then, the
        # muscles with trigger points found, and whether the needling helps.
        self.lead: Practitioner = self.episode.care_manager
        self.first: dt.datetime
        self.baseline = 0
        self.found: list[str] = []
        self.responder = True

    def chart(self) -> None:
        """The screening, consent and assessment of the first visit, then the sessions."""
        rng, plan = self.rng, self.plan
        lead = self.lead
        first = self.ctx.at(plan.visit_days[0], rng.randint(8, 16), rng.choice((0, 15, 30, 45)))
        self.first = first
        self._screen_and_consent(lead, first)
        baseline = self.baseline = rng.choices(range(3, 10), weights=[1, 3, 4, 4, 3, 2, 1])[0]
        found = self.found = self._assessment(lead, first, baseline)
        responder = self.responder = rng.random() < 0.75
        course = _pain_course(rng, baseline, len(plan.visit_days), responder)
        draft_last = self.episode.status == EpisodeOfCare.Status.ACTIVE and rng.random() < 0.1
        portal = plan.portal
        if portal is not None and portal.showcase:
            draft_last = False  # the demo patient's last session is signed, for its check-ins
        for number, (day, before) in enumerate(zip(plan.visit_days, course, strict=True)):
            performer = self.ctx.performer(rng, lead, day)
            if performer is None:
                continue  # nobody may needle that day: the visit had no needling
            if number == 0:
                at = first + dt.timedelta(minutes=40)
            else:
                at = self.ctx.at(day, rng.randint(8, 17), rng.choice((0, 15, 30, 45)))
            draft = draft_last and number == len(plan.visit_days) - 1
            given = self._session(performer, at, found, before, responder, draft)
            if given is not None:
                self.given.append(given)

    def _screen_and_consent(self, lead: Practitioner, first: dt.datetime) -> None:
        """The health screening just before the first visit, and the patient's consent
        before their first visit at the clinic (it covers later episodes too); and the
        muscles of the complaint the screening allows to needle."""
        self.factors = self._safe_factors(first.date())
        self.pool = [
            (muscle, side)
            for muscle in self.complaint.muscles
            for side in self.plan.sides
            if self.safety.allowed(self.factors, muscle, side)
        ]
        self.screening = Screening(
            episode=self.episode,
            factors=self.factors,
            note="Health questionnaire reviewed with the patient." if self.factors else "",
            source=self._screening_source(),
            recorded_by=lead.user,
            recorded_at=first - dt.timedelta(minutes=15),
        )
        self.out.screenings.append(self.screening)
        patient = self.episode.patient
        if patient.pk not in self.out.consent_of:
            self.out.consent_of[patient.pk] = Consent(
                patient=patient,
                template=self.ctx.consent,
                signed_name=patient.full_name,
                signed_at=first - dt.timedelta(minutes=10),
                witnessed_by=lead.user,
            )
            self.out.consents.append(self.out.consent_of[patient.pk])
        self.consent = self.out.consent_of[patient.pk]

    def _screening_source(self) -> str:
        source = self.rng.choice([Screening.Source.CLINICIAN, Screening.Source.PATIENT])
        portal = self.plan.portal
        if portal is not None and portal.answered_questionnaire:
            # The patient's own answers from the portal, confirmed at the first visit.
            return Screening.Source.PATIENT
        return source

    def _safe_factors(self, day: dt.date) -> list[dict[str, Any]]:
        """Screening factors that still leave muscles of the complaint to needle: a patient
        with lymphedema of the painful arm would not be offered needling there at all."""
        for _ in range(3):
            factors = _factors(self.rng, self.episode.patient, day)
            allowed = [
                m
                for m in self.complaint.muscles
                if all(self.safety.allowed(factors, m, side) for side in self.plan.sides)
            ]
            if len(allowed) >= 2:
                return factors
        return []

    def _assessment(self, lead: Practitioner, at: dt.datetime, baseline: int) -> list[str]:
        """The signed initial assessment; returns the muscles with trigger points found."""
        rng, complaint, out = self.rng, self.complaint, self.out
        weeks = max(1, (self.plan.visit_days[0] - self.episode.onset_date).days // 7)
        activity = rng.choice(complaint.activities)
        where = "both sides" if len(self.plan.sides) > 1 else f"{self.side} side"
        assessment = Assessment(
            episode=self.episode,
            practitioner=lead,
            kind=Assessment.Kind.INITIAL,
            performed_at=at,
            created_by=lead.user,
            created_at=at,
            note=(
                f"{complaint.label.capitalize()}, {where}, for about {weeks} weeks. "
                f"Hardest: {activity.lower()}. Palpation reproduced the familiar pain."
            ),
        )
        out.assessments.append(assessment)
        out.signatures.append((assessment, at + dt.timedelta(minutes=35)))
        marked = []
        for side in self.plan.sides:
            count = rng.randint(1, len(complaint.pain_regions))
            marked += _regions(complaint.pain_regions[:count], side)
        for number, region in enumerate(dict.fromkeys(marked)):
            out.pain_marks.append(
                PainMark(
                    assessment=assessment,
                    region=region,
                    intensity=baseline if number == 0 else _clamp(baseline - rng.randint(1, 3), 1),
                    quality=rng.choices(
                        [PainQuality.ACHING, PainQuality.SHARP, PainQuality.TINGLING],
                        weights=[6, 3, 1],
                    )[0],
                )
            )
        found_pool = [m for m in complaint.muscles if (m, self.side) in self.pool]
        found = _favour_first(rng, found_pool, rng.randint(1, 3))
        for muscle in found:
            referral = knowledge.muscle(muscle).referral.primary
            recognised = rng.random() < 0.8
            out.findings.append(
                TriggerPointFinding(
                    assessment=assessment,
                    muscle=muscle,
                    side=self.side,
                    taut_band=True,
                    hypersensitive_spot=True,
                    referred_sensation=rng.choice(
                        [ReferredSensation.PAIN, ReferredSensation.DEEP_ACHE]
                    ),
                    referred_regions=_regions(
                        rng.sample(referral, min(2, len(referral))), self.side
                    ),
                    recognised=recognised,
                    jump_sign=recognised and rng.random() < 0.4,
                    twitch_response=rng.random() < 0.5,
                    pressure_pain_threshold=Decimal(rng.randint(1500, 4500)) / 10,
                )
            )
        measured = at + dt.timedelta(minutes=10)
        self._observe(lead, measured, "nprs", baseline, Timing.BASELINE, assessment=assessment)
        movements = [m for m in complaint.movements if m in _movement_codes()]
        if movements:
            movement = knowledge.rom_movement(rng.choice(movements))
            value = round(movement.reference * rng.uniform(0.5, 0.85))
            self.rom = (movement.code, value)
            self._observe(
                lead, measured, "rom", value, Timing.BASELINE, assessment=assessment,
                component=movement.code, side=self.side,
            )  # fmt: skip
        for activity in rng.sample(complaint.activities, rng.randint(1, 2)):
            self.psfs.append((activity, rng.randint(2, 6)))
            self._observe(
                lead, measured, "psfs-activity", self.psfs[-1][1], Timing.BASELINE,
                assessment=assessment, component=activity,
            )  # fmt: skip
        self.qol = rng.randint(3, 7)
        self._observe(lead, measured, "qol", self.qol, Timing.BASELINE, assessment=assessment)
        return found

    def _observe(
        self,
        practitioner: Practitioner,
        at: dt.datetime,
        code: str,
        value: int,
        timing: str,
        **where: Any,
    ) -> None:
        self.out.observations.append(
            Observation(
                episode=self.episode,
                code=code,
                timing=timing,
                value=Decimal(value),
                recorded_by=practitioner.user,
                recorded_at=at,
                **where,
            )
        )

    def _session(
        self,
        performer: Practitioner,
        at: dt.datetime,
        found: list[str],
        before: int,
        responder: bool,
        draft: bool,
    ) -> Given | None:
        rng, out = self.rng, self.out
        user = performer.user
        # The note's details come from their own stream, so the main draws (who reports
        # what, and when) stay as they were before these details existed.
        detail = random.Random(int(at.timestamp()))
        session = NeedlingSession(
            episode=self.episode,
            practitioner=performer,
            performed_at=at,
            screening=self.screening,
            screening_status=NeedlingSession.ScreeningStatus.UNCHANGED,
            clean_technique=True,
            consent_confirmed=True,
            gloves=True,
            antisepsis=detail.choice(["alcohol", "alcohol", "chlorhexidine"]),
            guide_tube=True,
            needle_brand="Demo Needles",
            needle_lot=f"LOT-{at:%Y%m}",
            patient_position=detail.choice(["prone", "prone", "supine", "side-lying"]),
            co_treatments=_favour_first(rng, CO_TREATMENTS, rng.choice([0, 1, 1, 2])),
            created_by=user,
            created_at=at,
        )
        rows = self._rows(session, found)
        if not rows:
            return None
        # A draft is imported with the rest and left unsigned (it has no signature).
        out.sessions.append(session)
        out.insertions += rows
        drop = rng.choices([0, 1, 2, 3], weights=[1, 5, 4, 1] if responder else [5, 5, 1, 0])[0]
        after = _clamp(before - drop)
        self._observe(performer, at + dt.timedelta(minutes=2), "nprs", before, Timing.BEFORE,
                      session=session)  # fmt: skip
        if draft and rng.random() < 0.5:
            return Given(session, at, before, rows=tuple(rows))  # a draft: no score after yet
        self._observe(performer, at + dt.timedelta(minutes=25), "nprs", after, Timing.AFTER,
                      session=session)  # fmt: skip
        needles = sum(row.needles for row in rows)
        session.needles_opened = session.needles_removed = needles
        session.sharps_disposed = True
        session.soreness_after = random.Random(int(at.timestamp()) + 1).choices(
            range(6), weights=[2, 4, 4, 3, 1, 1]
        )[0]
        muscles = ", ".join(dict.fromkeys(knowledge.muscle(r.muscle).name for r in rows))
        session.note = f"Needled: {muscles}. Pain {before}/10 before, {after}/10 after."
        if draft:
            return Given(session, at, before, rows=tuple(rows))
        signed_at = at + dt.timedelta(minutes=rng.randint(30, 90))
        out.signatures.append((session, signed_at))
        out.aftercare.append(
            AftercareIssue(
                session=session,
                template=self.ctx.aftercare,
                issued_by=user,
                issued_at=at + dt.timedelta(minutes=28),
            )
        )
        self._adverse_events(session, rows, user)
        if rng.random() < 0.03:
            self._addendum(session, signed_at, user)
        return Given(session, at, before, signed_at, tuple(rows))

    def _rows(self, session: NeedlingSession, found: list[str]) -> list[Insertion]:
        """1-4 muscles, mostly those with trigger points found; each screened, and a row
        the engine contraindicates is changed to plain needling or left out."""
        rng = self.rng
        muscles = list(dict.fromkeys(m for m, _ in self.pool))
        count = rng.randint(1, 3 if len(self.plan.sides) > 1 else 4)
        chosen = [m for m in found if rng.random() < 0.8][:count]
        chosen += _favour_first(rng, [m for m in muscles if m not in chosen], count - len(chosen))
        rows = []
        for muscle in chosen:
            for side in self.plan.sides:
                if (muscle, side) not in self.pool:
                    continue
                row = self._row(session, muscle, side)
                if row is not None:
                    rows.append(row)
        return rows

    def _row(
        self, session: NeedlingSession, muscle: str, side: str, technique: str | None = None
    ) -> Insertion | None:
        rng = self.rng
        technique = (
            technique
            or rng.choices(
                [Technique.PISTONING, Technique.STATIC, Technique.ROTATION, Technique.ELECTRICAL],
                weights=[50, 25, 15, 8],
            )[0]
        )
        size = self.ctx.needle(LONG_NEEDLES.get(muscle, self.complaint.needle))
        row = Insertion(
            session=session,
            muscle=muscle,
            side=side,
            needles=rng.choices([1, 2, 3], weights=[5, 4, 1])[0],
            needle_size=size,
            technique=technique,
            twitch_responses=0,
            familiar_pain=rng.random() < 0.5,
            tolerance=rng.choices(
                [Insertion.Tolerance.GOOD, Insertion.Tolerance.FAIR, Insertion.Tolerance.POOR],
                weights=[80, 17, 3],
            )[0],
        )
        if rng.random() < 0.15:
            row.depth, row.depth_mm = Insertion.Depth.SUPERFICIAL, rng.randint(3, 8)
        else:
            row.depth = Insertion.Depth.DEEP
            row.depth_mm = rng.randint(size.length_mm // 3, size.length_mm * 2 // 3)
        if technique == Technique.PISTONING:
            row.twitch_responses = rng.choices(range(7), weights=[3, 4, 4, 3, 2, 1, 1])[0]
        elif technique == Technique.ROTATION:
            row.twitch_responses = rng.randint(0, 2)
        elif technique == Technique.STATIC:
            row.retention_minutes = rng.choice([5, 10, 10, 15])
        else:
            # Stimulation runs between a pair of needles.
            row.needles = max(row.needles, 2)
            row.frequency_hz = Decimal(rng.choice(["2.0", "2.0", "4.0", "10.0"]))
            row.intensity_ma = Decimal(rng.randint(10, 60)) / 10
            # Both needles of the pair in the same muscle: the current stays local.
            row.lead_to_muscle, row.lead_to_side = muscle, side or ""
            row.waveform = "biphasic-symmetric"
            row.pulse_width_us, row.stimulation_minutes = 250, 15
        result = self.safety.screen(self.factors, muscle, side, row.engine_technique)
        if result.items[0].verdict == "contraindicated":
            if technique == Technique.ELECTRICAL:
                # e.g. a pacemaker: no current, plain needling is still fine.
                return self._row(session, muscle, side, Technique.PISTONING)
            return None
        return row

    def _adverse_events(self, session: NeedlingSession, rows: list[Insertion], user: User) -> None:
        rng = self.rng
        chosen: list[tuple[str, EventShape]] = []
        if rng.random() < MINOR_RATE:
            types, weights = _minor_weights()
            for code in dict.fromkeys(rng.choices(types, weights=weights, k=2)):
                chosen.append((code, MINOR_EVENTS[code]))
                if rng.random() > 0.1:  # now and then a second one, e.g. bleeding then a bruise
                    break
        if rng.random() < MAJOR_RATE:
            code = rng.choice(sorted(MAJOR_EVENTS))
            chosen.append((code, MAJOR_EVENTS[code]))
        known = knowledge.adverse_event_types()
        for code, shape in chosen:
            if code not in known:
                continue
            onset = rng.choice(shape.onsets)
            low, high, unit = shape.duration
            duration = rng.randint(low, high)
            ended = session.performed_at + dt.timedelta(**{unit: duration})
            if onset == "during":
                delay = dt.timedelta(minutes=30)
            else:
                delay = dt.timedelta(hours=rng.randint(3, 30))
            recorded = min(session.performed_at + delay, self.cutoff - dt.timedelta(minutes=1))
            row = rng.choice(rows)
            self.events.append(
                AdverseEvent(
                    session=session,
                    event_type=code,
                    onset=onset,
                    severity=shape.severity,
                    duration_value=duration,
                    duration_unit=unit,
                    action_taken=rng.choice(shape.actions),
                    # Still settling when the demo's day comes: followed up later.
                    outcome=(
                        AdverseEvent.Outcome.RESOLVED
                        if ended < self.cutoff
                        else AdverseEvent.Outcome.RECOVERING
                    ),
                    muscles=[f"{row.muscle}:{row.side}"] if shape.local else [],
                    description=shape.description,
                    recorded_by=user,
                    recorded_at=recorded,
                )
            )
            self.out.adverse_events.append(self.events[-1])

    def _addendum(self, session: NeedlingSession, signed_at: dt.datetime, user: User) -> None:
        written = signed_at + dt.timedelta(days=self.rng.randint(1, 3))
        if written >= self.cutoff:
            return
        reason, text = self.rng.choice(ADDENDA)
        self.out.addenda.append(
            Addendum(session=session, reason=reason, text=text, author=user, written_at=written)
        )


ADDENDA = (
    ("Late entry", "Patient phoned the next day: the soreness settled overnight."),
    ("Late entry", "Home exercises given at this visit: two sets of ten, once a day."),
    ("Information received", "Letter from the GP: no red flags; happy for treatment to go on."),
)


@cache
def _movement_codes() -> frozenset[str]:
    return frozenset(m.code for m in knowledge.rom_movements())
