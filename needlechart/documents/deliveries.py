"""Emailing issued documents: each send is a DocumentDelivery written with the request that
asked for it, tried once that has committed, and retried by `needlechart send-documents`
with a growing wait until it goes or is given up.

What leaves (docs/access.md, "What leaves by email"): to the referrer, a clinician, the PDF
as an attachment under a subject and body that name neither the patient nor the document; to
the patient, only a notice that a document waits in the portal (documents/notices.py).
"""

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from needlechart import mail
from needlechart.audit import services as audit
from needlechart.documents.models import DocumentDelivery

logger = logging.getLogger(__name__)

# Tries before a delivery is given up, and the wait after the first failure, doubled after
# each (5, 10, 20, 40, 80 minutes: a mail server down for an afternoon is waited out).
MAX_ATTEMPTS = 6
FIRST_WAIT = dt.timedelta(minutes=5)
# How long a try under way holds the delivery: longer than the mail server's time-out, so
# that the command and the request never send the same delivery at once.
LEASE = dt.timedelta(minutes=10)


def wait_after(attempts: int) -> dt.timedelta:
    """The wait before the next try, after `attempts` tries that failed."""
    return FIRST_WAIT * 2 ** max(0, attempts - 1)


def _claim(delivery_id: int, now: dt.datetime) -> DocumentDelivery | None:
    """Take the delivery for one try if it is due and no one else is trying it (one UPDATE:
    the database decides between two senders); None otherwise."""
    claimed = DocumentDelivery.objects.filter(
        pk=delivery_id, status=DocumentDelivery.Status.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + LEASE, attempts=F("attempts") + 1)
    if not claimed:
        return None
    return DocumentDelivery.objects.select_related(
        "document__patient__clinic", "document__episode", "created_by"
    ).get(pk=delivery_id)


def _message(delivery: DocumentDelivery) -> dict:
    document = delivery.document
    clinic = document.patient.clinic
    if delivery.recipient == DocumentDelivery.Recipient.PATIENT:
        context = {"clinic": clinic, "link": f"{settings.SITE_URL}{reverse('portal:documents')}"}
        return {
            "subject": f"A new document from {clinic.name}",
            "body": render_to_string("documents/email/notice.txt", context),
        }
    context = {"clinic": clinic, "addressee": document.addressee, "sender": document.issued_by}
    return {
        "subject": f"A document from {clinic.name}",
        "body": render_to_string("documents/email/referrer.txt", context),
        "attachments": (
            mail.Attachment(document.filename, bytes(document.content), "application/pdf"),
        ),
    }


def attempt(delivery_id: int, *, now: dt.datetime | None = None) -> mail.Outcome | None:
    """Try the delivery once if it is due (None if it is not, or another sender has it).
    Run outside any transaction: the email leaves before its outcome is written."""
    now = now or timezone.now()
    delivery = _claim(delivery_id, now)
    if delivery is None:
        return None
    outcome = mail.send(to=[delivery.address], **_message(delivery))
    with transaction.atomic():
        if outcome:
            delivery.status = DocumentDelivery.Status.SENT
            delivery.sent_at = now
            delivery.last_error = ""
            document = delivery.document
            audit.record(
                actor=delivery.created_by, action=audit.Action.SEND, obj=document,
                patient=document.patient,
                detail={
                    "email": f"document to the {delivery.recipient}", "to": [delivery.address],
                    "attached": delivery.recipient == DocumentDelivery.Recipient.REFERRER,
                    "delivery": delivery.pk, "attempt": delivery.attempts,
                },
            )  # fmt: skip
        else:
            logger.error("Could not email delivery %s: %s", delivery.pk, outcome.reason)
            delivery.last_error = outcome.reason[:300]
            if delivery.attempts >= MAX_ATTEMPTS:
                delivery.status = DocumentDelivery.Status.FAILED
            else:
                delivery.next_attempt_at = now + wait_after(delivery.attempts)
        delivery.save(
            update_fields=["status", "sent_at", "last_error", "next_attempt_at", "attempts"]
        )
    return outcome


def after_commit(delivery_id: int) -> mail.Delivery:
    """Try the delivery once the transaction that wrote it commits; a failure is kept for the
    command to retry."""
    return mail.after_commit(lambda: attempt(delivery_id) or mail.Outcome("not due"))


@dataclass
class Result:
    sent: list[DocumentDelivery] = field(default_factory=list)
    failed: list[DocumentDelivery] = field(default_factory=list)

    def problem(self) -> str:
        if not self.failed:
            return ""
        given_up = sum(d.status == DocumentDelivery.Status.FAILED for d in self.failed)
        return (
            f"{len(self.failed)} document email(s) not sent"
            + (f", {given_up} given up after {MAX_ATTEMPTS} tries" if given_up else "")
            + f": {self.failed[0].last_error}"
        )


def due(now: dt.datetime) -> list[DocumentDelivery]:
    """The deliveries waiting whose next try is due."""
    return list(
        DocumentDelivery.objects.filter(
            status=DocumentDelivery.Status.PENDING, next_attempt_at__lte=now
        )
        .select_related("document")
        .order_by("next_attempt_at", "id")
    )


def send_due(now: dt.datetime) -> Result:
    """Try every delivery that is due, each once."""
    result = Result()
    for waiting in due(now):
        outcome = attempt(waiting.pk, now=now)
        if outcome is None:
            continue  # another sender had it
        delivery = DocumentDelivery.objects.select_related("document").get(pk=waiting.pk)
        (result.sent if outcome else result.failed).append(delivery)
    return result
