"""Reads of the audit trail, for clinic admins, scoped to their clinic: the trail names
patients and users, so it reads above the apps that own them."""

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from needlechart.accounts.models import User
from needlechart.audit.models import AuditEvent
from needlechart.audit.names import name_events
from needlechart.patients.models import Patient


@dataclass(frozen=True)
class AuditFilters:
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    user: User | None = None
    patient_mrn: str = ""
    action: str = ""
    patient: Patient | None = None


def _start_of(day: dt.date) -> dt.datetime:
    """Midnight at the start of `day` in the active (clinic) time zone."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def audit_events(*, user: User, filters: AuditFilters) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.filter(clinic_id=user.clinic_id).select_related("patient")
    if filters.date_from:
        events = events.filter(recorded_at__gte=_start_of(filters.date_from))
    if filters.date_to:
        events = events.filter(recorded_at__lt=_start_of(filters.date_to + dt.timedelta(days=1)))
    if filters.user:
        events = events.filter(user=filters.user)
    if filters.patient_mrn:
        events = events.filter(patient__mrn__iexact=filters.patient_mrn.strip())
    if filters.patient:
        events = events.filter(patient=filters.patient)
    if filters.action:
        events = events.filter(action=filters.action)
    return events.order_by("-recorded_at", "-id")


CSV_HEADER = [
    "recorded_at_utc",
    "username",
    "clinic_id",
    "patient_id",
    "patient_mrn",
    "action",
    "object_type",
    "object_id",
    "client_address",
    "detail",
    # The record in words, with the patient's name: "Needling session of 2026-11-30, Ann Smith".
    "record",
]
CSV_CHUNK = 2000


def _chunks(events: QuerySet[AuditEvent]) -> Iterator[list[AuditEvent]]:
    chunk: list[AuditEvent] = []
    for event in events.iterator(chunk_size=CSV_CHUNK):
        chunk.append(event)
        if len(chunk) == CSV_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _record_in_words(event: AuditEvent) -> str:
    if event.patient is not None and event.object_type != "Patient":
        return f"{event.record_label}, {event.patient.full_name}"
    return event.record_label


def audit_csv_rows(events: QuerySet[AuditEvent]) -> Iterator[list[str]]:
    """The header and one row per event, times in UTC, streamed in chunks; each chunk's
    records are named in words with one query per type of record."""
    yield CSV_HEADER
    for chunk in _chunks(events):
        yield from _csv_rows(name_events(chunk))


def _csv_rows(events: list[AuditEvent]) -> Iterator[list[str]]:
    for event in events:
        row = [
            event.recorded_at.astimezone(dt.UTC).isoformat(),
            event.username,
            str(event.clinic_id or ""),
            str(event.patient_id or ""),
            event.patient.mrn if event.patient else "",
            event.action,
            event.object_type,
            event.object_id,
            event.client_address or "",
            json.dumps(event.detail, sort_keys=True) if event.detail else "",
            _record_in_words(event),
        ]
        yield [_inert(cell) for cell in row]


def _inert(cell: str) -> str:
    # A spreadsheet would run a cell starting with these as a formula.
    return "'" + cell if cell[:1] in ("=", "+", "-", "@") else cell
