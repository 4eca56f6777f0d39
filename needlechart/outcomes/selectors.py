"""Reads for outcomes: valid measurements, progress, the plan and its status."""

import datetime as dt
import functools
from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Count, Exists, F, Func, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.utils import timezone

from needlechart.accounts.access import in_clinic
from needlechart.accounts.models import User
from needlechart.charting.models import Addendum, AdverseEvent, NeedlingSession, severity_now
from needlechart.db.prepared import prepared
from needlechart.outcomes import progress as progress_module
from needlechart.outcomes.models import CarePlan, EpisodeSummary, Observation, Timing
from needlechart.patients.models import EpisodeOfCare


def _in_error(field: str) -> Exists:
    return Exists(
        Addendum.objects.filter(**{field: OuterRef(f"{field}_id")}, kind="entered-in-error")
    )


def _valid(observations: QuerySet[Observation]) -> QuerySet[Observation]:
    return (
        observations.filter(entered_in_error_reason="")
        .exclude(_in_error("session"))
        .exclude(_in_error("assessment"))
        .select_related("session", "assessment")
    )


def valid_observations(episode: EpisodeOfCare) -> QuerySet[Observation]:
    """Measurements that count: not entered in error, nor part of a record entered in error."""
    return _valid(episode.observations.all())


def _signed(sessions: QuerySet[NeedlingSession]) -> QuerySet[NeedlingSession]:
    return sessions.filter(signed_at__isnull=False).exclude(
        Exists(Addendum.objects.filter(session=OuterRef("pk"), kind="entered-in-error"))
    )


def signed_sessions(episode: EpisodeOfCare) -> QuerySet[NeedlingSession]:
    return _signed(episode.sessions.all())


# What the progress reads of each measurement: plain rows, not records, so that an episode
# of hundreds of sessions is read in milliseconds; when it was taken is computed in SQL.
PROGRESS_FIELDS = ("code", "component", "side", "value", "timing", "pk", "session_id", "taken_at")


@dataclass(frozen=True)
class ProgressInputs:
    """Everything an episode's progress is computed from, as plain values: equal inputs
    give an equal progress, so the result can be kept by the data it was drawn from."""

    condition: str
    rows: tuple[tuple, ...]
    signed_sessions: int
    review_after: int


def _course(observations: QuerySet[Observation]) -> QuerySet[Observation]:
    return (
        _valid(observations)
        # The clinical course: the patient's own diary and ratings are shown apart.
        .exclude(timing=Timing.HOME)
        .annotate(
            taken_at=Coalesce("session__performed_at", "assessment__performed_at", "recorded_at")
        )
    )


def progress_inputs(episode: EpisodeOfCare, as_of: dt.datetime | None = None) -> ProgressInputs:
    """What the episode's progress is computed from; with `as_of`, only the measurements
    entered and the sessions signed by then (a letter issued again reads as first issued;
    what was entered in error since stays left out)."""
    if as_of is None:
        # The pages' reading: its queries compiled once, the course kept (see `_kept_course`).
        connection = connections[DEFAULT_DB_ALIAS]
        # Nothing read inside a transaction is kept: there the count comes with the state.
        counted = connection.in_atomic_block
        # No state: the episode was removed meanwhile (read as it stands, with nothing kept).
        [state] = _course_state(episode.pk, counted=counted) or [{"changes": None}]
        if counted or state["changes"] is None:
            rows = _course_rows(episode.pk)
            count = state["n"] if "n" in state else _signed_count(episode.pk)[0]["n"]
        else:
            rows, count = _kept_course(
                connection.settings_dict["NAME"], episode.pk, state["created"], state["changes"]
            )
    else:
        observations = episode.observations.filter(recorded_at__lte=as_of)
        rows = list(_course(observations).values_list(*PROGRESS_FIELDS, named=True))
        count = signed_sessions(episode).filter(signed_at__lte=as_of).count()
    return ProgressInputs(
        episode.condition_code,
        # The kept rows as they are, with the hash they keep (KeptRows).
        rows if isinstance(rows, KeptRows) else tuple(rows),
        count,
        episode.patient.clinic.review_after_sessions,
    )


@prepared
def _course_state(episode_id: int, *, counted: bool) -> QuerySet:
    """What tells whether the episode's course changed, read by keys alone: its summary's
    `changes` (outcomes.EpisodeSummary, to which the database's triggers add on every write of
    a measure, of a session's time, signing or episode, of an assessment's time or episode,
    and of an entry in error), and when the episode was made (an id a test database gives
    again is another episode). With `counted`, its signed sessions (`n`) too, which are
    otherwise kept with the course (`_kept_course`): counting them, and the measures that
    were part of the state, read every session and measure of the episode at each view
    (1.3 ms of the episode page at 2,000 sessions on SQLite)."""
    state = {
        "changes": Subquery(EpisodeSummary.objects.filter(episode_id=episode_id).values("changes")),
        "created": F("created_at"),
    }
    if counted:
        state["n"] = Subquery(_signed_in(episode_id).values(n=Func(F("pk"), function="COUNT")))
    return EpisodeOfCare.objects.filter(pk=episode_id).values(**state)


def _signed_in(episode_id: int) -> QuerySet:
    return _signed(NeedlingSession.objects.filter(episode_id=episode_id)).order_by()


@prepared
def _signed_count(episode_id: int) -> QuerySet:
    return _signed_in(episode_id).values(n=Func(F("pk"), function="COUNT"))


class KeptRows(tuple):
    """A kept course's rows, which work out their hash once. The progress and the plots are
    kept by the inputs they are drawn from (`kept_progress`, outcomes/views.py `_drawn`),
    and each view looks them up by a new ProgressInputs: its hash is the rows' hash, which a
    plain tuple works out again from every row at every lookup (half a millisecond a
    lookup at 2,000 sessions). Equal to, and hashed as, the plain tuple of the same rows."""

    _hash: int | None = None

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = tuple.__hash__(self)
        return self._hash


# As many as the episode page keeps drawn (outcomes/views.py `_drawn`), which share the rows.
@functools.lru_cache(maxsize=128)
def _kept_course(
    database: Any, episode_id: int, created: dt.datetime, changes: int
) -> tuple[KeptRows, int]:
    """The course's rows and the count of its signed sessions, kept by the state that
    changes with any of them (`_course_state`): an episode of hundreds of sessions is read
    once, not at every view of its page. Kept by the process for its database (`database`,
    its name): a database restored under the same name takes a restart of the app's
    processes (docs/operations.md).

    Only what was read outside a transaction is kept: committed rows, read after the state
    (so never older than it). Inside one, rows a rollback then removes could be kept under
    a state that comes again (SQLite gives a rolled-back id anew)."""
    return KeptRows(_course_rows(episode_id)), _signed_count(episode_id)[0]["n"]


@prepared
def _course_rows(episode_id: int) -> QuerySet:
    observations = Observation.objects.filter(episode_id=episode_id)
    return _course(observations).values_list(*PROGRESS_FIELDS, named=True)


ProgressRow = namedtuple("ProgressRow", PROGRESS_FIELDS)


def many_progress_inputs(episodes: list[EpisodeOfCare]) -> dict[int, ProgressInputs]:
    """`progress_inputs` of many episodes in two queries (a bulk import)."""
    ids = [episode.pk for episode in episodes]
    rows: dict[int, list[ProgressRow]] = {pk: [] for pk in ids}
    course = _course(Observation.objects.filter(episode_id__in=ids)).order_by("pk")
    for episode_id, *values in course.values_list("episode_id", *PROGRESS_FIELDS):
        rows[episode_id].append(ProgressRow(*values))
    signed = dict(
        _signed(NeedlingSession.objects.filter(episode_id__in=ids))
        .order_by()
        .values("episode_id")
        .annotate(n=Count("pk"))
        .values_list("episode_id", "n")
    )
    return {
        e.pk: ProgressInputs(
            e.condition_code,
            tuple(rows[e.pk]),
            signed.get(e.pk, 0),
            e.patient.clinic.review_after_sessions,
        )
        for e in episodes
    }


def progress_of(inputs: ProgressInputs) -> progress_module.Progress:
    return progress_module.progress(
        condition=inputs.condition,
        observations=inputs.rows,
        signed_sessions=inputs.signed_sessions,
        review_after=inputs.review_after,
    )


# As many as the episode page keeps drawn (outcomes/views.py `_drawn`), which shares them.
@functools.lru_cache(maxsize=128)
def kept_progress(inputs: ProgressInputs) -> progress_module.Progress:
    """`progress_of`, kept by the rows it is computed from: the rows are read at every view
    (so a new or corrected measure shows at once), and a long course is computed again only
    when a row of it differs. A kept Progress is shared: nothing changes it afterwards."""
    return progress_of(inputs)


def episode_progress(episode: EpisodeOfCare) -> progress_module.Progress:
    return kept_progress(progress_inputs(episode))


@dataclass(frozen=True)
class PlanStatus:
    plan: CarePlan | None
    status: str  # "none", "on-track", "review-due", "overdue"
    label: str
    reason: str


@prepared
def _newest_plan(episode_id: int) -> QuerySet:
    return (
        CarePlan.objects.filter(episode_id=episode_id)
        .prefetch_related("goals", "therapies")
        .order_by("-version")[:1]
    )


def plan_status(episode: EpisodeOfCare, progress: progress_module.Progress) -> PlanStatus:
    """The plan's standing from the sessions charted against it, and the review date."""
    newest = _newest_plan(episode.pk)
    plan = newest[0] if newest else None
    if plan is None:
        return PlanStatus(None, "none", "No plan", "No treatment plan recorded.")
    today = timezone.localdate()
    given = progress.signed_sessions
    if plan.review_on < today:
        return PlanStatus(
            plan, "overdue", "Review overdue", f"The review was due on {plan.review_on:%Y-%m-%d}."
        )
    if progress.review_prompt:
        return PlanStatus(plan, "review-due", "Review due", progress.review_prompt)
    if given >= plan.planned_sessions:
        return PlanStatus(
            plan, "review-due", "Review due", f"All {plan.planned_sessions} planned sessions given."
        )
    if (plan.review_on - today).days <= 7:
        return PlanStatus(plan, "review-due", "Review due", f"Review on {plan.review_on:%Y-%m-%d}.")
    return PlanStatus(
        plan, "on-track", "On track", f"{given} of {plan.planned_sessions} planned sessions given."
    )


def discharge_snapshot(episode: EpisodeOfCare) -> dict[str, Any]:
    """The outcomes, sessions and adverse events of an episode, as JSON, at discharge."""
    # The pages' reading of the course, and its progress as the episode page keeps it: the
    # discharge page shows this before the episode is discharged.
    inputs = {episode.pk: progress_inputs(episode)}
    return _snapshots([episode], inputs, kept_progress)[episode.pk]


def discharge_snapshots(episodes: list[EpisodeOfCare]) -> dict[int, dict[str, Any]]:
    """`discharge_snapshot` of each episode, in a fixed number of queries however many."""
    return _snapshots(episodes, many_progress_inputs(episodes), progress_of)


def _snapshots(
    episodes: list[EpisodeOfCare],
    inputs: dict[int, ProgressInputs],
    progress: Callable[[ProgressInputs], progress_module.Progress],
) -> dict[int, dict[str, Any]]:
    events: dict[int, list[dict[str, Any]]] = {episode.pk: [] for episode in episodes}
    stored = AdverseEvent.objects.filter(
        session__episode__in=list(events), entered_in_error_reason=""
    ).order_by("recorded_at", "pk")
    for episode_id, kind, severity, session_id in stored.annotate(
        severity_now=severity_now()
    ).values_list("session__episode_id", "event_type", "severity_now", "session_id"):
        events[episode_id].append({"type": kind, "severity": severity, "session": session_id})
    taken_at = dt.datetime.now(dt.UTC).isoformat()
    snapshots = {}
    for episode in episodes:
        current = progress(inputs[episode.pk])
        measures = []
        for series, change in [(current.pain, current.pain_change), *current.measures]:
            if series is None:
                continue
            measures.append(
                {
                    "measure": series.label,
                    "baseline": series.baseline.value if series.baseline else None,
                    "last": series.latest.value if series.latest else None,
                    "classification": change.classification if change else None,
                    "threshold": change.threshold if change else None,
                }
            )
        snapshots[episode.pk] = {
            "sessions": current.signed_sessions,
            "measures": measures,
            "immediate_mean_change": current.immediate_mean,
            "adverse_events": events[episode.pk],
            "taken_at": taken_at,
        }
    return snapshots


def observation_get(*, user: User, observation_id: int) -> Observation:
    return get_object_or_404(
        Observation.objects.select_related("episode__patient", "assessment", "session"),
        pk=observation_id,
        episode__patient__clinic_id=user.clinic_id,
    )


def observation_in_clinic(user: User, observation_id: int, **_: Any) -> bool:
    return in_clinic(user, Observation.objects, "episode__patient__clinic_id", observation_id)
