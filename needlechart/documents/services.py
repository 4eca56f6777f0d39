"""Issuing a document: the one way a Document is written, audited in the same transaction."""

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from needlechart import mail
from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.audit.services import object_type_of
from needlechart.audit.submissions import once
from needlechart.documents import deliveries, notices, render
from needlechart.documents.models import Document, DocumentDelivery, Letter

Recipient = DocumentDelivery.Recipient


def document_issue(
    *,
    actor: User,
    kind: str,
    record: models.Model,
    addressee: str = "",
    notify_patient: bool = False,
    send_to_referrer: bool = False,
    letter: Letter | None = None,
    as_of: dt.datetime | None = None,
    token: str = "",
) -> Document:
    """Render `record` as a document of `kind` and keep it as issued. The form's `token`
    makes a double click issue one document (the second press gets the first). With
    `notify_patient`, the patient's portal address is told, once the document has committed,
    that it waits in the portal (refused when they have no portal account); with
    `send_to_referrer`, the episode's referrer is emailed the PDF. Either is a delivery
    written with the document and retried until it goes (documents/deliveries.py). `as_of`
    dates what the document reports, where that is not the time it is issued (a letter
    issued again keeps its first date).

    The PDF is made before the transaction that keeps it: laying out a long record takes
    seconds, and a write transaction held that long would make every other writer wait (on
    SQLite, every page, as each writes its audit row)."""
    patient = render.patient_of(kind, record)
    authorize(actor, roles=rules.CLINICAL_WRITE_ROLES, patient=patient, what="issue documents")
    recipients = issue_check(
        kind, record, notify_patient=notify_patient, send_to_referrer=send_to_referrer
    )

    issued_at = timezone.now().replace(microsecond=0)
    made = render.render(kind, record, as_of=as_of or issued_at, letter=letter)

    def create() -> Document:
        document = Document.objects.create(
            patient=patient,
            episode=made.episode,
            kind=kind,
            source_type=object_type_of(record),
            source_id=record.pk,
            title=made.title,
            render_version=render.RENDER_VERSION,
            text_version=made.text_version,
            content=made.pdf,
            sha256=made.sha256,
            size=len(made.pdf),
            addressee=addressee.strip()[:200],
            from_letter=letter,
            issued_by=actor,
            issued_at=issued_at,
        )
        audit.record(
            actor=actor,
            action=audit.Action.CREATE,
            obj=document,
            patient=patient,
            detail={
                "kind": kind,
                "source": f"{document.source_type}/{document.source_id}",
                "sha256": document.sha256,
                **({"addressee": document.addressee} if document.addressee else {}),
                **({"letter": letter.pk} if letter is not None else {}),
            },
        )
        for recipient in recipients:
            _deliver(actor=actor, document=document, recipient=recipient)
        return document

    with transaction.atomic():
        return once(actor=actor, token=token, model=Document, create=create)


def issue_check(
    kind: str, record: models.Model, *, notify_patient: bool, send_to_referrer: bool
) -> list[str]:
    """Refuse, with the reason, a document that cannot be issued or sent as asked; else who
    it goes to."""
    render.check(kind, record)
    recipients = [
        *([Recipient.PATIENT] if notify_patient else []),
        *([Recipient.REFERRER] if send_to_referrer else []),
    ]
    patient, episode = render.patient_of(kind, record), render.episode_of(kind, record)
    for recipient in recipients:
        _address(recipient, patient=patient, episode=episode)
    return recipients


def _address(recipient: str, *, patient, episode) -> str:
    """Where a document of this patient and episode goes for `recipient`, or the refusal."""
    if recipient == Recipient.PATIENT:
        address = notices.portal_address(patient)
        if not address:
            raise ValidationError(
                "The patient has no portal account to find the document in: invite them "
                "first, or issue it without telling them."
            )
        return address
    if recipient != Recipient.REFERRER:
        raise ValidationError("Choose who the document goes to: the referrer or the patient.")
    if episode is None or not episode.referral_email:
        raise ValidationError(
            "The episode has no referrer's email address: add it on the episode first."
        )
    if not mail.encrypted():
        # The PDF is clinical content: it does not cross the network in the clear.
        raise ValidationError(
            "Mail is set to leave without encryption (EMAIL_USE_TLS is off), so a PDF "
            "cannot be emailed; download it and send it another way."
        )
    return episode.referral_email


def _deliver(*, actor: User, document: Document, recipient: str) -> DocumentDelivery:
    """Write the delivery (or put a given-up one back in the queue) and try it after the
    commit. A document already sent, or waiting to be, to the same address is refused:
    a second tab does not send it twice."""
    address = _address(recipient, patient=document.patient, episode=document.episode)
    delivery = DocumentDelivery.objects.filter(document=document, address=address).first()
    if delivery is not None and delivery.status != DocumentDelivery.Status.FAILED:
        when = "was sent" if delivery.status == DocumentDelivery.Status.SENT else "waits to go"
        raise ValidationError(f"This document {when} to {address} already.")
    if delivery is not None:
        delivery.status = DocumentDelivery.Status.PENDING
        delivery.attempts, delivery.next_attempt_at = 0, timezone.now()
        delivery.save(update_fields=["status", "attempts", "next_attempt_at"])
        action = audit.Action.UPDATE
    else:
        try:
            with transaction.atomic():
                delivery = DocumentDelivery.objects.create(
                    document=document, recipient=recipient, address=address, created_by=actor
                )
        except IntegrityError:
            # Another tab's send of the same document to the same address got there first.
            raise ValidationError(f"This document waits to go to {address} already.") from None
        action = audit.Action.CREATE
    audit.record(
        actor=actor, action=action, obj=delivery, patient=document.patient,
        detail={"recipient": recipient, "to": [address], "document": document.pk,
                "attached": recipient == Recipient.REFERRER},
    )  # fmt: skip
    deliveries.after_commit(delivery.pk)
    return delivery


@transaction.atomic
def document_send(
    *, actor: User, document: Document, recipient: str, token: str = ""
) -> DocumentDelivery:
    """Email an issued document to the episode's referrer (the PDF) or tell the patient it
    waits in the portal, after the commit and retried until it goes. The form's `token` makes
    a double click send once; a second tab is refused (one delivery per address)."""
    authorize(
        actor, roles=rules.CLINICAL_WRITE_ROLES, patient=document.patient, what="send documents"
    )
    # Locked: two sends of the same document queue one behind the other.
    Document.objects.select_for_update().filter(pk=document.pk).exists()
    return once(
        actor=actor, token=token, model=DocumentDelivery,
        create=lambda: _deliver(actor=actor, document=document, recipient=recipient),
    )  # fmt: skip
