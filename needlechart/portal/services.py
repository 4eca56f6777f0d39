"""Writes of the portal, by patients (answers, diary, consent) and by the staff who invite
them and review what they report. Every write is atomic and audited."""

import datetime as dt
import hashlib
import secrets
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts import rules
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.charting import services as charting
from needlechart.charting.models import (
    AdverseEvent,
    Consent,
    DocumentTemplate,
    NeedlingSession,
    Screening,
)
from needlechart.outcomes.models import Observation, Timing
from needlechart.patients.models import EpisodeOfCare, Patient
from needlechart.portal import alerts, schedule
from needlechart.portal.models import (
    CheckIn,
    HealthQuestionnaire,
    Invitation,
    PortalAccount,
    ReportedEffect,
)

clean_text = charting.clean_text


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def patient_of(actor: User) -> Patient:
    """The patient a portal sign-in belongs to; staff have none."""
    account = getattr(actor, "portal_account", None)
    if account is None:
        raise ValidationError("Only a patient's portal account can do this.")
    return account.patient


def active_episode(patient: Patient) -> EpisodeOfCare | None:
    """The episode the portal works on: the newest one still open."""
    return (
        patient.episodes.exclude(status=EpisodeOfCare.Status.FINISHED)
        .order_by("-period_start", "-id")
        .first()
    )


# --- invitations and accounts --------------------------------------------------------------


@transaction.atomic
def invitation_create(*, actor: User, patient: Patient) -> tuple[Invitation, str]:
    """A new one-time link for the patient's email; older open links stop working. Returns
    the invitation and the token, which exists only in the email sent with it."""
    charting._require_role(actor, rules.STAFF_ROLES, "invite patients to the portal")
    charting._same_clinic(actor, patient)
    if hasattr(patient, "portal_account"):
        raise ValidationError("This patient already has a portal account.")
    if not patient.email:
        raise ValidationError({"email": "Add the patient's email address first."})
    now = timezone.now()
    Invitation.objects.filter(patient=patient, used_at=None, revoked_at=None).update(revoked_at=now)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        patient=patient,
        email=patient.email,
        token_hash=token_hash(token),
        created_by=actor,
        created_at=now,
        expires_at=now + dt.timedelta(hours=settings.PORTAL_INVITATION_HOURS),
    )
    audit.record(
        actor=actor,
        action=audit.Action.CREATE,
        obj=invitation,
        patient=patient,
        detail={"expires_at": invitation.expires_at.isoformat()},
    )
    return invitation, token


INVITATION_PROBLEMS = {
    Invitation.Status.USED: "This invitation link has already been used. Sign in with your "
    "email address and password, or ask the clinic for a new invitation.",
    Invitation.Status.EXPIRED: "This invitation link has expired. Ask the clinic to send you "
    "a new one.",
    Invitation.Status.REVOKED: "This invitation link was replaced by a newer one. Use the link "
    "in the clinic's most recent email.",
}
UNKNOWN_INVITATION = "This invitation link is not valid. Check that you copied all of it."


def invitation_for(token: str, *, lock: bool = False) -> Invitation:
    """The invitation a link names if it can still be used, else a ValidationError saying
    why not (used, expired, replaced or unknown)."""
    rows = Invitation.objects.select_related("patient__clinic")
    if lock:
        rows = rows.select_for_update()
    invitation = rows.filter(token_hash=token_hash(token)).first()
    if invitation is None:
        raise ValidationError(UNKNOWN_INVITATION)
    status = invitation.status()
    if status != Invitation.Status.OPEN:
        raise ValidationError(INVITATION_PROBLEMS[status])
    return invitation


@transaction.atomic
def account_open(*, token: str, password: str, password_again: str) -> PortalAccount:
    """The patient accepts an invitation: the link is spent, the account is created."""
    invitation = invitation_for(token, lock=True)
    patient = invitation.patient
    if hasattr(patient, "portal_account"):
        raise ValidationError("You already have a portal account: sign in instead.")
    username = invitation.email.lower()
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError(
            "An account with this email address already exists. Ask the clinic to invite you "
            "at another address."
        )
    if password != password_again:
        raise ValidationError({"password_again": "The two passwords are not the same."})
    user = User(
        username=username,
        email=invitation.email,
        first_name=patient.given_name,
        last_name=patient.family_name,
    )
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        raise ValidationError({"password": error.messages}) from None
    user.set_password(password)
    user.save()
    account = PortalAccount.objects.create(patient=patient, user=user)
    invitation.used_at = timezone.now()
    invitation.save(update_fields=["used_at"])
    audit.record(actor=user, action=audit.Action.CREATE, obj=account, patient=patient)
    return account


# --- the health questionnaire ----------------------------------------------------------------


@transaction.atomic
def questionnaire_submit(
    *, actor: User, factors: list[dict[str, Any]], note: str = ""
) -> HealthQuestionnaire:
    """The patient's answers, waiting for a clinician. An earlier answer still waiting is
    closed as replaced, so the clinician reviews only the newest."""
    patient = patient_of(actor)
    cleaned = charting.clean_factors(factors)
    note = clean_text(note, "note", max_length=2000, required=False)
    now = timezone.now()
    HealthQuestionnaire.objects.filter(
        patient=patient, status=HealthQuestionnaire.Status.PENDING
    ).update(
        status=HealthQuestionnaire.Status.DISMISSED,
        reviewed_at=now,
        review_note="Replaced by newer answers from the patient.",
    )
    answers = HealthQuestionnaire.objects.create(
        patient=patient,
        episode=active_episode(patient),
        factors=cleaned,
        note=note,
        submitted_at=now,
    )
    audit.record(actor=actor, action=audit.Action.CREATE, obj=answers, patient=patient)
    return answers


def _pending(questionnaire: HealthQuestionnaire) -> HealthQuestionnaire:
    locked = HealthQuestionnaire.objects.select_for_update().get(pk=questionnaire.pk)
    if locked.status != HealthQuestionnaire.Status.PENDING:
        raise ValidationError("These answers have already been reviewed.")
    return locked


def _close_review(
    actor: User,
    record: HealthQuestionnaire | ReportedEffect,
    status: str,
    patient: Patient,
    **fields: Any,
) -> None:
    """Close a patient's report as reviewed: who, when, the outcome, audited."""
    record.status = status
    for name, value in fields.items():
        setattr(record, name, value)
    record.reviewed_by, record.reviewed_at = actor, timezone.now()
    record.save(update_fields=["status", "reviewed_by", "reviewed_at", *fields])
    detail = {"status": status, **{k: v.pk for k, v in fields.items() if hasattr(v, "pk")}}
    audit.record(
        actor=actor, action=audit.Action.UPDATE, obj=record, patient=patient, detail=detail
    )


@transaction.atomic
def questionnaire_confirm(
    *,
    actor: User,
    questionnaire: HealthQuestionnaire,
    episode: EpisodeOfCare,
    factors: list[dict[str, Any]],
    note: str = "",
) -> HealthQuestionnaire:
    """A clinician records the patient's answers, as reviewed (and corrected if need be
    with the patient), as the episode's current screening."""
    charting._require_role(actor, rules.CLINICAL_WRITE_ROLES, "review questionnaires")
    charting._same_clinic(actor, questionnaire.patient)
    if episode.patient_id != questionnaire.patient_id:
        raise ValidationError("These answers are from another patient.")
    questionnaire = _pending(questionnaire)
    screening = charting.screening_record(
        actor=actor,
        episode=episode,
        factors=factors,
        note=note,
        source=Screening.Source.PATIENT,
    )
    _close_review(
        actor, questionnaire, HealthQuestionnaire.Status.CONFIRMED, questionnaire.patient,
        screening=screening,
    )  # fmt: skip
    return questionnaire


@transaction.atomic
def questionnaire_dismiss(
    *, actor: User, questionnaire: HealthQuestionnaire, reason: str
) -> HealthQuestionnaire:
    charting._require_role(actor, rules.CLINICAL_WRITE_ROLES, "review questionnaires")
    charting._same_clinic(actor, questionnaire.patient)
    reason = clean_text(reason, "reason", max_length=1000)
    questionnaire = _pending(questionnaire)
    _close_review(
        actor, questionnaire, HealthQuestionnaire.Status.DISMISSED, questionnaire.patient,
        review_note=reason,
    )  # fmt: skip
    return questionnaire


# --- consent ---------------------------------------------------------------------------------


@transaction.atomic
def consent_sign(
    *, actor: User, template: DocumentTemplate, signed_name: str, confirmed: bool
) -> Consent:
    """The patient reads and signs the clinic's current consent in the portal."""
    patient = patient_of(actor)
    consent, _ = charting.consent_status(patient)
    if consent is not None:
        raise ValidationError("You have already signed the current consent.")
    return charting.consent_record(
        actor=actor,
        patient=patient,
        template=template,
        signed_name=signed_name,
        confirmed=confirmed,
        channel=Consent.Channel.PORTAL,
    )


# --- check-ins after a session ---------------------------------------------------------------


def _own_session(actor: User, session: NeedlingSession) -> Patient:
    patient = patient_of(actor)
    if session.episode.patient_id != patient.pk:
        raise ValidationError("This session is not yours.")
    return patient


@transaction.atomic
def checkin_answer(
    *,
    actor: User,
    session: NeedlingSession,
    hours: int,
    soreness: int,
    symptoms: list[str],
    other: str = "",
    now: dt.datetime | None = None,
) -> CheckIn:
    """The patient's answer to a check-in that is open now. Each effect reported becomes
    (or updates) a pending adverse event; a red flag raises an alert at once."""
    patient = _own_session(actor, session)
    now = now or timezone.now()
    # Locked and read afresh: a double submit waits here, then sees the first answer.
    session = NeedlingSession.objects.select_for_update().get(pk=session.pk)
    slot = next((s for s in schedule.slots(session, now) if s.hours == hours), None)
    if slot is None:
        raise ValidationError("There is no check-in at this time for this session.")
    if slot.answered is not None:
        raise ValidationError("You have already answered this check-in. Thank you.")
    if not slot.is_open(now):
        raise ValidationError(
            "This check-in is not open now."
            if now < slot.due_at
            else "This check-in has closed. If you are worried, contact the clinic."
        )
    if not isinstance(soreness, int) or not 0 <= soreness <= 10:
        raise ValidationError({"soreness": "Choose a number from 0 to 10."})
    try:
        codes = list(dict.fromkeys(symptoms))
        flags = knowledge.red_flags(codes)
    except knowledge.UnknownCode as error:
        raise ValidationError({"symptoms": str(error)}) from None
    other = clean_text(other, "other", max_length=500, required=False)
    if "other" in codes and not other:
        raise ValidationError({"other": "Tell us what else you noticed."})
    check_in = CheckIn.objects.create(
        session=session,
        hours=hours,
        answered_at=now,
        soreness=soreness,
        symptoms=codes,
        other=other,
        red_flags=[s.code for s in flags],
    )
    audit.record(
        actor=actor,
        action=audit.Action.CREATE,
        obj=check_in,
        patient=patient,
        detail={"red_flags": check_in.red_flags},
    )
    _report_effects(check_in, now)
    if check_in.red_flags:
        transaction.on_commit(lambda: alerts.send_red_flag_alert(check_in.pk))
    return check_in


def _report_effects(check_in: CheckIn, now: dt.datetime) -> None:
    reports: dict[str, tuple[str, bool]] = {}
    if check_in.soreness >= knowledge.soreness_effect_from():
        reports["pain-after"] = (f"Soreness {check_in.soreness}/10 at {check_in.hours} h", False)
    for code in check_in.symptoms:
        symptom = knowledge.symptom(code)
        text = check_in.other if code == "other" else symptom.clinician_label
        detail, flagged = reports.get(symptom.adverse_event_type, ("", False))
        detail = f"{detail}; {text}" if detail else text
        reports[symptom.adverse_event_type] = (detail, flagged or symptom.red_flag)
    for event_type, (detail, red_flag) in reports.items():
        effect, created = ReportedEffect.objects.get_or_create(
            session=check_in.session,
            event_type=event_type,
            defaults={
                "check_in": check_in,
                "detail": f"{detail} ({check_in.hours} h)"[:500],
                "red_flag": red_flag,
                "first_reported_at": now,
                "last_reported_at": now,
            },
        )
        if not created:
            # Reported again at a later check-in: keep one item, with the newest answer.
            effect.detail = f"{effect.detail}; {detail} ({check_in.hours} h)"[:500]
            effect.red_flag = effect.red_flag or red_flag
            effect.last_reported_at = now
            effect.save(update_fields=["detail", "red_flag", "last_reported_at"])


def _effect_for_review(actor: User, effect: ReportedEffect) -> ReportedEffect:
    charting._require_role(actor, rules.CLINICAL_WRITE_ROLES, "review reported effects")
    charting._same_clinic(actor, effect.session.episode.patient)
    locked = ReportedEffect.objects.select_for_update().get(pk=effect.pk)
    if locked.status != ReportedEffect.Status.PENDING:
        raise ValidationError("This reported effect has already been reviewed.")
    locked.session = effect.session
    return locked


@transaction.atomic
def effect_confirm(*, actor: User, effect: ReportedEffect, **values: Any) -> AdverseEvent:
    """The clinician records the reported effect as an adverse event of the session."""
    effect = _effect_for_review(actor, effect)
    event = charting.adverse_event_record(actor=actor, session=effect.session, **values)
    _close_review(
        actor, effect, ReportedEffect.Status.CONFIRMED, effect.session.episode.patient,
        adverse_event=event,
    )  # fmt: skip
    return event


@transaction.atomic
def effect_dismiss(*, actor: User, effect: ReportedEffect, reason: str) -> ReportedEffect:
    reason = clean_text(reason, "reason", max_length=300)
    effect = _effect_for_review(actor, effect)
    _close_review(
        actor, effect, ReportedEffect.Status.DISMISSED, effect.session.episode.patient,
        dismiss_reason=reason,
    )  # fmt: skip
    return effect


@transaction.atomic
def alert_acknowledge(*, actor: User, check_in: CheckIn) -> CheckIn:
    """A clinician has seen the red flag and acted on it (called the patient, say)."""
    charting._require_role(actor, rules.CLINICAL_WRITE_ROLES, "acknowledge alerts")
    charting._same_clinic(actor, check_in.session.episode.patient)
    locked = CheckIn.objects.select_for_update().get(pk=check_in.pk)
    if not locked.red_flags:
        raise ValidationError("This check-in raised no alert.")
    if locked.alert_acknowledged_at is not None:
        raise ValidationError("This alert has already been acknowledged.")
    locked.alert_acknowledged_by, locked.alert_acknowledged_at = actor, timezone.now()
    locked.save(update_fields=["alert_acknowledged_by", "alert_acknowledged_at"])
    audit.record(
        actor=actor,
        action=audit.Action.UPDATE,
        obj=locked,
        patient=check_in.session.episode.patient,
        detail={"alert_acknowledged": True},
    )
    return locked


# --- diary and review questionnaires ---------------------------------------------------------


def _home_observation(
    actor: User, episode: EpisodeOfCare, code: str, value: Any, component: str = ""
) -> Observation:
    instrument = knowledge.instrument(code)
    try:
        number = Decimal(str(value))
    except (ArithmeticError, ValueError):
        raise ValidationError({code: "Enter a number."}) from None
    if not instrument.minimum <= float(number) <= instrument.maximum:
        raise ValidationError(
            {code: f"Choose a number from {instrument.minimum:g} to {instrument.maximum:g}."}
        )
    observation = Observation.objects.create(
        episode=episode,
        code=code,
        component=component,
        timing=Timing.HOME,
        value=number,
        recorded_by=actor,
    )
    audit.record(actor=actor, action=audit.Action.CREATE, obj=observation, patient=episode.patient)
    return observation


def _open_episode_of(actor: User) -> EpisodeOfCare:
    episode = active_episode(patient_of(actor))
    if episode is None:
        raise ValidationError("You have no open course of treatment to record this for.")
    return episode


@transaction.atomic
def diary_add(*, actor: User, pain: Any) -> Observation:
    """A pain diary entry: today's pain, 0-10."""
    return _home_observation(actor, _open_episode_of(actor), "nprs", pain)


@transaction.atomic
def review_submit(*, actor: User, activities: dict[str, Any], groc: Any) -> list[Observation]:
    """The patient's ratings at a plan review: each PSFS activity, and the global change."""
    episode = _open_episode_of(actor)
    if not activities and groc in (None, ""):
        raise ValidationError("Answer at least one question.")
    recorded = [
        _home_observation(actor, episode, "psfs-activity", value, component=name)
        for name, value in activities.items()
        if value not in (None, "")
    ]
    if groc not in (None, ""):
        recorded.append(_home_observation(actor, episode, "groc", groc))
    return recorded
