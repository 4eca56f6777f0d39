"""The one way to write the audit trail: `record(...)`, called by every service and selector.

The audit trail sits below the apps that write to it: it names users, clinics and patients
only in type hints, so any app may call it without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from django.db import models

from needlechart.audit import chain
from needlechart.audit.context import api_token, client_address
from needlechart.audit.models import AuditEvent

if TYPE_CHECKING:
    from needlechart.accounts.models import Clinic, User
    from needlechart.patients.models import Patient

Action = AuditEvent.Action


def object_type_of(obj: models.Model) -> str:
    """The audit name of a record: its FHIR resource where one fits. Where several tables
    share a resource (pain marks and findings are Observations too), `AUDIT_TYPE` names
    the table as well, so that a row's type and id always point at one record."""
    return getattr(obj, "AUDIT_TYPE", None) or getattr(obj, "FHIR_TYPE", type(obj).__name__)


def _event(
    *,
    actor: User | None,
    action: str,
    obj: models.Model | None,
    object_type: str,
    patient: Patient | None,
    clinic: Clinic | None,
    detail: dict[str, Any],
) -> AuditEvent:
    if patient is not None:
        patient_id = patient.pk
    elif obj is not None and object_type_of(obj) == "Patient":
        patient, patient_id = obj, obj.pk
    else:
        # Records that belong to a patient (episodes, sessions ...) carry patient_id.
        patient_id = getattr(obj, "patient_id", None)
    if clinic is None:
        clinic_id = getattr(patient, "clinic_id", None) or getattr(actor, "clinic_id", None)
        if clinic_id is None and getattr(actor, "is_patient", False):
            # A patient's sign-in has no clinic of its own: their rows go to their clinic's
            # trail (and its chain), where its admins read them.
            clinic_id = actor.portal_account.patient.clinic_id
    else:
        clinic_id = clinic.pk
    return AuditEvent(
        clinic_id=clinic_id,
        user=actor if actor is not None and actor.is_authenticated else None,
        username=actor.get_username() if actor is not None and actor.is_authenticated else "",
        patient_id=patient_id,
        action=action,
        object_type=object_type_of(obj) if obj is not None else object_type,
        object_id=str(obj.pk) if obj is not None else "",
        client_address=client_address.get(),
        detail=detail,
    )


def _with_token(detail: dict[str, Any] | None) -> dict[str, Any]:
    """The detail a row keeps: the caller's, with the API token's name when a token acts."""
    return {**(detail or {}), **({"api_token": token} if (token := api_token.get()) else {})}


def record(
    *,
    actor: User | None,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    patient: Patient | None = None,
    clinic: Clinic | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit row; call it inside the transaction of the write it describes.

    `actor` None means the system (a command run without a user). `object_type` names
    what was read when it is not one record (e.g. "AuditTrail"). The patient defaults to
    `obj` when `obj` is a patient, and the clinic to the patient's or the actor's.
    """
    event = _event(
        actor=actor,
        action=action,
        obj=obj,
        object_type=object_type,
        patient=patient,
        clinic=clinic,
        detail=_with_token(detail),
    )
    chain.append([event])
    return event


def record_each(
    *,
    actor: User | None,
    action: str,
    objects: Sequence[models.Model],
    detail: dict | None = None,
    patient_of: Callable[[models.Model], Patient] | None = None,
) -> None:
    """Write one row per object in a single query, e.g. every patient shown on a list page,
    or every record of an import. `patient_of` names the patient of records that do not
    carry one themselves (a session's rows, say)."""
    # One detail for every row: prepared once per list rather than once per row (db.bulk).
    shared = _with_token(detail)
    events = [
        _event(
            actor=actor,
            action=action,
            obj=obj,
            object_type="",
            patient=patient_of(obj) if patient_of is not None else None,
            clinic=None,
            detail=shared,
        )
        for obj in objects
    ]
    if events:
        chain.append(events)
