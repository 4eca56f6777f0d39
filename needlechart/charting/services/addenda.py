"""Addenda on signed records, and marking a record entered in error."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.charting.models import (
    Addendum,
    Assessment,
    NeedlingSession,
)
from needlechart.charting.services.common import (
    IN_ERROR,
    clean_text,
    entered_in_error,
)


@transaction.atomic
def addendum_add(
    *,
    actor: User,
    record: Any,
    reason: str,
    text: str = "",
    kind: str = Addendum.Kind.ADDENDUM,
) -> Addendum:
    """Add a correction to a signed record, or mark any record entered in error."""
    authorize(actor, roles=rules.SIGNING_ROLES, patient=record.episode.patient, what="add addenda")
    if hasattr(record, "addenda") and not hasattr(record, "is_signed"):
        # A discharge summary is signed when written; it takes addenda only.
        if kind != Addendum.Kind.ADDENDUM:
            raise ValidationError("A discharge summary takes addenda, not entered in error.")
    elif entered_in_error(record):
        raise ValidationError(IN_ERROR)
    elif kind == Addendum.Kind.ADDENDUM and not record.is_signed:
        raise ValidationError("A draft can still be edited; addenda are for signed records.")
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason for the addendum."})
    if kind == Addendum.Kind.ADDENDUM and not text.strip():
        raise ValidationError({"text": "Write the addendum."})
    # Within the reason's column, and no character a database refuses (the API takes any text).
    reason = clean_text(reason, "reason", max_length=300)
    text = clean_text(text, "text", max_length=20000, required=False)
    field = {Assessment: "assessment", NeedlingSession: "session"}.get(type(record), "discharge")
    addendum = Addendum.objects.create(
        **{field: record}, kind=kind, reason=reason, text=text, author=actor
    )
    audit.record(
        actor=actor,
        action=audit.Action.CREATE,
        obj=addendum,
        patient=record.episode.patient,
        detail={"kind": kind, "on": f"{type(record).FHIR_TYPE}/{record.pk}"},
    )
    return addendum
