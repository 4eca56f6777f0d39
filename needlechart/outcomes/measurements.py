"""Measurements: the one place an Observation is written (outcomes owns the record; the
assessment and session pages, the plan review and the portal diary all come here)."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.charting.models import (
    Assessment,
    NeedlingSession,
)
from needlechart.charting.services.common import (
    refuse_if_discharged,
    refuse_if_signed,
)
from needlechart.db import bulk
from needlechart.outcomes.models import Observation, Timing
from needlechart.patients.models import EpisodeOfCare
from needlechart.records import lock

# The timings a measurement is checked against, made once: an import checks 100,000.
TIMINGS = frozenset(Timing.values)


@transaction.atomic
def observation_add(
    *,
    actor: User,
    episode: EpisodeOfCare,
    code: str,
    value: Decimal,
    timing: str,
    component: str = "",
    side: str = "",
    assessment: Assessment | None = None,
    session: NeedlingSession | None = None,
) -> Observation:
    """Record a measurement; assistants may record them on draft records."""
    authorize(
        actor, roles=rules.CLINICAL_READ_ROLES, patient=episode.patient, what="record measurements"
    )
    refuse_if_discharged(episode)
    for record in (assessment, session):
        if record is not None:
            if record.episode_id != episode.pk:
                raise ValidationError("The measurement belongs to another episode.")
            lock(record)
            refuse_if_signed(record)
    candidate = Observation(
        episode=episode, assessment=assessment, session=session, code=code,
        component=component, side=side, timing=timing, value=value, recorded_by=actor,
    )  # fmt: skip
    observation_check(candidate)
    component = candidate.component
    if assessment is not None or session is not None:
        # One value per measure and moment of a draft record: measuring again corrects it.
        same = Observation.objects.filter(
            episode=episode, assessment=assessment, session=session, code=code,
            component=component, side=side, timing=timing,
        ).first()  # fmt: skip
        if same is not None:
            before = same.value
            same.value = value
            same.full_clean()
            same.save(update_fields=["value"])
            audit.record(
                actor=actor,
                action=audit.Action.UPDATE,
                obj=same,
                patient=episode.patient,
                detail={"changed": ["value"], "before": {"value": str(before)},
                        "after": {"value": str(same.value)}},
            )  # fmt: skip
            return same
    candidate.save()
    observation = candidate
    audit.record(actor=actor, action=audit.Action.CREATE, obj=observation, patient=episode.patient)
    return observation


@transaction.atomic
def observation_remove(*, actor: User, observation: Observation) -> None:
    authorize(
        actor,
        roles=rules.CLINICAL_READ_ROLES,
        patient=observation.episode.patient,
        what="remove measurements",
    )
    parent = observation.assessment or observation.session
    if parent is None:
        raise ValidationError("Only measurements of a draft assessment or session can be removed.")
    # The parent's lock: a removal and the parent's signing cannot interleave (a signed
    # session never loses a measurement it was signed with).
    lock(parent)
    refuse_if_signed(parent)
    if not Observation.objects.filter(pk=observation.pk).exists():
        raise ValidationError("This measurement was already removed.")
    audit.record(
        actor=actor,
        action=audit.Action.DELETE,
        obj=observation,
        patient=observation.episode.patient,
    )
    observation.delete()


@transaction.atomic
def home_observation_add(
    *, actor: User, episode: EpisodeOfCare, code: str, value: object, component: str = ""
) -> Observation:
    """A measurement the patient records at home from the portal (the diary, their ratings
    at a plan review): their own open episode only, checked as every measurement is."""
    authorize(actor, portal=True, patient=episode.patient, what="keep a diary")
    refuse_if_discharged(episode)
    try:
        number = Decimal(str(value))
    except (ArithmeticError, ValueError):
        raise ValidationError({code: "Enter a number."}) from None
    observation = Observation(
        episode=episode, code=code, component=component, timing=Timing.HOME,
        value=number, recorded_by=actor,
    )  # fmt: skip
    try:
        observation_check(observation)
    except ValidationError as error:
        # The portal's form names each answer by its measure.
        raise ValidationError({code: error.messages}) from None
    observation.save()
    audit.record(actor=actor, action=audit.Action.CREATE, obj=observation, patient=episode.patient)
    return observation


# --- the rules of a measurement ------------------------------------------------------------

# Measures that name what was measured: the activity, the muscle tested, the site pressed.
NAMED_MEASURES = ("psfs-activity", "mmt", "ppt")


def observation_check(observation: Observation) -> None:
    """The rules every measurement follows, whoever records it: a known measure within its
    range, the movement by its code (one named in words is stored by its code), the
    activity, muscle or site named where the measure needs one, when it was taken, and the
    assessment or session it belongs to in its own episode."""
    try:
        instrument = knowledge.instrument(observation.code)
    except knowledge.UnknownCode as error:
        raise ValidationError({"code": str(error)}) from None
    if not instrument.holds(observation.value):
        raise ValidationError({"value": f"{instrument.name} runs from {instrument.scale}."})
    observation.component = observation.component.strip()
    if observation.code == "rom":
        try:
            observation.component = knowledge.rom_movement_lookup(observation.component).code
        except knowledge.UnknownCode:
            raise ValidationError(
                {"component": "Choose the movement measured from the list."}
            ) from None
    if observation.code in NAMED_MEASURES and not observation.component:
        raise ValidationError({"component": "Name the activity, muscle or site measured."})
    if observation.timing not in TIMINGS:
        raise ValidationError({"timing": "Choose when the measurement was taken."})
    for record in (observation.assessment, observation.session):
        if record is not None and record.episode_id != observation.episode_id:
            raise ValidationError("The measurement belongs to another episode.")


# --- records made elsewhere ----------------------------------------------------------------


def local_day(moment: dt.datetime, episode: EpisodeOfCare) -> dt.date:
    """The day of `moment` in the clinic's time zone."""
    return timezone.localdate(moment, ZoneInfo(episode.patient.clinic.timezone))


def refuse_after_discharge(episode: EpisodeOfCare, moment: dt.datetime) -> None:
    """Records made elsewhere are refused after the episode ended, as `refuse_if_discharged`
    refuses them after discharge."""
    if episode.period_end is not None and local_day(moment, episode) > episode.period_end:
        raise ValidationError("This episode of care was discharged by then; it takes addenda only.")


@transaction.atomic
def observations_import(
    *, actor: User, observations: list[Observation], source: str
) -> list[Observation]:
    """Measurements made elsewhere, each taken when it says: checked by `observation_check`,
    recorded by a clinician of the clinic (an assistant too, as on a draft) or by the
    patient from the portal, before the record they belong to was signed. Audited."""
    authorize(actor, roles=rules.ADMIN_ROLES, what="import records")
    for observation in observations:
        episode = observation.episode
        if episode.patient.clinic_id != actor.clinic_id:
            raise ValidationError("This patient is not in your clinic.")
        observation_check(observation)
        for record in (observation.assessment, observation.session):
            if record is not None and record.is_signed:
                raise ValidationError("Measurements of a signed record go in before it is signed.")
        refuse_after_discharge(episode, observation.recorded_at)
        recorder = observation.recorded_by
        if getattr(recorder, "portal_account", None) is not None:
            authorize(recorder, portal=True, patient=episode.patient, what="keep a diary")
        else:
            authorize(
                recorder,
                roles=rules.CLINICAL_READ_ROLES,
                patient=episode.patient,
                what="record measurements",
            )
    bulk.insert(Observation, observations)
    audit.record_each(
        actor=actor, action=audit.Action.CREATE, objects=observations, detail={"imported": source}
    )
    return observations
