"""The clinic dashboard, computed by the database: a fixed number of aggregate queries
whatever the size of the clinic. The rules match progress.py (the episode page) and the
knowledge thresholds; tests recompute every figure from the charts to hold them together.

Definitions (docs/outcomes.md):
- sessions: signed, not entered in error, performed in the date range (by the practitioner);
- episodes: those with at least one such session;
- pain change: the episode's NPRS baseline (its first "baseline" measure, else its first
  measure of the course) against its latest course measure (any NPRS but the ones taken
  right after needling); a responder's change is "improved" by the NPRS threshold for its
  condition;
- sessions until improvement: signed sessions given before the first course measure that
  met the threshold.
"""

import datetime as dt
import statistics
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import (
    Case,
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts.models import Clinic, Practitioner
from needlechart.charting.models import Addendum, AdverseEvent, Insertion, NeedlingSession
from needlechart.outcomes.models import CarePlan, Observation
from needlechart.patients.models import EpisodeOfCare

COURSE = ("baseline", "before", "reassessment", "discharge")
EPSILON = Decimal("0.000001")
DECIMAL = DecimalField(max_digits=12, decimal_places=6)


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


def _course(timings: tuple[str, ...]) -> QuerySet[Observation]:
    """The episode's valid NPRS measures of the given timings, with their effective time."""
    return (
        Observation.objects.filter(
            episode=OuterRef("pk"), code="nprs", timing__in=timings, entered_in_error_reason=""
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
        .annotate(at=Coalesce("session__performed_at", "assessment__performed_at", "recorded_at"))
    )


def _threshold_cases() -> tuple[Case, Case]:
    """The NPRS important change for each episode's condition, as SQL: (absolute, relative)."""
    nprs = knowledge.instrument("nprs")
    base = nprs.important_change
    assert base is not None
    absolute_when, relative_when = [], []
    for override in nprs.condition_overrides:
        match = Q()
        for code in override.conditions:
            match |= Q(condition_code__startswith=code)
        absolute_when.append(When(match, then=Value(Decimal(str(override.absolute or 0)))))
        relative_when.append(When(match, then=Value(Decimal(str(override.relative or 0)))))
    absolute = Case(
        *absolute_when, default=Value(Decimal(str(base.absolute or 0))), output_field=DECIMAL
    )
    relative = Case(
        *relative_when, default=Value(Decimal(str(base.relative or 0))), output_field=DECIMAL
    )
    return absolute, relative


def with_pain_change(rows: QuerySet[EpisodeOfCare]) -> QuerySet[EpisodeOfCare]:
    """Episodes annotated with their NPRS baseline, latest value, and whether they responded."""
    first = lambda timings: _course(timings).order_by("at", "id")  # noqa: E731
    baseline = Coalesce(
        Subquery(first(("baseline",)).values("id")[:1]), Subquery(first(COURSE).values("id")[:1])
    )
    latest = _course(COURSE).order_by("-at", "-id")
    absolute, relative = _threshold_cases()
    rows = rows.annotate(
        baseline_id=baseline,
        latest_id=Subquery(latest.values("id")[:1]),
        abs_needed=absolute,
        rel_needed=relative,
    ).annotate(
        baseline_value=Subquery(
            Observation.objects.filter(pk=OuterRef("baseline_id")).values("value")[:1]
        ),
        latest_value=Subquery(
            Observation.objects.filter(pk=OuterRef("latest_id")).values("value")[:1]
        ),
    )
    rows = rows.annotate(
        improvement=ExpressionWrapper(
            F("baseline_value") - F("latest_value"), output_field=DECIMAL
        ),
        evaluable=Case(
            When(
                Q(baseline_id__isnull=False, latest_id__isnull=False)
                & ~Q(latest_id=F("baseline_id")),
                then=1,
            ),
            default=0,
            output_field=IntegerField(),
        ),
    )
    met = (
        Q(improvement__gt=0)
        & Q(improvement__gte=F("abs_needed") - EPSILON)
        & Q(improvement__gte=F("rel_needed") * F("baseline_value") - EPSILON)
    )
    return rows.annotate(
        responder=Case(When(Q(evaluable=1) & met, then=1), default=0, output_field=IntegerField())
    )


def _sessions_until_improvement(rows: QuerySet[EpisodeOfCare]) -> QuerySet[EpisodeOfCare]:
    gain = ExpressionWrapper(OuterRef("baseline_value") - F("value"), output_field=DECIMAL)
    # Signed sessions of the episode given before the measure: counted from the measure's
    # own row, as a subquery on an outer annotation would repeat the whole annotation for
    # every session (seconds on a large clinic).
    given_before = (
        NeedlingSession.objects.filter(
            episode=OuterRef(OuterRef("pk")),
            signed_at__isnull=False,
            performed_at__lt=OuterRef("at"),
        )
        .exclude(_not_in_error())
        .order_by()
        .values("episode")
        .annotate(n=Count("id"))
        .values("n")
    )
    first_met = (
        _course(("before", "reassessment", "discharge"))
        .exclude(pk=OuterRef("baseline_id"))
        .annotate(gain=gain)
        .filter(
            gain__gt=0,
            gain__gte=OuterRef("abs_needed") - EPSILON,
        )
        .filter(
            gain__gte=ExpressionWrapper(
                OuterRef("rel_needed") * OuterRef("baseline_value") - EPSILON, output_field=DECIMAL
            )
        )
        .annotate(given=Subquery(given_before))
        .order_by("at", "id")
    )
    return rows.annotate(sessions_until=Coalesce(Subquery(first_met.values("given")[:1]), Value(0)))


def _per_100(events: int, total: int) -> tuple[float, list[float]]:
    if total == 0:
        return 0.0, [0.0, 0.0]
    low, high = knowledge.wilson_interval(min(events, total), total)
    return round(events / total * 100, 2), [round(low * 100, 2), round(high * 100, 2)]


def literature() -> dict[str, Any]:
    """Brady 2014 and Boyce 2020 per 100 treatments, with Wilson intervals."""
    result = {}
    for study in knowledge.published_rates().studies:
        minor, minor_ci = _per_100(study.minor_events, study.treatments)
        major, major_ci = _per_100(study.major_events, study.treatments)
        result[study.key] = {
            "label": study.label,
            "treatments": study.treatments,
            "minor_per_100": minor,
            "major_per_100": major,
            "minor_ci": minor_ci,
            "major_ci": major_ci,
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
    rows = with_pain_change(rows).annotate(
        signed=Coalesce(Subquery(signed), Value(0)), plan_review_on=Subquery(plan_review)
    )
    no_gain = Q(signed__gte=filters.clinic.review_after_sessions) & Q(responder=0)
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
    by_condition = (
        with_pain_change(scoped)
        .order_by()
        .values("condition_code")
        .annotate(evaluated=Sum("evaluable"), responders=Sum("responder"))
        .order_by("condition_code")
    )
    responders = {}
    for row in by_condition:
        evaluated, count = row["evaluated"] or 0, row["responders"] or 0
        if not evaluated:
            continue
        low, high = knowledge.wilson_interval(count, evaluated)
        responders[row["condition_code"]] = {
            "display": knowledge.condition(row["condition_code"]).display,
            "episodes": evaluated,
            "responders": count,
            "rate": round(count / evaluated, 3),
            "ci": [round(low, 3), round(high, 3)],
        }
    until = list(
        _sessions_until_improvement(with_pain_change(scoped).filter(responder=1)).values_list(
            "sessions_until", flat=True
        )
    )
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
        rows = with_pain_change(scoped).filter(evaluable=1)
        if figure == "responders":
            rows = rows.filter(responder=1)
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
