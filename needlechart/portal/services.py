"""Writes of the portal, by patients (answers, diary, consent) and by the staff who invite
them and review what they report. Every write is atomic and audited."""

import datetime as dt
import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.audit.submissions import once
from needlechart.charting import services as charting
from needlechart.charting.models import (
    Addendum,
    AdverseEvent,
    Consent,
    DocumentTemplate,
    NeedlingSession,
    Screening,
)
from needlechart.db import bulk
from needlechart.outcomes import measurements
from needlechart.outcomes.models import Observation
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
    """The patient a portal sign-in belongs to; staff have none. Every patient-facing write
    starts here: the guard allows a portal account to act on its own record only."""
    authorize(actor, portal=True, what="answer for a patient")
    return actor.portal_account.patient


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
    authorize(actor, roles=rules.STAFF_ROLES, patient=patient, what="invite patients to the portal")
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
    authorize(
        actor,
        roles=rules.CLINICAL_WRITE_ROLES,
        patient=questionnaire.patient,
        what="review questionnaires",
    )
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
    authorize(
        actor,
        roles=rules.CLINICAL_WRITE_ROLES,
        patient=questionnaire.patient,
        what="review questionnaires",
    )
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
    *,
    actor: User,
    template: DocumentTemplate,
    signed_name: str,
    confirmed: bool,
    token: str = "",
) -> Consent:
    """The patient reads and signs the clinic's current consent in the portal."""
    patient = patient_of(actor)

    def create() -> Consent:
        consent, _ = charting.consent_status(patient)
        if consent is not None:
            raise ValidationError("You have already signed the current consent.")
        return charting.consent_record(
            actor=actor, patient=patient, template=template, signed_name=signed_name,
            confirmed=confirmed, channel=Consent.Channel.PORTAL,
        )  # fmt: skip

    return once(actor=actor, token=token, model=Consent, create=create)


# --- check-ins after a session ---------------------------------------------------------------


def _own_session(actor: User, session: NeedlingSession) -> Patient:
    patient = patient_of(actor)
    authorize(actor, portal=True, patient=session.episode.patient, what="answer check-ins")
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
    check_in = CheckIn(
        session=session, patient=patient, hours=hours, answered_at=now, soreness=soreness
    )
    _check_answer(check_in, symptoms=symptoms, other=other)
    check_in.save()
    audit.record(
        actor=actor,
        action=audit.Action.CREATE,
        obj=check_in,
        patient=patient,
        detail={"red_flags": check_in.red_flags},
    )
    _report_effects(check_in, patient)
    if check_in.red_flags:
        transaction.on_commit(lambda: alerts.send_red_flag_alert(check_in.pk), robust=True)
    return check_in


def _check_answer(check_in: CheckIn, *, symptoms: list[str], other: str) -> None:
    """An answer as `checkin_answer` takes it: to a check-in of its session open when it is
    given and not answered before, soreness from 0 to 10, known symptoms, and what else when
    "other" is ticked. Stores the symptoms, the red flags among them and the other text."""
    now = check_in.answered_at
    slots = schedule.slots(check_in.session, now)
    slot = next((s for s in slots if s.hours == check_in.hours), None)
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
    soreness = check_in.soreness
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
    check_in.symptoms, check_in.other = codes, other
    check_in.red_flags = [s.code for s in flags]


# --- what a check-in answer turns into: the one place these rules are written ----------------


def effect_reports(check_in: CheckIn) -> dict[str, tuple[str, bool]]:
    """What one check-in answer reports, by adverse event type: the words a clinician reads,
    and whether it is a red flag. Soreness from `knowledge.soreness_effect_from()` up is
    pain after needling; each symptom ticked reports its own type (two symptoms of one type
    are one report)."""
    reports: dict[str, tuple[str, bool]] = {}
    if check_in.soreness >= knowledge.soreness_effect_from():
        reports["pain-after"] = (f"Soreness {check_in.soreness}/10 at {check_in.hours} h", False)
    for code in check_in.symptoms:
        symptom = knowledge.symptom(code)
        text = check_in.other if code == "other" else symptom.clinician_label
        detail, flagged = reports.get(symptom.adverse_event_type, ("", False))
        detail = f"{detail}; {text}" if detail else text
        reports[symptom.adverse_event_type] = (detail, flagged or symptom.red_flag)
    return reports


def _reported(
    effect: ReportedEffect | None,
    check_in: CheckIn,
    event_type: str,
    report: tuple[str, bool],
    patient_id: int | None,
) -> ReportedEffect:
    """A type first reported waits as a new pending effect; one reported again at a later
    check-in stays one item, with the newest answer added."""
    detail, red_flag = report
    now = check_in.answered_at
    if effect is None:
        return ReportedEffect(
            session=check_in.session,
            # The database sets it too (from the session), for a record saved in any way.
            patient_id=patient_id,
            check_in=check_in,
            event_type=event_type,
            detail=f"{detail} ({check_in.hours} h)"[:500],
            red_flag=red_flag,
            first_reported_at=now,
            last_reported_at=now,
        )
    effect.detail = f"{effect.detail}; {detail} ({check_in.hours} h)"[:500]
    effect.red_flag = effect.red_flag or red_flag
    effect.last_reported_at = now
    return effect


def reported_effects(check_ins: list[CheckIn]) -> list[ReportedEffect]:
    """The effects a session's check-ins leave when answered in order, as `checkin_answer`
    leaves them: pending, not saved."""
    effects: dict[str, ReportedEffect] = {}
    for check_in in sorted(check_ins, key=lambda c: c.answered_at):
        patient_id = check_in.session.episode.patient_id
        for event_type, report in effect_reports(check_in).items():
            effects[event_type] = _reported(
                effects.get(event_type), check_in, event_type, report, patient_id
            )
    return list(effects.values())


def _report_effects(check_in: CheckIn, patient: Patient) -> None:
    """Save what the answer reports, beside what earlier answers of the session reported."""
    earlier = {e.event_type: e for e in ReportedEffect.objects.filter(session=check_in.session)}
    for event_type, report in effect_reports(check_in).items():
        effect = _reported(earlier.get(event_type), check_in, event_type, report, patient.pk)
        if effect.pk is None:
            effect.save()
        else:
            effect.save(update_fields=["detail", "red_flag", "last_reported_at"])


def _effect_for_review(actor: User, effect: ReportedEffect) -> ReportedEffect:
    authorize(
        actor,
        roles=rules.CLINICAL_WRITE_ROLES,
        patient=effect.session.episode.patient,
        what="review reported effects",
    )
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
    authorize(
        actor,
        roles=rules.CLINICAL_WRITE_ROLES,
        patient=check_in.session.episode.patient,
        what="acknowledge alerts",
    )
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


def _open_episode_of(actor: User) -> EpisodeOfCare:
    episode = active_episode(patient_of(actor))
    if episode is None:
        raise ValidationError("You have no open course of treatment to record this for.")
    return episode


@transaction.atomic
def diary_add(*, actor: User, pain: Any, token: str = "") -> Observation:
    """A pain diary entry: today's pain, 0-10 (once per form, however often it is sent)."""
    episode = _open_episode_of(actor)
    return once(
        actor=actor,
        token=token,
        model=Observation,
        create=lambda: measurements.home_observation_add(
            actor=actor, episode=episode, code="nprs", value=pain
        ),
    )


@transaction.atomic
def review_submit(*, actor: User, activities: dict[str, Any], groc: Any) -> list[Observation]:
    """The patient's ratings at a plan review: each PSFS activity, and the global change."""
    episode = _open_episode_of(actor)
    if not activities and groc in (None, ""):
        raise ValidationError("Answer at least one question.")
    recorded = [
        measurements.home_observation_add(
            actor=actor, episode=episode, code="psfs-activity", value=value, component=name
        )
        for name, value in activities.items()
        if value not in (None, "")
    ]
    if groc not in (None, ""):
        recorded.append(
            measurements.home_observation_add(actor=actor, episode=episode, code="groc", value=groc)
        )
    return recorded


# --- records made elsewhere ------------------------------------------------------------------


def _imports(actor: User, patient: Patient) -> None:
    if patient.clinic_id != actor.clinic_id:
        raise ValidationError("This patient is not in your clinic.")


def _account_before(patient: Patient, moment: dt.datetime) -> None:
    """What a patient does in the portal comes after they opened their account."""
    account = getattr(patient, "portal_account", None)
    if account is None or account.created_at > moment:
        raise ValidationError("Only a patient's portal account can do this.")


@transaction.atomic
def portal_accounts_import(
    *,
    actor: User,
    invitations: list[Invitation],
    accounts: list[PortalAccount],
    source: str,
) -> list[PortalAccount]:
    """Invitations and the portal accounts opened from them, made elsewhere with their own
    times. Each invitation is checked as `invitation_create` makes one (sent by the staff
    of the clinic to the patient's address, valid for PORTAL_INVITATION_HOURS); each account
    as `account_open` opens one: from the patient's invitation while it was valid (its
    `used_at` is the account's `created_at`), with a sign-in named by that address and no
    password until one is set. Audited."""
    authorize(actor, roles=rules.ADMIN_ROLES, what="import records")
    valid_for = dt.timedelta(hours=settings.PORTAL_INVITATION_HOURS)
    used: dict[int, Invitation] = {}
    for invitation in invitations:
        patient = invitation.patient
        _imports(actor, patient)
        authorize(
            invitation.created_by,
            roles=rules.STAFF_ROLES,
            patient=patient,
            what="invite patients to the portal",
        )
        if not patient.email or invitation.email != patient.email:
            raise ValidationError({"email": "An invitation goes to the patient's email address."})
        if invitation.expires_at != invitation.created_at + valid_for:
            raise ValidationError({"expires_at": "An invitation is valid for a fixed time."})
        if invitation.used_at is not None:
            if not invitation.created_at <= invitation.used_at < invitation.expires_at:
                raise ValidationError("An invitation is used while it is valid.")
            used[id(patient)] = invitation
        invitation.full_clean(
            exclude=["patient", "created_by"], validate_unique=False, validate_constraints=False
        )
    names = [account.user.username for account in accounts]
    if len(set(names)) != len(names) or User.objects.filter(username__in=names).exists():
        raise ValidationError("An account with this email address already exists.")
    for account in accounts:
        patient, user = account.patient, account.user
        _imports(actor, patient)
        invitation = used.get(id(patient))
        if invitation is None or invitation.used_at != account.created_at:
            raise ValidationError("A portal account is opened from the patient's invitation.")
        if hasattr(patient, "portal_account") and patient.portal_account is not account:
            raise ValidationError("This patient already has a portal account.")
        if (user.username, user.email, user.first_name, user.last_name) != (
            invitation.email.lower(),
            invitation.email,
            patient.given_name,
            patient.family_name,
        ):
            raise ValidationError("A portal sign-in is named by the invitation's address.")
        user.clinic, user.role, user.date_joined = None, "", account.created_at
        user.set_unusable_password()
        user.full_clean(
            exclude=["password", "clinic"], validate_unique=False, validate_constraints=False
        )
    bulk.insert(Invitation, invitations)
    bulk.insert(User, [account.user for account in accounts])
    bulk.insert(PortalAccount, accounts)
    detail = {"imported": source}
    audit.record_each(actor=actor, action=audit.Action.CREATE, objects=invitations, detail=detail)
    audit.record_each(actor=actor, action=audit.Action.CREATE, objects=accounts, detail=detail)
    return accounts


@transaction.atomic
def questionnaires_import(
    *, actor: User, questionnaires: list[HealthQuestionnaire], source: str
) -> list[HealthQuestionnaire]:
    """Health answers patients gave in the portal elsewhere, with their review: each checked
    as `questionnaire_submit` takes it (from the patient's account, factors the safety
    engine understands, one answer waiting at a time) and, once confirmed, as
    `questionnaire_confirm` records it: as the screening of its episode, by the clinician
    who recorded that screening, when they recorded it. Audited."""
    authorize(actor, roles=rules.ADMIN_ROLES, what="import records")
    waiting: set[int] = set()
    for answers in questionnaires:
        patient = answers.patient
        _imports(actor, patient)
        _account_before(patient, answers.submitted_at)
        answers.factors = charting.clean_factors(answers.factors)
        answers.note = clean_text(answers.note, "note", max_length=2000, required=False)
        if answers.episode is not None and answers.episode.patient_id != patient.pk:
            raise ValidationError("These answers are from another patient.")
        status = answers.status
        if status == HealthQuestionnaire.Status.PENDING:
            if patient.pk in waiting or answers.reviewed_at or answers.screening_id:
                raise ValidationError("One answer waits for review at a time.")
            waiting.add(patient.pk)
            continue
        authorize(
            answers.reviewed_by,
            roles=rules.CLINICAL_WRITE_ROLES,
            patient=patient,
            what="review questionnaires",
        )
        if answers.reviewed_at is None or answers.reviewed_at < answers.submitted_at:
            raise ValidationError("Answers are reviewed after they were sent.")
        screening = answers.screening
        if status == HealthQuestionnaire.Status.CONFIRMED and (
            screening is None
            or screening.episode is not answers.episode
            or screening.source != Screening.Source.PATIENT
            or screening.factors != answers.factors
            or (screening.recorded_by, screening.recorded_at)
            != (answers.reviewed_by, answers.reviewed_at)
        ):
            raise ValidationError("Confirmed answers are the screening their reviewer recorded.")
    if HealthQuestionnaire.objects.filter(
        patient__in=waiting, status=HealthQuestionnaire.Status.PENDING
    ).exists():
        raise ValidationError("One answer waits for review at a time.")
    bulk.insert(HealthQuestionnaire, questionnaires)
    audit.record_each(
        actor=actor,
        action=audit.Action.CREATE,
        objects=questionnaires,
        detail={"imported": source},
    )
    return questionnaires


@transaction.atomic
def checkins_import(*, actor: User, check_ins: list[CheckIn], source: str) -> list[ReportedEffect]:
    """Check-in answers patients gave elsewhere, at their own times, with the effects they
    reported. Each answer is checked as `checkin_answer` takes it at that time (from the
    patient's account, to a check-in of a signed session open then, not answered before),
    and its symptoms decide its red flags; the effects come from `reported_effects`, the
    same rules. An alert's email and acknowledgement keep their times. Returns the effects,
    pending. Audited."""
    authorize(actor, roles=rules.ADMIN_ROLES, what="import records")
    by_session: dict[int, list[CheckIn]] = {}
    for check_in in check_ins:
        by_session.setdefault(id(check_in.session), []).append(check_in)
    sessions = [answers[0].session for answers in by_session.values()]
    ids = [session.pk for session in sessions]
    answered = set(CheckIn.objects.filter(session__in=ids).values_list("session", flat=True))
    addenda: dict[int, list[Addendum]] = {session.pk: [] for session in sessions}
    for addendum in Addendum.objects.filter(session__in=ids):
        addenda[addendum.session_id].append(addendum)
    effects: list[ReportedEffect] = []
    for session in sessions:
        patient = session.episode.patient
        _imports(actor, patient)
        if session.pk in answered:
            raise ValidationError("This session's check-ins are already recorded.")
        earlier: list[CheckIn] = []
        answers = sorted(by_session[id(session)], key=lambda c: c.answered_at)
        for check_in in answers:
            # As the database keeps it: the audit rows name the patient from it.
            check_in.patient = patient
            _account_before(patient, check_in.answered_at)
            # The schedule reads the answers given before this one.
            session._prefetched_objects_cache = {
                "check_ins": earlier.copy(),
                "addenda": addenda[session.pk],
            }
            _check_answer(check_in, symptoms=check_in.symptoms, other=check_in.other)
            for moment in (check_in.alert_emailed_at, check_in.alert_acknowledged_at):
                if moment is not None and (not check_in.red_flags or moment < check_in.answered_at):
                    raise ValidationError("Only a red flag raises an alert, after the answer.")
            earlier.append(check_in)
        session._prefetched_objects_cache = {}
        effects += reported_effects(answers)
    bulk.insert(CheckIn, check_ins)
    bulk.insert(ReportedEffect, effects)
    audit.record_each(
        actor=actor, action=audit.Action.CREATE, objects=check_ins, detail={"imported": source}
    )
    return effects


@transaction.atomic
def effect_reviews_import(
    *, actor: User, effects: list[ReportedEffect], source: str
) -> list[ReportedEffect]:
    """The clinicians' review of reported effects, made elsewhere at its own time: each
    effect, still pending here, is closed as `effect_confirm` or `effect_dismiss` closes it,
    by a clinician of the clinic after it was last reported: confirmed as an adverse event
    of its session, or dismissed with a reason. Audited."""
    authorize(actor, roles=rules.ADMIN_ROLES, what="import records")
    ids = [effect.pk for effect in effects]
    reviewed = ReportedEffect.objects.filter(pk__in=ids).exclude(
        status=ReportedEffect.Status.PENDING
    )
    if reviewed.exists():
        raise ValidationError("This reported effect has already been reviewed.")
    for effect in effects:
        patient = effect.session.episode.patient
        _imports(actor, patient)
        authorize(
            effect.reviewed_by,
            roles=rules.CLINICAL_WRITE_ROLES,
            patient=patient,
            what="review reported effects",
        )
        if effect.reviewed_at is None or effect.reviewed_at < effect.last_reported_at:
            raise ValidationError("An effect is reviewed after it was reported.")
        if effect.status == ReportedEffect.Status.CONFIRMED:
            event = effect.adverse_event
            if event is None or event.session_id != effect.session_id:
                raise ValidationError("A confirmed effect is an adverse event of its session.")
            effect.dismiss_reason = ""
        elif effect.status == ReportedEffect.Status.DISMISSED:
            effect.dismiss_reason = clean_text(effect.dismiss_reason, "reason", max_length=300)
            effect.adverse_event = None
        else:
            raise ValidationError("A review confirms or dismisses the effect.")
    bulk.update(
        ReportedEffect,
        effects,
        ["status", "reviewed_by", "reviewed_at", "adverse_event", "dismiss_reason"],
    )
    for status in (ReportedEffect.Status.CONFIRMED, ReportedEffect.Status.DISMISSED):
        audit.record_each(
            actor=actor,
            action=audit.Action.UPDATE,
            objects=[effect for effect in effects if effect.status == status],
            detail={"status": status, "imported": source},
        )
    return effects
