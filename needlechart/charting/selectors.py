"""Reads of the chart, scoped to the user's clinic and audited."""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, OuterRef, Prefetch, Q, Subquery, Sum
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts import rules
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


@dataclass(frozen=True)
class Signal:
    """A safety signal a clinician must see where needling is decided."""

    level: str  # "danger": do not needle until dealt with; "warning": check first
    text: str
    url: str = ""
    link_text: str = ""


def _cannot_needle(status: rules.Qualification) -> str:
    if status.status == rules.QualificationStatus.LAPSED:
        return "the dry-needling credential has lapsed"
    if status.status == rules.QualificationStatus.NONE:
        return "no dry-needling credential is recorded"
    return "the account may not needle"


def safety_signals(
    *, user: User, patient: Patient, episodes: list[EpisodeOfCare] | None = None
) -> list[Signal]:
    """The consent and who may needle, for the patient header, the episode banner and the
    start of a session (the portal adds what patients reported: portal.selectors). A fixed
    number of queries, whatever the history. Clinical content: staff without clinical
    access get none."""
    if not rules.has_role(user, rules.CLINICAL_READ_ROLES):
        return []
    signals = []
    consent, problem = services.consent_status(patient)
    if consent is None:
        signals.append(
            Signal("danger", f"No current consent: {problem}",
                   reverse("charting:consent", args=[patient.pk]), "Consent")
        )  # fmt: skip
    today = timezone.localdate()
    own = getattr(user, "practitioner", None)
    if own is not None and rules.has_role(user, rules.NEEDLING_ROLES):
        standing = _own_standing(user)
        if not standing.is_current:
            signals.append(
                Signal("danger", f"You cannot needle today: {_cannot_needle(standing)}.")
            )
    if episodes is None:
        episodes = list(
            patient.episodes.exclude(status=EpisodeOfCare.Status.FINISHED)
            .select_related("care_manager__user")
            .prefetch_related("care_manager__credentials")
        )
    for episode in episodes:
        manager = episode.care_manager
        if manager is None or episode.status == EpisodeOfCare.Status.FINISHED:
            continue
        if own is not None and manager.pk == own.pk:
            continue  # said above, in the reader's own words
        standing = rules.needling_status(manager, today)
        if not standing.is_current:
            signals.append(
                Signal(
                    "warning",
                    f"{episode.condition_code} is held by {manager}, who cannot needle: "
                    f"{_cannot_needle(standing)}. Hand the episode over before needling.",
                    reverse("patients:episode_edit", args=[episode.pk]),
                    "Change the practitioner in charge",
                )
            )
    return signals


def episode_records(episode: EpisodeOfCare) -> dict[str, Any]:
    """The episode's assessments, sessions and adverse events, in a fixed number of queries."""
    addenda = Prefetch("addenda", queryset=Addendum.objects.select_related("author"))
    assessments = list(
        episode.assessments.select_related("practitioner__user")
        .prefetch_related(addenda)
        .annotate(marks=Count("pain_marks", distinct=True), finds=Count("findings", distinct=True))
        .order_by("-performed_at", "-id")
    )
    # Subqueries, not joins: a join of rows and events would multiply the needle sum.
    rows = Insertion.objects.filter(session=OuterRef("pk")).values("session")
    events_of = AdverseEvent.objects.filter(session=OuterRef("pk")).values("session")
    sessions = list(
        episode.sessions.select_related("practitioner__user")
        .prefetch_related(addenda)
        .annotate(
            # Muscles as the CPT rule counts them: each muscle once, whatever the sides.
            muscles=Subquery(rows.annotate(n=Count("muscle", distinct=True)).values("n")),
            sides=Subquery(rows.annotate(n=Count("pk")).values("n")),
            needles=Subquery(rows.annotate(n=Sum("needles")).values("n")),
            events=Subquery(events_of.annotate(n=Count("pk")).values("n")),
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


def assessment_reload(assessment: Assessment) -> Assessment:
    """The assessment read again after a change in a request that already audited the read."""
    return Assessment.objects.prefetch_related(
        "pain_marks", "findings", "observations",
        Prefetch("addenda", queryset=Addendum.objects.select_related("author")),
    ).select_related("episode__patient").get(pk=assessment.pk)  # fmt: skip


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


def session_reload(session: NeedlingSession) -> NeedlingSession:
    """The session read again after a change in the same request, which already audited
    the read: the page parts it renders show what is stored now."""
    return (
        NeedlingSession.objects.select_related(
            "episode__patient__clinic", "episode__care_manager__user", "practitioner__user",
            "signed_by", "consent__template",
        ).prefetch_related(
            Prefetch("insertions", queryset=Insertion.objects.select_related("needle_size")),
            "observations", "adverse_events", "aftercare_issues",
            Prefetch("addenda", queryset=Addendum.objects.select_related("author")),
        )
    ).get(pk=session.pk)  # fmt: skip


@dataclass(frozen=True)
class Readiness:
    """Whether the signed-in practitioner can start a session in the episode now, and why not."""

    safety: Safety
    blockers: list[str]
    last_session: NeedlingSession | None

    @property
    def can_start(self) -> bool:
        return not self.blockers


def start_readiness(*, user: User, episode: EpisodeOfCare, safety_now: Safety | None = None):
    """What stops a session from starting (the service refuses the same), told before the
    practitioner presses Start; and the last signed session, to start from."""
    current = safety_now or safety(episode)
    return _readiness(user, episode, current, _last_signed([episode]).get(episode.pk))


def start_readiness_many(
    *, user: User, patient: Patient, episodes: list[EpisodeOfCare]
) -> list[tuple[EpisodeOfCare, Readiness]]:
    """`start_readiness` for each of a patient's episodes, in a fixed number of queries."""
    if not episodes:
        return []
    latest: dict[int, Screening] = {}
    for screening in Screening.objects.filter(episode__in=episodes).order_by(
        "episode_id", "-recorded_at", "-id"
    ):
        latest.setdefault(screening.episode_id, screening)
    consent, problem = services.consent_status(patient)
    lasts = _last_signed(episodes)
    result = []
    for episode in episodes:
        screening = latest.get(episode.pk)
        verdict = services.screen_plan(screening, []).patient.verdict if screening else "missing"
        current = Safety(screening, verdict, (), consent, problem)
        result.append((episode, _readiness(user, episode, current, lasts.get(episode.pk))))
    return result


def _last_signed(episodes: list[EpisodeOfCare]) -> dict[int, NeedlingSession]:
    """Each episode's last signed session (not entered in error), with its row count."""
    last: dict[int, NeedlingSession] = {}
    sessions = (
        NeedlingSession.objects.filter(episode__in=episodes, signed_at__isnull=False)
        .exclude(addenda__kind=Addendum.Kind.ENTERED_IN_ERROR)
        .annotate(rows=Count("insertions"))
        .order_by("episode_id", "-performed_at", "-id")
        .only("pk", "episode_id", "performed_at")
    )
    for session in sessions:
        last.setdefault(session.episode_id, session)
    return last


def _readiness(
    user: User, episode: EpisodeOfCare, current: Safety, last: NeedlingSession | None
) -> Readiness:
    blockers = []
    if episode.status == EpisodeOfCare.Status.FINISHED:
        blockers.append("The episode is discharged.")
    if current.screening is None:
        blockers.append("Record the health screening first.")
    if current.consent is None:
        blockers.append(f"No current consent: {current.consent_problem}")
    standing = _own_standing(user)
    if standing is None:
        blockers.append("Only staff with a practitioner profile can needle.")
    elif not standing.is_current:
        blockers.append(f"You cannot needle today: {_cannot_needle(standing)}.")
    return Readiness(current, blockers, last)


def _own_standing(user: User) -> rules.Qualification | None:
    """The signed-in practitioner's standing for needling today, read once per request."""
    practitioner = getattr(user, "practitioner", None)
    if practitioner is None:
        return None
    if not hasattr(user, "_needling_today"):
        user._needling_today = rules.needling_status(practitioner, timezone.localdate())
    return user._needling_today


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
        .annotate(muscles=Count("insertions__muscle", distinct=True))
    )
    return [
        Entry(
            s.performed_at,
            "session",
            f"Needling session: {s.muscles} muscle{'s' if s.muscles != 1 else ''}",
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
