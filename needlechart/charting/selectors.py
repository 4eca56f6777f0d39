"""Reads of the chart, scoped to the user's clinic and audited."""

import bisect
import datetime as dt
import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import (
    Count,
    Exists,
    F,
    Func,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    Sum,
    Value,
    prefetch_related_objects,
)
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts import rules
from needlechart.accounts.access import in_clinic
from needlechart.accounts.models import Practitioner, User
from needlechart.audit import services as audit
from needlechart.charting import services
from needlechart.charting.models import (
    Addendum,
    AdverseEvent,
    AdverseEventFollowUp,
    Assessment,
    Consent,
    ConsentWithdrawal,
    Insertion,
    NeedlingSession,
    Screening,
    TriggerPointFinding,
)
from needlechart.db.prepared import attach_related, prepared
from needlechart.links import id_url
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
            and r.factor is not None
            and knowledge.factor_rule(r.factor).verdict == "contraindicated",
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


@prepared
def _unfinished_episodes(patient_id: int) -> QuerySet:
    return (
        EpisodeOfCare.objects.filter(patient_id=patient_id)
        .exclude(status=EpisodeOfCare.Status.FINISHED)
        .select_related("care_manager__user")
    )


def _cannot_needle(status: rules.Qualification) -> str:
    if status.status == rules.QualificationStatus.LAPSED:
        return "the dry-needling credential has lapsed"
    if status.status == rules.QualificationStatus.NONE:
        return "no dry-needling credential is recorded"
    return "the account may not needle"


def safety_signals(
    *,
    user: User,
    patient: Patient,
    episodes: list[EpisodeOfCare] | None = None,
    consent: tuple[Consent | None, str] | None = None,
) -> list[Signal]:
    """The consent and who may needle, for the patient header, the episode banner and the
    start of a session (the portal adds what patients reported: portal.selectors). A fixed
    number of queries, whatever the history. `consent`: the patient's `consent_status`,
    where the page has read it. Clinical content: staff without clinical access get none."""
    if not rules.has_role(user, rules.CLINICAL_READ_ROLES):
        return []
    signals = []
    consent, problem = consent if consent is not None else services.consent_status(patient)
    if consent is None:
        signals.append(
            Signal("danger", f"No current consent: {problem}",
                   id_url("charting:consent", patient.pk), "Consent")
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
        episodes = _unfinished_episodes(patient.pk)
    others = [
        episode
        for episode in episodes
        if episode.care_manager is not None
        and episode.status != EpisodeOfCare.Status.FINISHED
        # The reader's own standing is said above, in their own words.
        and (own is None or episode.care_manager.pk != own.pk)
    ]
    # The other practitioners' credentials in one query, read only when there are any.
    prefetch_related_objects([episode.care_manager for episode in others], "credentials")
    for episode in others:
        manager = episode.care_manager
        standing = rules.needling_status(manager, today)
        if not standing.is_current:
            signals.append(
                Signal(
                    "warning",
                    f"{episode.condition_code} is held by {manager}, who cannot needle: "
                    f"{_cannot_needle(standing)}. Hand the episode over before needling.",
                    id_url("patients:episode_edit", episode.pk),
                    "Change the practitioner in charge",
                )
            )
    return signals


# The episode page lists the latest of each kind of record; the timeline has them all.
EPISODE_LATEST = 20


def episode_records(episode: EpisodeOfCare) -> dict[str, Any]:
    """The episode's latest assessments, sessions and adverse events, with how many there
    are of each, in a fixed number of queries: the page stays the same size however long
    the episode runs."""
    assessments = _latest_assessments(episode.pk, latest=EPISODE_LATEST)
    sessions = _latest_sessions(episode.pk, latest=EPISODE_LATEST)
    for record in (*assessments, *sessions):
        record.episode = episode  # as the episode's own related lists would give them
    [counts] = _record_counts(episode.pk)
    return {
        "assessments": assessments,
        "sessions": sessions,
        "adverse_events": _latest_events(episode.pk, latest=EPISODE_LATEST),
        "counts": {
            "assessments": counts["n_assessments"],
            "sessions": counts["n_sessions"],
            "adverse_events": counts["n_events"],
        },
    }


def _in_error(record: str) -> Exists:
    """Whether the outer `record` ("session" or "assessment") was entered in error: the
    episode page's lists show a badge, and read no addendum for it."""
    return Exists(
        Addendum.objects.filter(**{record: OuterRef("pk")}, kind=Addendum.Kind.ENTERED_IN_ERROR)
    )


@prepared
def _latest_assessments(episode_id: int, *, latest: int) -> QuerySet:
    return (
        Assessment.objects.filter(episode_id=episode_id)
        .select_related("practitioner__user")
        .annotate(
            marks=Count("pain_marks", distinct=True),
            finds=Count("findings", distinct=True),
            in_error=_in_error("assessment"),
        )
        .order_by("-performed_at", "-id")[:latest]
    )


@prepared
def _latest_sessions(episode_id: int, *, latest: int) -> QuerySet:
    # Subqueries, not joins: a join of rows and events would multiply the needle sum.
    rows = Insertion.objects.filter(session=OuterRef("pk")).values("session")
    events_of = AdverseEvent.objects.filter(session=OuterRef("pk")).values("session")
    # The latest sessions are chosen first (an index walk), so that the counts below are
    # computed for the sessions shown rather than for every session of a long episode.
    of_episode = NeedlingSession.objects.filter(episode_id=episode_id)
    newest = of_episode.order_by("-performed_at", "-id").values("pk")[:latest]
    return (
        of_episode.filter(pk__in=newest)
        .select_related("practitioner__user")
        .annotate(
            in_error=_in_error("session"),
            # Muscles as the CPT rule counts them: each muscle once, whatever the sides.
            muscles=Subquery(rows.annotate(n=Count("muscle", distinct=True)).values("n")),
            sides=Subquery(rows.annotate(n=Count("pk")).values("n")),
            needles=Subquery(rows.annotate(n=Sum("needles")).values("n")),
            events=Subquery(events_of.annotate(n=Count("pk")).values("n")),
        )
        .order_by("-performed_at", "-id")[:latest]
    )


@prepared
def _latest_events(episode_id: int, *, latest: int) -> QuerySet:
    return (
        AdverseEvent.objects.filter(session__episode_id=episode_id)
        .select_related("session")
        .prefetch_related("follow_ups")
        .order_by("-recorded_at", "-id")[:latest]
    )


@prepared
def _record_counts(episode_id: int) -> QuerySet:
    return (
        EpisodeOfCare.objects.filter(pk=episode_id)
        .annotate(
            n_assessments=_counted(Assessment.objects.filter(episode=OuterRef("pk"))),
            n_sessions=_counted(NeedlingSession.objects.filter(episode=OuterRef("pk"))),
            n_events=_counted(AdverseEvent.objects.filter(session__episode=OuterRef("pk"))),
        )
        .values("n_assessments", "n_sessions", "n_events")
    )


def _counted(rows: QuerySet) -> Subquery:
    """How many `rows` the outer record has: COUNT in a subquery, so three counts cost one
    query and no join multiplies another."""
    return Subquery(rows.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n"))


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


def _sessions_in(clinic_id: int) -> QuerySet:
    return NeedlingSession.objects.select_related(
        "episode__patient__clinic", "episode__care_manager__user", "practitioner__user",
        "signed_by", "consent__template",
    ).prefetch_related(
        Prefetch("insertions", queryset=Insertion.objects.select_related("needle_size")),
        "observations", "adverse_events__follow_ups", "aftercare_issues",
        Prefetch("addenda", queryset=Addendum.objects.select_related("author")),
    ).filter(episode__patient__clinic_id=clinic_id)  # fmt: skip


@prepared
def _session_in(session_id: int, clinic_id: int) -> QuerySet:
    return _sessions_in(clinic_id).prefetch_related(None).filter(pk=session_id)


# A session's related rows as `_sessions_in` prefetches them (the rows' own related
# records joined), each read by a prepared query of its own: prefetch_related builds and
# compiles its six queries again at every view, a fifth of the session page's time.
_SESSION_ROWS = {
    "insertions": ("needle_size",),
    "observations": (),
    "adverse_events": (),
    "aftercare_issues": (),
    "addenda": ("author",),
}


@functools.cache
def _rows_of(name: str) -> prepared:
    # Built at the first view: `observations` is a relation of an app above charting,
    # known once every app is loaded.
    relation = NeedlingSession._meta.get_field(name)
    model, key, joined = relation.related_model, relation.field.attname, _SESSION_ROWS[name]
    # select_related() with no names would join every foreign key of the row, and theirs
    # in turn (the session, its episode, patient, clinic and practitioners again).
    return prepared(
        lambda session_id: (
            model._default_manager.select_related(*joined) if joined else model._default_manager
        ).filter(**{key: session_id})
    )


@prepared
def _follow_ups_of(session_id: int) -> QuerySet:
    return AdverseEventFollowUp.objects.filter(event__session_id=session_id)


def _with_rows(session: NeedlingSession) -> NeedlingSession:
    for name in _SESSION_ROWS:
        attach_related(session, name, _rows_of(name)(session.pk))
    events = session.adverse_events.all()
    follow_ups: dict[int, list] = {event.pk: [] for event in events}
    for follow_up in _follow_ups_of(session.pk) if events else []:
        follow_ups[follow_up.event_id].append(follow_up)
    for event in events:
        attach_related(event, "follow_ups", follow_ups[event.pk])
    return session


def session_get(*, user: User, session_id: int) -> NeedlingSession:
    if type(session_id) is not int:
        session = get_object_or_404(_sessions_in(user.clinic_id), pk=session_id)
    elif found := _session_in(session_id, user.clinic_id):
        session = _with_rows(found[0])
    else:
        raise Http404("No needling session matches the given query.")
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
            "observations", "adverse_events__follow_ups", "aftercare_issues",
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
    last = _last_signed_of_one(episode.pk)
    return _readiness(user, episode, current, last[0] if last else None)


def start_readiness_many(
    *, user: User, patient: Patient, episodes: list[EpisodeOfCare]
) -> list[tuple[EpisodeOfCare, Readiness]]:
    """`start_readiness` for each of a patient's episodes, in a fixed number of queries."""
    if not episodes:
        return []
    # Each episode's newest screening in a subquery: one row per episode read, however
    # often its screening changed.
    newest = Screening.objects.filter(episode=OuterRef("pk")).order_by("-recorded_at", "-id")
    wanted = EpisodeOfCare.objects.filter(pk__in=[e.pk for e in episodes]).values(
        last=Subquery(newest.values("pk")[:1])
    )
    latest = {s.episode_id: s for s in Screening.objects.filter(pk__in=wanted).order_by()}
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
    return {session.episode_id: session for session in _last_signed_of(episodes)}


@prepared
def _last_signed_of_one(episode_id: int) -> QuerySet:
    return _last_signed_of([episode_id])


def _last_signed_of(episodes: list[EpisodeOfCare] | list[int]) -> QuerySet:
    # Each episode's newest in a subquery: one row per episode read, however many sessions.
    newest = (
        NeedlingSession.objects.filter(episode=OuterRef("pk"), signed_at__isnull=False)
        .exclude(
            Exists(
                Addendum.objects.filter(session=OuterRef("pk"), kind=Addendum.Kind.ENTERED_IN_ERROR)
            )
        )
        .order_by("-performed_at", "-id")
        .values("pk")[:1]
    )
    ids = [e if isinstance(e, int) else e.pk for e in episodes]
    wanted = EpisodeOfCare.objects.filter(pk__in=ids).values(last=Subquery(newest))
    return (
        NeedlingSession.objects.filter(pk__in=wanted)
        .annotate(rows=Count("insertions"))
        .only("pk", "episode_id", "performed_at")
    )


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
        user._needling_today = rules.needling_status(
            practitioner, timezone.localdate(), _own_credentials(user)
        )
    return user._needling_today


def _own_credentials(user: User) -> list:
    """The signed-in practitioner's credentials, read once per request: the header, the
    session page and its signing checks each ask about them."""
    if not hasattr(user, "_own_credentials"):
        user._own_credentials = rules.credentials_of(user.practitioner)
    return user._own_credentials


def qualified_on(user: User, practitioner: Practitioner, day: dt.date) -> bool:
    """Whether the practitioner may needle on the day, for a page that shows it: the
    reader's own credentials as this request read them. The services that act on it
    (signing, adding a row) read the credentials again as they act."""
    own = getattr(user, "practitioner", None)
    if own is not None and practitioner.pk == own.pk:
        return rules.needling_status(own, day, _own_credentials(user)).is_current
    return rules.is_qualified_to_needle(practitioner, on=day)


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

# Entries per page of the timeline: a long-treated patient's history is read a page at a time.
TIMELINE_PAGE = 50


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


def _episode_entry(e: EpisodeOfCare) -> Entry:
    return Entry(
        _start_of(e.period_start), "episode", f"Episode opened: {e}", e.get_status_display(),
        id_url("patients:episode", e.pk),
    )  # fmt: skip


def _screening_entry(s: Screening) -> Entry:
    labels = [knowledge.factor_rule(f["code"]).label for f in s.factors]
    return Entry(
        s.recorded_at, "screening", "Health screening", ", ".join(labels) or "no factors",
        id_url("charting:screening", s.episode_id),
    )  # fmt: skip


def _consent_entry(c: Consent) -> Entry:
    return Entry(
        c.signed_at, "consent", f"Consent signed: {c.template}", f"Signed as {c.signed_name}",
        id_url("charting:consent", c.patient_id),
    )  # fmt: skip


def _withdrawal_entry(w: ConsentWithdrawal) -> Entry:
    return Entry(
        w.withdrawn_at, "consent", "Consent withdrawn", w.reason,
        id_url("charting:consent", w.consent.patient_id),
    )  # fmt: skip


def _assessment_entry(a: Assessment) -> Entry:
    return Entry(
        a.performed_at, "assessment", a.get_kind_display(), "signed" if a.is_signed else "draft",
        id_url("charting:assessment", a.pk), a.in_error,
    )  # fmt: skip


def _session_entry(s: NeedlingSession) -> Entry:
    return Entry(
        s.performed_at, "session",
        f"Needling session: {s.muscles} muscle{'s' if s.muscles != 1 else ''}",
        f"signed, CPT {s.cpt_code}" if s.is_signed else "draft",
        id_url("charting:session", s.pk), s.in_error,
    )  # fmt: skip


def _event_entry(ev: AdverseEvent) -> Entry:
    return Entry(
        ev.recorded_at, "adverse-event", f"Adverse event: {ev.get_event_type_display()}",
        f"{ev.now.severity}, {ev.get_onset_display().lower()}",
        id_url("charting:adverse_event_edit", ev.pk), ev.entered_in_error,
    )  # fmt: skip


def _addendum_entry(ad: Addendum) -> Entry:
    if ad.session_id:
        url = id_url("charting:session", ad.session_id)
    else:
        url = id_url("charting:assessment", ad.assessment_id)
    return Entry(ad.written_at, "addendum", ad.get_kind_display(), ad.reason, url)


@dataclass(frozen=True)
class Source:
    """One kind of record on the timeline: its rows, the field that dates them, its entry."""

    kind: str
    # The rows of a patient, given as the record or its id.
    rows: Callable[[Patient | int], QuerySet]
    when: str
    entry: Callable[[Any], Entry]
    # What the entries read beyond the row (addenda, counts), added once the rows are chosen.
    read: Callable[[QuerySet], QuerySet] = lambda rows: rows
    # Dated by a day (an episode's start), not a moment.
    by_day: bool = False


SOURCES = (
    Source("episode", lambda p: EpisodeOfCare.objects.filter(patient=p), "period_start",
           _episode_entry, by_day=True),
    Source("screening", lambda p: Screening.objects.filter(episode__patient=p), "recorded_at",
           _screening_entry),
    Source("consent", lambda p: Consent.objects.filter(patient=p), "signed_at", _consent_entry,
           lambda rows: rows.select_related("template")),
    Source("consent", lambda p: ConsentWithdrawal.objects.filter(consent__patient=p),
           "withdrawn_at", _withdrawal_entry, lambda rows: rows.select_related("consent")),
    # A long history's rows are sessions and assessments: only what their entries show.
    Source("assessment", lambda p: Assessment.objects.filter(episode__patient=p),
           "performed_at", _assessment_entry,
           lambda rows: rows.only("performed_at", "kind", "signed_at")
                            .annotate(in_error=_in_error("assessment"))),
    Source("session", lambda p: NeedlingSession.objects.filter(episode__patient=p),
           "performed_at", _session_entry,
           lambda rows: rows.only("performed_at", "cpt_code", "signed_at")
                            .annotate(muscles=Count("insertions__muscle", distinct=True),
                                      in_error=_in_error("session"))),
    Source("adverse-event", lambda p: AdverseEvent.objects.filter(session__episode__patient=p),
           "recorded_at", _event_entry, lambda rows: rows.prefetch_related("follow_ups")),
    # An addendum is of one session or one assessment (or a discharge, not listed): read as
    # two sources, each along its own index. Asked for with an OR of the two, PostgreSQL
    # joined every addendum to every session of the clinic (60 ms at 20,000 patients, for a
    # patient with a dozen sessions).
    Source("addendum", lambda p: Addendum.objects.filter(session__episode__patient=p),
           "written_at", _addendum_entry),
    Source("addendum", lambda p: Addendum.objects.filter(assessment__episode__patient=p),
           "written_at", _addendum_entry),
)  # fmt: skip


# The kinds the chart's own sources show, for the timeline's filter.
KINDS = [
    ("episode", "Episodes"), ("screening", "Screenings"), ("consent", "Consents"),
    ("assessment", "Assessments"), ("session", "Sessions"), ("adverse-event", "Adverse events"),
    ("addendum", "Addenda"),
]  # fmt: skip


def providers() -> list[Any]:
    """The modules of apps above charting that add records to the timeline, each with its
    own `SOURCES` and `KINDS` (settings.TIMELINE_PROVIDERS, e.g. the issued documents).
    Named in settings and loaded here, so that charting never imports an app above it."""
    return [importlib.import_module(path) for path in settings.TIMELINE_PROVIDERS]


def timeline_sources() -> tuple[Source, ...]:
    return SOURCES + tuple(s for provider in providers() for s in provider.SOURCES)


def timeline_kinds() -> list[tuple[str, str]]:
    return KINDS + [kind for provider in providers() for kind in provider.KINDS]


def _bound_values(
    sources: list[Source], date_from: dt.date | None, date_to: dt.date | None
) -> tuple[dt.date | dt.datetime, ...]:
    """What a window of the sources between the dates (whole days in the clinic's time zone)
    filters by, in order: for each bound given (the first day, the day after the last), the
    day where a source is dated by a day, the start of that day where one is dated by a
    moment. Values rather than SQL, so that a window's queries are compiled once
    (db/prepared.py)."""
    days = any(source.by_day for source in sources)
    moments = any(not source.by_day for source in sources)
    values: list[dt.date | dt.datetime] = []
    for day in (date_from, date_to + dt.timedelta(days=1) if date_to else None):
        if day is not None:
            values += [day] if days else []
            values += [_start_of(day)] if moments else []
    return tuple(values)


def _windows(
    sources: list[Source], patient_id: int, values: tuple, *, since: bool, until: bool
) -> list[QuerySet]:
    """Each source's rows within the bounds `_bound_values` gives for the same sources:
    from the first day (`since`), before the day after the last (`until`)."""
    days = any(source.by_day for source in sources)
    moments = any(not source.by_day for source in sources)
    given = iter(values)

    def bound() -> tuple[Any, Any]:
        return (next(given) if days else None, next(given) if moments else None)

    lower = bound() if since else None
    upper = bound() if until else None
    windows = []
    for source in sources:
        rows = source.rows(patient_id)
        at = 0 if source.by_day else 1
        if lower is not None:
            rows = rows.filter(**{f"{source.when}__gte": lower[at]})
        if upper is not None:
            rows = rows.filter(**{f"{source.when}__lt": upper[at]})
        windows.append(rows)
    return windows


@dataclass(frozen=True)
class TimelinePage:
    entries: list[Entry]
    total: int
    number: int
    pages: int

    # Read as Django's Page is, so that the pages share one pagination include.
    @property
    def paginator(self) -> "TimelinePage":
        return self

    @property
    def num_pages(self) -> int:
        return self.pages

    def has_next(self) -> bool:
        return self.number < self.pages

    def has_previous(self) -> bool:
        return self.number > 1

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1


def _sources(kind: str) -> list[Source]:
    return [s for s in timeline_sources() if not kind or s.kind == kind]


def _counts_of(patient_id: int, windows: list[QuerySet]) -> QuerySet:
    """Every kind counted in one query."""
    return (
        Patient.objects.filter(pk=patient_id)
        .annotate(**{f"n{i}": _counted(rows) for i, rows in enumerate(windows)})
        .values(*(f"n{i}" for i in range(len(windows))))
    )


@prepared
def _timeline_counts(
    patient_id: int, *bounds: Any, kind: str, since: bool, until: bool
) -> QuerySet:
    sources = _sources(kind)
    return _counts_of(patient_id, _windows(sources, patient_id, bounds, since=since, until=until))


# A key of the timeline's order: the moment, the source's rank negated (the first source's
# record first at one moment), the record's id. Entries run from the greatest key down.
Key = tuple[dt.datetime, int, int]


def _timed_keys(
    sources: list[Source], windows: list[QuerySet | None], stop: int, oldest: bool = False
) -> QuerySet:
    """The keys of the records of the sources dated by a moment, newest first, in one query:
    each row its moment, its source's rank and its id, and nothing else; of each source only
    its newest `stop`, chosen along its index, as no more of it can come before the end of
    the page: the first page sorts at most a page of each source, however long the history.
    `oldest`: the same keys in the reverse order, oldest first, each source cut to its
    oldest `stop`, so that a page near the end is read from that end.
    (The windows of the sources dated by a day are not read.)"""
    # PostgreSQL cuts each part of a union in its own parentheses, a plan a third as long to
    # make as a subquery per part (which a page plans anew until its statement is prepared);
    # SQLite takes no cut part in a union, but a cut subquery.
    cut_parts = connections[DEFAULT_DB_ALIAS].features.supports_slicing_ordering_in_compound
    parts = []
    for rank, (source, rows) in enumerate(zip(sources, windows, strict=True)):
        if source.by_day:
            continue
        newest = (source.when, "pk") if oldest else (f"-{source.when}", "-pk")
        if not cut_parts:
            rows = rows.filter(pk__in=rows.order_by(*newest).values("pk")[:stop])
        keys = rows.annotate(
            timeline_at=F(source.when), timeline_rank=Value(rank), timeline_pk=F("pk")
        ).values_list("timeline_at", "timeline_rank", "timeline_pk")
        parts.append(keys.order_by(*newest)[:stop] if cut_parts else keys.order_by())
    if cut_parts and len(parts) == 1:
        return parts[0]  # one kind: its own newest, in the timeline's order
    order = ("-timeline_at", "timeline_rank", "-timeline_pk")
    if oldest:
        order = ("timeline_at", "-timeline_rank", "timeline_pk")
    return parts[0].union(*parts[1:], all=True).order_by(*order)


@prepared
def _timeline_timed_keys(
    patient_id: int,
    *bounds: Any,
    kind: str,
    since: bool,
    until: bool,
    start: int,
    stop: int,
    oldest: bool = False,
) -> QuerySet:
    sources = _sources(kind)
    timed = iter(_windows(_timed(sources), patient_id, bounds, since=since, until=until))
    windows = [None if source.by_day else next(timed) for source in sources]
    return _timed_keys(sources, windows, stop, oldest)[start:stop]


def _timed(sources: list[Source]) -> list[Source]:
    return [source for source in sources if not source.by_day]


@prepared
def _timeline_days(
    patient_id: int, *bounds: Any, kind: str, rank: int, since: bool, until: bool
) -> QuerySet:
    source = _sources(kind)[rank]
    [rows] = _windows([source], patient_id, bounds, since=since, until=until)
    return rows.order_by().values_list(source.when, "pk")


def _day_keys(sources: list[Source], days_of: Callable[[int], list[Any]]) -> list[Key]:
    """The keys of every record of the sources dated by a day (a patient's episodes: a few),
    each at the start of its day in the clinic's time zone, as its entry shows it.
    `days_of(rank)`: the day and id of each of that source's records."""
    return [
        (_start_of(day), -rank, pk)
        for rank, source in enumerate(sources)
        if source.by_day
        for day, pk in days_of(rank)
    ]


def _keys_on_page(
    timed: Callable[[int, int], list[tuple[dt.datetime, int, int]]] | None,
    days: list[Key],
    start: int,
    size: int,
) -> list[Key]:
    """The keys of the entries `start` to `start + size` of the timeline, newest first,
    without reading the records before them.

    The records dated by a moment are read in the database's order from `start` less the
    number of those dated by a day (at most that many of those can come before the page),
    and merged here with the few dated by a day. `timed(first, stop)` gives the timed keys
    `first` to `stop` as (moment, rank, id)."""
    first = max(0, start - len(days))
    ordered = [(at, -rank, pk) for at, rank, pk in timed(first, start + size)] if timed else []
    days_up = sorted(days)
    timed_up = ordered[::-1]
    placed: list[tuple[int, Key]] = []
    for offset, key in enumerate(ordered):
        # Its place: the timed keys before it, and the day keys greater than it.
        placed.append((first + offset + len(days_up) - bisect.bisect_right(days_up, key), key))
    for index, key in enumerate(sorted(days, reverse=True)):
        if first and (not ordered or key > ordered[0]):
            # Before the first timed key read: before the page (`first` leaves room for all).
            continue
        placed.append((index + first + len(timed_up) - bisect.bisect_right(timed_up, key), key))
    return [key for place, key in sorted(placed) if start <= place < start + size]


@prepared
def _timeline_records(patient_id: int, *ids: int, kind: str, rank: int) -> QuerySet:
    source = _sources(kind)[rank]
    return source.read(source.rows(patient_id).filter(pk__in=ids))


def _entries_of(patient_id: int, kind: str, sources: list[Source], keys: list[Key]) -> list[Entry]:
    """The entries of the keys, in their order: each source's records read by id, with what
    their entries read, only for the sources that have one on the page. The ids of a source
    are filled to a page's number with ids no record has (below 0), so that its read is
    compiled once whatever the page holds."""
    wanted: dict[int, list[int]] = {}
    for _, rank, pk in keys:
        wanted.setdefault(-rank, []).append(pk)
    built = {
        (rank, row.pk): sources[rank].entry(row)
        for rank, pks in wanted.items()
        for row in _timeline_records(
            patient_id, *pks, *range(-1, len(pks) - TIMELINE_PAGE - 1, -1), kind=kind, rank=rank
        )
    }
    # A record deleted between the reads (a draft discarded in another tab) is left out.
    return [built[(-rank, pk)] for _, rank, pk in keys if (-rank, pk) in built]


def timeline(
    *,
    user: User,
    patient: Patient,
    kind: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    page: int = 1,
    with_patient: bool = False,
) -> TimelinePage:
    """One page of everything recorded for a patient, newest first.

    Each kind of record is counted in one query. A page then reads the keys of the records
    dated by a moment in one query (the moment, the kind, the id): of each kind only its
    newest down to the end of the page, chosen along its index, then ordered and cut to the
    page in the database; and the days of the episodes in another. It then reads the records
    of that page only, one query per kind it shows (a kind may have two: consents and their
    withdrawals, the addenda of sessions and of assessments; adverse events read their
    follow-ups in a second). The first page, the one a clinician opens, costs the same
    whatever the number of records, and so does the last: a page in the older half of the
    history reads the keys from the oldest end. A page in between sorts the keys from its
    nearer end down to itself, so the middle page costs the most, and no page reads the
    records of another. Every query is
    compiled once (db/prepared.py), with dates or without.
    `with_patient`: the page read the patient unaudited, and its view is audited here with
    the timeline's, in one transaction."""
    sources = _sources(kind)
    since, until = date_from is not None, date_to is not None

    def bounds(of: list[Source]) -> tuple:
        return _bound_values(of, date_from, date_to)

    [counts] = _timeline_counts(patient.pk, *bounds(sources), kind=kind, since=since, until=until)

    # The records dated by a moment, as counted: a page nearer their oldest end than their
    # newest is read from that end, so the last page costs what the first does.
    timed_total = sum(n for s, n in zip(sources, counts.values(), strict=True) if not s.by_day)

    def timed(first: int, stop: int) -> list[Any]:
        def read(start: int, stop: int, oldest: bool) -> list[Any]:
            return _timeline_timed_keys(
                patient.pk, *bounds(_timed(sources)), kind=kind, since=since, until=until,
                start=start, stop=stop, oldest=oldest,
            )  # fmt: skip

        stop = min(stop, timed_total)
        if first >= stop:
            return []  # none left to read (or none at all)
        if timed_total - first >= stop:
            return read(first, stop, False)
        # Positions `first` to `stop` from the newest are these from the oldest, reversed.
        return read(timed_total - stop, timed_total - first, True)[::-1]

    def days(rank: int) -> list[Any]:
        return _timeline_days(
            patient.pk, *bounds([sources[rank]]), kind=kind, rank=rank, since=since, until=until
        )

    total = sum(counts.values())
    pages = max(1, -(-total // TIMELINE_PAGE))
    number = min(max(1, page), pages)
    start = (number - 1) * TIMELINE_PAGE
    # A kind dated by days only (the episodes) has no timed keys to read.
    dated = timed if not all(s.by_day for s in sources) else None
    keys = _keys_on_page(dated, _day_keys(sources, days), start, TIMELINE_PAGE)
    shown = _entries_of(patient.pk, kind, sources, keys)
    viewed = [{"action": audit.Action.VIEW, "object_type": "Timeline", "patient": patient}]
    if with_patient:
        viewed.insert(0, {"action": audit.Action.VIEW, "obj": patient})
    audit.record_together(actor=user, rows=viewed)
    return TimelinePage(shown, total, number, pages)
