"""Emailing an issued document: the referrer gets the PDF, the patient a notice; each send is
a delivery kept and retried with a growing wait until it goes or is given up, shown on the
patient page, audited with its recipient, and never sent twice."""

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from needlechart.audit.models import AuditEvent
from needlechart.documents import deliveries, services
from needlechart.documents.models import Document, DocumentDelivery
from tests.conftest import client_for
from tests.documents import pdf

# The commands' connection kept open for the test (autouse there, so here too).
from tests.documents.test_command import connection_kept, run  # noqa: F401

REFERRER = "byrne@example.org"
BROKEN = "tests.portal.failing_mail.Backend"
WORKING = "tests.mail.Backend"


@pytest.fixture
def report(signed) -> Document:
    signed.episode.referral_detail, signed.episode.referral_email = "Dr Byrne", REFERRER
    signed.episode.save()
    return services.document_issue(
        actor=signed.world.practitioner, kind="progress-report", record=signed.episode,
        addressee="Dr Byrne",
    )  # fmt: skip


def _send(client, document, recipient="referrer", token="s" * 24):
    return client.post(
        reverse("documents:send", args=[document.pk]),
        {"recipient": recipient, "form_token": token},
    )


def _run(*argv: str) -> tuple[str, str, int]:
    return run("send-documents", *argv)


def test_the_referrer_gets_the_pdf_once_however_often_the_button_is_pressed(
    signed, report, django_capture_on_commit_callbacks
):
    client = client_for(signed.world.practitioner)
    page = client.get(reverse("patients:detail", args=[signed.patient.pk])).content.decode()
    assert f"the referrer, {REFERRER} (PDF attached)" in page
    with django_capture_on_commit_callbacks(execute=True):
        first = _send(client, report)
        again = _send(client, report)  # the double click: the same form token
        other_tab = _send(client, report, token="o" * 24)
    assert first.status_code == again.status_code == other_tab.status_code == 302
    [message] = mail.outbox
    assert message.to == [REFERRER]
    [(filename, content, mimetype)] = message.attachments
    assert (filename, mimetype) == (report.filename, "application/pdf")
    assert content == bytes(report.content) and "Progress report" in pdf.text(content)
    # The subject and body name neither the patient nor the document: the PDF does.
    for private in ("Ann", "Smith", signed.patient.mrn, "Progress", "pain"):
        assert private not in message.subject and private not in message.body, private
    assert "Dr Byrne" in message.body
    delivery = DocumentDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.recipient) == ("sent", 1, "referrer")
    shown = client.get(other_tab.url).content.decode()
    # The second tab's press came while the first's email waited for the commit.
    assert f"This document waits to go to {REFERRER} already" in shown
    assert "Referrer byrne@example.org: Sent" in shown
    made = AuditEvent.objects.filter(
        action="create", object_type="Communication/DocumentDelivery"
    ).get()
    assert made.detail["to"] == [REFERRER] and made.detail["recipient"] == "referrer"
    sent = AuditEvent.objects.filter(action="send", object_type="DocumentReference").get()
    assert sent.object_id == str(report.pk)
    assert sent.detail["to"] == [REFERRER] and sent.detail["attached"] is True


def test_the_patient_gets_only_a_notice_and_no_pdf(
    signed, report, django_capture_on_commit_callbacks
):
    client = client_for(signed.world.practitioner)
    with django_capture_on_commit_callbacks(execute=True):
        _send(client, report, recipient="patient")
    [message] = mail.outbox
    assert message.to == ["ann@example.org"] and not message.attachments
    assert "/portal/documents/" in message.body
    for private in ("Ann", "Smith", signed.patient.mrn, "Progress", "pain"):
        assert private not in message.body and private not in message.subject, private
    sent = AuditEvent.objects.filter(action="send", object_type="DocumentReference").get()
    assert sent.detail["to"] == ["ann@example.org"] and sent.detail["attached"] is False


def test_a_failed_send_is_kept_shown_and_retried_with_a_growing_wait(
    signed, report, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = BROKEN
    actor = signed.world.practitioner
    with django_capture_on_commit_callbacks(execute=True):
        delivery = services.document_send(actor=actor, document=report, recipient="referrer")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "the mail server closed the connection" in delivery.last_error
    first_wait = delivery.next_attempt_at
    page = client_for(actor).get(reverse("patients:detail", args=[signed.patient.pk]))
    assert "Waiting to be sent" in page.content.decode()
    assert "after 1 try: the mail server closed the connection" in page.content.decode()
    # Not due yet: the command leaves it alone.
    out, err, code = _run("--now", (first_wait - dt.timedelta(minutes=1)).isoformat())
    assert (code, out.splitlines()[0][:24]) == (0, "0 document email(s) sent")
    # Due and the server still down: tried again, with a longer wait, and cron is told.
    out, err, code = _run("--now", first_wait.isoformat())
    assert code == 1 and "1 document email(s) not sent" in err
    delivery.refresh_from_db()
    assert delivery.attempts == 2
    assert (
        delivery.next_attempt_at - first_wait
        == deliveries.wait_after(2)
        == 2 * (deliveries.FIRST_WAIT)
    )
    # The server is back: the next run sends it, once.
    settings.EMAIL_BACKEND = WORKING
    out, err, code = _run("--now", delivery.next_attempt_at.isoformat())
    assert (code, err) == (0, "") and "1 document email(s) sent" in out
    assert [m.to for m in mail.outbox] == [[REFERRER]]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 3, "")
    out, err, code = _run("--now", (timezone.now() + dt.timedelta(days=1)).isoformat())
    assert len(mail.outbox) == 1


def test_a_delivery_is_given_up_after_the_last_try_and_can_be_sent_again(
    signed, report, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = BROKEN
    actor = signed.world.practitioner
    with django_capture_on_commit_callbacks(execute=True):
        delivery = services.document_send(actor=actor, document=report, recipient="referrer")
    later = timezone.now()
    for _ in range(deliveries.MAX_ATTEMPTS - 1):
        later += dt.timedelta(days=1)
        deliveries.send_due(later)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", deliveries.MAX_ATTEMPTS)
    assert deliveries.send_due(later + dt.timedelta(days=1)).failed == []
    page = client_for(actor).get(reverse("patients:detail", args=[signed.patient.pk]))
    assert "Not sent: gave up" in page.content.decode()
    # Sending it again puts the same delivery back in the queue.
    settings.EMAIL_BACKEND = WORKING
    with django_capture_on_commit_callbacks(execute=True):
        services.document_send(actor=actor, document=report, recipient="referrer")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 1)
    assert DocumentDelivery.objects.count() == 1 and len(mail.outbox) == 1


def test_a_delivery_waits_for_the_commit_and_a_rolled_back_one_sends_nothing(signed, report):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        services.document_send(
            actor=signed.world.practitioner, document=report, recipient="referrer"
        )
        raise RuntimeError
    assert not DocumentDelivery.objects.exists() and mail.outbox == []


def test_issuing_with_the_referrer_ticked_sends_the_new_document(
    signed, django_capture_on_commit_callbacks
):
    signed.episode.referral_email = REFERRER
    signed.episode.save()
    client = client_for(signed.world.practitioner)
    page = client.get(reverse("patients:episode", args=[signed.episode.pk])).content.decode()
    assert f"Email it to the referrer, {REFERRER} (PDF attached)" in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("documents:issue", args=[signed.patient.pk]),
            {"kind": "progress-report", "record": signed.episode.pk, "referrer": "on",
             "form_token": "i" * 24},
        )  # fmt: skip
    document = Document.objects.get()
    assert document.deliveries.get().status == "sent"
    assert [m.attachments[0][0] for m in mail.outbox] == [document.filename]


@pytest.mark.parametrize(
    ("change", "recipient", "says"),
    [
        ({}, "referrer", "no referrer's email address"),
        ({"portal": False}, "patient", "no portal account"),
        ({}, "fax", "Choose who the document goes to"),
        ({"smtp": True}, "referrer", "cannot be emailed"),
    ],
)
def test_a_send_that_cannot_go_is_refused_with_the_reason(signed, settings, change, recipient,
                                                           says):  # fmt: skip
    actor = signed.world.practitioner
    if change.get("smtp"):
        signed.episode.referral_email = REFERRER
        signed.episode.save()
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    patient, record = signed.patient, signed.episode
    if change.get("portal") is False:
        patient, record = signed.discharge.episode.patient, signed.discharge
    kind = "discharge-letter" if record == signed.discharge else "progress-report"
    document = services.document_issue(actor=actor, kind=kind, record=record)
    with pytest.raises(ValidationError, match=says):
        services.document_send(actor=actor, document=document, recipient=recipient)
    assert not DocumentDelivery.objects.exists() and mail.outbox == []
    assert patient == document.patient


def test_only_clinicians_of_the_clinic_send(signed, report):
    w = signed.world
    assert _send(client_for(w.assistant), report).status_code == 403
    assert _send(client_for(w.front_desk), report).status_code == 403
    assert _send(client_for(w.other_practitioner), report).status_code == 404
    page = client_for(w.assistant).get(reverse("patients:detail", args=[signed.patient.pk]))
    assert "Email to" not in page.content.decode()
    assert not DocumentDelivery.objects.exists()


def test_the_command_lists_what_is_due_on_a_dry_run_and_refuses_a_bad_time(
    signed, report, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = BROKEN
    with django_capture_on_commit_callbacks(execute=True):
        services.document_send(
            actor=signed.world.practitioner, document=report, recipient="referrer"
        )
    out, err, code = _run("--dry-run", "--now", "2999-01-01T00:00")
    assert code == 0 and "1 document email(s) due" in out and REFERRER in out
    assert DocumentDelivery.objects.get().attempts == 1
    out, err, code = _run("--now", "soon")
    assert code == 2 and err.count("\n") == 1 and "must be an ISO date" in err
