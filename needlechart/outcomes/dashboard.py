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
import math
import statistics
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import RawSQL, Window
from django.db.models.functions import Coalesce, FirstValue, RowNumber, TruncWeek
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts.models import Clinic, Practitioner
from needlechart.charting.models import Addendum, AdverseEvent, Insertion, NeedlingSession
from needlechart.knowledge.instruments import describe_threshold
from needlechart.knowledge.instruments import source as threshold_source
from needlechart.outcomes.models import CarePlan, Observation
from needlechart.patients.models import EpisodeOfCare

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


def _course(episodes: QuerySet[EpisodeOfCare]) -> QuerySet[Observation]:
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
        .exclude(
            Exists(Addendum.objects.filter(session=OuterRef("session_id"), kind="entered-in-error"))
        )
        .exclude(
            Exists(
                Addendum.objects.filter(
                    assessment=OuterRef("assessment_id"), kind="entered-in-error"
                )
            )
        )
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
    def of(cls, episodes: QuerySet[EpisodeOfCare]) -> "PainChange":
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


def _responders_by_condition(change: PainChange) -> list[tuple]:
    return _fetch(
        "SELECT p.condition, SUM(p.evaluable), SUM(p.responder)"
        f" FROM ({change.sql}) p GROUP BY p.condition ORDER BY p.condition",
        change.params,
    )


def _sessions_until_improvement(change: PainChange, episodes: QuerySet[EpisodeOfCare]) -> list[int]:
    """For each responder, the signed sessions given before its first measure that met the
    important change (sessions of the whole episode, whatever the date range)."""
    given, given_params = (
        NeedlingSession.objects.filter(episode__in=episodes, signed_at__isnull=False)
        .exclude(_not_in_error())
        .order_by()
        .values("id", "episode_id", "performed_at")
        .query.sql_with_params()
    )
    rows = _fetch(
        "SELECT COUNT(s.id) FROM"
        f" ({change.sql}) p LEFT JOIN ({given}) s"
        " ON s.episode_id = p.episode_id AND s.performed_at < p.improved_at"
        " WHERE p.responder = 1 GROUP BY p.episode_id",
        (*change.params, *given_params),
    )
    return [n for (n,) in rows]


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


def review_due(filters: Filters, today: dt.date) -> QuerySet[EpisodeOfCare]:
    """Active episodes that need a review: no important improvement after the clinic's number
    of sessions, or a plan whose review date has passed."""
    signed = (
        NeedlingSession.objects.filter(episode=OuterRef("pk"), signed_at__isnull=False)
        .exclude(_not_in_error())
        .order_by()
        .values("episode")
        .annotate(n=Count("id"))
        .values("n")
    )
    plan_review = (
        CarePlan.objects.filter(episode=OuterRef("pk")).order_by("-version").values("review_on")[:1]
    )
    rows = EpisodeOfCare.objects.filter(
        patient__clinic=filters.clinic, status=EpisodeOfCare.Status.ACTIVE
    )
    if filters.practitioner:
        rows = rows.filter(care_manager=filters.practitioner)
    responders = PainChange.of(rows).episode_ids("responder")
    rows = rows.annotate(
        signed=Coalesce(Subquery(signed), Value(0)), plan_review_on=Subquery(plan_review)
    )
    no_gain = Q(signed__gte=filters.clinic.review_after_sessions) & ~Q(pk__in=responders)
    return (
        rows.filter(no_gain | Q(plan_review_on__lt=today))
        .select_related("patient")
        .order_by("patient__family_name", "patient__given_name", "pk")
    )


def figures(filters: Filters, today: dt.date | None = None) -> dict[str, Any]:
    """Every dashboard figure, in a fixed number of queries."""
    today = today or timezone.localdate()
    in_range = sessions(filters)
    session_count = in_range.count()
    scoped = episodes(filters)
    episode_counts = scoped.aggregate(
        total=Count("pk"), active=Count("pk", filter=Q(status=EpisodeOfCare.Status.ACTIVE))
    )
    tz = zoneinfo.ZoneInfo(filters.clinic.timezone)
    weeks = (
        in_range.annotate(week=TruncWeek("performed_at", tzinfo=tz))
        .order_by()
        .values("week")
        .annotate(n=Count("id"))
        .order_by("week")
    )
    events = AdverseEvent.objects.filter(
        session__in=in_range, entered_in_error_reason=""
    ).aggregate(
        minor=Count("id", filter=Q(severity="mild")), major=Count("id", filter=~Q(severity="mild"))
    )
    minor, minor_ci = _per_100(events["minor"], session_count)
    major, major_ci = _per_100(events["major"], session_count)
    change = PainChange.of(scoped)
    responders = {}
    for condition, evaluated, count in _responders_by_condition(change):
        evaluated, count = int(evaluated or 0), int(count or 0)
        if not evaluated:
            continue
        low, high = knowledge.wilson_interval(count, evaluated)
        responders[condition] = {
            "display": knowledge.condition(condition).display,
            "episodes": evaluated,
            "responders": count,
            "rate": round(count / evaluated, 3),
            "ci": [round(low, 3), round(high, 3)],
        }
    until = _sessions_until_improvement(change, scoped)
    muscles = (
        Insertion.objects.filter(session__in=in_range)
        .values("muscle")
        .annotate(rows=Count("id"), patients=Count("session__episode__patient", distinct=True))
        .order_by("-rows", "muscle")[:10]
    )
    due = review_due(filters, today)
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
        "sessions_per_week": [
            {"week": r["week"].date().isoformat(), "sessions": r["n"]} for r in weeks
        ],
        "adverse_events": {
            "minor": events["minor"],
            "major": events["major"],
            "minor_per_100": minor,
            "major_per_100": major,
            "minor_ci": minor_ci,
            "major_ci": major_ci,
        },
        "literature": literature(),
        "responders_by_condition": responders,
        "responder_rule": responder_rule(),
        "median_sessions_to_improvement": statistics.median(until) if until else None,
        "most_needled_muscles": [
            {
                "muscle": r["muscle"],
                "name": knowledge.muscle(r["muscle"]).name,
                "rows": r["rows"],
                "patients": r["patients"],
            }
            for r in muscles
        ],
        "review_due": [
            {
                "episode": e.pk,
                "patient": e.patient_id,
                "mrn": e.patient.mrn,
                "name": e.patient.full_name,
                "condition": e.condition_code,
                "sessions": e.signed,
                "reason": "plan review overdue"
                if e.plan_review_on and e.plan_review_on < today
                else f"no important improvement after {e.signed} sessions",
            }
            for e in due
        ],
    }


def drilldown(
    filters: Filters, figure: str, *, condition: str = "", muscle: str = "", today: dt.date
) -> QuerySet[EpisodeOfCare]:
    """The episodes behind one dashboard figure, so every number leads to its patients."""
    in_range = sessions(filters)
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
