"""Telling a patient that a document waits in their portal.

The email says only that: no name, no kind of document, no PDF. Email crosses servers the
clinic does not control (docs/access.md, "Email carries no clinical content"), so the
document itself is read in the portal, after signing in.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from needlechart import mail
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.documents.models import Document

logger = logging.getLogger(__name__)


def portal_address(document: Document) -> str:
    """The email address of the patient's portal account, or "" when they have none."""
    user = User.objects.filter(portal_account__patient_id=document.patient_id).first()
    return user.email if user is not None else ""


def send_document_notice(document_id: int) -> mail.Outcome:
    """Email the notice now; run it after the document has committed. Audited once sent."""
    document = Document.objects.select_related("patient__clinic", "issued_by").get(pk=document_id)
    address = portal_address(document)
    if not address:
        return mail.Outcome("the patient has no portal account")
    clinic = document.patient.clinic
    context = {
        "clinic": clinic,
        "link": f"{settings.SITE_URL}{reverse('portal:documents')}",
    }
    outcome = mail.send(
        subject=f"A new document from {clinic.name}",
        body=render_to_string("documents/email/notice.txt", context),
        to=[address],
    )
    if not outcome:
        logger.error("Could not email the notice of document %s: %s", document.pk, outcome.reason)
        return outcome
    with transaction.atomic():
        audit.record(
            actor=document.issued_by, action=audit.Action.SEND, obj=document,
            patient=document.patient, detail={"email": "document notice", "to": [address]},
        )  # fmt: skip
    return outcome
