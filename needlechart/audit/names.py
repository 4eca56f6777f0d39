"""The records of the audit trail named in words, as staff read them: "Needling session of
2026-11-30" rather than "Encounter #756". The trail itself keeps the machine names."""

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.apps import apps
from django.db import models
from django.utils import timezone

from needlechart import knowledge
from needlechart.audit.models import AuditEvent


def _day(moment: dt.datetime | dt.date) -> str:
    """A date in the clinic's time zone (the active one)."""
    if isinstance(moment, dt.datetime):
        moment = timezone.localtime(moment)
    return f"{moment:%Y-%m-%d}"


def _muscle(slug: str, side: str) -> str:
    try:
        name = knowledge.muscle(slug).name
    except knowledge.UnknownCode:
        name = slug
    return f"{name} ({side})" if side else name


def _region(region_id: str) -> str:
    try:
        return knowledge.region(region_id).display
    except knowledge.UnknownCode:
        return region_id


def _measure(code: str) -> str:
    try:
        return knowledge.instrument(code).name
    except knowledge.UnknownCode:
        return code


@dataclass(frozen=True)
class Kind:
    """What one kind of record is called, and how one of them is named."""

    words: str
    name: Callable[[Any], str] | None = None
    related: tuple[str, ...] = ()


# Every object type the trail records (the FHIR name, or AUDIT_TYPE where several tables
# share one), and the pages and exports it records that are not one record.
KINDS: dict[str, Kind] = {
    "Organization": Kind("Clinic details", lambda c: f"Clinic details of {c.name}"),
    "User": Kind("Staff account", lambda u: f"Staff account of {u.get_full_name() or u.username}"),
    "Practitioner": Kind(
        "Practitioner profile", lambda p: f"Practitioner profile of {p.user}", ("user",)
    ),
    "PractitionerQualification": Kind(
        "Dry-needling credential", lambda c: f"Dry-needling credential: {c.course}"
    ),
    "Patient": Kind("Patient details", lambda p: f"Patient details of {p.full_name}"),
    "EpisodeOfCare": Kind("Episode of care", lambda e: f"Episode of care for {e}"),
    "RiskAssessment": Kind(
        "Health screening", lambda s: f"Health screening of {_day(s.recorded_at)}"
    ),
    "DocumentTemplate": Kind(
        "Clinic document", lambda t: f"Clinic document: {t.title}, version {t.version}"
    ),
    "Consent": Kind("Consent", lambda c: f"Consent signed on {_day(c.signed_at)}"),
    "ConsentWithdrawal": Kind(
        "Consent withdrawal", lambda w: f"Consent withdrawn on {_day(w.withdrawn_at)}"
    ),
    "ClinicalImpression": Kind(
        "Assessment", lambda a: f"{a.get_kind_display()} of {_day(a.performed_at)}"
    ),
    "Observation/PainMark": Kind(
        "Pain marked on the body chart",
        lambda m: f"Pain marked on the body chart: {_region(m.region)}",
    ),
    "Observation/TriggerPointFinding": Kind(
        "Trigger-point finding", lambda f: f"Trigger-point finding: {_muscle(f.muscle, f.side)}"
    ),
    "NeedleSize": Kind("Needle size", lambda n: f"Needle size {n}"),
    "Encounter": Kind("Needling session", lambda s: f"Needling session of {_day(s.performed_at)}"),
    "Procedure": Kind("Needled muscle", lambda i: f"Needled muscle: {_muscle(i.muscle, i.side)}"),
    "AdverseEvent": Kind(
        "Adverse event",
        lambda e: f"Adverse event: {e.get_event_type_display()} ({e.severity})",
    ),
    "AdverseEvent/FollowUp": Kind(
        "Adverse event follow-up",
        lambda f: f"Adverse event followed up on {_day(f.recorded_at)}: {f.get_outcome_display()}",
    ),
    "Communication": Kind("Aftercare", lambda a: f"Aftercare given on {_day(a.issued_at)}"),
    "Addendum": Kind(
        "Addendum",
        lambda a: (
            f"Addendum of {_day(a.written_at)}"
            if a.kind == "addendum"
            else f"Marked entered in error on {_day(a.written_at)}"
        ),
    ),
    "Observation": Kind(
        "Measurement",
        lambda o: f"Measurement: {_measure(o.code)} {float(o.value):g}, {_day(o.recorded_at)}",
    ),
    "CarePlan": Kind("Treatment plan", lambda p: f"Treatment plan, version {p.version}"),
    "Goal": Kind("Treatment goal", lambda g: f"Treatment goal: {g.description}"),
    "PlanTherapy": Kind("Therapy beside needling", lambda t: f"Therapy beside needling: {t}"),
    "Composition": Kind(
        "Discharge summary", lambda d: f"Discharge summary of {_day(d.discharged_at)}"
    ),
    "PortalAccount": Kind(
        "Portal account", lambda a: f"Portal account of {a.patient.full_name}", ("patient",)
    ),
    "Invitation": Kind(
        "Portal invitation", lambda i: f"Portal invitation sent on {_day(i.created_at)}"
    ),
    "QuestionnaireResponse": Kind(
        "Health answers from the portal",
        lambda q: f"Health answers from the portal, sent on {_day(q.submitted_at)}",
    ),
    "QuestionnaireResponse/CheckIn": Kind(
        "Check-in after a session",
        lambda c: f"{c.hours}-hour check-in after the session of {_day(c.session.performed_at)}",
        ("session",),
    ),
    "ReportedEffect": Kind(
        "Effect reported by the patient",
        lambda e: (
            "Effect reported by the patient: "
            + knowledge.adverse_event_types().get(e.event_type, e.event_type)
        ),
    ),
    "Reminder": Kind("Portal reminder"),
    "ApiToken": Kind("API token", lambda t: f"API token {t.name}"),
    "ExportJob": Kind("FHIR bulk export"),
    "DocumentReference": Kind("Issued document", lambda d: f"Issued document: {d.title}"),
    "LetterTemplate": Kind(
        "Letter wording", lambda t: f"{t.get_kind_display()} letter wording, version {t.version}"
    ),
    "Composition/Letter": Kind(
        "Letter to the referrer",
        lambda t: f"{t.get_kind_display()} letter of {_day(t.created_at)}",
    ),
    "Addendum/Letter": Kind(
        "Addendum to a letter", lambda a: f"Addendum to a letter, {_day(a.written_at)}"
    ),
    "DocumentJob": Kind(
        "Document being prepared",
        lambda j: f"{j.get_kind_display()} prepared from {_day(j.created_at)}",
    ),
    "Communication/DocumentDelivery": Kind(
        "Document emailed",
        lambda d: f"{d.document.title} emailed to the {d.get_recipient_display().lower()}",
        ("document",),
    ),
    # Pages and exports rather than one record.
    "AuditTrail": Kind("Audit trail"),
    "Timeline": Kind("Chart timeline"),
    "Dashboard": Kind("Clinic dashboard"),
    # needlechart fhir-export: every record of the clinic at once.
    "Clinic": Kind("Whole clinic's records"),
    "PortalHome": Kind("Portal home page"),
    "PainDiary": Kind("Pain diary"),
    "HealthQuestions": Kind("Health questions in the portal"),
    "ReviewQuestions": Kind("Questions before a plan review"),
    "Progress": Kind("Progress chart in the portal"),
}


@cache
def _models() -> dict[str, type[models.Model]]:
    """needlechart's models by the object type the trail records them under."""
    found = {}
    for model in apps.get_models():
        if model.__module__.startswith("needlechart.") and getattr(model, "AUDITED", True):
            found[
                getattr(model, "AUDIT_TYPE", None) or getattr(model, "FHIR_TYPE", model.__name__)
            ] = model
    return found


def words_for(object_type: str) -> str:
    """What records of a type are called: "Needling session"; unknown types as they are."""
    kind = KINDS.get(object_type)
    return kind.words if kind else object_type


def _loaded(events: Sequence[AuditEvent]) -> dict[tuple[str, str], Any]:
    """The records the events name, one query per type of record among them."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for event in events:
        kind = KINDS.get(event.object_type)
        if kind and kind.name and event.object_id.isdigit():
            wanted[event.object_type].add(int(event.object_id))
    records = {}
    for object_type, ids in wanted.items():
        model = _models().get(object_type)
        if model is None:
            continue
        rows = model.objects.filter(pk__in=ids)
        # Only the named relations: select_related() with no names joins every foreign key.
        if related := KINDS[object_type].related:
            rows = rows.select_related(*related)
        records.update({(object_type, str(row.pk)): row for row in rows})
    return records


def _label(event: AuditEvent, records: dict[tuple[str, str], Any]) -> str:
    kind = KINDS.get(event.object_type)
    words = words_for(event.object_type)
    record = records.get((event.object_type, event.object_id))
    if record is not None and kind and kind.name:
        try:
            return kind.name(record)
        except knowledge.UnknownCode:
            pass
    # Not found (removed from a draft) or not one record: the kind in words and its number.
    return f"{words} {event.object_id}" if event.object_id else words


def name_events(events: Iterable[AuditEvent]) -> list[AuditEvent]:
    """The events, each given `record_label`: its record in words. One query per type of
    record among them, whatever their number."""
    events = list(events)
    records = _loaded(events)
    for event in events:
        event.record_label = _label(event, records)
    return events
