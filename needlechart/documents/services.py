"""Issuing a document: the one way a Document is written, audited in the same transaction."""

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from needlechart import mail
from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.audit.services import object_type_of
from needlechart.audit.submissions import once
from needlechart.documents import notices, render
from needlechart.documents.models import Document


@transaction.atomic
def document_issue(
    *,
    actor: User,
    kind: str,
    record: models.Model,
    addressee: str = "",
    notify_patient: bool = False,
    token: str = "",
) -> Document:
    """Render `record` as a document of `kind` and keep it as issued. The form's `token`
    makes a double click issue one document (the second press gets the first). With
    `notify_patient`, the patient's portal address is told, once the document has committed,
    that it waits in the portal (refused when they have no portal account)."""
    patient = render.patient_of(kind, record)
    authorize(actor, roles=rules.CLINICAL_WRITE_ROLES, patient=patient, what="issue documents")
    render.check(kind, record)
    if notify_patient and not User.objects.filter(portal_account__patient=patient).exists():
        raise ValidationError(
            "The patient has no portal account to find the document in: invite them first, "
            "or issue it without telling them."
        )

    def create() -> Document:
        issued_at = timezone.now().replace(microsecond=0)
        made = render.render(kind, record, as_of=issued_at)
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
            },
        )
        if notify_patient:
            document_id = document.pk
            mail.after_commit(lambda: notices.send_document_notice(document_id))
        return document

    return once(actor=actor, token=token, model=Document, create=create)
