"""`needlechart send-reminders`: what is due when, and that nothing is ever sent twice,
however often the command runs and whatever `--now` it is given."""

import datetime as dt
import io
import json
import re
import socket

import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from needlechart.audit.models import AuditEvent
from needlechart.outcomes import services as outcome_services
from needlechart.portal import reminders, services
from needlechart.portal.models import PortalAccount, Reminder
from tests import factories
from tests.portal.failing_mail import RefusingBackend


def run(*args: str) -> dict:
    out = io.StringIO()
    call_command("send-reminders", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def at(session, hours: float) -> str:
    return (session.performed_at + dt.timedelta(hours=hours)).isoformat()


def keys(result: dict, kind: str = "") -> list[str]:
    return [r["key"] for r in result["reminders"] if r["kind"].startswith(kind)]


def check_ins(result: dict) -> list[str]:
    return keys(result, "check-in")


def test_each_check_in_is_emailed_once_when_it_opens(session_26h, world):
    s = session_26h
    assert check_ins(run("--now", at(s, 23))) == []
    first = run("--now", at(s, 24.2))
    assert check_ins(first) == [f"check-in:{s.pk}:24"]
    assert first["reminders"][0]["email"] == "ann@example.org"
    [message] = mail.outbox
    assert (
        message.to == ["ann@example.org"]
        and f"/portal/sessions/{s.pk}/check-in/24/" in message.body
    )
    # The same run again, later the same day, and back in time: nothing more.
    for hours in (24.2, 30, 25):
        assert check_ins(run("--now", at(s, hours))) == [], hours
    assert check_ins(run("--now", at(s, 48.1))) == [f"check-in:{s.pk}:48"]
    assert check_ins(run("--now", at(s, 48.5))) == []
    assert len(mail.outbox) == 2 and Reminder.objects.count() == 2


def test_a_reminder_names_nothing_clinical_and_its_sending_is_audited(session_26h, world):
    run("--now", at(session_26h, 24.2))
    [message] = mail.outbox
    # The words, not the link (whose path names the page it opens).
    text = re.sub(r"https?://\S+", "", message.subject + message.body).lower()
    patient = world.patient_a
    for secret in (patient.given_name, patient.family_name, patient.mrn, "needl", "session",
                   f"{session_26h.performed_at:%d}"):  # fmt: skip
        assert secret.lower() not in text, secret
    reminder = Reminder.objects.get()
    sent = AuditEvent.objects.get(action="send", object_type="Reminder")
    assert (sent.object_id, sent.patient, sent.user) == (str(reminder.pk), patient, None)
    # A run that sends nothing audits nothing.
    run("--now", at(session_26h, 25))
    assert AuditEvent.objects.filter(action="send").count() == 1


def test_a_check_in_whose_window_passed_unsent_is_not_sent_late(session_26h, world):
    # The command did not run for two days: the 24-hour check-in has closed meanwhile.
    assert check_ins(run("--now", at(session_26h, 48.1))) == [f"check-in:{session_26h.pk}:48"]
    assert check_ins(run("--now", at(session_26h, 80))) == []


def test_an_answered_check_in_is_not_reminded(session_26h, world):
    services.checkin_answer(actor=world.patient_user, session=session_26h, hours=24, soreness=1,
                            symptoms=[], now=session_26h.performed_at + dt.timedelta(hours=24.1))  # fmt: skip
    assert check_ins(run("--now", at(session_26h, 24.5))) == []


def test_the_72_hour_check_in_is_reminded_only_when_soreness_has_not_settled(session_26h, world):
    services.checkin_answer(actor=world.patient_user, session=session_26h, hours=48, soreness=4,
                            symptoms=[], now=session_26h.performed_at + dt.timedelta(hours=48.1))  # fmt: skip
    assert check_ins(run("--now", at(session_26h, 72.1))) == [f"check-in:{session_26h.pk}:72"]


def test_a_dry_run_lists_what_is_due_and_sends_and_records_nothing(session_26h, world):
    result = run("--dry-run", "--now", at(session_26h, 24.2))
    assert result["dry_run"] is True and keys(result) == [f"check-in:{session_26h.pk}:24"]
    assert set(result["reminders"][0]) == {
        "key", "kind", "patient", "clinic", "email", "due_at", "subject",
    }  # fmt: skip
    assert mail.outbox == [] and not Reminder.objects.exists()
    assert keys(run("--now", at(session_26h, 24.2))) == [f"check-in:{session_26h.pk}:24"]


def test_a_reminder_that_fails_to_send_is_not_recorded_and_goes_next_time(
    session_26h, world, settings
):
    settings.EMAIL_BACKEND = "tests.portal.failing_mail.Backend"
    out = io.StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("send-reminders", "--now", at(session_26h, 24.2), "--json", stdout=out)
    assert str(refused.value) == (
        "1 of 1 email(s) could not be sent: the mail server closed the connection (the mail "
        "server is down); they will be retried on the next run"
    )
    assert refused.value.returncode == 1
    failed = json.loads(out.getvalue())
    assert check_ins(failed) == [] and [(f["key"], f["reason"]) for f in failed["failed"]] == [
        (
            f"check-in:{session_26h.pk}:24",
            "the mail server closed the connection (the mail server is down)",
        )
    ]
    assert not Reminder.objects.exists()
    settings.EMAIL_BACKEND = "tests.mail.Backend"
    assert check_ins(run("--now", at(session_26h, 25))) == [f"check-in:{session_26h.pk}:24"]


def test_when_some_sends_fail_the_run_fails_in_one_line_and_keeps_what_was_sent(
    world, settings, monkeypatch
):
    cara = factories.patient(world.clinic_a, given_name="Cara", email="cara@example.org")
    factories.portal_account(cara)
    opened = PortalAccount.objects.get(patient=cara).created_at
    moment = lambda hours: (opened + dt.timedelta(hours=hours)).isoformat()  # noqa: E731
    settings.EMAIL_BACKEND = "tests.portal.failing_mail.RefusingBackend"
    monkeypatch.setattr(RefusingBackend, "refused", {"cara@example.org"})
    out = io.StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("send-reminders", "--now", moment(25), stdout=out)
    assert "\n" not in str(refused.value)
    assert str(refused.value).startswith(
        "1 of 2 email(s) could not be sent: the mail server refused the recipient ("
    )
    assert str(refused.value).endswith("; they will be retried on the next run")
    assert "not sent, will retry: health-questionnaire to cara@example.org" in out.getvalue()
    # Ann's went and is recorded; Cara's is not, and goes on the next run, alone.
    assert [m.to for m in mail.outbox] == [["ann@example.org"]]
    assert list(Reminder.objects.values_list("email", flat=True)) == ["ann@example.org"]
    monkeypatch.setattr(RefusingBackend, "refused", set())
    assert keys(run("--now", moment(26))) == [f"health-questionnaire:{cara.pk}"]
    assert [m.to for m in mail.outbox] == [["ann@example.org"], ["cara@example.org"]]
    assert keys(run("--now", moment(27))) == []


@pytest.mark.parametrize(
    ("server", "reason"),
    [
        ("silent", "the mail server did not answer"),
        ("absent", "the mail server refused the connection"),
    ],
)
def test_a_mail_server_that_does_not_answer_or_refuses_fails_the_run_with_the_reason(
    session_26h, world, settings, server, reason
):
    # A real SMTP conversation: a server that accepts the connection and never speaks, or a
    # port where nothing listens.
    with socket.create_server(("127.0.0.1", 0)) as listening:
        settings.EMAIL_HOST, settings.EMAIL_PORT = listening.getsockname()
        if server == "absent":
            listening.close()
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_TIMEOUT = 1
        with pytest.raises(CommandError, match=f"^1 of 1 email\\(s\\) could not be sent: {reason}"):
            call_command("send-reminders", "--now", at(session_26h, 24.2), stdout=io.StringIO())
    assert not Reminder.objects.exists()


def test_reminders_are_never_sent_inside_a_transaction(session_26h, world):
    """Each is recorded in a transaction of its own, committed before the mail server is
    asked, so a slow server holds no lock; a caller's open transaction is refused."""
    now = session_26h.performed_at + dt.timedelta(hours=24.2)
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        reminders.send_reminders(now)
    assert mail.outbox == [] and not Reminder.objects.exists()
    # Outside one, the suite's outbox (tests/mail.py) checks no transaction is open at send.
    assert [d.key for d in reminders.send_reminders(now).sent] == [f"check-in:{session_26h.pk}:24"]


def test_patients_without_an_active_portal_account_get_nothing(session_26h, world):
    account = PortalAccount.objects.get(patient=world.patient_a)
    account.user.is_active = False
    account.user.save()
    assert check_ins(run("--now", at(session_26h, 24.2))) == []


def test_the_health_questions_are_reminded_once_a_day_after_the_account_opens(world):
    opened = PortalAccount.objects.get(patient=world.patient_a).created_at
    moment = lambda hours: (opened + dt.timedelta(hours=hours)).isoformat()  # noqa: E731
    assert keys(run("--now", moment(23))) == []
    assert keys(run("--now", moment(25))) == [f"health-questionnaire:{world.patient_a.pk}"]
    assert keys(run("--now", moment(200))) == []
    # A patient who has answered is not asked again.
    cara = factories.patient(world.clinic_a, email="cara@example.org")
    user = factories.portal_account(cara).user
    services.questionnaire_submit(actor=user, factors=[])
    assert keys(run("--now", moment(300))) == []


def test_the_review_questions_are_reminded_before_the_plans_review(world, consented):
    services.questionnaire_submit(actor=world.patient_user, factors=[])  # no questionnaire noise
    review_on = timezone.localdate() + dt.timedelta(days=10)
    plan = outcome_services.plan_create(
        actor=world.practitioner, episode=world.episode_a, planned_sessions=4,
        frequency="weekly", review_on=review_on, therapies=[],
        goals=[{"description": "Less pain", "code": "nprs", "target": 2,
                "target_date": review_on + dt.timedelta(days=20)}],
    )  # fmt: skip
    day = lambda d: f"{review_on + dt.timedelta(days=d)}T12:00:00+00:00"  # noqa: E731
    assert keys(run("--now", day(-4))) == []
    assert keys(run("--now", day(-3))) == [f"review:{plan.pk}:{review_on}"]
    assert keys(run("--now", day(-1))) == []
    assert "/portal/review/" in mail.outbox[-1].body


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01T00:00"])
def test_a_bad_time_is_refused_in_one_line(world, value):
    with pytest.raises(CommandError, match="ISO date and time"):
        call_command("send-reminders", "--now", value, stdout=io.StringIO())


def _reviewed_patients(world, count: int, review_on: dt.date, batch: int) -> list:
    """Patients with a portal account and a plan under review; every other one has already
    given their review ratings."""
    plans = []
    for n in range(count):
        patient = factories.patient(world.clinic_a, given_name=f"Rev{n}",
                                     email=f"r{batch}.{n}@example.org")  # fmt: skip
        user = factories.portal_account(patient).user
        services.questionnaire_submit(actor=user, factors=[])
        episode = factories.episode(patient, world.practitioner_a)
        plans.append(outcome_services.plan_create(
            actor=world.practitioner, episode=episode, planned_sessions=4, frequency="weekly",
            review_on=review_on, therapies=[],
            goals=[{"description": "Less pain", "code": "nprs", "target": 2,
                    "target_date": review_on + dt.timedelta(days=20)}],
        ))  # fmt: skip
        if n % 2:
            with time_machine.travel(dt.datetime.combine(review_on, dt.time(12), dt.UTC)):
                services.review_submit(actor=user, activities={}, groc=2)
    return plans


def test_the_review_scan_asks_the_database_the_same_number_of_times_for_any_number_of_plans(
    world,
):
    review_on = timezone.localdate() + dt.timedelta(days=10)
    now = dt.datetime.combine(review_on, dt.time(18), dt.UTC)
    counts = []
    for batch in (2, 6):
        plans = _reviewed_patients(world, batch, review_on, batch)
        with CaptureQueriesContext(connection) as queries:
            due = reminders.due_reminders(now)
        counts.append(len(queries))
        # Those who have answered are not asked again; the others are.
        unanswered = {f"review:{p.pk}:{review_on}" for n, p in enumerate(plans) if not n % 2}
        answered = {f"review:{p.pk}:{review_on}" for n, p in enumerate(plans) if n % 2}
        reviews = {d.key for d in due if d.kind == "review"}
        assert unanswered <= reviews and not answered & reviews
    assert counts[0] == counts[1]
