"""The API's clinical writes that follow the visit: the body-chart assessment (pain marks,
trigger-point findings, its note, signing, addenda), adverse-event follow-ups and entered
in error, and the discharge that ends an episode.

As in `clinical`, each calls the service its page calls, so the same rules refuse the same
things with the same words, as a 400 naming the field."""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Field, Schema, Status

from needlechart.accounts import rules
from needlechart.api.clinical import (
    WRITE,
    AddendumIn,
    AddendumOut,
    AdverseEventOut,
    AssessmentOut,
    FindingOut,
    PainMarkOut,
    _episode,
    assessment_out,
)
from needlechart.api.clinical import router as clinical_router
from needlechart.api.common import ERRORS, need
from needlechart.api.models import SIGN
from needlechart.charting import selectors as charting_selectors
from needlechart.charting import services as charting
from needlechart.charting.models import Addendum, AdverseEvent, Assessment
from needlechart.outcomes import services as outcome_services
from needlechart.outcomes.models import Discharge
from needlechart.patients.models import EpisodeOfCare

# The clinical router itself: a path read there and written here is one URL.
router = clinical_router
NO_CONTENT = {204: None, **ERRORS}


def _assessment(request: HttpRequest, assessment_id: int) -> Assessment:
    need(request, WRITE, rules.CLINICAL_READ_ROLES)
    return charting_selectors.assessment_get(user=request.user, assessment_id=assessment_id)


def _assessment_out(assessment: Assessment) -> dict[str, Any]:
    return assessment_out(charting_selectors.assessment_reload(assessment))


def _addendum(record: Any, request: HttpRequest, body: AddendumIn) -> Any:
    need(request, WRITE, rules.SIGNING_ROLES)
    if body.kind not in Addendum.Kind.values:
        raise ValidationError({"kind": f"One of: {', '.join(Addendum.Kind.values)}."})
    return Status(201, charting.addendum_add(actor=request.user, record=record, **body.dict()))


# --- assessments -------------------------------------------------------------------------------


class AssessmentIn(Schema):
    # "initial" or "reassessment".
    kind: str = Assessment.Kind.INITIAL


@router.post("/episodes/{episode_id}/assessments", response={201: AssessmentOut, **ERRORS})
def assessment_start(request: HttpRequest, episode_id: int, body: AssessmentIn) -> Any:
    """Open a draft body-chart assessment in the token's staff member's name."""
    episode = _episode(request, episode_id, WRITE)
    # The assessment is the examining practitioner's, as a needling session is.
    need(request, WRITE, rules.NEEDLING_ROLES)
    started = charting.assessment_start(actor=request.user, episode=episode, kind=body.kind)
    return Status(201, _assessment_out(started))


class AssessmentChange(Schema):
    note: str


@router.patch("/assessments/{assessment_id}", response={200: AssessmentOut, **ERRORS})
def assessment_update(request: HttpRequest, assessment_id: int, body: AssessmentChange) -> Any:
    """Change a draft assessment's note (a signed one takes addenda only)."""
    found = _assessment(request, assessment_id)
    charting.assessment_update(actor=request.user, assessment=found, note=body.note)
    return _assessment_out(found)


class PainMarkIn(Schema):
    # A region of the body chart (`needlechart regions` lists them).
    region: str
    intensity: int
    # "", or a quality the chart knows (aching, burning, ...).
    quality: str = ""


@router.post("/assessments/{assessment_id}/pain-marks", response={200: PainMarkOut, **ERRORS})
def pain_mark(request: HttpRequest, assessment_id: int, body: PainMarkIn) -> Any:
    """Mark pain in a region of the chart, or mark it again (one mark a region)."""
    found = _assessment(request, assessment_id)
    return charting.pain_mark_set(actor=request.user, assessment=found, **body.dict())


@router.delete("/assessments/{assessment_id}/pain-marks/{region}", response=NO_CONTENT)
def pain_mark_remove(request: HttpRequest, assessment_id: int, region: str) -> Any:
    """Take a region's pain mark off a draft assessment."""
    found = _assessment(request, assessment_id)
    charting.pain_mark_remove(actor=request.user, assessment=found, region=region)
    return Status(204, None)


class FindingIn(Schema):
    # A muscle of the knowledge package (`needlechart muscles` lists them).
    muscle: str
    side: str = ""
    location: str = Field("", max_length=200)
    taut_band: bool = False
    hypersensitive_spot: bool = False
    referred_sensation: str = ""
    referred_regions: list[str] = []
    recognised: bool = False
    jump_sign: bool = False
    twitch_response: bool = False
    pressure_pain_threshold: Decimal | None = Field(None, ge=0, lt=100000, decimal_places=1)


@router.post("/assessments/{assessment_id}/findings", response={201: FindingOut, **ERRORS})
def finding_add(request: HttpRequest, assessment_id: int, body: FindingIn) -> Any:
    """Add a trigger-point finding (palpation of one muscle and side) to a draft assessment."""
    found = _assessment(request, assessment_id)
    return Status(201, charting.finding_add(actor=request.user, assessment=found, **body.dict()))


@router.delete("/findings/{finding_id}", response=NO_CONTENT)
def finding_remove(request: HttpRequest, finding_id: int) -> Any:
    """Take a finding off a draft assessment."""
    need(request, WRITE, rules.CLINICAL_READ_ROLES)
    finding = charting_selectors.finding_get(user=request.user, finding_id=finding_id)
    charting.finding_remove(actor=request.user, finding=finding)
    return Status(204, None)


@router.post("/assessments/{assessment_id}/sign", response={200: AssessmentOut, **ERRORS})
def assessment_sign(request: HttpRequest, assessment_id: int) -> Any:
    """Sign the assessment as the practitioner who made it (it needs a pain mark or a
    finding); read-only from then on. Takes the clinical:sign scope as well."""
    found = _assessment(request, assessment_id)
    need(request, SIGN)
    charting.assessment_sign(actor=request.user, assessment=found)
    return _assessment_out(found)


@router.post("/assessments/{assessment_id}/addenda", response={201: AddendumOut, **ERRORS})
def assessment_addendum(request: HttpRequest, assessment_id: int, body: AddendumIn) -> Any:
    """Add an addendum to a signed assessment, or mark an assessment entered in error."""
    return _addendum(_assessment(request, assessment_id), request, body)


# --- adverse events ----------------------------------------------------------------------------


def _event(request: HttpRequest, event_id: int) -> AdverseEvent:
    need(request, WRITE, rules.CLINICAL_READ_ROLES)
    return charting_selectors.adverse_event_get(user=request.user, event_id=event_id)


class FollowUpIn(Schema):
    """Only the fields sent change; what happened (type, onset, muscles) is kept as recorded."""

    severity: str | None = None
    outcome: str | None = None
    action_taken: str | None = None
    duration_value: int | None = Field(None, ge=0, le=32767)
    duration_unit: str | None = None
    description: str | None = None


@router.post(
    "/adverse-events/{event_id}/follow-ups",
    response={200: AdverseEventOut, 201: AdverseEventOut, **ERRORS},
)
def adverse_event_follow_up(request: HttpRequest, event_id: int, body: FollowUpIn) -> Any:
    """Follow an adverse event up (how severe, how it ended, what was done): a new follow-up
    record, so what was recorded before is kept. Answers the event as it now stands: 201 when
    a follow-up was recorded, 200 when nothing sent differed."""
    event = _event(request, event_id)
    values = body.dict(exclude_unset=True)
    if any(v is None for k, v in values.items() if k != "duration_value"):
        raise ValidationError(
            {k: ["Give a value or leave the field out."] for k, v in values.items()
             if v is None and k != "duration_value"}
        )  # fmt: skip
    count = event.follow_ups.count()
    now = charting.adverse_event_update(actor=request.user, event=event, **values)
    return Status(201 if event.follow_ups.count() > count else 200, now)


class EnteredInErrorIn(Schema):
    reason: str


@router.post(
    "/adverse-events/{event_id}/entered-in-error", response={200: AdverseEventOut, **ERRORS}
)
def adverse_event_in_error(request: HttpRequest, event_id: int, body: EnteredInErrorIn) -> Any:
    """Mark an adverse event entered in error, with the reason; record it again if it was
    wrong. It stays in the record, marked."""
    event = _event(request, event_id)
    return charting.adverse_event_enter_in_error(
        actor=request.user, event=event, reason=body.reason
    )


# --- discharge ---------------------------------------------------------------------------------


class DischargeOut(Schema):
    id: int
    episode_id: int
    reason: str
    summary: str
    snapshot: dict[str, Any]
    discharged_by_id: int
    discharged_at: dt.datetime
    addenda: list[AddendumOut]


class DischargeIn(Schema):
    # goals-met, plateau, patient-choice, referred, not-attending or other.
    reason: str
    summary: str


def _discharge_of(episode: EpisodeOfCare) -> Discharge:
    found = Discharge.objects.filter(episode=episode).prefetch_related("addenda").first()
    if found is None:
        raise ValidationError("The episode is not discharged.")
    return found


def _discharge_out(record: Discharge) -> dict[str, Any]:
    return {name: getattr(record, name) for name in DischargeOut.model_fields if
            name != "addenda"} | {"addenda": list(record.addenda.all())}  # fmt: skip


@router.get("/episodes/{episode_id}/discharge", response={200: DischargeOut, **ERRORS})
def discharge(request: HttpRequest, episode_id: int) -> Any:
    """The episode's discharge: why, the summary, the outcomes as they stood, addenda."""
    episode = _episode(request, episode_id, "clinical:read")
    return _discharge_out(_discharge_of(episode))


@router.post("/episodes/{episode_id}/discharge", response={201: DischargeOut, **ERRORS})
def discharge_create(request: HttpRequest, episode_id: int, body: DischargeIn) -> Any:
    """Discharge the episode, as its discharge page: no draft session may be left; from then
    on the episode takes addenda only."""
    episode = _episode(request, episode_id, WRITE)
    need(request, WRITE, rules.SIGNING_ROLES)
    outcome_services.discharge(actor=request.user, episode=episode, **body.dict())
    return Status(201, _discharge_out(_discharge_of(episode)))


@router.post("/episodes/{episode_id}/discharge/addenda", response={201: AddendumOut, **ERRORS})
def discharge_addendum(request: HttpRequest, episode_id: int, body: AddendumIn) -> Any:
    """An addendum to the discharge summary (it takes addenda, not entered in error)."""
    episode = _episode(request, episode_id, WRITE)
    return _addendum(_discharge_of(episode), request, body)
