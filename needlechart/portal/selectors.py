"""Reads of the portal. A patient reads only their own record: every lookup is scoped to
the patient of the signed-in account (404 otherwise) and audited. Staff reads of what
patients reported are scoped to the staff member's clinic."""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import (
    Count,
    IntegerField,
    Model,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts import rules
from needlechart.accounts.access import in_clinic
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.charting import services as charting
from needlechart.charting.models import (
    Addendum,
    AftercareIssue,
    Consent,
    Insertion,
    NeedlingSession,
)
from needlechart.charting.selectors import Signal
from needlechart.db.latest import count_apart
from needlechart.db.prepared import prepared
from needlechart.outcomes.models import CarePlan, Observation, Timing
from needlechart.patients.models import EpisodeOfCare, Patient
from needlechart.portal import schedule
from needlechart.portal.models import (
    CheckIn,
    HealthQuestionnaire,
    Invitation,
    PortalAccount,
    ReportedEffect,
)
from needlechart.portal.services import active_episode

# --- the patient's own record ------------------------------------------------------------


def own_patient(user: User) -> Patient:
    """The signed-in patient's record; anything but a portal account gets a 404."""
    account = getattr(user, "portal_account", None)
    if account is None:
        raise Http404
    return account.patient


def _signed_sessions(patient: Patient) -> QuerySet[NeedlingSession]:
    return (
        NeedlingSession.objects.filter(episode__patient=patient, signed_at__isnull=False)
        .exclude(addenda__kind=Addendum.Kind.ENTERED_IN_ERROR)
        .select_related("episode", "practitioner__user")
        .prefetch_related("check_ins", "addenda")
        .order_by("-performed_at", "-id")
    )


@dataclass
class Home:
    patient: Patient
    episode: EpisodeOfCare | None
    consent: Consent | None
    consent_problem: str
    questionnaire: HealthQuestionnaire | None
    open_check_ins: list[schedule.Slot]
    sessions: list[NeedlingSession]
    plan: CarePlan | None
    review_open: bool
    to_do: list[str] = field(default_factory=list)
    # Today's latest pain diary entry, if the patient added one (today in the clinic's zone).
    pain_today: Observation | None = None


def home(*, user: User, now: dt.datetime | None = None) -> Home:
    """What the patient should do next, and their recent sessions."""
    now = now or timezone.now()
    patient = own_patient(user)
    episode = active_episode(patient)
    consent, problem = charting.consent_status(patient)
    questionnaire = patient.health_questionnaires.order_by("-submitted_at", "-id").first()
    sessions = list(_signed_sessions(patient)[:10])
    open_slots = [s for session in sessions for s in schedule.slots(session, now) if s.is_open(now)]
    plan = episode.care_plans.order_by("-version").first() if episode else None
    window = schedule.review_window(plan)
    review_open = bool(
        window
        and window.is_open(timezone.localdate(now))
        and not schedule.review_answered(episode, window, timezone.get_current_timezone())
    )
    audit.record(actor=user, action=audit.Action.VIEW, object_type="PortalHome", patient=patient)
    return Home(
        patient, episode, consent, problem, questionnaire, open_slots, sessions, plan, review_open,
        pain_today=_pain_today(patient, now),
    )  # fmt: skip


def _pain_today(patient: Patient, now: dt.datetime) -> Observation | None:
    """The patient's latest diary pain of the day `now` falls on, in the clinic's time zone."""
    today = timezone.localdate(now)
    start = timezone.make_aware(dt.datetime.combine(today, dt.time.min))
    end = timezone.make_aware(dt.datetime.combine(today + dt.timedelta(days=1), dt.time.min))
    return (
        Observation.objects.filter(
            episode__patient=patient,
            code="nprs",
            timing=Timing.HOME,
            entered_in_error_reason="",
            recorded_at__gte=start,
            recorded_at__lt=end,
        )
        .order_by("-recorded_at", "-id")
        .first()
    )


def own_session(*, user: User, session_id: int) -> NeedlingSession:
    """One of the patient's signed sessions (never a draft, never one entered in error)."""
    patient = own_patient(user)
    session = get_object_or_404(
        _signed_sessions(patient).prefetch_related(
            Prefetch("insertions", queryset=Insertion.objects.order_by("id")),
            Prefetch(
                "aftercare_issues", queryset=AftercareIssue.objects.select_related("template")
            ),
        ),
        pk=session_id,
    )
    audit.record(actor=user, action=audit.Action.VIEW, obj=session, patient=patient)
    return session


def own_slot(*, user: User, session_id: int, hours: int, now: dt.datetime) -> schedule.Slot:
    session = own_session(user=user, session_id=session_id)
    slot = next((s for s in schedule.slots(session, now) if s.hours == hours), None)
    if slot is None:
        raise Http404
    return slot


def own_diary(*, user: User) -> list[Observation]:
    patient = own_patient(user)
    entries = list(
        Observation.objects.filter(
            episode__patient=patient, timing=Timing.HOME, entered_in_error_reason=""
        ).order_by("-recorded_at", "-id")[:60]
    )
    audit.record(actor=user, action=audit.Action.VIEW, object_type="PainDiary", patient=patient)
    return entries


def own_pain_points(patient: Patient) -> tuple[list[tuple[dt.datetime, float, str]], Any]:
    """The patient's pain over time for their own chart: each session's pain before
    needling, and their diary, in the newest open (or last) episode."""
    episode = active_episode(patient) or patient.episodes.order_by("-period_start", "-id").first()
    if episode is None:
        return [], None
    rows = Observation.objects.filter(
        episode=episode,
        code="nprs",
        entered_in_error_reason="",
        timing__in=[Timing.BASELINE, Timing.BEFORE, Timing.HOME],
    ).values_list(
        # Values, not records: a long course has hundreds.
        "session_id", "session__signed_at", "session__performed_at", "recorded_at", "value",
        "timing",
    )  # fmt: skip
    points = []
    for session_id, signed_at, performed_at, recorded_at, value, timing in rows:
        if session_id is not None and signed_at is None:
            continue  # drafts are not the patient's record yet
        points.append((performed_at if session_id else recorded_at, float(value), timing))
    return sorted(points), episode


# --- what patients reported, for staff ---------------------------------------------------


def questionnaire_in_clinic(user: User, questionnaire_id: int) -> bool:
    return in_clinic(user, HealthQuestionnaire.objects, "patient__clinic_id", questionnaire_id)


def effect_in_clinic(user: User, effect_id: int) -> bool:
    return in_clinic(
        user, ReportedEffect.objects, "session__episode__patient__clinic_id", effect_id
    )


def check_in_in_clinic(user: User, check_in_id: int) -> bool:
    return in_clinic(user, CheckIn.objects, "session__episode__patient__clinic_id", check_in_id)


def questionnaire_get(*, user: User, questionnaire_id: int) -> HealthQuestionnaire:
    questionnaire = get_object_or_404(
        HealthQuestionnaire.objects.select_related("patient", "episode", "reviewed_by"),
        pk=questionnaire_id,
        patient__clinic_id=user.clinic_id,
    )
    audit.record(
        actor=user, action=audit.Action.VIEW, obj=questionnaire, patient=questionnaire.patient
    )
    return questionnaire


def effect_get(*, user: User, effect_id: int) -> ReportedEffect:
    effect = get_object_or_404(
        ReportedEffect.objects.select_related(
            "session__episode__patient__clinic", "session__practitioner__user", "check_in"
        ),
        pk=effect_id,
        session__episode__patient__clinic_id=user.clinic_id,
    )
    audit.record(
        actor=user, action=audit.Action.VIEW, obj=effect, patient=effect.session.episode.patient
    )
    return effect


def check_in_get(*, user: User, check_in_id: int) -> CheckIn:
    check_in = get_object_or_404(
        CheckIn.objects.select_related("session__episode__patient"),
        pk=check_in_id,
        session__episode__patient__clinic_id=user.clinic_id,
    )
    audit.record(
        actor=user, action=audit.Action.VIEW, obj=check_in, patient=check_in.session.episode.patient
    )
    return check_in


def pending_questionnaires(patient: Patient) -> list[HealthQuestionnaire]:
    return _pending_questionnaires(patient.pk)


def session_reports(session: NeedlingSession) -> dict[str, Any]:
    """The patient's check-in answers and reported effects for one session (staff side)."""
    check_ins, effects = _check_ins_of(session.pk), _effects_of(session.pk)
    for report in (*check_ins, *effects):
        report.session = session  # as the session's own related lists would give them
    return {"check_ins": check_ins, "effects": effects}


@prepared
def _check_ins_of(session_id: int) -> QuerySet:
    return CheckIn.objects.filter(session_id=session_id).select_related("alert_acknowledged_by")


@prepared
def _effects_of(session_id: int) -> QuerySet:
    return ReportedEffect.objects.filter(session_id=session_id).select_related(
        "reviewed_by", "adverse_event"
    )


# The attention lists show the first this many effects and health answers, oldest first, so
# a view lists (and audits) a page of work however long the queue has grown; each one
# handled makes room for the next. Red-flag alerts are always listed in full.
ATTENTION_SHOWN = 25


def _first_with_total(rows: QuerySet, shown: int) -> QuerySet:
    """The first `shown` rows, each with how many there are in all, in one query. The
    count is a subquery the database runs once, so the first rows are read along the
    queue's index and the rest never joined (a window count joins every row of a long
    queue before the first is returned)."""
    counted = rows.order_by().values(one=Value(1)).annotate(n=Count("pk")).values("n")
    return rows.annotate(total=Subquery(counted[:1], output_field=IntegerField()))[:shown]


def _total(rows: list[Any]) -> int:
    return rows[0].total if rows else 0


@prepared
def _open_alerts(clinic_id: int) -> QuerySet:
    return (
        CheckIn.objects.filter(
            session__episode__patient__clinic_id=clinic_id, alert_acknowledged_at__isnull=True
        )
        .exclude(red_flags=[])
        .select_related("session__episode__patient", "session__practitioner__user")
        .order_by("answered_at")
    )


@prepared
def _effects_to_confirm(clinic_id: int, *, shown: int) -> QuerySet:
    return _first_with_total(
        ReportedEffect.objects.filter(
            patient__clinic_id=clinic_id, status=ReportedEffect.Status.PENDING
        )
        .select_related("session__episode__patient", "session__practitioner__user")
        .order_by("-red_flag", "first_reported_at", "pk"),
        shown,
    )


@prepared
def _answers_to_review(clinic_id: int, *, shown: int) -> QuerySet:
    return _first_with_total(
        HealthQuestionnaire.objects.filter(
            patient__clinic_id=clinic_id, status=HealthQuestionnaire.Status.PENDING
        )
        .select_related("patient")
        .order_by("submitted_at", "pk"),
        shown,
    )


def clinic_attention(user: User, listed_with: Sequence[Model] = ()) -> dict[str, Any]:
    """For the dashboard: open red-flag alerts, effects and questionnaires awaiting review.
    Each item listed is audited as listed, as it names a patient, together with
    `listed_with` (the page's other listed records), so that a view writes its audit rows in
    one transaction."""
    alerts = _open_alerts(user.clinic_id)
    effects = _effects_to_confirm(user.clinic_id, shown=ATTENTION_SHOWN)
    questionnaires = _answers_to_review(user.clinic_id, shown=ATTENTION_SHOWN)
    audit.record_each(
        actor=user,
        action=audit.Action.LIST,
        objects=[*alerts, *effects, *questionnaires, *listed_with],
    )
    return {
        "alerts": alerts,
        "effects": effects,
        "questionnaires": questionnaires,
        "effects_total": _total(effects),
        "questionnaires_total": _total(questionnaires),
    }


@dataclass(frozen=True)
class PortalStanding:
    account: Any
    invitation: Any
    invitation_status: str
    questionnaires: list[HealthQuestionnaire]

    @property
    def invitation_label(self) -> str:
        return Invitation.Status(self.invitation_status).label if self.invitation_status else ""


def portal_standing(*, user: User, patient: Patient) -> PortalStanding:
    """The patient's portal account or latest invitation, for the patient page; clinicians
    also see health answers waiting for review (clinical content, so not the front desk)."""
    accounts = _portal_account_of(patient.pk)
    account = accounts[0] if accounts else None
    invitation = None
    if account is None and (invitations := _latest_invitation_of(patient.pk)):
        invitation = invitations[0]
        invitation.patient = patient  # as the patient's own related list would give it
    waiting: list[HealthQuestionnaire] = []
    if rules.has_role(user, rules.CLINICAL_READ_ROLES):
        waiting = pending_questionnaires(patient)
    return PortalStanding(account, invitation, invitation.status() if invitation else "", waiting)


@prepared
def _portal_account_of(patient_id: int) -> QuerySet:
    return PortalAccount.objects.select_related("user").filter(patient_id=patient_id)[:1]


@prepared
def _latest_invitation_of(patient_id: int) -> QuerySet:
    return Invitation.objects.filter(patient_id=patient_id).order_by("-created_at", "-id")[:1]


# --- what patients reported, as safety signals for the clinic's pages --------------------


# The patient header lists at most this many reports of each kind (red flags, effects to
# confirm), the newest first (red flags first among the effects), and counts the rest in one
# line that links to the next. Every page of the patient shows the header: a patient whose
# reports pile up unreviewed (a check-in after each of hundreds of sessions) would otherwise
# carry a line per report on each of those pages, and the red flag reported an hour ago
# would sit below every older report.
REPORTS_LISTED = 3


@dataclass(frozen=True)
class Waiting:
    """A patient's reports of one kind that wait for a clinician: the first few (up to one
    past `REPORTS_LISTED`, so that the header can link to the next) and how many there are."""

    first: list[Any]
    total: int
    # Effects only: how many of all of them are red flags.
    red_flags: int = 0

    def __len__(self) -> int:
        return self.total

    @property
    def listed(self) -> list[Any]:
        """Those the header names one by one: all of them when one line would count a single
        report, else the first `REPORTS_LISTED`."""
        return self.first if self.total <= REPORTS_LISTED + 1 else self.first[:REPORTS_LISTED]

    @property
    def next(self) -> Any:
        """The first report past those listed, or None when all are listed."""
        return self.first[REPORTS_LISTED] if self.total > REPORTS_LISTED + 1 else None


def _waiting(rows: list[Any], **counts: str) -> Waiting:
    """The rows of a query annotated with `waiting` (a count over all its rows), and the
    counts named in `counts` (keyword: annotation)."""
    if not rows:
        return Waiting([], 0)
    head = rows[0]
    extra = {name: getattr(head, column) for name, column in counts.items()}
    return Waiting(rows, head.waiting, **extra)


def portal_signals(
    *, user: User, patient: Patient, red_flags: Waiting | None = None
) -> list[Signal]:
    """Open red flags, effects waiting to be confirmed and health answers waiting for review:
    shown with the chart's own signals in the patient header (see ui.safety_signals).
    `red_flags`: the patient's `open_red_flag_check_ins`, where the page has read them.
    Clinical content: staff without clinical access get none."""
    if not rules.has_role(user, rules.CLINICAL_READ_ROLES):
        return []
    signals: list[Signal] = []
    if red_flags is None:
        red_flags = open_red_flag_check_ins(patient)
    for check_in in red_flags.listed:
        symptoms = "; ".join(_symptom(code) for code in check_in.red_flags)
        signals.append(
            Signal(
                "danger",
                f"Red flag reported {timezone.localtime(check_in.answered_at):%Y-%m-%d %H:%M} "
                f"after the session of {_day(check_in.session.performed_at)}: {symptoms}. "
                "Contact the patient and review before any further needling.",
                _reports_of(check_in.session_id),
                "Review the report",
            )
        )
    if red_flags.next is not None:
        more = red_flags.total - len(red_flags.listed)
        signals.append(
            Signal(
                "danger",
                f"{more} more red flags reported after sessions are not acknowledged. "
                "Contact the patient and review them before any further needling.",
                _reports_of(red_flags.next.session_id),
                "Review the next",
            )
        )
    effects = _waiting(
        _pending_effects(patient.pk, first=REPORTS_LISTED + 1), red_flags="red_waiting"
    )
    kinds = knowledge.adverse_event_types()
    for effect in effects.listed:
        signals.append(
            Signal(
                "danger" if effect.red_flag else "warning",
                f"Unconfirmed adverse event: {kinds.get(effect.event_type, effect.event_type)} "
                f"reported after the session of {_day(effect.session.performed_at)}.",
                reverse("portal:effect_confirm", args=[effect.pk]),
                "Confirm or dismiss",
            )
        )
    if effects.next is not None:
        more = effects.total - len(effects.listed)
        # Red flags come first: those listed are counted off all of them.
        red = effects.red_flags - sum(effect.red_flag for effect in effects.listed)
        of_them = f", {red} of them red flags" if red else ""
        signals.append(
            Signal(
                "danger" if red else "warning",
                f"{more} more adverse events reported from the portal are not confirmed{of_them}.",
                reverse("portal:effect_confirm", args=[effects.next.pk]),
                "Confirm or dismiss the next",
            )
        )
    for questionnaire in _pending_questionnaires(patient.pk):
        signals.append(
            Signal(
                "warning",
                "Health answers sent from the portal on "
                f"{timezone.localtime(questionnaire.submitted_at):%Y-%m-%d} are not reviewed: "
                "the screening may be out of date.",
                reverse("portal:questionnaire_review", args=[questionnaire.pk]),
                "Review them",
            )
        )
    return signals


def _reports_of(session_id: int) -> str:
    return reverse("charting:session", args=[session_id]) + "#reports"


def open_red_flag_check_ins(patient: Patient) -> Waiting:
    """The check-ins with red flags no clinician has acknowledged, newest first: the first
    few, each with its session (the header's signals name the session's day), and how many
    there are (the banner and the start of a session say whether any is open)."""
    return _waiting(_open_red_flags(patient.pk, first=REPORTS_LISTED + 1))


@prepared
def _open_red_flags(patient_id: int, *, first: int) -> QuerySet:
    # Read along the patient's own index (check_in_open_red_flags_of), by the patient each
    # check-in keeps: the first few in order, and every open red flag counted from the index.
    open_ones = CheckIn.objects.filter(
        patient_id=patient_id, alert_acknowledged_at__isnull=True
    ).exclude(red_flags=[])
    return (
        open_ones.select_related("session")
        # Every open red flag counted, in the statement that takes the first few.
        .annotate(waiting=count_apart(open_ones))
        .order_by("-answered_at", "-pk")[:first]
    )


@prepared
def _pending_effects(patient_id: int, *, first: int) -> QuerySet:
    # Red flags first, as the session page lists a session's effects; then the newest. Read
    # along the patient's own index (reported_effect_pending_of): the first few in order,
    # and the counts from the index alone.
    pending = ReportedEffect.objects.filter(
        patient_id=patient_id, status=ReportedEffect.Status.PENDING
    )
    return (
        pending.select_related("session")
        .annotate(
            waiting=count_apart(pending),
            red_waiting=count_apart(pending, Q(red_flag=True)),
        )
        .order_by("-red_flag", "-first_reported_at", "-pk")[:first]
    )


@prepared
def _pending_questionnaires(patient_id: int) -> QuerySet:
    return HealthQuestionnaire.objects.filter(
        patient_id=patient_id, status=HealthQuestionnaire.Status.PENDING
    )


def _day(moment: dt.datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d}"


def _symptom(code: str) -> str:
    try:
        return knowledge.symptom(code).clinician_label
    except knowledge.UnknownCode:
        return code
