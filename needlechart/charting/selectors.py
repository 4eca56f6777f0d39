"""Reads of the chart, scoped to the user's clinic and audited."""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Prefetch, Q, Sum
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts.access import in_clinic
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.charting import services
from needlechart.charting.models import (
    Addendum,
    AdverseEvent,
    Assessment,
    Consent,
    Insertion,
    NeedlingSession,
    Screening,
    TriggerPointFinding,
)
from needlechart.outcomes.models import Observation
from needlechart.patients.models import EpisodeOfCare, Patient


def is_in_error(record: Assessment | NeedlingSession) -> bool:
    """From prefetched addenda: whether the record was marked entered in error."""
    return any(a.kind == Addendum.Kind.ENTERED_IN_ERROR for a in record.addenda.all())


@dataclass(frozen=True)
class Safety:
    """What the episode banner shows: the screening verdict and the consent standing."""

    screening: Screening | None
    verdict: str
    reasons: tuple[Any, ...]
    consent: Consent | None
    consent_problem: str


@dataclass(frozen=True)
class BannerReason:
    text: str
    source: str
    verdict: str
    # A limb or region rule that forbids needling there, though elsewhere is a caution.
    contraindicated_there: bool


def safety(episode: EpisodeOfCare) -> Safety:
    screening = services.current_screening(episode)
    result = services.screen_plan(screening, []).patient
    reasons = tuple(
        BannerReason(
            text=r.text,
            source=r.source,
            verdict=r.verdict,
            contraindicated_there=r.verdict != "contraindicated"
            and knowledge.factor_rule(r.code).verdict == "contraindicated",
        )
        for r in result.reasons
    )
    consent, problem = services.consent_status(episode.patient)
    return Safety(screening, result.verdict if screening else "missing", reasons, consent, problem)


def episode_records(episode: EpisodeOfCare) -> dict[str, Any]:
    """The episode's assessments, sessions and adverse events, in a fixed number of queries."""
    addenda = Prefetch("addenda", queryset=Addendum.objects.select_related("author"))
    assessments = list(
        episode.assessments.select_related("practitioner__user")
        .prefetch_related(addenda)
        .annotate(marks=Count("pain_marks", distinct=True), finds=Count("findings", distinct=True))
        .order_by("-performed_at", "-id")
    )
    sessions = list(
        episode.sessions.select_related("practitioner__user")
        .prefetch_related(addenda)
        .annotate(
            muscles=Count("insertions", distinct=True),
            needles=Sum("insertions__needles"),
            events=Count("adverse_events", distinct=True),
        )
        .order_by("-performed_at", "-id")
    )
    events = list(
        AdverseEvent.objects.filter(session__episode=episode)
        .select_related("session")
        .order_by("-recorded_at", "-id")
    )
    return {"assessments": assessments, "sessions": sessions, "adverse_events": events}


def _audited(user: User, record: Any, patient: Patient) -> Any:
    audit.record(actor=user, action=audit.Action.VIEW, obj=record, patient=patient)
    return record


def assessment_get(*, user: User, assessment_id: int) -> Assessment:
    assessment = get_object_or_404(
        Assessment.objects.select_related(
            "episode__patient__clinic", "episode__care_manager__user", "practitioner__user",
            "signed_by",
        ).prefetch_related(
            "pain_marks", "findings", "observations",
            Prefetch("addenda", queryset=Addendum.objects.select_related("author")),
        ),
        pk=assessment_id,
        episode__patient__clinic_id=user.clinic_id,
    )  # fmt: skip
    return _audited(user, assessment, assessment.episode.patient)


def session_get(*, user: User, session_id: int) -> NeedlingSession:
    session = get_object_or_404(
        NeedlingSession.objects.select_related(
            "episode__patient__clinic", "episode__care_manager__user", "practitioner__user",
            "signed_by", "consent__template",
        ).prefetch_related(
            Prefetch("insertions", queryset=Insertion.objects.select_related("needle_size")),
            "observations", "adverse_events", "aftercare_issues",
            Prefetch("addenda", queryset=Addendum.objects.select_related("author")),
        ),
        pk=session_id,
        episode__patient__clinic_id=user.clinic_id,
    )  # fmt: skip
    return _audited(user, session, session.episode.patient)


def adverse_event_get(*, user: User, event_id: int) -> AdverseEvent:
    event = get_object_or_404(
        AdverseEvent.objects.select_related("session__episode__patient"),
        pk=event_id,
        session__episode__patient__clinic_id=user.clinic_id,
    )
    return _audited(user, event, event.session.episode.patient)


def consent_get(*, user: User, consent_id: int) -> Consent:
    consent = get_object_or_404(
        Consent.objects.select_related("patient", "template"),
        pk=consent_id,
        patient__clinic_id=user.clinic_id,
    )
    return _audited(user, consent, consent.patient)


def insertion_get(*, user: User, insertion_id: int) -> Insertion:
    return get_object_or_404(
        Insertion.objects.select_related("session__episode__patient"),
        pk=insertion_id,
        session__episode__patient__clinic_id=user.clinic_id,
    )


def finding_get(*, user: User, finding_id: int) -> TriggerPointFinding:
    return get_object_or_404(
        TriggerPointFinding.objects.select_related("assessment__episode__patient"),
        pk=finding_id,
        assessment__episode__patient__clinic_id=user.clinic_id,
    )


def observation_get(*, user: User, observation_id: int) -> Observation:
    return get_object_or_404(
        Observation.objects.select_related("episode__patient", "assessment", "session"),
        pk=observation_id,
        episode__patient__clinic_id=user.clinic_id,
    )


# Scopes for the view guards: is this id in the user's clinic?
def assessment_in_clinic(user: User, assessment_id: int, **_: Any) -> bool:
    return in_clinic(user, Assessment.objects, "episode__patient__clinic_id", assessment_id)


def session_in_clinic(user: User, session_id: int, **_: Any) -> bool:
    return in_clinic(user, NeedlingSession.objects, "episode__patient__clinic_id", session_id)


def adverse_event_in_clinic(user: User, event_id: int, **_: Any) -> bool:
    return in_clinic(user, AdverseEvent.objects, "session__episode__patient__clinic_id", event_id)


def consent_in_clinic(user: User, consent_id: int, **_: Any) -> bool:
    return in_clinic(user, Consent.objects, "patient__clinic_id", consent_id)


def insertion_in_clinic(user: User, insertion_id: int, **_: Any) -> bool:
    return in_clinic(user, Insertion.objects, "session__episode__patient__clinic_id", insertion_id)


def finding_in_clinic(user: User, finding_id: int, **_: Any) -> bool:
    return in_clinic(
        user, TriggerPointFinding.objects, "assessment__episode__patient__clinic_id", finding_id
    )


def observation_in_clinic(user: User, observation_id: int, **_: Any) -> bool:
    return in_clinic(user, Observation.objects, "episode__patient__clinic_id", observation_id)


# --- timeline ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    when: dt.datetime
    kind: str
    title: str
    detail: str
    url: str | None
    in_error: bool = False


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _episodes(patient: Patient) -> list[Entry]:
    return [
        Entry(
            _start_of(e.period_start),
            "episode",
            f"Episode opened: {e}",
            e.get_status_display(),
            reverse("patients:episode", args=[e.pk]),
        )
        for e in patient.episodes.all()
    ]


def _screenings(patient: Patient) -> list[Entry]:
    entries = []
    for s in Screening.objects.filter(episode__patient=patient):
        labels = [knowledge.factor_rule(f["code"]).label for f in s.factors]
        url = reverse("charting:screening", args=[s.episode_id])
        entries.append(
            Entry(
                s.recorded_at,
                "screening",
                "Health screening",
                ", ".join(labels) or "no factors",
                url,
            )
        )
    return entries


def _consents(patient: Patient) -> list[Entry]:
    url = reverse("charting:consent", args=[patient.pk])
    entries = []
    for c in patient.consents.select_related("template", "withdrawal"):
        entries.append(
            Entry(
                c.signed_at,
                "consent",
                f"Consent signed: {c.template}",
                f"Signed as {c.signed_name}",
                url,
            )
        )
        if hasattr(c, "withdrawal"):
            w = c.withdrawal
            entries.append(Entry(w.withdrawn_at, "consent", "Consent withdrawn", w.reason, url))
    return entries


def _assessments(patient: Patient) -> list[Entry]:
    rows = Assessment.objects.filter(episode__patient=patient).prefetch_related("addenda")
    return [
        Entry(
            a.performed_at,
            "assessment",
            a.get_kind_display(),
            "signed" if a.is_signed else "draft",
            reverse("charting:assessment", args=[a.pk]),
            is_in_error(a),
        )
        for a in rows
    ]


def _sessions(patient: Patient) -> list[Entry]:
    rows = (
        NeedlingSession.objects.filter(episode__patient=patient)
        .prefetch_related("addenda")
        .annotate(rows=Count("insertions"))
    )
    return [
        Entry(
            s.performed_at,
            "session",
            f"Needling session: {s.rows} muscle{'s' if s.rows != 1 else ''}",
            f"signed, CPT {s.cpt_code}" if s.is_signed else "draft",
            reverse("charting:session", args=[s.pk]),
            is_in_error(s),
        )
        for s in rows
    ]


def _adverse_events(patient: Patient) -> list[Entry]:
    return [
        Entry(
            ev.recorded_at,
            "adverse-event",
            f"Adverse event: {ev.get_event_type_display()}",
            f"{ev.severity}, {ev.get_onset_display().lower()}",
            reverse("charting:adverse_event_edit", args=[ev.pk]),
            ev.entered_in_error,
        )
        for ev in AdverseEvent.objects.filter(session__episode__patient=patient)
    ]


def _addenda(patient: Patient) -> list[Entry]:
    rows = Addendum.objects.filter(
        Q(session__episode__patient=patient) | Q(assessment__episode__patient=patient)
    )
    entries = []
    for ad in rows:
        if ad.session_id:
            url = reverse("charting:session", args=[ad.session_id])
        else:
            url = reverse("charting:assessment", args=[ad.assessment_id])
        entries.append(Entry(ad.written_at, "addendum", ad.get_kind_display(), ad.reason, url))
    return entries


TIMELINE_KINDS = {
    "episode": _episodes,
    "screening": _screenings,
    "consent": _consents,
    "assessment": _assessments,
    "session": _sessions,
    "adverse-event": _adverse_events,
    "addendum": _addenda,
}


def timeline(
    *,
    user: User,
    patient: Patient,
    kind: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> list[Entry]:
    """Everything recorded for a patient, newest first; a fixed number of queries per kind."""
    entries = []
    for name, collect in TIMELINE_KINDS.items():
        if not kind or kind == name:
            entries.extend(collect(patient))
    if date_from:
        entries = [e for e in entries if timezone.localdate(e.when) >= date_from]
    if date_to:
        entries = [e for e in entries if timezone.localdate(e.when) <= date_to]
    entries.sort(key=lambda e: e.when, reverse=True)
    audit.record(actor=user, action=audit.Action.VIEW, object_type="Timeline", patient=patient)
    return entries
