"""Where an episode stands: each measure's baseline, latest value and change, classified by
the knowledge thresholds; the cumulative change (the course) and the within-session change
(before to right after needling) kept apart, for pain and every other measure; and the
review prompt. The same rules run in SQL for the dashboard (dashboard.py)."""

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from needlechart import knowledge
from needlechart.outcomes.models import Observation, Timing

# Measured within a session right after needling: the immediate effect, not the course.
# Everything else, the measure taken at the start of a session included, is the course.
IMMEDIATE = Timing.AFTER
# Ratings of the whole course, classified on their own (no baseline).
GLOBAL = ("groc", "pgic")


def measure_label(code: str, component: str = "", side: str = "") -> str:
    """What was measured, in words and never by an internal code: "Cervical rotation (left)",
    "Patient-specific functional scale, one activity: Lifting my child"."""
    try:
        name = knowledge.instrument(code).name
    except knowledge.UnknownCode:  # a clinic questionnaire not loaded in this process
        name = code
    words = knowledge.component_label(code, component)
    if code == "rom" and words:
        name = words
    elif words:
        name = f"{name}: {words}"
    return f"{name} ({side})" if side else name


@dataclass(frozen=True)
class Point:
    when: dt.datetime
    value: float
    timing: str
    observation_id: int
    session_id: int | None


@dataclass
class Series:
    """One measure over the episode: NPRS, a PSFS activity, a movement on one side ..."""

    code: str
    component: str
    side: str
    points: list[Point] = field(default_factory=list)

    @property
    def instrument(self) -> knowledge.schema.Instrument:
        return knowledge.instrument(self.code)

    @property
    def label(self) -> str:
        """The measure in words, for tables and plots: "Cervical rotation (left)"."""
        return measure_label(self.code, self.component, self.side)

    @property
    def movement(self) -> knowledge.schema.RomMovement | None:
        if self.code != "rom":
            return None
        try:
            return knowledge.rom_movement_lookup(self.component)
        except knowledge.UnknownCode:
            return None

    @property
    def reference(self) -> float | None:
        movement = self.movement
        return movement.reference if movement else None

    @property
    def measure_code(self) -> str:
        """The code the knowledge thresholds know it by: "rom:cervical-rotation", "nprs"."""
        movement = self.movement
        if self.code == "rom":
            return f"rom:{movement.code if movement else self.component}"
        return self.code

    @property
    def course(self) -> list[Point]:
        """The points that show the course: every one but the just-after-needling values."""
        return [p for p in self.points if p.timing != IMMEDIATE]

    @property
    def baseline(self) -> Point | None:
        course = self.course
        marked = [p for p in course if p.timing == Timing.BASELINE]
        return (marked or course or [None])[0]

    @property
    def latest(self) -> Point | None:
        course = self.course
        last = course[-1] if course else None
        return last if last is not None and last != self.baseline else None

    def change(self, condition: str | None = None) -> knowledge.Change | None:
        if self.code in GLOBAL:
            return None
        baseline, latest = self.baseline, self.latest
        if baseline is None or latest is None:
            return None
        return knowledge.classify_change(
            self.measure_code, baseline.value, latest.value, condition=condition
        )

    def by_session(self) -> list["SessionChange"]:
        """Each session's value before and right after needling (the last of each), in order;
        sessions with only one of them too."""
        values: dict[int, dict[str, float]] = defaultdict(dict)
        when: dict[int, dt.datetime] = {}
        for point in self.points:
            if point.session_id is not None and point.timing in (Timing.BEFORE, Timing.AFTER):
                values[point.session_id][point.timing] = point.value
                when.setdefault(point.session_id, point.when)
        return [
            SessionChange(sid, when[sid], pair.get(Timing.BEFORE), pair.get(Timing.AFTER))
            for sid, pair in sorted(values.items(), key=lambda item: (when[item[0]], item[0]))
        ]


@dataclass(frozen=True)
class SessionChange:
    """A measure in one session: before needling and right after."""

    session_id: int
    when: dt.datetime
    before: float | None
    after: float | None

    @property
    def immediate(self) -> float | None:
        return None if self.before is None or self.after is None else self.after - self.before


# Pain's before and after, session by session (the pain plot's name for it).
SessionPain = SessionChange


@dataclass(frozen=True)
class WithinSession:
    """One measure's change from before to right after needling, in each session that has
    both, each classified by the measure's threshold against that session's value before."""

    series: Series
    rows: list[tuple[SessionChange, knowledge.Change]]

    @property
    def label(self) -> str:
        return self.series.label

    @property
    def unit(self) -> str:
        return self.series.instrument.unit

    # Worked out once: a course is kept and shown again (selectors.kept_progress), and a
    # page reads the mean more than once, each time over every session.
    @cached_property
    def mean(self) -> float:
        changes = [row.immediate for row, _ in self.rows if row.immediate is not None]
        return round(sum(changes) / len(changes), 1)


def within_session(series: Series, condition: str | None = None) -> WithinSession | None:
    """The measure's within-session change, or None when no session has both values."""
    rows = []
    for row in series.by_session():
        if row.before is not None and row.after is not None:
            change = knowledge.classify_change(
                series.measure_code, row.before, row.after, condition=condition
            )
            rows.append((row, change))
    return WithinSession(series, rows) if rows else None


@dataclass
class Progress:
    pain: Series | None
    pain_change: knowledge.Change | None
    sessions: list[SessionPain]
    measures: list[tuple[Series, knowledge.Change | None]]
    ratings: list[tuple[Series, knowledge.Change]]
    signed_sessions: int
    review_after: int
    review_prompt: str | None
    # Every measure (pain first) with a value before and right after needling in a session.
    within_session: list[WithinSession] = field(default_factory=list)

    @cached_property
    def immediate_mean(self) -> float | None:
        changes = [s.immediate for s in self.sessions if s.immediate is not None]
        return round(sum(changes) / len(changes), 1) if changes else None


def effective_time(observation: Observation) -> dt.datetime:
    """When the measure was taken: its session's or assessment's time, else when recorded
    (a row read with `taken_at` already computed in SQL carries it)."""
    taken = getattr(observation, "taken_at", None)
    if taken is not None:
        return taken
    if observation.session_id is not None:
        return observation.session.performed_at
    if observation.assessment_id is not None:
        return observation.assessment.performed_at
    return observation.recorded_at


def series_of(
    observations: Iterable[Observation],
    when: Callable[[Any], dt.datetime] = effective_time,
) -> dict[tuple[str, str, str], Series]:
    """The valid observations grouped by what they measure, in time order (`when` an
    observation was taken: a caller holding plain rows gives its own times)."""
    grouped: dict[tuple[str, str, str], Series] = {}
    ordered = sorted(observations, key=lambda o: (when(o), o.pk))
    for o in ordered:
        key = (o.code, o.component, o.side)
        series = grouped.setdefault(key, Series(*key))
        series.points.append(Point(when(o), float(o.value), o.timing, o.pk, o.session_id))
    return grouped


def progress(
    *,
    condition: str,
    observations: Iterable[Observation],
    signed_sessions: int,
    review_after: int,
) -> Progress:
    """An episode's progress from its valid observations (none entered in error)."""
    grouped = series_of(observations)
    pain = grouped.pop(("nprs", "", ""), None)
    pain_change = pain.change(condition) if pain else None
    sessions = pain.by_session() if pain else []
    measures, ratings = [], []
    immediate = [within_session(pain, condition)] if pain else []
    for key in sorted(grouped):
        series = grouped[key]
        if series.code in GLOBAL:
            last = series.points[-1]
            ratings.append((series, knowledge.classify_change(series.code, None, last.value)))
        else:
            measures.append((series, series.change(condition)))
            immediate.append(within_session(series, condition))
    prompt = None
    if signed_sessions >= review_after and (
        pain_change is None or pain_change.classification != "improved"
    ):
        prompt = (
            f"No important improvement in pain after {signed_sessions} session"
            f"{'s' if signed_sessions != 1 else ''}: review the plan and the diagnosis."
        )
    return Progress(
        pain, pain_change, sessions, measures, ratings, signed_sessions, review_after, prompt,
        [w for w in immediate if w is not None],
    )  # fmt: skip
