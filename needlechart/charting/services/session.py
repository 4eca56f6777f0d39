"""The needling session: started after the screening is re-confirmed, charted, signed."""

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import Practitioner, User
from needlechart.audit import services as audit
from needlechart.audit.submissions import once
from needlechart.charting.models import (
    Addendum,
    Consent,
    CoTreatment,
    Insertion,
    NeedlingSession,
    Screening,
)
from needlechart.charting.services.aftercare import _aftercare_given, aftercare_issue
from needlechart.charting.services.common import (
    _practitioner_of,
    refuse_if_discharged,
)
from needlechart.charting.services.consent import _consent_after, consent_status
from needlechart.charting.services.rows import (
    INSERTION_FIELDS,
    _check_insertion,
    _follow_and_audit,
    _session_write,
    _store_verdict,
    plan_item,
)
from needlechart.charting.services.screening import current_screening, screen_plan
from needlechart.patients.models import EpisodeOfCare
from needlechart.records import apply_changes, audit_values, refuse_if_changed, unchanged_on_error


@transaction.atomic
def session_start(
    *,
    actor: User,
    episode: EpisodeOfCare,
    screening_status: str,
    clean_technique: bool = False,
    performed_at: dt.datetime | None = None,
    from_last: bool = False,
    consent_confirmed: bool = False,
    token: str = "",
) -> tuple[NeedlingSession, list[str]]:
    """Open a draft session after re-confirming the screening; optionally copy the last
    session's rows. Returns the session and the rows that could not be copied, and why."""
    authorize(actor, roles=rules.NEEDLING_ROLES, patient=episode.patient, what="chart needling")
    refuse_if_discharged(episode)
    screening = current_screening(episode)
    if screening is None:
        raise ValidationError("Record the health screening before the first session.")
    if screening_status not in NeedlingSession.ScreeningStatus.values:
        raise ValidationError(
            {"screening_status": "Confirm whether the health screening is unchanged."}
        )
    performed_at = performed_at or timezone.now()
    if performed_at > timezone.now() + dt.timedelta(minutes=5):
        raise ValidationError({"performed_at": "A session cannot be in the future."})
    if screening_status == NeedlingSession.ScreeningStatus.CHANGED and (
        timezone.localdate(screening.recorded_at) < timezone.localdate(performed_at)
    ):
        raise ValidationError(
            {"screening_status": "The health has changed: update the screening first."}
        )
    consent, why = consent_status(episode.patient)
    if consent is None:
        raise ValidationError(f"No needling without a current consent: {why}")
    if _consent_after(consent, performed_at):
        raise ValidationError({"performed_at": _consent_after(consent, performed_at)})
    practitioner = _practitioner_of(actor)
    if not rules.is_qualified_to_needle(practitioner, on=timezone.localdate(performed_at)):
        raise ValidationError(
            "You are not qualified to needle on the session date: the dry-needling "
            "credential is missing or has lapsed."
        )
    skipped: list[str] = []

    def create() -> NeedlingSession:
        session = NeedlingSession.objects.create(
            episode=episode,
            practitioner=practitioner,
            performed_at=performed_at,
            screening=screening,
            screening_status=screening_status,
            clean_technique=clean_technique,
            consent_confirmed=consent_confirmed,
            created_by=actor,
        )
        audit.record(actor=actor, action=audit.Action.CREATE, obj=session, patient=episode.patient)
        if from_last:
            skipped.extend(_copy_last_rows(actor, session))
        return session

    # The form's token: a double click on "Start" opens one session (the second gets it).
    return once(actor=actor, token=token, model=NeedlingSession, create=create), skipped


def _copy_last_rows(actor: User, session: NeedlingSession) -> list[str]:
    last = (
        NeedlingSession.objects.filter(episode=session.episode, signed_at__isnull=False)
        .exclude(pk=session.pk)
        .exclude(addenda__kind=Addendum.Kind.ENTERED_IN_ERROR)
        .order_by("-performed_at", "-id")
        .first()
    )
    if last is None:
        return ["There is no earlier signed session to start from."]
    for field in SESSION_CARRIED:
        setattr(session, field, getattr(last, field))
    session.save(update_fields=list(SESSION_CARRIED))
    skipped = []
    for row in last.insertions.select_related("needle_size"):
        copy = Insertion(session=session)
        for field in INSERTION_FIELDS:
            setattr(copy, field, getattr(row, field))
        # Today's findings are today's: they start empty and signing asks for them.
        copy.twitch_responses, copy.familiar_pain, copy.tolerance = None, None, ""
        copy.ultrasound_depth_mm = None  # measured again each time
        if not copy.needle_size.active:
            skipped.append(f"{row.get_muscle_display()}: needle {row.needle_size} is retired.")
            continue
        try:
            _store_verdict(copy, _check_insertion(session, copy))
        except ValidationError as error:
            skipped.append(f"{row.get_muscle_display()}: {' '.join(error.messages)}")
            continue
        copy.save()
        audit.record(
            actor=actor, action=audit.Action.CREATE, obj=copy, patient=session.episode.patient
        )
    _follow_and_audit(actor, session)
    return skipped


SESSION_FIELDS = (
    "performed_at", "screening_status", "clean_technique", "needles_opened", "needles_removed",
    "co_treatments", "co_treatment_note", "note", "consent_confirmed", "patient_position",
    "gloves", "antisepsis", "guide_tube", "needle_brand", "needle_lot", "sharps_disposed",
    "haemostasis", "soreness_after", "stim_device",
)  # fmt: skip


# What a session started from the last one carries over: how the clinic works, not findings.
SESSION_CARRIED = (
    "patient_position", "gloves", "antisepsis", "guide_tube", "needle_brand", "needle_lot",
    "stim_device",
)  # fmt: skip


@transaction.atomic
def session_update(
    *, actor: User, session: NeedlingSession, was: str | None = None, **values: Any
) -> NeedlingSession:
    """Change a draft session's details, all or one part (the page saves part by part); an
    edit made from a page that showed older values than someone else's save is refused."""
    _session_write(actor, session)
    refuse_if_changed(session, was, values)
    unknown = set(values.get("co_treatments") or []) - set(CoTreatment.values)
    if unknown:
        raise ValidationError({"co_treatments": f"Unknown co-treatment: {sorted(unknown)[0]}"})
    before = audit_values(session, [f for f in SESSION_FIELDS if f in values])
    with unchanged_on_error(session), transaction.atomic():
        changed = apply_changes(session, SESSION_FIELDS, values)
        if "needles_opened" in values:
            # A number that differs from the rows is the clinician's own count, and stays;
            # clearing it, or typing the rows' total, lets it follow the rows again.
            rows_total = sum(r.needles for r in Insertion.objects.filter(session=session))
            session.needles_opened_by_hand = values["needles_opened"] not in (None, rows_total)
            if values["needles_opened"] is None:
                session.needles_opened = rows_total or None
        session.full_clean()
        session.save()
        audit.record(
            actor=actor,
            action=audit.Action.UPDATE,
            obj=session,
            patient=session.episode.patient,
            detail={
                "changed": changed,
                "before": {f: before[f] for f in changed},
                "after": audit_values(session, changed),
            },
        )
    return session


def sign_problems(actor: User, session: NeedlingSession) -> list[str]:
    """Everything that stops this user signing this session now; empty when it may be signed."""
    return sign_checks(
        actor,
        session,
        consent_status(session.episode.patient),
        current_screening(session.episode),
        list(session.insertions.select_related("needle_size")),
        qualified=lambda practitioner, day: rules.is_qualified_to_needle(practitioner, on=day),
        screen=screen_plan,
    )


def sign_checks(
    actor: User,
    session: NeedlingSession,
    status: tuple[Consent | None, str],
    screening: Screening | None,
    rows: list[Insertion],
    *,
    qualified: Callable[[Practitioner, dt.date], bool],
    screen: Callable[..., Any],
) -> list[str]:
    """The signing rules over what was read: `status` is the patient's `consent_status`,
    `screening` the episode's current screening, `rows` the session's insertions. One set of
    rules for signing one session and for a bulk import that reads many at once."""
    problems = []
    practitioner = getattr(actor, "practitioner", None)
    if session.practitioner.user_id != actor.pk:
        problems.append("Only the practitioner who needled can sign the session.")
    elif practitioner is None or not qualified(
        practitioner, timezone.localdate(session.performed_at)
    ):
        problems.append(
            "You are not qualified to needle on the session date: the dry-needling "
            "credential is missing or has lapsed."
        )
    consent, why = status
    if consent is None:
        problems.append(f"No current consent: {why}")
    elif _consent_after(consent, session.performed_at):
        problems.append(_consent_after(consent, session.performed_at))
    if screening is None or not session.screening_status:
        problems.append("Re-confirm the health screening for this session.")
    if not session.clean_technique:
        problems.append("Confirm clean technique in the pre-needling checklist.")
    if not session.consent_confirmed:
        problems.append("Confirm the patient agreed to needling at this session.")
    if not rows:
        problems.append("Record at least one needled muscle.")
    if session.needles_opened is None or session.needles_removed is None:
        problems.append("Record the needles opened and the needles removed and disposed of.")
    elif session.needles_opened != session.needles_removed:
        problems.append(
            f"Needle count does not match: {session.needles_opened} opened, "
            f"{session.needles_removed} removed and disposed of."
        )
    elif not session.sharps_disposed:
        problems.append("Confirm the needles went into a sharps container.")
    elif session.needles_opened < sum(row.needles for row in rows):
        problems.append(
            f"Fewer needles opened ({session.needles_opened}) than recorded in the rows "
            f"({sum(row.needles for row in rows)})."
        )
    for row in rows:
        if not row.findings_recorded:
            problems.append(
                f"{row.get_muscle_display()}{f' ({row.side})' if row.side else ''}: record "
                "today's findings (twitch responses, familiar pain, tolerance)."
            )
    if rows:
        result = screen(screening, [plan_item(r) for r in rows])
        for row, item in zip(rows, result.items, strict=True):
            if item.verdict == "contraindicated":
                problems.append(
                    f"{row.get_muscle_display()} {row.side}: contraindicated by the current "
                    "screening; remove the row."
                )
    return problems


@transaction.atomic
def session_sign(
    *, actor: User, session: NeedlingSession, aftercare_given: bool = False
) -> NeedlingSession:
    """Sign a session: every safety rule must hold, and the CPT code is fixed. With
    `aftercare_given`, the clinic's aftercare advice is recorded as given in the same step."""
    _session_write(actor, session)
    problems = sign_problems(actor, session)
    if problems:
        raise ValidationError(problems)
    rows = list(session.insertions.select_related("needle_size"))
    result = screen_plan(current_screening(session.episode), [plan_item(r) for r in rows])
    for row, item in zip(rows, result.items, strict=True):
        # The note keeps the verdict of the screening it is signed under.
        _store_verdict(row, knowledge.Screening(result.patient, (item,)))
        row.save(update_fields=["safety_verdict", "safety_reasons"])
    session.cpt_code = knowledge.suggest_cpt([r.muscle for r in rows]) or ""
    session.consent, _ = consent_status(session.episode.patient)
    session.screening = current_screening(session.episode)
    session.signed_at, session.signed_by = timezone.now(), actor
    session.save()
    audit.record(
        actor=actor,
        action=audit.Action.SIGN,
        obj=session,
        patient=session.episode.patient,
        detail={"cpt": session.cpt_code},
    )
    if aftercare_given and not _aftercare_given(session):
        aftercare_issue(actor=actor, session=session)
    return session
