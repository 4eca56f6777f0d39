"""Telling the patient a document waits in the portal: after the commit, once, and with no
clinical content or identifier in the email."""

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from needlechart.audit.models import AuditEvent
from needlechart.documents import services
from needlechart.documents.models import Document


def test_the_patient_is_told_after_the_commit_and_the_email_says_nothing_clinical(
    signed, django_capture_on_commit_callbacks
):
    actor = signed.world.practitioner
    with django_capture_on_commit_callbacks(execute=True) as waiting:
        document = services.document_issue(
            actor=actor, kind="progress-report", record=signed.episode, notify_patient=True,
            token="n" * 24,
        )  # fmt: skip
        # A second press of the same form issues nothing and tells no one again.
        services.document_issue(
            actor=actor, kind="progress-report", record=signed.episode, notify_patient=True,
            token="n" * 24,
        )  # fmt: skip
        assert mail.outbox == []  # nothing leaves before the commit
    assert len(waiting) == 1
    [message] = mail.outbox
    assert message.to == ["ann@example.org"]
    assert "/portal/documents/" in message.body and "Clinic A" in message.subject
    for private in ("Ann", "Smith", signed.patient.mrn, "Progress", "pain", "M54"):
        assert private not in message.body and private not in message.subject, private
    assert not message.attachments
    sent = AuditEvent.objects.filter(action="send", object_type="DocumentReference").get()
    assert sent.object_id == str(document.pk) and sent.detail["to"] == ["ann@example.org"]


def test_a_patient_without_a_portal_account_cannot_be_told_and_nothing_is_issued(signed):
    dana = signed.discharge
    with pytest.raises(ValidationError, match="no portal account"):
        services.document_issue(
            actor=signed.world.practitioner, kind="discharge-letter", record=dana,
            notify_patient=True,
        )  # fmt: skip
    assert not Document.objects.exists() and mail.outbox == []
