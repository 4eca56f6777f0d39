"""The API's clinical records: screening and consent, assessments, needling sessions and their
rows, measurements, adverse events, signing and addenda, and the treatment plan.

Each write calls the service the pages call, so its rules hold here as they do there: a
contraindicated row, a session without consent or screening, a signed record changed in
place are refused with the same words, as a 400 with a message per field. Reads go through
the clinic-scoped selectors, which audit them (with the token's name)."""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Router, Schema, Status

from needlechart.accounts import rules
from needlechart.api.common import ERRORS, need
from needlechart.api.models import SIGN
from needlechart.audit import services as audit
from needlechart.charting import selectors as charting_selectors
from needlechart.charting import services as charting
from needlechart.charting.models import Addendum, Assessment, NeedleSize, NeedlingSession
from needlechart.outcomes import measurements
from needlechart.outcomes import selectors as outcome_selectors
from needlechart.outcomes import services as outcome_services
from needlechart.patients import selectors as patient_selectors
from needlechart.patients.models import EpisodeOfCare

router = Router(tags=["clinical"])

READ, WRITE = "clinical:read", "clinical:write"


def _episode(request: HttpRequest, episode_id: int, scope: str) -> EpisodeOfCare:
    need(request, scope, rules.CLINICAL_READ_ROLES)
    return patient_selectors.episode_get(user=request.user, episode_id=episode_id)


def _session(request: HttpRequest, session_id: int, scope: str) -> NeedlingSession:
    need(request, scope, rules.CLINICAL_READ_ROLES)
    return charting_selectors.session_get(user=request.user, session_id=session_id)


def _fields(record: Any, schema: type[Schema], lists: dict[str, list[Any]]) -> dict[str, Any]:
    """The record's own values for `schema`, with its related `lists` given."""
    return {
        name: getattr(record, name) for name in schema.model_fields if name not in lists
    } | lists


def _listed(request: HttpRequest, records: Any) -> list[Any]:
    """An episode's records newest first, each one listed audited."""
    rows = list(records.order_by("-performed_at", "-id"))
    audit.record_each(actor=request.user, action=audit.Action.LIST, objects=rows)
    return rows


# --- screening and consent ---------------------------------------------------------------------


class ScreeningOut(Schema):
    id: int
    episode_id: int
    factors: list[dict[str, Any]]
    note: str
    source: str
    recorded_at: dt.datetime


class ScreeningIn(Schema):
    # Each factor as the screening page records it: {"code": ..., and its details}; the
    # codes are the knowledge package's (GET /api/docs lists none: `needlechart screen
    # --help` and docs/knowledge.md do).
    factors: list[dict[str, Any]] = []
    note: str = ""


@router.get("/episodes/{episode_id}/screening", response={200: ScreeningOut, **ERRORS})
def screening(request: HttpRequest, episode_id: int) -> Any:
    """The episode's current health screening (contraindications and precautions)."""
    episode = _episode(request, episode_id, READ)
    current = charting.current_screening(episode)
    if current is None:
        raise ValidationError("No health screening has been recorded for this episode.")
    return current


@router.post("/episodes/{episode_id}/screening", response={201: ScreeningOut, **ERRORS})
def screening_record(request: HttpRequest, episode_id: int, body: ScreeningIn) -> Any:
    """Record the health screening again: it replaces the current one for what follows."""
    episode = _episode(request, episode_id, WRITE)
    return Status(
        201,
        charting.screening_record(
            actor=request.user, episode=episode, factors=body.factors, note=body.note
        ),
    )


class ConsentOut(Schema):
    current: bool
    reason: str
    consent_id: int | None
    signed_at: dt.datetime | None
    text_version: int | None


@router.get("/patients/{patient_id}/consent", response={200: ConsentOut, **ERRORS})
def consent(request: HttpRequest, patient_id: int) -> Any:
    """Whether a consent to dry needling covers the patient today, and if not, why."""
    need(request, READ, rules.CLINICAL_READ_ROLES)
    patient = patient_selectors.patient_get(user=request.user, patient_id=patient_id)
    found, why = charting.consent_status(patient)
    return {
        "current": found is not None,
        "reason": "" if found else why,
        "consent_id": found.pk if found else None,
        "signed_at": found.signed_at if found else None,
        "text_version": found.template.version if found else None,
    }


# --- assessments -------------------------------------------------------------------------------


class PainMarkOut(Schema):
    region: str
    intensity: int
    quality: str


class FindingOut(Schema):
    id: int
    muscle: str
    side: str
    location: str
    taut_band: bool
    hypersensitive_spot: bool
    referred_sensation: str
    referred_regions: list[str]
    recognised: bool
    jump_sign: bool
    twitch_response: bool


class AssessmentSummary(Schema):
    id: int
    episode_id: int
    kind: str
    performed_at: dt.datetime
    signed_at: dt.datetime | None


class AssessmentOut(AssessmentSummary):
    note: str
    pain_marks: list[PainMarkOut]
    findings: list[FindingOut]


@router.get("/episodes/{episode_id}/assessments", response={200: list[AssessmentSummary], **ERRORS})
def assessments(request: HttpRequest, episode_id: int) -> Any:
    """The episode's assessments, newest first; each one listed is audited."""
    return _listed(request, _episode(request, episode_id, READ).assessments)


@router.get("/assessments/{assessment_id}", response={200: AssessmentOut, **ERRORS})
def assessment(request: HttpRequest, assessment_id: int) -> Any:
    """An assessment with its body-chart pain marks and trigger-point findings."""
    need(request, READ, rules.CLINICAL_READ_ROLES)
    return assessment_out(
        charting_selectors.assessment_get(user=request.user, assessment_id=assessment_id)
    )


def assessment_out(found: Assessment) -> dict[str, Any]:
    """An assessment read with its pain marks and findings prefetched, as AssessmentOut."""
    lists = {"pain_marks": list(found.pain_marks.all()), "findings": list(found.findings.all())}
    return _fields(found, AssessmentOut, lists)


# --- needling sessions -------------------------------------------------------------------------


class InsertionOut(Schema):
    id: int
    muscle: str
    side: str
    needles: int
    depth: str
    depth_mm: int | None
    technique: str
    retention_minutes: int | None
    twitch_responses: int | None
    familiar_pain: bool | None
    tolerance: str
    safety_verdict: str


class MeasurementOut(Schema):
    id: int
    code: str
    component: str
    side: str
    value: float
    timing: str
    recorded_at: dt.datetime
    session_id: int | None
    assessment_id: int | None
    entered_in_error_reason: str


class AdverseEventOut(Schema):
    id: int
    event_type: str
    onset: str
    severity: str
    action_taken: str
    outcome: str
    muscles: list[str]
    description: str
    recorded_at: dt.datetime
    entered_in_error_reason: str


class AddendumOut(Schema):
    id: int
    kind: str
    reason: str
    text: str
    written_at: dt.datetime


class SessionSummary(Schema):
    id: int
    episode_id: int
    practitioner_id: int
    performed_at: dt.datetime
    signed_at: dt.datetime | None


class SessionOut(SessionSummary):
    screening_status: str
    clean_technique: bool
    consent_confirmed: bool
    needles_opened: int | None
    needles_removed: int | None
    sharps_disposed: bool
    cpt_code: str
    note: str
    rows: list[InsertionOut]
    measurements: list[MeasurementOut]
    adverse_events: list[AdverseEventOut]
    addenda: list[AddendumOut]


def _session_out(session: NeedlingSession) -> dict[str, Any]:
    lists = {
        "rows": list(session.insertions.all()),
        "measurements": list(session.observations.all()),
        "adverse_events": list(session.adverse_events.all()),
        "addenda": list(session.addenda.all()),
    }
    return _fields(session, SessionOut, lists)


@router.get("/episodes/{episode_id}/sessions", response={200: list[SessionSummary], **ERRORS})
def episode_sessions(request: HttpRequest, episode_id: int) -> Any:
    """The episode's needling sessions, newest first; each one listed is audited."""
    return _listed(request, _episode(request, episode_id, READ).sessions)


@router.get("/sessions/{session_id}", response={200: SessionOut, **ERRORS})
def session(request: HttpRequest, session_id: int) -> Any:
    """A needling session: each muscle and side with its needling and today's findings, its
    measurements, adverse events and addenda."""
    return _session_out(_session(request, session_id, READ))


class SessionStartIn(Schema):
    # "unchanged" or "changed" (then the screening must have been recorded again that day).
    screening_status: str
    performed_at: dt.datetime | None = None
    clean_technique: bool = False
    consent_confirmed: bool = False
    # Copy the last signed session's rows (those the screening still allows).
    from_last: bool = False


class SessionStarted(Schema):
    session: SessionOut
    rows_not_copied: list[str]


@router.post("/episodes/{episode_id}/sessions", response={201: SessionStarted, **ERRORS})
def session_start(request: HttpRequest, episode_id: int, body: SessionStartIn) -> Any:
    """Open a draft needling session, as "Start session" on the episode page: it needs a
    health screening, a current consent and a practitioner qualified on the day."""
    episode = _episode(request, episode_id, WRITE)
    need(request, WRITE, rules.NEEDLING_ROLES)
    started, skipped = charting.session_start(actor=request.user, episode=episode, **body.dict())
    reread = charting_selectors.session_reload(started)
    return Status(201, {"session": _session_out(reread), "rows_not_copied": skipped})


class SessionChange(Schema):
    """Only the fields sent are changed."""

    performed_at: dt.datetime | None = None
    screening_status: str | None = None
    clean_technique: bool | None = None
    consent_confirmed: bool | None = None
    needles_opened: int | None = None
    needles_removed: int | None = None
    sharps_disposed: bool | None = None
    note: str | None = None


def _sent(body: Schema) -> dict[str, Any]:
    """The fields the request sent; a field sent as null is refused by name."""
    values = body.dict(exclude_unset=True)
    empty = {
        name: ["Give a value or leave the field out."] for name, v in values.items() if v is None
    }
    if empty:
        raise ValidationError(empty)
    if not values:
        raise ValidationError("Send at least one field to change.")
    return values


@router.patch("/sessions/{session_id}", response={200: SessionOut, **ERRORS})
def session_update(request: HttpRequest, session_id: int, body: SessionChange) -> Any:
    """Change a draft session (a signed one takes addenda only)."""
    found = _session(request, session_id, WRITE)
    need(request, WRITE, rules.NEEDLING_ROLES)
    charting.session_update(actor=request.user, session=found, **_sent(body))
    return _session_out(charting_selectors.session_reload(found))


class RowIn(Schema):
    muscle: str
    side: str = ""
    needles: int = 1
    # The id of a needle size from the clinic's catalogue.
    needle_size: int
    depth: str
    depth_mm: int | None = None
    technique: str
    retention_minutes: int | None = None
    frequency_hz: int | None = None
    intensity_ma: Decimal | None = None
    lead_to_muscle: str = ""
    lead_to_side: str = ""
    twitch_responses: int | None = None
    familiar_pain: bool | None = None
    tolerance: str = ""


def _needle(session: NeedlingSession, values: dict[str, Any]) -> dict[str, Any]:
    if "needle_size" in values:
        size = NeedleSize.objects.filter(
            pk=values["needle_size"], clinic_id=session.episode.patient.clinic_id
        ).first()
        if size is None:
            raise ValidationError({"needle_size": "Choose a needle from the clinic's catalogue."})
        values["needle_size"] = size
    return values


@router.post("/sessions/{session_id}/rows", response={201: InsertionOut, **ERRORS})
def row_add(request: HttpRequest, session_id: int, body: RowIn) -> Any:
    """Add a needled muscle and side to a draft session. A row the screening contraindicates
    is refused, naming the reasons."""
    found = _session(request, session_id, WRITE)
    need(request, WRITE, rules.NEEDLING_ROLES)
    values = _needle(found, body.dict())
    return Status(201, charting.insertion_add(actor=request.user, session=found, **values))


class RowChange(Schema):
    """Only the fields sent are changed: usually today's findings."""

    needles: int | None = None
    depth_mm: int | None = None
    retention_minutes: int | None = None
    twitch_responses: int | None = None
    familiar_pain: bool | None = None
    tolerance: str | None = None


@router.patch("/rows/{row_id}", response={200: InsertionOut, **ERRORS})
def row_update(request: HttpRequest, row_id: int, body: RowChange) -> Any:
    """Change a row of a draft session."""
    need(request, WRITE, rules.NEEDLING_ROLES)
    row = charting_selectors.insertion_get(user=request.user, insertion_id=row_id)
    return charting.insertion_update(actor=request.user, insertion=row, **_sent(body))


class MeasurementIn(Schema):
    code: str
    value: Decimal
    # baseline, before (needling), after (needling), reassessment or discharge.
    timing: str
    component: str = ""
    side: str = ""


@router.post("/sessions/{session_id}/measurements", response={201: MeasurementOut, **ERRORS})
def session_measurement(request: HttpRequest, session_id: int, body: MeasurementIn) -> Any:
    """Record a measurement in a draft session, such as pain before or after needling."""
    found = _session(request, session_id, WRITE)
    return Status(
        201,
        measurements.observation_add(
            actor=request.user, episode=found.episode, session=found, **body.dict()
        ),
    )


class AdverseEventIn(Schema):
    event_type: str
    onset: str
    severity: str
    action_taken: str
    outcome: str
    muscles: list[str] = []
    description: str = ""
    duration_value: int | None = None
    duration_unit: str = ""


@router.post("/sessions/{session_id}/adverse-events", response={201: AdverseEventOut, **ERRORS})
def adverse_event(request: HttpRequest, session_id: int, body: AdverseEventIn) -> Any:
    """Record an adverse event of a session (signed or not)."""
    found = _session(request, session_id, WRITE)
    return Status(
        201, charting.adverse_event_record(actor=request.user, session=found, **body.dict())
    )


class SignIn(Schema):
    # Record the clinic's aftercare advice as given, in the same step.
    aftercare_given: bool = False


@router.post("/sessions/{session_id}/sign", response={200: SessionOut, **ERRORS})
def session_sign(request: HttpRequest, session_id: int, body: SignIn) -> Any:
    """Sign the session in the token's staff member's name (the practitioner who needled),
    with every rule the page checks. Takes the clinical:sign scope as well."""
    found = _session(request, session_id, WRITE)
    need(request, SIGN)
    charting.session_sign(actor=request.user, session=found, **body.dict())
    return _session_out(charting_selectors.session_reload(found))


class AddendumIn(Schema):
    reason: str
    text: str = ""
    # "addendum" (a signed session), or "entered-in-error" with the reason.
    kind: str = Addendum.Kind.ADDENDUM


@router.post("/sessions/{session_id}/addenda", response={201: AddendumOut, **ERRORS})
def addendum(request: HttpRequest, session_id: int, body: AddendumIn) -> Any:
    """Add an addendum to a signed session, or mark a session entered in error."""
    found = _session(request, session_id, WRITE)
    need(request, WRITE, rules.SIGNING_ROLES)
    if body.kind not in Addendum.Kind.values:
        raise ValidationError({"kind": f"One of: {', '.join(Addendum.Kind.values)}."})
    return Status(201, charting.addendum_add(actor=request.user, record=found, **body.dict()))


# --- measurements and the plan -----------------------------------------------------------------


@router.get("/episodes/{episode_id}/measurements", response={200: list[MeasurementOut], **ERRORS})
def episode_measurements(request: HttpRequest, episode_id: int) -> Any:
    """The episode's measurements not entered in error, oldest first."""
    episode = _episode(request, episode_id, READ)
    return list(outcome_selectors.valid_observations(episode).order_by("recorded_at", "id"))


class GoalOut(Schema):
    description: str
    code: str
    component: str
    target: float
    target_date: dt.date


class TherapyOut(Schema):
    kind: str
    provider: str
    frequency: str
    exercises: list[dict[str, Any]]
    note: str


class PlanOut(Schema):
    version: int
    planned_sessions: int
    frequency: str
    review_on: dt.date
    note: str
    created_at: dt.datetime
    goals: list[GoalOut]
    therapies: list[TherapyOut]


class PlanIn(Schema):
    planned_sessions: int
    frequency: str
    review_on: dt.date
    note: str = ""
    goals: list[dict[str, Any]] = []
    therapies: list[dict[str, Any]] = []
    # The version the caller last read (0 for none): a plan saved meanwhile is not replaced.
    based_on: int | None = None


def _plan_out(episode: EpisodeOfCare) -> dict[str, Any]:
    plan = episode.care_plans.prefetch_related("goals", "therapies").order_by("-version").first()
    if plan is None:
        raise ValidationError("The episode has no treatment plan yet.")
    lists = {"goals": list(plan.goals.all()), "therapies": list(plan.therapies.all())}
    return _fields(plan, PlanOut, lists)


@router.get("/episodes/{episode_id}/plan", response={200: PlanOut, **ERRORS})
def plan(request: HttpRequest, episode_id: int) -> Any:
    """The episode's treatment plan as it stands (its latest version)."""
    return _plan_out(_episode(request, episode_id, READ))


@router.post("/episodes/{episode_id}/plan", response={201: PlanOut, **ERRORS})
def plan_create(request: HttpRequest, episode_id: int, body: PlanIn) -> Any:
    """A new version of the treatment plan: goals ({description, code, component, target,
    target_date}) and the other therapies ({kind, provider, frequency, note})."""
    episode = _episode(request, episode_id, WRITE)
    outcome_services.plan_create(actor=request.user, episode=episode, **body.dict())
    return Status(201, _plan_out(episode))
