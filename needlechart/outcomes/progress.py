"""Where an episode stands: each measure's baseline, latest value and change, classified by
the knowledge thresholds; the cumulative and the within-session change of pain kept apart;
and the review prompt. The same rules run in SQL for the dashboard (dashboard.py)."""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from needlechart import knowledge
from needlechart.outcomes.models import Observation, Timing

# Measured within a session right after needling: the immediate effect, not the course.
IMMEDIATE = Timing.AFTER
# Ratings of the whole course, classified on their own (no baseline).
GLOBAL = ("groc", "pgic")


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
        name = self.instrument.name
        if self.code == "rom":
            name = knowledge.rom_movement(self.component).label
        elif self.component:
            name = f"{name}: {self.component}"
        return f"{name} ({self.side})" if self.side else name

    @property
    def reference(self) -> float | None:
        return knowledge.rom_movement(self.component).reference if self.code == "rom" else None

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
        code = f"rom:{self.component}" if self.code == "rom" else self.code
        return knowledge.classify_change(code, baseline.value, latest.value, condition=condition)


@dataclass(frozen=True)
class SessionPain:
    session_id: int
    when: dt.datetime
    before: float | None
    after: float | None

    @property
    def immediate(self) -> float | None:
        return None if self.before is None or self.after is None else self.after - self.before


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

    @property
    def immediate_mean(self) -> float | None:
        changes = [s.immediate for s in self.sessions if s.immediate is not None]
        return round(sum(changes) / len(changes), 1) if changes else None


def effective_time(observation: Observation) -> dt.datetime:
    """When the measure was taken: its session's or assessment's time, else when recorded."""
    if observation.session_id is not None:
        return observation.session.performed_at
    if observation.assessment_id is not None:
        return observation.assessment.performed_at
    return observation.recorded_at


def series_of(observations: Iterable[Observation]) -> dict[tuple[str, str, str], Series]:
    """The valid observations grouped by what they measure, in time order."""
    grouped: dict[tuple[str, str, str], Series] = {}
    ordered = sorted(observations, key=lambda o: (effective_time(o), o.pk))
    for o in ordered:
        key = (o.code, o.component, o.side)
        series = grouped.setdefault(key, Series(*key))
        series.points.append(Point(effective_time(o), float(o.value), o.timing, o.pk, o.session_id))
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
    by_session: dict[int, dict[str, float]] = defaultdict(dict)
    when: dict[int, dt.datetime] = {}
    for point in pain.points if pain else []:
        if point.session_id is not None and point.timing in (Timing.BEFORE, Timing.AFTER):
            by_session[point.session_id][point.timing] = point.value
            when[point.session_id] = point.when
    sessions = [
        SessionPain(sid, when[sid], values.get(Timing.BEFORE), values.get(Timing.AFTER))
        for sid, values in sorted(by_session.items(), key=lambda item: when[item[0]])
    ]
    measures, ratings = [], []
    for key in sorted(grouped):
        series = grouped[key]
        if series.code in GLOBAL:
            last = series.points[-1]
            ratings.append((series, knowledge.classify_change(series.code, None, last.value)))
        else:
            measures.append((series, series.change(condition)))
    prompt = None
    if signed_sessions >= review_after and (
        pain_change is None or pain_change.classification != "improved"
    ):
        prompt = (
            f"No important improvement in pain after {signed_sessions} session"
            f"{'s' if signed_sessions != 1 else ''}: review the plan and the diagnosis."
        )
    return Progress(
        pain, pain_change, sessions, measures, ratings, signed_sessions, review_after, prompt
    )
