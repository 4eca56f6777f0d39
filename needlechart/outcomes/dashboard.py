"""The clinic dashboard, computed by the database: a fixed number of aggregate queries
whatever the size of the clinic. The rules match progress.py (the episode page) and the
knowledge thresholds; tests recompute every figure from the charts to hold them together.

Definitions (docs/outcomes.md):
- sessions: signed, not entered in error, performed in the date range (by the practitioner);
- episodes: those with at least one such session;
- pain change: the episode's NPRS baseline (its first "baseline" measure, else its first
  measure of the course) against its latest course measure (any NPRS but the ones taken
  right after needling); a responder's change is "improved" by the NPRS threshold for its
  condition. The thresholds come from the knowledge package (`knowledge.change_rules`), and
  the SQL below is built from them with the same arithmetic as `knowledge.required_change`:
  2 points or 30% of the baseline, whichever is smaller (Farrar 2001);
- sessions until improvement: signed sessions given before the first course measure that
  met the threshold.
"""

import datetime as dt
import json
import math
import statistics
import threading
import zoneinfo
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import orjson
from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import RawSQL, Window
from django.db.models.functions import Cast, Coalesce, FirstValue, RowNumber, Substr, TruncWeek
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts.models import Clinic, Practitioner, User
from needlechart.charting.models import (
    Addendum,
    AdverseEvent,
    Insertion,
    NeedlingSession,
    severity_now,
)
from needlechart.knowledge.instruments import describe_threshold
from needlechart.knowledge.instruments import source as threshold_source
from needlechart.outcomes.models import EpisodeSummary, Observation
from needlechart.patients.models import EpisodeOfCare, full_name
from needlechart.rows import no_cycle_collection

COURSE = ("baseline", "before", "reassessment", "discharge")
EPSILON = Decimal("0.000001")


@dataclass(frozen=True)
class Filters:
    clinic: Clinic
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    practitioner: Practitioner | None = None


def _start(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz)


def _not_in_error(field: str = "pk") -> Exists:
    return Exists(Addendum.objects.filter(session=OuterRef(field), kind="entered-in-error"))


def sessions(filters: Filters) -> QuerySet[NeedlingSession]:
    tz = zoneinfo.ZoneInfo(filters.clinic.timezone)
    rows = NeedlingSession.objects.filter(
        episode__patient__clinic=filters.clinic, signed_at__isnull=False
    ).exclude(_not_in_error())
    if filters.date_from:
        rows = rows.filter(performed_at__gte=_start(filters.date_from, tz))
    if filters.date_to:
        rows = rows.filter(performed_at__lt=_start(filters.date_to + dt.timedelta(days=1), tz))
    if filters.practitioner:
        rows = rows.filter(practitioner=filters.practitioner)
    return rows


def episodes(filters: Filters) -> QuerySet[EpisodeOfCare]:
    return EpisodeOfCare.objects.filter(Exists(sessions(filters).filter(episode=OuterRef("pk"))))


def _in_error(record: Literal["session", "assessment"]) -> QuerySet[Addendum]:
    """The ids of the sessions or assessments entered in error."""
    return Addendum.objects.filter(kind="entered-in-error", **{f"{record}__isnull": False}).values(
        record
    )


def _course(episodes: QuerySet[EpisodeOfCare] | list[int]) -> QuerySet[Observation]:
    """Every valid NPRS course measure of the episodes, each with its episode's baseline
    (value and id), the index of its condition's NPRS rule (`_rules()`) and its rank from the
    latest.
    Window functions over one scan, as subqueries per episode cost seconds on a large
    clinic."""
    baseline_first = {
        "partition_by": [F("episode_id")],
        "order_by": [
            Case(When(timing="baseline", then=Value(0)), default=Value(1)).asc(),
            F("at").asc(),
            F("id").asc(),
        ],
    }
    rule = _rule_case("episode__condition_code")
    return (
        Observation.objects.filter(
            episode__in=episodes, code="nprs", timing__in=COURSE, entered_in_error_reason=""
        )
        # A list the database builds once, not a lookup per measure: most addenda belong to
        # no assessment, so the planner's statistics make the assessment index look useless
        # and a correlated lookup became a scan of every addendum for every measure.
        .exclude(session_id__in=_in_error("session"))
        .exclude(assessment_id__in=_in_error("assessment"))
        .annotate(
            at=Coalesce("session__performed_at", "assessment__performed_at", "recorded_at"),
            condition=F("episode__condition_code"),
            rule=rule,
        )
        .annotate(
            baseline_id=Window(FirstValue("id"), **baseline_first),
            baseline_value=Window(FirstValue("value"), **baseline_first),
            from_latest=Window(
                RowNumber(),
                partition_by=[F("episode_id")],
                order_by=[F("at").desc(), F("id").desc()],
            ),
        )
        .order_by()
        .values(
            "episode_id", "condition", "timing", "id", "at", "value", "rule",
            "baseline_id", "baseline_value", "from_latest",
        )
    )  # fmt: skip


def _rules() -> list[tuple[tuple[str, ...], knowledge.schema.Threshold]]:
    """The NPRS rules by condition, the default last (knowledge.change_rules)."""
    return knowledge.change_rules("nprs")


def _rule_case(condition_field: str) -> Case:
    """The index into `_rules()` of each episode's NPRS rule, as SQL."""
    rules = _rules()
    whens = []
    for index, (codes, _) in enumerate(rules[:-1]):
        match = Q()
        for code in codes:
            match |= Q(**{f"{condition_field}__startswith": code})
        whens.append(When(match, then=Value(index)))
    return Case(*whens, default=Value(len(rules) - 1), output_field=IntegerField())


def responder_rule() -> str:
    """The rule a responder met, in words, from the same knowledge rules as the SQL."""
    nprs = knowledge.instrument("nprs")
    parts = []
    for codes, rule in _rules():
        cited = threshold_source(rule.source)
        text = f"{describe_threshold(rule, nprs.unit)} ({cited.short or cited.citation})"
        parts.append(f"{text} for {', '.join(codes)}" if codes else text)
    return "pain (NPRS) down from baseline by " + "; ".join(reversed(parts))


def _number(value: float) -> str:
    # Shipped, validated data (a finite float), never input: safe to write into the SQL.
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"threshold {value!r} is not a finite number")
    return repr(number)


def _needed_sql(rule: knowledge.schema.Threshold, baseline: str) -> str:
    """knowledge.required_change in SQL: the smallest drop from the baseline that counts."""
    parts = []
    if rule.absolute is not None:
        parts.append(_number(rule.absolute))
    if rule.relative is not None:
        parts.append(f"({_number(rule.relative)} * ABS({baseline}))")
    if len(parts) == 1:
        return parts[0]
    a, b = parts
    pick = "<=" if rule.combine == "either" else ">="
    return f"(CASE WHEN {a} {pick} {b} THEN {a} ELSE {b} END)"


def _met_sql() -> str:
    """SQL for: a course measure that met its condition's NPRS rule against the baseline (pain
    fell by more than nothing and by at least the amount the rule needs), as
    knowledge.meets."""
    drop = "(c.baseline_value - c.value)"
    needed = " ".join(
        f"WHEN {index} THEN {_needed_sql(rule, 'c.baseline_value')}"
        for index, (_, rule) in enumerate(_rules())
    )
    return f"({drop} > 0 AND {drop} >= (CASE c.rule {needed} END) - {EPSILON})"


@dataclass(frozen=True)
class PainChange:
    """One row per episode with NPRS measures, as SQL to select from: `episode_id`,
    `condition`, `evaluable` (a later measure than the baseline), `responder` (the latest
    met the important change) and `improved_at` (when a measure first met it).

    The baseline is the episode's first "baseline" measure, else its first measure of the
    course; the latest is its last course measure."""

    # Built only from the ORM's compiled SQL (values passed as parameters) and constants
    # of this module, never from input.
    sql: str
    params: tuple[Any, ...]

    @classmethod
    def of(cls, episodes: QuerySet[EpisodeOfCare] | list[int]) -> "PainChange":
        course, params = _course(episodes).query.sql_with_params()
        met = _met_sql()
        sql = (
            "SELECT c.episode_id, c.condition,"
            " MAX(CASE WHEN c.from_latest = 1 AND c.id <> c.baseline_id THEN 1 ELSE 0 END)"
            " AS evaluable,"
            f" MAX(CASE WHEN c.from_latest = 1 AND c.id <> c.baseline_id AND {met}"
            " THEN 1 ELSE 0 END) AS responder,"
            f" MIN(CASE WHEN c.timing <> 'baseline' AND c.id <> c.baseline_id AND {met}"
            " THEN c.at END) AS improved_at"
            f" FROM ({course}) c GROUP BY c.episode_id, c.condition"
        )
        return cls(sql, tuple(params))

    def episode_ids(self, which: Literal["evaluable", "responder"]) -> RawSQL:
        """The ids of the evaluable or responding episodes, for `pk__in`."""
        assert which in ("evaluable", "responder")
        sql = f"SELECT p.episode_id FROM ({self.sql}) p WHERE p.{which} = 1"
        return RawSQL(sql, self.params)


def _fetch(sql: str, params: tuple[Any, ...]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _rows(rows: QuerySet) -> list[tuple]:
    """A values_list query's rows as the database gives them, without the ORM's per-row
    conversions (booleans may be 0 and 1, times text on SQLite): for large aggregates."""
    return _fetch(*rows.query.sql_with_params())


@dataclass(frozen=True)
class EpisodeChange:
    """The pain change of one episode with NPRS measures, fetched once per dashboard view:
    responders by condition, sessions until improvement and the review list all read it."""

    condition: str
    evaluable: bool
    responder: bool
    # In the dashboard's scope (a session in the period); else only a review candidate.
    in_scope: bool
    # For a responder, the signed sessions given before its first measure that met the
    # important change (sessions of the whole episode, whatever the date range).
    sessions_until: int


Summary = tuple[int, bool, bool, bool, int, dict[str, int], int, int, dict[str, int]]
# An episode with no signed session and no NPRS measure.
EMPTY: Summary = (0, False, False, False, 0, {}, 0, 0, {})


def _compute_summaries(episodes: QuerySet[EpisodeOfCare] | list[int]) -> dict[int, Summary]:
    """What outcomes.EpisodeSummary keeps, computed from the charts for each of `episodes`
    that has a signed session or NPRS measures: (signed sessions, measured, evaluable,
    responder, sessions until improvement, needling rows per muscle, minor and other
    adverse events, signed sessions per week of the clinic's zone)."""
    signed_sessions = (
        NeedlingSession.objects.filter(episode__in=episodes, signed_at__isnull=False)
        .exclude(_not_in_error())
        .order_by()
    )
    signed: dict[int, int] = {}
    weeks: dict[int, dict[str, int]] = {}
    zones: dict[str, zoneinfo.ZoneInfo] = {}
    for episode, at, zone in signed_sessions.values_list(
        "episode_id", "performed_at", "episode__patient__clinic__timezone"
    ):
        # The Monday of the session's day in its clinic's zone (a clinic changing its zone
        # marks its episodes: db/guards.py).
        day = at.astimezone(zones.get(zone) or zones.setdefault(zone, zoneinfo.ZoneInfo(zone)))
        week = (day.date() - dt.timedelta(days=day.weekday())).isoformat()
        signed[episode] = signed.get(episode, 0) + 1
        counts = weeks.setdefault(episode, {})
        counts[week] = counts.get(week, 0) + 1
    needled: dict[int, dict[str, int]] = {}
    for episode, muscle, n in (
        Insertion.objects.filter(session__in=signed_sessions)
        .order_by()
        .values("session__episode_id", "muscle")
        .annotate(n=Count("id"))
        .values_list("session__episode_id", "muscle", "n")
    ):
        needled.setdefault(episode, {})[muscle] = n
    events = {
        episode: (minor, major)
        for episode, minor, major in _events_now(
            AdverseEvent.objects.filter(session__in=signed_sessions)
        )
        .values("session__episode_id")
        .order_by()
        .annotate(**_BY_SEVERITY)
        .values_list("session__episode_id", "minor", "major")
    }
    change = PainChange.of(episodes)
    # Every signed session: the join picks each episode's own, by the episode index.
    given, given_params = (
        signed_sessions.model.objects.filter(signed_at__isnull=False)
        .exclude(_not_in_error())
        .order_by()
        .values("id", "episode_id", "performed_at")
        .query.sql_with_params()
    )
    changes = {
        episode: (True, bool(evaluable), bool(responder), int(until))
        for episode, evaluable, responder, until in _fetch(
            "SELECT p.episode_id, p.evaluable, p.responder, COUNT(s.id)"
            f" FROM ({change.sql}) p"
            f" LEFT JOIN ({given}) s ON p.responder = 1 AND s.episode_id = p.episode_id"
            " AND s.performed_at < p.improved_at"
            " GROUP BY p.episode_id, p.evaluable, p.responder",
            (*change.params, *given_params),
        )
    }
    return {
        episode: (
            signed.get(episode, 0),
            *changes.get(episode, EMPTY[1:5]),
            dict(sorted(needled.get(episode, {}).items())),
            *events.get(episode, EMPTY[6:8]),
            dict(sorted(weeks.get(episode, {}).items())),
        )
        for episode in signed.keys() | changes.keys()
    }


def _events_now(events: QuerySet[AdverseEvent]) -> QuerySet[AdverseEvent]:
    """The adverse events not entered in error, with their severity as it stands (`now`: a
    follow-up may grade one again), to be counted by `_BY_SEVERITY`."""
    return events.filter(entered_in_error_reason="").annotate(now=severity_now())


# Events counted by their severity now: the mild ones, and any other.
_BY_SEVERITY = {
    "minor": Count("id", filter=Q(now="mild")),
    "major": Count("id", filter=~Q(now="mild")),
}


# Episodes recomputed per batch (see refresh_summaries).
SUMMARY_BATCH = 1000


def refresh_summaries(clinic: Clinic | None = None) -> int:
    """Recompute the kept summary (outcomes.EpisodeSummary) of every episode marked changed
    since it was computed, and return how many were. A row is written only if it was not
    marked again meanwhile (its `changes` as read), so a change committed during the
    computation is never taken for computed: it waits for the next refresh."""
    stale = EpisodeSummary.objects.exclude(computed=F("changes"))
    if clinic is not None:
        # A view reads its own clinic's rows only (docs/scaling.md).
        stale = stale.filter(episode__patient__clinic=clinic)
    marks = dict(stale.values_list("episode_id", "changes"))
    table = EpisodeSummary._meta.db_table
    ids = sorted(marks)
    for start in range(0, len(ids), SUMMARY_BATCH):
        batch = ids[start : start + SUMMARY_BATCH]
        # By their ids, read just above, as a list: PostgreSQL plans the summaries' joins
        # along the indexes for a list, where a subquery of the marks led it to scan every
        # needling row, and a subquery of the listed episodes every pain measure (80 ms for
        # 200 episodes of a clinic of 20,000 patients, 33 ms by the list). A batch at a
        # time: the list is bound once per subquery that reads it, and SQLite takes at most
        # 32,766 values a statement (a demo marks every episode).
        computed = _compute_summaries(batch)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table} SET signed_sessions = %s, measured = %s, evaluable = %s,"
                " responder = %s, sessions_until = %s, needled = %s, minor_events = %s,"
                " major_events = %s, weeks = %s, computed = %s"
                " WHERE episode_id = %s AND changes = %s",
                [
                    (*summary[:5], json.dumps(summary[5]), *summary[6:8], json.dumps(summary[8]),
                     marks[episode], episode, marks[episode])
                    for episode in batch
                    for summary in [computed.get(episode, EMPTY)]
                ],
            )  # fmt: skip
    return len(marks)


def _episode_counts(filters: Filters) -> dict[str, int]:
    """The episodes in scope (with a signed session in the period), and the active ones among
    them."""
    return episodes(filters).aggregate(
        total=Count("pk"), active=Count("pk", filter=Q(status=EpisodeOfCare.Status.ACTIVE))
    )


def _whole_history(filters: Filters) -> bool:
    """The dashboard of every signed session of the clinic: no period, no practitioner."""
    return filters.date_from is None and filters.date_to is None and filters.practitioner is None


def _changes(filters: Filters) -> dict[int, EpisodeChange]:
    """The pain change of every episode in the dashboard's scope (a signed session in the
    period, of the practitioner) or among the review candidates (`_review_candidates`),
    read from the kept summaries (current once `refresh_summaries` has run): one row per
    episode of the clinic rather than every pain measure."""
    in_scope = Exists(sessions(filters).filter(episode=OuterRef("episode_id")))
    candidate = Exists(_review_candidates(filters).filter(pk=OuterRef("episode_id")))
    rows = (
        EpisodeSummary.objects.filter(measured=True, episode__patient__clinic=filters.clinic)
        .annotate(in_scope=in_scope, candidate=candidate)
        .values_list(
            "episode_id", "episode__condition_code", "evaluable", "responder", "in_scope",
            "candidate", "sessions_until",
        )
    )  # fmt: skip
    # Fetched as plain rows: the ORM's per-row converters cost more than the query here.
    return {
        episode: EpisodeChange(condition, bool(evaluable), bool(responder), bool(scope), until)
        for episode, condition, evaluable, responder, scope, candidate, until in _rows(rows)
        if scope or candidate
    }


@dataclass
class _Kept:
    """The figures of the whole history, added up from the kept summaries
    (`_from_kept_summaries`)."""

    changes: dict[int, EpisodeChange]
    counts: dict[str, int]
    weeks: list[tuple[dt.date, int]]
    muscles: list[tuple[str, int, int]]


def _from_kept_summaries(filters: Filters) -> _Kept:
    """Over the whole history, every figure the kept summaries hold, from one read of the
    clinic's summaries (current once `refresh_summaries` has run): the pain change of the
    episodes in scope (a signed session) or among the review candidates (active), the
    episodes and active ones in scope, their adverse events by severity, the signed sessions
    by week and the most-needled muscles. One row per episode, read once, rather than every
    session, needling row and pain measure of the clinic (a query of the summaries per
    figure read the clinic's episodes once each)."""
    active_status = EpisodeOfCare.Status.ACTIVE
    kept = EpisodeSummary.objects.filter(
        Q(signed_sessions__gt=0) | Q(measured=True), episode__patient__clinic=filters.clinic
    ).values_list(
        "episode_id", "episode__patient_id", "episode__condition_code", "episode__status",
        "signed_sessions", "measured", "evaluable", "responder", "sessions_until",
        "minor_events", "major_events", "needled", "weeks",
    )  # fmt: skip
    changes: dict[int, EpisodeChange] = {}
    counts = dict.fromkeys(("total", "active", "minor", "major"), 0)
    weeks: dict[str, int] = {}
    rows: dict[str, int] = {}
    patients: dict[str, set[int]] = {}
    # As the database gives them: the JSON text decoded by orjson, a fraction of the cost of
    # the field's own decoding row by row.
    for (
        episode, patient, condition, status, signed, measured, evaluable, responder, until,
        minor, major, needled, by_week,
    ) in _rows(kept):  # fmt: skip
        active = status == active_status
        if measured and (signed or active):
            changes[episode] = EpisodeChange(
                condition, bool(evaluable), bool(responder), bool(signed), until
            )
        if not signed:
            continue
        counts["total"] += 1
        counts["active"] += active
        counts["minor"] += minor
        counts["major"] += major
        for week, n in _json(by_week).items():
            weeks[week] = weeks.get(week, 0) + n
        for muscle, n in _json(needled).items():
            rows[muscle] = rows.get(muscle, 0) + n
            patients.setdefault(muscle, set()).add(patient)
    top = sorted(rows, key=lambda muscle: (-rows[muscle], muscle))[:MUSCLES_SHOWN]
    return _Kept(
        changes,
        counts,
        [(dt.date.fromisoformat(week), weeks[week]) for week in sorted(weeks)],
        [(muscle, rows[muscle], len(patients[muscle])) for muscle in top],
    )


def _json(value: str | dict) -> dict:
    return value if isinstance(value, dict) else orjson.loads(value)


def _responders_by_condition(changes: dict[int, EpisodeChange]) -> dict[str, dict[str, Any]]:
    counts: dict[str, list[int]] = {}
    for change in changes.values():
        if change.in_scope and change.evaluable:
            evaluated = counts.setdefault(change.condition, [0, 0])
            evaluated[0] += 1
            evaluated[1] += change.responder
    responders = {}
    for condition in sorted(counts):
        evaluated, count = counts[condition]
        low, high = knowledge.wilson_interval(count, evaluated)
        responders[condition] = {
            "display": knowledge.condition(condition).display,
            "episodes": evaluated,
            "responders": count,
            "rate": round(count / evaluated, 3),
            "ci": [round(low, 3), round(high, 3)],
        }
    return responders


def _per_100(events: int, total: int) -> tuple[float, list[float]]:
    if total == 0:
        return 0.0, [0.0, 0.0]
    low, high = knowledge.wilson_interval(min(events, total), total)
    return round(events / total * 100, 2), [round(low * 100, 2), round(high * 100, 2)]


def literature() -> dict[str, Any]:
    """Brady 2014 and Boyce 2020 per 100 treatments, with Wilson intervals. The minor rate is
    the one each paper states (Boyce: 36.7%, though 7,531 of 20,464 is 36.8%: the paper also
    counts 20,494 treatments); the intervals come from the published counts."""
    result = {}
    for study in knowledge.published_rates().studies:
        _, minor_ci = _per_100(study.minor_events, study.treatments)
        minor = round(study.minor_rate * 100, 2)
        major, major_ci = _per_100(study.major_events, study.treatments)
        result[study.key] = {
            "label": study.label,
            "treatments": study.treatments,
            "minor_per_100": minor,
            "major_per_100": major,
            "minor_ci": minor_ci,
            "major_ci": major_ci,
            "note": study.note,
        }
    return result


def _review_candidates(filters: Filters) -> QuerySet[EpisodeOfCare]:
    """The episodes the review list looks at: the clinic's active ones (the practitioner's,
    as care manager, when the dashboard is filtered by practitioner)."""
    rows = EpisodeOfCare.objects.filter(
        patient__clinic=filters.clinic, status=EpisodeOfCare.Status.ACTIVE
    )
    if filters.practitioner:
        rows = rows.filter(care_manager=filters.practitioner)
    return rows


def _with_review_facts(rows: QuerySet[EpisodeOfCare]) -> QuerySet[EpisodeOfCare]:
    """Each episode's signed sessions (`signed`), with its latest plan's review date kept on
    it (`plan_review_on`), in the order the review list shows them."""
    signed = (
        NeedlingSession.objects.filter(episode=OuterRef("pk"), signed_at__isnull=False)
        .exclude(_not_in_error())
        .order_by()
        .values("episode")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        rows.annotate(signed=Coalesce(Subquery(signed), Value(0)))
        .select_related("patient")
        .order_by("patient__family_name", "patient__given_name", "pk")
    )


def review_due(filters: Filters, today: dt.date) -> QuerySet[EpisodeOfCare]:
    """Active episodes that need a review: no important improvement after the clinic's number
    of sessions, or a plan whose review date has passed."""
    rows = _review_candidates(filters)
    responders = PainChange.of(rows).episode_ids("responder")
    no_gain = Q(signed__gte=filters.clinic.review_after_sessions) & ~Q(pk__in=responders)
    return _with_review_facts(rows).filter(no_gain | Q(plan_review_on__lt=today))


def _review_due(
    filters: Filters, today: dt.date, changes: dict[int, EpisodeChange]
) -> list[dict[str, Any]]:
    """review_due() as the dashboard lists it, reading the responders from the pain changes
    already fetched rather than running the window query again: the database returns every
    candidate past the session count or the plan's date, and the responders among those only
    past the count drop out. Rows, not model instances: a large clinic has thousands."""
    after = filters.clinic.review_after_sessions
    # The signed sessions as kept in the episodes' summaries, current since `_changes`.
    rows = (
        _review_candidates(filters)
        .annotate(signed=Coalesce("summary__signed_sessions", Value(0)))
        .filter(Q(signed__gte=after) | Q(plan_review_on__lt=today))
        .order_by("patient__family_name", "patient__given_name", "pk")
        .values_list(
            "pk", "patient_id", "patient__mrn", "patient__given_name", "patient__family_name",
            "condition_code", "signed", "plan_review_on",
        )
    )  # fmt: skip
    due = []
    for episode, patient, mrn, given, family, condition, signed, review_on in rows:
        overdue = review_on is not None and review_on < today
        if overdue or (signed >= after and not (episode in changes and changes[episode].responder)):
            due.append({
                "episode": episode,
                "patient": patient,
                "mrn": mrn,
                "name": full_name(given, family),
                "condition": condition,
                "sessions": signed,
                "reason": "plan review overdue"
                if overdue
                else f"no important improvement after {signed} sessions",
            })  # fmt: skip
    return due


def review_listed(rows: list[dict[str, Any]]) -> list[EpisodeOfCare]:
    """The episodes of review-list rows, to audit as listed or exported: each row carries the
    episode and its patient, all the audit trail records, so no query reads them again (an
    export of the whole list can name thousands)."""
    return [EpisodeOfCare(pk=row["episode"], patient_id=row["patient"]) for row in rows]


def record_read_out(
    *,
    actor: User | None,
    detail: dict[str, Any],
    named: list[dict[str, Any]],
    action: str,
    clinic: Clinic | None = None,
) -> None:
    """The figures read out of the app (the API, a CSV, the command) in the audit trail:
    the export, and each episode of the review-list rows `named` as `action` (listed or
    exported), in one write, so that the export is never recorded without the patients it
    names. `clinic`: where no actor gives it (the command)."""
    from needlechart.audit import services as audit

    audit.record_together(actor=actor, rows=[
        {"action": audit.Action.EXPORT, "object_type": "Dashboard", "clinic": clinic,
         "detail": detail},
        *({"action": action, "obj": episode, "clinic": clinic, "detail": detail}
          for episode in review_listed(named)),
    ])  # fmt: skip


def _utc_buckets(
    in_range: QuerySet[NeedlingSession], tz: dt.tzinfo, minutes: int
) -> dict[dt.date, int] | None:
    """On SQLite, the sessions by local week counted from UTC buckets of `minutes` (60 or
    15): the database groups by the stored UTC text, Python places each bucket in its local
    week. None if a bucket spans two local days (the zone's offset is not a whole number of
    buckets)."""
    step = dt.timedelta(minutes=minutes)
    buckets = in_range.annotate(hour=Substr("performed_at", 1, 13))
    fields = ["hour"]
    if minutes < 60:
        buckets = buckets.annotate(
            part=ExpressionWrapper(
                Cast(Substr("performed_at", 15, 2), IntegerField()) / Value(minutes),
                output_field=IntegerField(),
            )
        )
        fields.append("part")
    counts: dict[dt.date, int] = {}
    for *bucket, n in _rows(buckets.order_by().values_list(*fields).annotate(n=Count("id"))):
        start = dt.datetime.fromisoformat(f"{bucket[0]}:00+00:00")
        if minutes < 60:
            start += bucket[1] * step
        day = start.astimezone(tz).date()
        if (start + step - dt.timedelta(microseconds=1)).astimezone(tz).date() != day:
            return None
        week = day - dt.timedelta(days=day.weekday())
        counts[week] = counts.get(week, 0) + n
    return counts


def _sessions_per_week(
    in_range: QuerySet[NeedlingSession], tz: dt.tzinfo
) -> list[tuple[dt.date, int]]:
    """Signed sessions by the clinic's local week (starting Monday), oldest first.

    SQLite has no time zones: Django converts every row's time in Python, the slowest part
    of the dashboard on a large clinic. There the database counts the sessions by UTC hour
    (stored times are UTC text) and Python places each hour in its local week, which holds
    wherever the offset is a whole number of hours; else by quarter hour, as every zone's
    offset and change of offset today falls on a quarter hour. Should neither (a zone's
    historical offset), the database converts instead."""
    if connection.vendor == "sqlite":
        for minutes in (60, 15):
            counts = _utc_buckets(in_range, tz, minutes)
            if counts is not None:
                return sorted(counts.items())
    weeks = (
        in_range.annotate(week=TruncWeek("performed_at", tzinfo=tz))
        .order_by()
        .values_list("week")
        .annotate(n=Count("id"))
        .order_by("week")
    )
    return [(week.date(), n) for week, n in weeks]


# The most-needled muscles listed: by needling rows, then by slug.
MUSCLES_SHOWN = 10


def _most_needled(in_range: QuerySet[NeedlingSession]) -> list[tuple]:
    """The most-needled muscles of the sessions in a period or of a practitioner: (slug,
    needling rows, patients), counted in SQL."""
    # Rows per muscle and patient first, then per muscle: counting distinct patients in one
    # step sorts every row again.
    by_patient, params = (
        Insertion.objects.filter(session__in=in_range)
        .order_by()
        .values("muscle", "session__episode__patient")
        .annotate(n=Count("id"))
        .query.sql_with_params()
    )
    return _fetch(
        f"SELECT m.muscle, SUM(m.n), COUNT(*) FROM ({by_patient}) m"
        f" GROUP BY m.muscle ORDER BY 2 DESC, m.muscle LIMIT {MUSCLES_SHOWN}",
        params,
    )


def figures(filters: Filters, today: dt.date | None = None) -> dict[str, Any]:
    """Every dashboard figure, in a fixed number of queries.

    The cycle collector is paused meanwhile: a large clinic's tens of thousands of summary
    rows (and the dicts and sets they are added up in) set it off again and again, each
    time scanning everything alive, so its cost grew faster than the clinic (at 20,000
    patients a sixth of the figures' time); they are all freed by reference counting."""
    with no_cycle_collection():
        return _figures(filters, today)


def _figures(filters: Filters, today: dt.date | None) -> dict[str, Any]:
    today = today or timezone.localdate()
    in_range = sessions(filters)
    # First: the kept summaries are recomputed where marked, so that the figures may read them.
    refresh_summaries(filters.clinic)
    if _whole_history(filters):
        kept = _from_kept_summaries(filters)
        changes, episode_counts, weeks, muscles = (
            kept.changes,
            kept.counts,
            kept.weeks,
            kept.muscles,
        )
        events = kept.counts
    else:
        changes = _changes(filters)
        episode_counts = _episode_counts(filters)
        weeks = _sessions_per_week(in_range, zoneinfo.ZoneInfo(filters.clinic.timezone))
        muscles = _most_needled(in_range)
        # By each event's severity as it stands (a follow-up may grade it again).
        events = _events_now(AdverseEvent.objects.filter(session__in=in_range)).aggregate(
            **_BY_SEVERITY
        )
    # Every session in the period falls in one week: their sum is the count, without a scan.
    session_count = sum(n for _, n in weeks)
    minor, minor_ci = _per_100(events["minor"], session_count)
    major, major_ci = _per_100(events["major"], session_count)
    until = [c.sessions_until for c in changes.values() if c.in_scope and c.responder]
    due = _review_due(filters, today, changes)
    return {
        "filters": {
            "from": filters.date_from.isoformat() if filters.date_from else None,
            "to": filters.date_to.isoformat() if filters.date_to else None,
            "practitioner": filters.practitioner.pk if filters.practitioner else None,
            "clinic": filters.clinic.pk,
        },
        "sessions": session_count,
        "episodes": episode_counts["total"],
        "active_episodes": episode_counts["active"],
        "sessions_per_week": [{"week": week.isoformat(), "sessions": n} for week, n in weeks],
        "adverse_events": {
            "minor": events["minor"],
            "major": events["major"],
            "minor_per_100": minor,
            "major_per_100": major,
            "minor_ci": minor_ci,
            "major_ci": major_ci,
        },
        "literature": literature(),
        "responders_by_condition": _responders_by_condition(changes),
        "responder_rule": responder_rule(),
        "median_sessions_to_improvement": statistics.median(until) if until else None,
        "most_needled_muscles": [
            {
                "muscle": muscle,
                "name": knowledge.muscle(muscle).name,
                "rows": int(rows),
                "patients": patients,
            }
            for muscle, rows, patients in muscles
        ],
        "review_due": due,
    }


# --- figures kept between views ------------------------------------------------------------
#
# The figures change only when a row they are computed from changes, and every such row is
# marked on its episode's summary by the database's triggers (db/guards.py,
# `summary_sources`), on every path. So a view first reads the clinic's marks (one small
# aggregate over its episodes' summaries) and reuses the figures of an earlier view when the
# marks, the filters, the clinic's settings and the day are all the same; otherwise it
# computes them afresh. Kept in the process, for a few views: figures hold patients' names.
KEPT_VIEWS = 16
_kept: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
_kept_lock = threading.Lock()


def marks(clinic: Clinic) -> tuple[int, int, int]:
    """The state of the clinic's episode summaries: how many, their marks added up, and the
    newest episode. Any change to a row the figures read changes it."""
    state = EpisodeSummary.objects.filter(episode__patient__clinic=clinic).aggregate(
        count=Count("pk"), total=Coalesce(Sum("changes"), 0), newest=Coalesce(Max("pk"), 0)
    )
    return state["count"], state["total"], state["newest"]


def kept_figures(filters: Filters, today: dt.date | None = None) -> dict[str, Any]:
    """figures(), reused from an earlier view when nothing they read has changed since.
    The result is shared between views: read it, never change it."""
    today = today or timezone.localdate()
    clinic = filters.clinic
    # Read before the figures: a change committed while they are computed then shows as a
    # different key at the next view, and is never hidden under this one.
    key = (
        clinic.pk, clinic.timezone, clinic.review_after_sessions, filters.date_from,
        filters.date_to, filters.practitioner.pk if filters.practitioner else None, today,
        marks(clinic),
    )  # fmt: skip
    with _kept_lock:
        found = _kept.get(key)
        if found is not None:
            _kept.move_to_end(key)
            return found
    computed = figures(filters, today=today)
    with _kept_lock:
        _kept[key] = computed
        while len(_kept) > KEPT_VIEWS:
            _kept.popitem(last=False)
    return computed


def forget_kept() -> None:
    """Drop every kept figure (tests start each with none)."""
    with _kept_lock:
        _kept.clear()


def drilldown(
    filters: Filters, figure: str, *, condition: str = "", muscle: str = "", today: dt.date
) -> QuerySet[EpisodeOfCare]:
    """The episodes behind one dashboard figure, so every number leads to its patients."""
    in_range = sessions(filters)
    if _whole_history(filters):
        # Over the whole history an episode is in scope by its kept summary, as the figures
        # count it: testing every episode for a signed session read every session of the
        # clinic (170 ms of a page of 50 at 20,000 patients on PostgreSQL).
        refresh_summaries(filters.clinic)
        scoped = EpisodeOfCare.objects.filter(
            patient__clinic=filters.clinic, summary__signed_sessions__gt=0
        )
    else:
        scoped = episodes(filters)
    if figure in ("sessions", "episodes"):
        rows = scoped
    elif figure == "active":
        rows = scoped.filter(status=EpisodeOfCare.Status.ACTIVE)
    elif figure in ("evaluated", "responders"):
        which = "evaluable" if figure == "evaluated" else "responder"
        rows = scoped.filter(pk__in=PainChange.of(scoped).episode_ids(which))
    elif figure == "adverse-events":
        events = AdverseEvent.objects.filter(session__in=in_range, entered_in_error_reason="")
        rows = scoped.filter(Exists(events.filter(session__episode=OuterRef("pk"))))
    elif figure == "muscle":
        needled = Insertion.objects.filter(session__in=in_range, muscle=muscle)
        rows = scoped.filter(Exists(needled.filter(session__episode=OuterRef("pk"))))
    elif figure == "review":
        rows = review_due(filters, today)
    else:
        raise ValueError(f"unknown figure {figure!r}")
    if condition:
        rows = rows.filter(condition_code=condition)
    return rows.order_by("patient__family_name", "patient__given_name", "pk")
