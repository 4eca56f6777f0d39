"""The one way to write the audit trail: `record(...)`, called by every service and selector.

The audit trail sits below the apps that write to it: it names users, clinics and patients
only in type hints, so any app may call it without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils import timezone

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


# The columns of a new row in the order the model takes them positionally: a row made
# that way costs half of one made by keywords, which counts when an import writes 100,000.
_COLUMNS = [field.attname for field in AuditEvent._meta.concrete_fields]


class _Actor:
    """What every row written by one actor in one call says of them, worked out once."""

    def __init__(self, actor: User | None) -> None:
        self.actor = actor
        signed_in = actor is not None and actor.is_authenticated
        self.user_id = actor.pk if signed_in else None
        self.username = actor.get_username() if signed_in else ""
        self._clinic_id: int | None = None
        self._clinic_known = False

    def clinic_id(self) -> int | None:
        if not self._clinic_known:
            actor, self._clinic_known = self.actor, True
            self._clinic_id = getattr(actor, "clinic_id", None)
            if self._clinic_id is None and getattr(actor, "is_patient", False):
                # A patient's sign-in has no clinic of its own: their rows go to their
                # clinic's trail (and its chain), where its admins read them.
                self._clinic_id = actor.portal_account.patient.clinic_id
        return self._clinic_id


def _event(
    who: _Actor,
    *,
    action: str,
    obj: models.Model | None,
    object_type: str,
    patient: Patient | None,
    clinic: Clinic | None,
    detail: dict[str, Any],
    address: str | None,
) -> AuditEvent:
    if obj is not None:
        object_type = object_type_of(obj)
    if patient is not None:
        patient_id = patient.pk
    elif obj is not None and object_type == "Patient":
        patient, patient_id = obj, obj.pk
    else:
        # Records that belong to a patient (episodes, sessions ...) carry patient_id.
        patient_id = getattr(obj, "patient_id", None)
    if clinic is None:
        clinic_id = getattr(patient, "clinic_id", None) or who.clinic_id()
    else:
        clinic_id = clinic.pk
    values = {
        "id": None,
        "recorded_at": timezone.now(),
        "clinic_id": clinic_id,
        "user_id": who.user_id,
        "username": who.username,
        "patient_id": patient_id,
        "action": action,
        "object_type": object_type,
        "object_id": str(obj.pk) if obj is not None else "",
        "client_address": address,
        "detail": detail,
        "chain": 0,
        "sequence": None,
        "previous_hash": "",
        "hash": "",
    }
    return AuditEvent(*[values[name] for name in _COLUMNS])


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
        _Actor(actor),
        action=action,
        obj=obj,
        object_type=object_type,
        patient=patient,
        clinic=clinic,
        detail=_with_token(detail),
        address=client_address.get(),
    )
    chain.append([event])
    return event


def record_together(*, actor: User | None, rows: Sequence[dict[str, Any]]) -> None:
    """Several rows of one view, each described by `record`'s keywords (action, obj,
    object_type, patient, clinic, detail), written in one transaction: a page that reads a
    patient and their timeline pays for one commit."""
    who, address = _Actor(actor), client_address.get()
    # A detail shared by many rows (an export's) is prepared once, as `record_each` does.
    details: dict[int, dict[str, Any]] = {}

    def detail_of(row: dict[str, Any]) -> dict[str, Any]:
        given = row.get("detail")
        if id(given) not in details:
            details[id(given)] = _with_token(given)
        return details[id(given)]

    events = [
        _event(
            who,
            action=row["action"],
            obj=row.get("obj"),
            object_type=row.get("object_type", ""),
            patient=row.get("patient"),
            clinic=row.get("clinic"),
            detail=detail_of(row),
            address=address,
        )
        for row in rows
    ]
    if events:
        chain.append(events)


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
    who, address = _Actor(actor), client_address.get()
    events = [
        _event(
            who,
            action=action,
            obj=obj,
            object_type="",
            patient=patient_of(obj) if patient_of is not None else None,
            clinic=None,
            detail=shared,
            address=address,
        )
        for obj in objects
    ]
    if events:
        chain.append(events)
