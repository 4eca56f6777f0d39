"""What `needlechart send-reminders` sends: check-ins that have opened, the health
questionnaire not yet answered, the ratings asked at a plan review, and any red-flag alert
whose email failed. Each reminder has a key; the unique `Reminder.key` makes a second send
impossible, however often, however late, and in whatever order of `--now` it runs."""

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Prefetch
from django.template.loader import render_to_string
from django.urls import reverse

from needlechart import knowledge, mail
from needlechart.audit import services as audit
from needlechart.charting.models import Addendum, NeedlingSession
from needlechart.outcomes.models import CarePlan
from needlechart.patients.models import EpisodeOfCare, Patient
from needlechart.portal import alerts, schedule
from needlechart.portal.models import CheckIn, HealthQuestionnaire, PortalAccount, Reminder

# A patient who has not answered the health questionnaire this long after opening their
# account is reminded once.
QUESTIONNAIRE_AFTER = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Due:
    key: str
    kind: str
    patient: Patient
    email: str
    due_at: dt.datetime
    subject: str
    template: str
    context: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "patient": self.patient.mrn,
            "clinic": self.patient.clinic.name,
            "email": self.email,
            "due_at": self.due_at.isoformat(),
            "subject": self.subject,
        }


def _sessions_in_window(now: dt.datetime) -> list[NeedlingSession]:
    plan = knowledge.checkin_plan()
    earliest = now - dt.timedelta(hours=plan.extra_hours + plan.window_hours)
    latest = now - dt.timedelta(hours=plan.hours[0])
    return list(
        NeedlingSession.objects.filter(
            signed_at__isnull=False,
            performed_at__gte=earliest,
            performed_at__lte=latest,
            episode__patient__portal_account__user__is_active=True,
        )
        .select_related("episode__patient__clinic", "episode__patient__portal_account__user")
        .prefetch_related("check_ins", Prefetch("addenda", queryset=Addendum.objects.all()))
    )


def _check_ins(now: dt.datetime) -> list[Due]:
    due = []
    for session in _sessions_in_window(now):
        patient = session.episode.patient
        for slot in schedule.slots(session, now):
            if not slot.is_open(now):
                continue
            link = reverse("portal:check_in", args=[session.pk, slot.hours])
            due.append(
                Due(
                    key=f"check-in:{session.pk}:{slot.hours}",
                    kind="check-in",
                    patient=patient,
                    email=patient.portal_account.user.email,
                    due_at=slot.due_at,
                    subject="How are you after your visit? A few short questions",
                    template="portal/email/check_in.txt",
                    context={"slot": slot, "link": alerts.site_link(link)},
                )
            )
    return due


def _questionnaires(now: dt.datetime) -> list[Due]:
    accounts = (
        PortalAccount.objects.filter(
            created_at__lte=now - QUESTIONNAIRE_AFTER, user__is_active=True
        )
        .exclude(Exists(HealthQuestionnaire.objects.filter(patient=OuterRef("patient"))))
        .select_related("patient__clinic", "user")
    )
    return [
        Due(
            key=f"health-questionnaire:{account.patient_id}",
            kind="health-questionnaire",
            patient=account.patient,
            email=account.user.email,
            due_at=account.created_at + QUESTIONNAIRE_AFTER,
            subject="A few questions before your visit",
            template="portal/email/questionnaire.txt",
            context={"link": alerts.site_link(reverse("portal:questionnaire"))},
        )
        for account in accounts
    ]


def _reviews(now: dt.datetime) -> list[Due]:
    """A review questionnaire opens a few days before the current plan's review date."""
    plans = (
        CarePlan.objects.filter(
            episode__status__in=[EpisodeOfCare.Status.ACTIVE, EpisodeOfCare.Status.ON_HOLD],
            episode__patient__portal_account__user__is_active=True,
            review_on__lte=now.date() + dt.timedelta(days=schedule.REVIEW_OPENS_DAYS + 1),
            review_on__gte=now.date() - dt.timedelta(days=schedule.REVIEW_CLOSES_DAYS + 1),
        )
        .exclude(
            Exists(
                CarePlan.objects.filter(
                    episode=OuterRef("episode"), version__gt=OuterRef("version")
                )
            )
        )
        .select_related("episode__patient__clinic", "episode__patient__portal_account__user")
        .annotate(last_answer=schedule.last_review_answer())
    )
    due = []
    for plan in plans:
        patient = plan.episode.patient
        tz = zoneinfo.ZoneInfo(patient.clinic.timezone)
        window = schedule.review_window(plan)
        if window is None or not window.is_open(now.astimezone(tz).date()):
            continue
        if schedule.answered_in(window, plan.last_answer, tz):
            continue
        due.append(
            Due(
                key=f"review:{plan.pk}:{plan.review_on.isoformat()}",
                kind="review",
                patient=patient,
                email=patient.portal_account.user.email,
                due_at=dt.datetime.combine(window.opens_on, dt.time(9), tz),
                subject="How are you getting on? A few questions before your review",
                template="portal/email/review.txt",
                context={"plan": plan, "link": alerts.site_link(reverse("portal:review"))},
            )
        )
    return due


def due_reminders(now: dt.datetime) -> list[Due]:
    """Everything due at `now` and not sent before, oldest first."""
    found = _check_ins(now) + _questionnaires(now) + _reviews(now)
    sent = set(
        Reminder.objects.filter(key__in=[d.key for d in found]).values_list("key", flat=True)
    )
    return sorted((d for d in found if d.key not in sent), key=lambda d: (d.due_at, d.key))


def unsent_alerts() -> list[int]:
    return list(
        CheckIn.objects.filter(alert_emailed_at__isnull=True, alert_acknowledged_at__isnull=True)
        .exclude(red_flags=[])
        .values_list("pk", flat=True)
    )


@dataclass(frozen=True)
class Failure:
    item: Due
    reason: str


@dataclass(frozen=True)
class Result:
    sent: list[Due]
    failed: list[Failure]
    alerts_sent: int
    alerts_failed: list[str]  # the reason each unsent red-flag alert email failed

    def problem(self) -> str:
        """What went wrong, in one line, or "" when every email went."""
        reasons = [f.reason for f in self.failed] + self.alerts_failed
        if not reasons:
            return ""
        tried = len(self.sent) + len(self.failed) + self.alerts_sent + len(self.alerts_failed)
        others = len(set(reasons)) - 1
        return (
            f"{len(reasons)} of {tried} email(s) could not be sent: {reasons[0]}"
            + (f" (and {others} other reason(s))" if others else "")
            + "; they will be retried on the next run"
        )


def _record(item: Due, now: dt.datetime) -> Reminder | None:
    """Record the reminder in a transaction of its own, committed before any mail goes;
    None if another run has recorded it first."""
    try:
        # Durable: sending must never happen inside a caller's transaction.
        with transaction.atomic(durable=True):
            return Reminder.objects.create(
                key=item.key,
                kind=item.kind,
                patient=item.patient,
                email=item.email,
                due_at=item.due_at,
                sent_at=now,
            )
    except IntegrityError:
        return None


def send_reminders(now: dt.datetime) -> Result:
    """Send what is due, then retry red-flag alert emails that failed.

    Each reminder is recorded (and committed) before it is sent, so a second run, even one at
    the same moment, never sends it again, and a slow mail server holds no lock. When the
    server does not take it, the record is removed again and the next run retries it."""
    sent, failed = [], []
    for item in due_reminders(now):
        context = {"patient": item.patient, "clinic": item.patient.clinic, **item.context}
        body = render_to_string(item.template, context)
        reminder = _record(item, now)
        if reminder is None:
            continue  # a run at the same moment sent it
        try:
            outcome = mail.send(subject=item.subject, body=body, to=[item.email])
        except Exception:
            Reminder.objects.filter(key=item.key).delete()
            raise
        if outcome:
            sent.append(item)
            # What went to whom, once the server took it; the email itself names nothing
            # clinical.
            audit.record(
                actor=None, action=audit.Action.SEND, obj=reminder, patient=item.patient,
                detail={"email": f"{item.kind} reminder"},
            )  # fmt: skip
        else:
            Reminder.objects.filter(key=item.key).delete()
            failed.append(Failure(item, outcome.reason))
    alerts_sent, alerts_failed = 0, []
    for pk in unsent_alerts():
        outcome = alerts.send_red_flag_alert(pk)
        if outcome:
            alerts_sent += 1
        else:
            alerts_failed.append(outcome.reason)
    return Result(sent, failed, alerts_sent, alerts_failed)
