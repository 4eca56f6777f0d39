"""Charts for the demo's episodes of care: screening, consent, an initial assessment, weekly
needling sessions with pain scores, adverse events, aftercare and the odd addendum; and
their outcomes: a treatment plan (sometimes a second version after a review), the odd
reassessment during active care, and a discharge with its measures for finished care.

Everything comes from the demo's one `random.Random` and from `today`, so the same seed and
day give the same charts. Rows are bulk-inserted. The database refuses rows under a signed
assessment or session and any change to a signed one, so each record is inserted unsigned,
its rows are added, and only then is it signed (one UPDATE while it is still unsigned).
Plan versions, their goals and therapies, and discharges are never updated at all, so they
are created complete; a discharge last, once the records its snapshot reads are in.
"""

import datetime as dt
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Model, prefetch_related_objects

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
from needlechart.outcomes import selectors
from needlechart.outcomes.models import (
    CarePlan,
    Discharge,
    Observation,
    PlanGoal,
    PlanTherapy,
    Timing,
)
from needlechart.patients.models import EpisodeOfCare, Patient, Sex

if TYPE_CHECKING:
    from needlechart.demo_portal import PortalPatient, PortalRows

T = TypeVar("T")
SIDES = ("left", "right")
# Rows per bulk insert.
BATCH = 500


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


@dataclass
class EpisodePlan:
    """An episode of care with what its chart is generated from."""

    episode: EpisodeOfCare
    complaint: Complaint
    # The painful side first; spinal pain on both sides has both.
    sides: tuple[str, ...]
    visit_days: list[dt.date]
    # Set when the patient has a portal account (`demo_portal`).
    portal: "PortalPatient | None" = None


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
    """Everything charted for a batch of episodes, in insertion order."""

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
    # Their snapshots are taken from the database once everything else is in.
    discharges: list[Discharge] = field(default_factory=list)
    # Applied once the rows under the records are in: (record, signing values).
    signatures: list[tuple[Assessment | NeedlingSession, dict[str, Any]]] = field(
        default_factory=list
    )
    # What the patients of the batch did in the portal, if any.
    portal: "PortalRows | None" = None

    def save(self) -> None:
        """Insert parents before children, and sign only after the rows under them."""
        if self.portal is not None:
            self.portal.save_accounts()
        for model, rows in (
            (Screening, self.screenings),
            (Consent, self.consents),
            (Assessment, self.assessments),
            (NeedlingSession, self.sessions),
            (PainMark, self.pain_marks),
            (TriggerPointFinding, self.findings),
            (Insertion, self.insertions),
            (Observation, self.observations),
            (CarePlan, self.care_plans),
            (PlanGoal, self.plan_goals),
            (PlanTherapy, self.plan_therapies),
        ):
            model.objects.bulk_create(rows, batch_size=BATCH)
        for model, fields in (
            (Assessment, ["signed_at", "signed_by"]),
            (NeedlingSession, ["signed_at", "signed_by", "cpt_code", "consent"]),
        ):
            signed = []
            for record, values in self.signatures:
                if isinstance(record, model):
                    for name, value in values.items():
                        setattr(record, name, value)
                    signed.append(record)
            _update(model, signed, fields)
        # Not guarded by the signature: recorded after signing, as in the clinic.
        for model, rows in (
            (AdverseEvent, self.adverse_events),
            (AftercareIssue, self.aftercare),
            (Addendum, self.addenda),
        ):
            model.objects.bulk_create(rows, batch_size=BATCH)
        # Check-ins and the effects they reported, after the sessions are signed and the
        # adverse events the clinicians confirmed are in.
        if self.portal is not None:
            self.portal.save_reports()
        # What the discharge service stores, as the records stood: the clock's time of the
        # snapshot is replaced by the discharge's, so the same day gives the same demo.
        for record in self.discharges:
            record.snapshot = selectors.discharge_snapshot(record.episode) | {
                "taken_at": record.discharged_at.astimezone(dt.UTC).isoformat()
            }
        Discharge.objects.bulk_create(self.discharges, batch_size=BATCH)


def _update(model: type[Model], records: list[Model], names: list[str]) -> None:
    """Write `names` of each record, one UPDATE per row in one round trip: bulk_update's
    CASE expressions are slow to build for tens of thousands of rows."""
    if not records:
        return
    fields = [model._meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    table, key = quote(model._meta.db_table), quote(model._meta.pk.column)
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    sql = f"UPDATE {table} SET {assignments} WHERE {key} = %s"  # noqa: S608 - names, not input
    rows = [
        [f.get_db_prep_save(getattr(r, f.attname), connection) for f in fields] + [r.pk]
        for r in records
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


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

    def chart(self) -> None:
        rng, plan = self.rng, self.plan
        lead = self.episode.care_manager
        first = self.ctx.at(plan.visit_days[0], rng.randint(8, 16), rng.choice((0, 15, 30, 45)))
        self._screen_and_consent(lead, first)
        baseline = rng.choices(range(3, 10), weights=[1, 3, 4, 4, 3, 2, 1])[0]
        found = self._assessment(lead, first, baseline)
        responder = rng.random() < 0.75
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
        if portal is not None:
            portal.after_sessions(self, first)
        outcomes = OutcomesCharter(self, lead, first, baseline, found, responder)
        outcomes.chart()
        if portal is not None:
            portal.at_home(self, outcomes)

    def _screen_and_consent(self, lead: Practitioner, first: dt.datetime) -> None:
        """The health screening and the signed consent, just before the first visit; and
        the muscles of the complaint the screening allows to needle."""
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
        self.consent = Consent(
            patient=self.episode.patient,
            template=self.ctx.consent,
            signed_name=self.episode.patient.full_name,
            signed_at=first - dt.timedelta(minutes=10),
            witnessed_by=lead.user,
        )
        self.out.screenings.append(self.screening)
        self.out.consents.append(self.consent)

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
        out.signatures.append(
            (assessment, {"signed_at": at + dt.timedelta(minutes=35), "signed_by": lead.user})
        )
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
        out.signatures.append(
            (
                session,
                {
                    "signed_at": signed_at,
                    "signed_by": user,
                    "cpt_code": knowledge.suggest_cpt([r.muscle for r in rows]) or "",
                    "consent": self.consent,
                },
            )
        )
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
        services._store_verdict(row, result)
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


# --- outcomes: the plan, reassessments, discharge -----------------------------------------


Kind = PlanTherapy.Kind
Frequency = CarePlan.Frequency
Reason = Discharge.Reason
# Home exercises by complaint, with their doses.
EXERCISES = {
    "neck": (
        ("Chin tucks", "3 x 10, twice a day"),
        ("Upper trapezius stretch", "3 x 30 s each side, daily"),
        ("Scapular retraction with a band", "3 x 12, daily"),
        ("Thoracic extension over a rolled towel", "2 x 10, daily"),
        ("Levator scapulae stretch", "3 x 30 s, daily"),
    ),
    "low-back": (
        ("Pelvic tilts", "2 x 15, daily"),
        ("Bird dog", "3 x 8 each side, daily"),
        ("Glute bridges", "3 x 12, daily"),
        ("Knee-to-chest stretch", "3 x 30 s each side, daily"),
        ("Cat-camel", "2 x 10, morning and evening"),
    ),
    "shoulder": (
        ("Pendulum swings", "2 x 1 min, twice a day"),
        ("External rotation with a band", "3 x 12, daily"),
        ("Sleeper stretch", "3 x 30 s, daily"),
        ("Wall slides", "2 x 10, daily"),
        ("Scapular setting", "3 x 10 holds of 5 s, daily"),
    ),
    "hip": (
        ("Clamshells", "3 x 15 each side, daily"),
        ("Side-lying hip abduction", "3 x 12, daily"),
        ("Glute bridges", "3 x 12, daily"),
        ("Piriformis stretch", "3 x 30 s, daily"),
        ("Hip flexor stretch in half kneeling", "3 x 30 s, daily"),
    ),
    "calf": (
        ("Eccentric heel drops", "3 x 15, twice a day"),
        ("Calf stretch against a wall", "3 x 30 s, straight and bent knee, daily"),
        ("Seated calf raises", "3 x 15, daily"),
        ("Single-leg balance", "3 x 30 s, daily"),
    ),
    "hamstring": (
        ("Isometric hamstring holds", "5 x 30 s, daily"),
        ("Single-leg glute bridges", "3 x 10, daily"),
        ("Hamstring sliders", "3 x 8, every other day"),
        ("Nordic hamstring curls", "3 x 5, twice a week"),
    ),
    "lateral-elbow": (
        ("Isometric wrist extension", "5 x 45 s, daily"),
        ("Eccentric wrist extension with a 1 kg weight", "3 x 15, daily"),
        ("Wrist extensor stretch", "3 x 30 s, daily"),
        ("Grip squeezes with a soft ball", "3 x 10, daily"),
    ),
}
# Where massage or manipulation is aimed, by complaint.
PARTS = {
    "neck": "neck and upper back",
    "low-back": "low back",
    "shoulder": "shoulder girdle",
    "hip": "hip and buttock",
    "calf": "calf",
    "hamstring": "back of the thigh",
    "lateral-elbow": "forearm",
}
# Named clinicians outside the clinic, by the therapy they give.
OUTSIDE = {
    Kind.PHYSICAL_THERAPY: ("Siobhan Doyle, physiotherapist", "Rafael Santos, physiotherapist"),
    Kind.CHIROPRACTIC: ("Dr Paul Hughes, chiropractor", "Dr Anna Berg, chiropractor"),
    Kind.MASSAGE: ("Ciara Nolan, massage therapist", "Aidan Shaw, sports massage therapist"),
}
THERAPY_WORDS = {
    Kind.PHYSICAL_THERAPY: "physical therapy",
    Kind.HOME_EXERCISE: "a home exercise programme",
    Kind.MASSAGE: "massage",
    Kind.CHIROPRACTIC: "chiropractic care",
}
FREQUENCY_WORDS = {
    Frequency.TWICE_WEEKLY: "twice a week",
    Frequency.WEEKLY: "once a week",
    Frequency.FORTNIGHTLY: "every two weeks",
    Frequency.MONTHLY: "once a month",
}
# Active plans reviewed and changed at the first visit after their review date; the others
# are overdue. Now and then a plan changes before its review date.
REVISED_AFTER_REVIEW = 0.7
REVISED_EARLY = 0.08
# Active episodes with four sessions or more that had a reassessment at one of them.
REASSESSED = 0.5


def _weighted_sample(rng: random.Random, weights: dict[T, int], count: int) -> list[T]:
    pool = dict(weights)
    chosen = []
    for _ in range(min(count, len(pool))):
        item = rng.choices(list(pool), weights=list(pool.values()))[0]
        del pool[item]
        chosen.append(item)
    return chosen


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _groc(rng: random.Random, change: str) -> int:
    """A global rating of change (-7..+7) that fits how the pain went."""
    if change == "improved":
        return rng.choices(range(2, 8), weights=[1, 3, 5, 5, 3, 1])[0]
    if change == "worse":
        return rng.choices(range(-4, 1), weights=[1, 2, 3, 2, 1])[0]
    return rng.choices(range(-2, 4), weights=[1, 2, 4, 3, 2, 1])[0]


def _pgic(rng: random.Random, change: str) -> int:
    """A patient global impression of change (1 very much better .. 7 very much worse)."""
    if change == "improved":
        return rng.choices([1, 2, 3], weights=[3, 5, 2])[0]
    if change == "worse":
        return rng.choices([4, 5, 6], weights=[3, 4, 1])[0]
    return rng.choices([2, 3, 4, 5], weights=[1, 3, 5, 1])[0]


def _qol(rng: random.Random, baseline: int, change: str) -> int:
    """A quality-of-life rating (0-10) later in the course, following the pain."""
    if change == "improved":
        return _clamp(max(baseline + 2, rng.randint(6, 9)))
    return _clamp(
        baseline - rng.randint(1, 2) if change == "worse" else baseline + rng.randint(-1, 1)
    )


def _rom_now(rng: random.Random, code: str, baseline: int, change: str) -> int:
    """Degrees of a movement later in the course: most of the lost range back, or about
    the same."""
    reference = knowledge.rom_movement(code).reference
    if change == "improved":
        return round(min(reference, baseline + reference * rng.uniform(0.1, 0.3)))
    return max(0, baseline + rng.randint(-5, 5))


def _psfs_now(rng: random.Random, baseline: int, change: str) -> int:
    """An activity's rating later in the course, following the pain."""
    if change == "improved":
        return _clamp(baseline + rng.randint(3, 6))
    return _clamp(
        baseline - rng.randint(0, 2) if change == "worse" else baseline + rng.randint(-1, 2)
    )


class OutcomesCharter:
    """The outcomes of one charted episode: its treatment plan, made at the initial
    assessment and for some active episodes changed at a review; a reassessment now and
    then during active care; and for finished care the discharge with its measures."""

    def __init__(
        self,
        charter: EpisodeCharter,
        lead: Practitioner,
        first: dt.datetime,
        baseline: int,
        found: list[str],
        responder: bool,
    ) -> None:
        self.charter, self.lead, self.first = charter, lead, first
        self.baseline, self.found, self.responder = baseline, found, responder
        self.rng, self.ctx, self.out = charter.rng, charter.ctx, charter.out
        self.episode, self.complaint = charter.episode, charter.complaint
        self.given = charter.given
        # The latest version, its goals and therapies.
        self.plan: CarePlan
        self.goals: list[PlanGoal] = []
        self.therapies: list[PlanTherapy] = []

    def chart(self) -> None:
        plan = self.plan = self._first_plan()
        status = self.episode.status
        if status == EpisodeOfCare.Status.ACTIVE:
            review = self._review_visit(plan)
            if review is not None:
                self._revised_plan(plan, review)
            self._reassessment(review)
        elif status == EpisodeOfCare.Status.FINISHED:
            self._discharge()

    def _change(self, value: int) -> str:
        """Whether pain at `value` is an important improvement on the baseline, or worse."""
        return knowledge.classify_change(
            "nprs", self.baseline, value, condition=self.episode.condition_code
        ).classification

    # The plan.

    def _first_plan(self) -> CarePlan:
        """Version 1, made by the practitioner in charge at the initial assessment."""
        rng, lead = self.rng, self.lead
        visits = len(self.charter.plan.visit_days)
        if self.episode.status == EpisodeOfCare.Status.FINISHED:
            planned = visits + rng.choice((-1, 0, 0, 1))
        else:  # care still running or paused: planned for more than given so far
            planned = visits + rng.choice((0, 1, 1, 2))
        frequency = rng.choices(
            [Frequency.WEEKLY, Frequency.TWICE_WEEKLY, Frequency.FORTNIGHTLY], weights=[8, 1, 1]
        )[0]
        planned = max(3, min(6, planned))
        # Reviewed about when the planned sessions are done: four to seven weeks.
        review_on = self.first.date() + dt.timedelta(
            days=max(28, min(49, 7 * planned + rng.randint(0, 7)))
        )
        kinds = _weighted_sample(
            rng,
            {
                Kind.HOME_EXERCISE: 6,
                Kind.PHYSICAL_THERAPY: 4 if lead.profession == PHYSIO else 2,
                Kind.MASSAGE: 2,
                Kind.CHIROPRACTIC: 4 if lead.profession == CHIRO else 1,
            },
            rng.choices([1, 2], weights=[45, 55])[0],
        )
        names = [knowledge.muscle(m).name.lower() for m in self.found]
        needling = f"Dry needling of {_and(names)}" if names else "Dry needling"
        plan = CarePlan(
            episode=self.episode,
            version=1,
            planned_sessions=planned,
            frequency=frequency,
            review_on=review_on,
            note=(
                f"{needling}, {FREQUENCY_WORDS[frequency]}, "
                f"with {_and([THERAPY_WORDS[k] for k in kinds])}."
            ),
            created_by=lead.user,
            created_at=self.first + dt.timedelta(minutes=37),
        )
        self.out.care_plans.append(plan)
        self.goals = self._goals(plan)
        self.out.plan_goals += self.goals
        self.therapies = [self._therapy(plan, kind) for kind in kinds]
        self.out.plan_therapies += self.therapies
        return plan

    def _goals(self, plan: CarePlan) -> list[PlanGoal]:
        """Pain down to 2-3 by the review; often a PSFS activity of the baseline up to 7-9,
        sometimes the movement measured at baseline."""
        rng, review = self.rng, plan.review_on
        target = max(0, min(rng.choice((2, 3)), self.baseline - 2))
        goals = [
            PlanGoal(
                plan=plan,
                description=f"Pain {target}/10 or less on most days",
                code="nprs",
                target=Decimal(target),
                target_date=review,
            )
        ]
        later = review + dt.timedelta(days=rng.choice((0, 7, 14)))
        if self.charter.psfs and rng.random() < 0.8:
            activity, value = rng.choice(self.charter.psfs)
            target = max(rng.randint(7, 9), value + 3)
            goals.append(
                PlanGoal(
                    plan=plan,
                    description=f"{activity}: {target}/10 or better",
                    code="psfs-activity",
                    component=activity,
                    target=Decimal(target),
                    target_date=later,
                )
            )
        if self.charter.rom and rng.random() < 0.4:
            code, value = self.charter.rom
            movement = knowledge.rom_movement(code)
            reference = round(movement.reference)
            target = min(reference, max(value + 10, round(reference * rng.uniform(0.85, 1))))
            goals.append(
                PlanGoal(
                    plan=plan,
                    description=f"{movement.label} ({self.charter.side}) to {target}°",
                    code="rom",
                    component=code,
                    target=Decimal(target),
                    target_date=later,
                )
            )
        return goals

    def _therapy(self, plan: CarePlan, kind: str) -> PlanTherapy:
        rng, key = self.rng, self.complaint.key
        if kind == Kind.HOME_EXERCISE:
            exercises = rng.sample(EXERCISES[key], rng.randint(2, 4))
            return PlanTherapy(
                plan=plan,
                kind=kind,
                provider="Patient at home",
                frequency=rng.choice(("Daily", "Daily, about 15 minutes", "Daily, 10-20 minutes")),
                exercises=[{"name": name, "dose": dose} for name, dose in exercises],
                note=rng.choice(("", "Stop any exercise that brings on the familiar pain.")),
            )
        provider = self._provider(kind)
        if kind == Kind.PHYSICAL_THERAPY:
            own = provider == str(self.lead)
            frequency = (
                "At each needling visit" if own else rng.choice(("Once a week", "Every two weeks"))
            )
            note = rng.choice(
                ("Manual therapy and graded loading.", "Posture and movement retraining.")
            )
        elif kind == Kind.MASSAGE:
            frequency = rng.choice(
                ("Every two weeks", "Once a month", "Once a week for three weeks")
            )
            note = f"Soft tissue massage to the {PARTS[key]}."
        else:
            frequency = rng.choice(("Once a week", "Every two weeks"))
            note = f"Joint mobilisation and manipulation of the {PARTS[key]} as needed."
        return PlanTherapy(plan=plan, kind=kind, provider=provider, frequency=frequency, note=note)

    def _provider(self, kind: str) -> str:
        """The practitioner in charge if of the right profession, else a colleague who is,
        else a named clinician outside the clinic."""
        if kind in (Kind.PHYSICAL_THERAPY, Kind.CHIROPRACTIC):
            profession = PHYSIO if kind == Kind.PHYSICAL_THERAPY else CHIRO
            if self.lead.profession == profession:
                return str(self.lead)
            colleagues = [p for p in self.ctx.practitioners if p.profession == profession]
            if colleagues:
                return str(self.rng.choice(colleagues))
        return self.rng.choice(OUTSIDE[kind])

    def _review_visit(self, plan: CarePlan) -> Given | None:
        """The session at which an active episode's plan was reviewed and changed, if any:
        mostly the first on or after the review date; a plan left as it was past its review
        date is overdue."""
        rng = self.rng
        due = [g for g in self.given[1:] if g.at.date() >= plan.review_on]
        if due:
            return due[0] if rng.random() < REVISED_AFTER_REVIEW else None
        if len(self.given) >= 3 and rng.random() < REVISED_EARLY:
            return rng.choice(self.given[2:])
        return None

    def _revised_plan(self, first: CarePlan, review: Given) -> None:
        """Version 2 after the review: more sessions, the goals given more time, and more
        exercise when the pain has not come down as hoped."""
        rng = self.rng
        number = self.given.index(review) + 1
        improving = self._change(review.before) == "improved"
        day = review.at.date()
        planned = min(10, max(first.planned_sessions, number) + rng.randint(2, 3))
        if improving:
            frequency = rng.choice((first.frequency, Frequency.FORTNIGHTLY))
            decision = (
                f"Good progress; {_plural(planned - number, 'more session')} to consolidate, "
                "then discharge to home exercises."
            )
        else:
            frequency = rng.choice((Frequency.WEEKLY, Frequency.TWICE_WEEKLY))
            decision = (
                "Less change than hoped for: needling continued with more exercise; the "
                "diagnosis will be reconsidered if no better by the next review."
            )
        plan = CarePlan(
            episode=self.episode,
            version=2,
            planned_sessions=planned,
            frequency=frequency,
            review_on=day + dt.timedelta(days=7 * (planned - number) + rng.randint(7, 14)),
            note=(
                f"Reviewed at session {number}: pain {self.baseline}/10 at the start, "
                f"{review.before}/10 now. {decision}"
            ),
            created_by=self.lead.user,
            created_at=review.at + dt.timedelta(minutes=rng.randint(40, 60)),
        )
        self.out.care_plans.append(plan)
        self.plan = plan
        later = plan.review_on - first.review_on
        self.goals = [
            PlanGoal(
                plan=plan,
                description=goal.description,
                code=goal.code,
                component=goal.component,
                target=goal.target,
                target_date=goal.target_date + later,
            )
            for goal in self.goals
        ]
        self.out.plan_goals += self.goals
        therapies = [
            PlanTherapy(
                plan=plan,
                kind=t.kind,
                provider=t.provider,
                frequency=t.frequency,
                exercises=t.exercises,
                note="Exercises progressed at the review." if t.exercises else t.note,
            )
            for t in self.therapies
        ]
        kinds = [t.kind for t in therapies]
        if not improving and Kind.HOME_EXERCISE not in kinds and len(kinds) < 2:
            therapies.append(self._therapy(plan, Kind.HOME_EXERCISE))
        self.therapies = therapies
        self.out.plan_therapies += therapies

    # Measures during and at the end of care.

    def _reassessment(self, review: Given | None) -> None:
        """Pain, a global rating of change and a PSFS activity, taken at the start of a
        visit from the fourth session on: at the review, or now and then."""
        rng = self.rng
        if len(self.given) < 4:
            return
        if review is not None and self.given.index(review) >= 3:
            visit = review
        elif rng.random() < REASSESSED:
            visit = rng.choice(self.given[3:])
        else:
            return
        by, at = visit.session.practitioner, visit.at - dt.timedelta(minutes=5)
        change = self._change(visit.before)
        observe = self.charter._observe
        observe(by, at, "nprs", visit.before, Timing.REASSESSMENT)
        observe(by, at, "groc", _groc(rng, change), Timing.REASSESSMENT)
        if self.charter.psfs:
            activity, value = rng.choice(self.charter.psfs)
            observe(by, at, "psfs-activity", _psfs_now(rng, value, change), Timing.REASSESSMENT,
                    component=activity)  # fmt: skip

    def _discharge(self) -> None:
        """The discharge of finished care, after the last session, with its measures."""
        rng, lead, episode = self.rng, self.lead, self.episode
        last = self.given[-1] if self.given else None
        end = episode.period_end
        assert end is not None
        if last is not None and end <= last.at.date():
            at = last.at + dt.timedelta(minutes=rng.randint(95, 130))
        else:
            at = self.ctx.at(end, rng.randint(9, 17), rng.choice((0, 15, 30, 45)))
        before = last.before if last else self.baseline
        if self.responder:
            pain = _clamp(before - rng.choice((0, 1, 1, 2)))
        else:
            pain = _clamp(before + rng.choice((-1, 0, 0, 1)))
        change = self._change(pain)
        # Goals met: the pain came down to its goal, and the activity and movement goals
        # were reached too (their measures below).
        targets = {(g.code, g.component): int(g.target) for g in self.goals}
        if change == "improved" and pain <= targets[("nprs", "")]:
            reason = Reason.GOALS_MET if rng.random() < 0.9 else Reason.PATIENT_CHOICE
        elif change == "improved":
            reason = Reason.PATIENT_CHOICE  # well enough to stop before the goal
        else:
            reason = Reason.PLATEAU if rng.random() < 0.6 else Reason.PATIENT_CHOICE
        reached = {key: 0 for key in targets}
        if reason == Reason.GOALS_MET:
            reached.update(targets)
        observe = self.charter._observe
        observe(lead, at, "nprs", pain, Timing.DISCHARGE)
        observe(lead, at, "groc", _groc(rng, change), Timing.DISCHARGE)
        observe(lead, at, "pgic", _pgic(rng, change), Timing.DISCHARGE)
        observe(lead, at, "qol", _qol(rng, self.charter.qol, change), Timing.DISCHARGE)
        if self.charter.rom:
            code, value = self.charter.rom
            now = max(_rom_now(rng, code, value, change), reached.get(("rom", code), 0))
            observe(lead, at, "rom", now, Timing.DISCHARGE, component=code,
                    side=self.charter.side)  # fmt: skip
        activities = []
        for activity, value in self.charter.psfs:
            now = max(_psfs_now(rng, value, change), reached.get(("psfs-activity", activity), 0))
            activities.append(f"{activity.lower()} {value}/10 then, {now}/10 now")
            observe(lead, at, "psfs-activity", now, Timing.DISCHARGE, component=activity)
        summary = " ".join(
            [
                self._course(),
                f"Pain {self.baseline}/10 at the start, {pain}/10 at discharge"
                + (f"; {'; '.join(activities)}." if activities else "."),
                self._events(),
                self._advice(reason, change),
            ]
        )
        self.out.discharges.append(
            Discharge(
                episode=episode,
                reason=reason,
                summary=summary,
                discharged_by=lead.user,
                discharged_at=at,
            )
        )

    def _course(self) -> str:
        sides = self.charter.plan.sides
        where = "both sides" if len(sides) > 1 else f"{sides[0]} side"
        signed = [g for g in self.given if g.signed_at is not None]
        if not signed:
            return f"{self.complaint.label.capitalize()}, {where}: assessed, not needled."
        weeks = max(1, round((signed[-1].at - signed[0].at).days / 7))
        kinds = list(dict.fromkeys(THERAPY_WORDS[t.kind] for t in self.therapies))
        return (
            f"{self.complaint.label.capitalize()}, {where}: "
            f"{_plural(len(signed), 'dry needling session')} over {_plural(weeks, 'week')}"
            + (f", with {_and(kinds)}." if kinds else ".")
        )

    def _events(self) -> str:
        if not self.charter.events:
            return "No adverse events."
        labels = knowledge.adverse_event_types()
        mild = [e for e in self.charter.events if e.severity == AdverseEvent.Severity.MILD]
        other = [e for e in self.charter.events if e.severity != AdverseEvent.Severity.MILD]
        sentences = []
        if mild:
            kinds = list(dict.fromkeys(labels[e.event_type].lower() for e in mild))
            sentences.append(f"Mild side effects ({_and(kinds)}) settled without treatment.")
        for event in other:
            settled = event.outcome == AdverseEvent.Outcome.RESOLVED
            sentences.append(
                f"A {event.severity} adverse event ({labels[event.event_type].lower()}) was "
                f"reviewed and {'has settled' if settled else 'is settling'}."
            )
        return " ".join(sentences)

    def _advice(self, reason: str, change: str) -> str:
        exercises = any(t.kind == Kind.HOME_EXERCISE for t in self.therapies)
        keep_up = "to keep up the home exercises" if exercises else "to stay active"
        if reason == Reason.GOALS_MET:
            return f"Goals met. Discharged {keep_up}; to return if the pain comes back."
        if reason == Reason.PLATEAU:
            return (
                "No important change in pain and no further improvement expected from "
                "needling. Letter to the GP suggesting a review of the diagnosis and other options."
            )
        if change == "improved":
            return f"Felt well enough to stop treatment. Advised {keep_up}; to return if needed."
        return f"Chose to stop treatment. Advised {keep_up} and to see the GP if no better."


def chart_episodes(
    rng: random.Random,
    ctx: ClinicChart,
    plans: list[EpisodePlan],
    today: dt.date,
    portal: "PortalRows | None" = None,
) -> Charts:
    """Chart every planned episode, insert the records and return them. `portal` collects
    what the batch's portal patients did (see `demo_portal`)."""
    out = Charts(portal=portal)
    for plan in plans:
        EpisodeCharter(rng, ctx, plan, today, out).chart()
    if portal is not None:
        portal.finish()
    out.save()
    return out
