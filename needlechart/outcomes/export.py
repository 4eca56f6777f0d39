"""A patient's whole record as plain JSON: `needlechart chart`, and later the portal's
right of access. One fixed set of queries serves any number of patients."""

import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import orjson
from django.db.models import Model, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from needlechart import knowledge
from needlechart.accounts.models import Practitioner
from needlechart.charting.models import (
    Addendum,
    AdverseEvent,
    AdverseEventFollowUp,
    AftercareIssue,
    Assessment,
    Consent,
    ConsentWithdrawal,
    Insertion,
    NeedleSize,
    NeedlingSession,
    PainMark,
    Screening,
    TriggerPointFinding,
)
from needlechart.outcomes.models import CarePlan, Discharge, Observation, PlanGoal, PlanTherapy
from needlechart.outcomes.progress import GLOBAL, measure_label, series_of
from needlechart.patients.models import EpisodeOfCare, Patient
from needlechart.rows import Columns, Related, no_cycle_collection


class ChartQuerySet(QuerySet[Patient]):
    """Patients that bring their whole chart with them: when the patients are read, one
    fixed set of queries loads every record `patient_chart` needs, as lists of plain rows on
    the instances (`chart_consents`, `chart_episodes`, each episode with its own lists).

    Written by hand rather than with `prefetch_related`: Django's prefetching builds a
    manager and a queryset for each of the hundreds of thousands of records a clinic-wide
    export reads, and a model instance per row; here the columns the chart shows are read
    as named tuples (`needlechart.rows`), and the few practitioners and needle sizes once.
    """

    def _fetch_all(self) -> None:
        fresh = self._result_cache is None
        super()._fetch_all()
        if fresh and self._result_cache and isinstance(self._result_cache[0], Patient):
            load_charts(self._result_cache)


def with_chart(patients: QuerySet[Patient]) -> QuerySet[Patient]:
    """The patients with everything `patient_chart` reads, loaded in fixed queries."""
    chosen = patients.select_related("clinic")
    return ChartQuerySet(model=Patient, query=chosen.query, using=chosen.db)


class _Iso:
    """How the chart takes a date and time (`Columns`' `moment`): as the ISO text of the
    instant in UTC, which the chart prints and which sorts as the instants do (every time
    is in UTC, in one form).

    A clinic's export holds hundreds of thousands of them: made from the text SQLite keeps,
    they are never parsed into a datetime and formatted back."""

    def __call__(self, moment: dt.datetime) -> str:
        return moment.astimezone(dt.UTC).isoformat()

    def utc_text(self) -> Callable[[str], str]:
        return _iso_of_utc_text


def _iso_of_utc_text(text: str) -> str:
    """The ISO text of a UTC instant as SQLite holds it: 'YYYY-MM-DD HH:MM:SS', perhaps
    with '.ffffff', as Django writes one (text of another form is parsed in full)."""
    if len(text) in (19, 26) and text[10] == " " and text[13] == ":" == text[16]:
        return f"{text[:10]}T{text[11:]}+00:00"
    moment = parse_datetime(text)
    if moment is None:
        raise ValueError(f"{text!r} is not a date and time")
    return _ISO(moment if timezone.is_aware(moment) else moment.replace(tzinfo=dt.UTC))


_ISO = _Iso()


def _list(
    name: str,
    key: str,
    model: type[Model],
    own: str,
    *lists: Related,
    linked: dict[str, str] | None = None,
) -> Related:
    """The rows of `model` a record lists as `name` (those whose `key` is its id, in the
    model's order), with their `own` columns and their own lists."""
    columns = Columns(f"{model.__name__}Row", own, linked, lists, moment=_ISO)
    return Related(name, key, model.objects.all, columns)


# The columns of each record the chart shows, and the lists of rows each record brings:
# one query per table for a whole chunk of patients.
_ADDENDUM = "kind reason text written_at author_id"
_SESSIONS = _list(
    "sessions", "episode_id", NeedlingSession,
    "pk episode_id performed_at practitioner_id signed_at screening_status needles_opened "
    "needles_removed sharps_disposed consent_confirmed patient_position gloves antisepsis "
    "guide_tube needle_brand needle_lot haemostasis soreness_after co_treatments cpt_code",
    _list("insertions", "session_id", Insertion,
          "muscle side needles needle_size_id depth technique twitch_responses familiar_pain "
          "tolerance safety_verdict angle approach ultrasound_guided lead_to_muscle "
          "lead_to_side"),
    _list("adverse_events", "session_id", AdverseEvent,
          "pk session_id event_type severity onset duration_value duration_unit action_taken "
          "outcome muscles entered_in_error_reason",
          _list("follow_ups", "event_id", AdverseEventFollowUp,
                "severity duration_value duration_unit action_taken outcome recorded_at")),
    _list("aftercare", "session_id", AftercareIssue, "issued_at"),
    _list("addenda", "session_id", Addendum, _ADDENDUM),
)  # fmt: skip
_ASSESSMENTS = _list(
    "assessments", "episode_id", Assessment,
    "pk episode_id kind performed_at practitioner_id signed_at note",
    _list("pain_marks", "assessment_id", PainMark, "region intensity quality"),
    _list("findings", "assessment_id", TriggerPointFinding,
          "muscle side taut_band hypersensitive_spot referred_sensation referred_regions "
          "recognised jump_sign twitch_response pressure_pain_threshold"),
    _list("addenda", "assessment_id", Addendum, _ADDENDUM),
)  # fmt: skip
_EPISODES = _list(
    "chart_episodes", "patient_id", EpisodeOfCare,
    "pk patient_id condition_code body_area status period_start period_end care_manager_id",
    _list("discharge", "episode_id", Discharge, "reason summary discharged_at snapshot"),
    _list("screenings", "episode_id", Screening, "pk recorded_at factors"),
    _list("observations", "episode_id", Observation,
          "pk session_id assessment_id code component side timing value recorded_at "
          "entered_in_error_reason"),
    _ASSESSMENTS,
    _SESSIONS,
    # The newest version first (the model's order): the plan shown is the first.
    _list("care_plans", "episode_id", CarePlan,
          "pk episode_id version planned_sessions frequency review_on note",
          _list("goals", "plan_id", PlanGoal, "description code component target target_date"),
          _list("therapies", "plan_id", PlanTherapy, "kind provider frequency exercises note")),
)  # fmt: skip
_CONSENTS = _list(
    "chart_consents", "patient_id", Consent, "pk patient_id signed_at signed_name channel",
    _list("withdrawal", "consent_id", ConsentWithdrawal, "withdrawn_at"),
    linked={"template_version": "template__version"},
)  # fmt: skip


def load_charts(patients: list[Patient]) -> None:
    """Read every record of these patients' charts onto them, in one query per table."""
    # The patients' ids as a subquery, and so each table's: a chunk's records are many
    # thousands, and an `IN` list costs Python time per id (see `Columns.read`).
    ids = Patient.objects.filter(pk__in=[p.pk for p in patients]).values("pk")
    consents = _CONSENTS.grouped(ids)
    episodes = _EPISODES.grouped(ids)
    # The few practitioners and needle sizes, by name, read once rather than joined onto
    # each row.
    staff: set[int] = set()
    needles: set[int] = set()
    for rows in episodes.values():
        for e in rows:
            staff.add(e.care_manager_id)
            staff.update(a.practitioner_id for a in e.assessments)
            for s in e.sessions:
                staff.add(s.practitioner_id)
                needles.update(i.needle_size_id for i in s.insertions)
    names = Practitioner.objects.select_related("user").in_bulk(staff)
    sizes = NeedleSize.objects.in_bulk(needles)
    practitioners = {pk: str(p) for pk, p in names.items()}
    needle_sizes = {pk: str(n) for pk, n in sizes.items()}
    memo = _Memo()
    for patient in patients:
        patient.chart_consents = consents.get(patient.pk, [])
        patient.chart_episodes = episodes.get(patient.pk, [])
        patient.chart_practitioners = practitioners
        patient.chart_needle_sizes = needle_sizes
        patient.chart_memo = memo


class _Memo:
    """The labels and classified changes of measures, which recur across a chunk's charts
    (pain 6 -> 3 ...): each worked out once per chunk. They depend on the knowledge only."""

    def __init__(self) -> None:
        self.labels: dict[tuple[str, str, str], str] = {}
        self.verdicts: dict[tuple[str, Any, Any, str | None], dict[str, Any]] = {}

    def label(self, code: str, component: str, side: str = "") -> str:
        key = (code, component, side)
        if key not in self.labels:
            self.labels[key] = measure_label(code, component, side)
        return self.labels[key]

    def verdict(
        self, measure: str, before: Any, after: Any, condition: str | None
    ) -> dict[str, Any]:
        """The change from `before` to `after` classified, as the chart shows it."""
        key = (measure, before, after, condition)
        if key not in self.verdicts:
            change = knowledge.classify_change(measure, before, after, condition=condition)
            self.verdicts[key] = {
                "classification": change.classification,
                "change": change.change,
                "threshold": change.threshold,
            }
        return self.verdicts[key]


class _Names(NamedTuple):
    """What a patient's records name by id, and their measurements by record."""

    tz: zoneinfo.ZoneInfo
    practitioners: dict[int, str]
    needle_sizes: dict[int, str]
    of_sessions: dict[int, list[Any]]
    of_assessments: dict[int, list[Any]]
    memo: _Memo


def _when(value: Any) -> str | None:
    """A date, or an instant (already its text, `_Iso`), as the chart prints it."""
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()


def chart_text(chart: dict[str, Any], *, indent: bool = True) -> str:
    """A chart (or a document holding one) as JSON text: what `json.dumps` writes with
    `ensure_ascii=False` and `indent=2`, or with `separators=(",", ":")` for one line,
    encoded by orjson.

    The standard encoder writes indented JSON in Python, three quarters of the time of
    `chart MRN --json`. The text is the same because a chart holds dicts with text keys,
    lists, text, flags, None, whole numbers and the decimals of `_number`: a stored decimal
    has at most two places and seven digits, and from 0.0001 to 10**16 orjson writes a
    float as Python's `repr` does (outside it orjson writes 1e-5 as 0.00001)."""
    if indent:
        return orjson.dumps(chart, option=orjson.OPT_INDENT_2).decode()
    return orjson.dumps(chart).decode()


def _number(value: Any) -> float | int | None:
    """A stored decimal as JSON shows it: a whole number without its point."""
    if value is None:
        return None
    number = float(value)
    return int(number) if number.is_integer() else number


def _addenda(record: Any) -> list[dict[str, Any]]:
    return [
        {"kind": a.kind, "reason": a.reason, "text": a.text, "written_at": _when(a.written_at),
         "author_id": a.author_id}
        for a in record.addenda
    ]  # fmt: skip


def _in_error(record: Any) -> bool:
    return any(a.kind == Addendum.Kind.ENTERED_IN_ERROR for a in record.addenda)


def _measurement(o: Any, memo: _Memo) -> dict[str, Any]:
    return {
        "code": o.code,
        "component": o.component or None,
        "side": o.side or None,
        "label": memo.label(o.code, o.component, o.side),
        "timing": o.timing,
        "value": _number(o.value),
        "recorded_at": _when(o.recorded_at),
    }


def _assessment(a: Any, names: _Names) -> dict[str, Any]:
    return {
        "id": a.pk,
        "kind": a.kind,
        "performed_at": _when(a.performed_at),
        "practitioner": names.practitioners[a.practitioner_id],
        "signed_at": _when(a.signed_at),
        "entered_in_error": _in_error(a),
        "pain": [
            {"region": m.region, "intensity": m.intensity, "quality": m.quality}
            for m in a.pain_marks
        ],
        "findings": [
            {
                "muscle": f.muscle,
                "side": f.side or None,
                "taut_band": f.taut_band,
                "hypersensitive_spot": f.hypersensitive_spot,
                "referred_sensation": f.referred_sensation or None,
                "referred_regions": f.referred_regions,
                "activity": TriggerPointFinding.activity_of(f.recognised),
                "jump_sign": f.jump_sign,
                "twitch_response": f.twitch_response,
                "pressure_pain_threshold": _number(f.pressure_pain_threshold),
            }
            for f in a.findings
        ],
        "measurements": [_measurement(o, names.memo) for o in names.of_assessments.get(a.pk, ())],
        "note": a.note,
        "addenda": _addenda(a),
    }


def _nprs(observations: list[Any], timing: str) -> float | int | None:
    values = [o.value for o in observations if o.code == "nprs" and o.timing == timing]
    return _number(values[-1]) if values else None


def _session(s: Any, names: _Names) -> dict[str, Any]:
    observations = names.of_sessions.get(s.pk, [])
    needle_sizes = names.needle_sizes
    return {
        "id": s.pk,
        # The day as the clinic saw it: 23:30 in Sydney is not the UTC day.
        "date": dt.datetime.fromisoformat(s.performed_at).astimezone(names.tz).date().isoformat(),
        "performed_at": _when(s.performed_at),
        "practitioner": names.practitioners[s.practitioner_id],
        "signed_at": _when(s.signed_at),
        "entered_in_error": _in_error(s),
        "screening_status": s.screening_status or None,
        "needles_opened": s.needles_opened,
        "needles_removed": s.needles_removed,
        "sharps_disposed": s.sharps_disposed,
        "consent_confirmed": s.consent_confirmed,
        "conduct": {
            "patient_position": s.patient_position or None,
            "gloves": s.gloves,
            "antisepsis": s.antisepsis or None,
            "guide_tube": s.guide_tube,
            "needle_brand": s.needle_brand or None,
            "needle_lot": s.needle_lot or None,
            "haemostasis": s.haemostasis,
            "soreness_after": s.soreness_after,
        },
        "insertions": [
            {
                "muscle": r.muscle,
                "side": r.side or None,
                "needles": r.needles,
                "needle_size": needle_sizes[r.needle_size_id],
                "depth": r.depth,
                "technique": r.technique,
                "twitch_responses": r.twitch_responses,
                "familiar_pain": r.familiar_pain,
                "tolerance": r.tolerance,
                "safety_verdict": r.safety_verdict,
                "angle": r.angle or None,
                "approach": r.approach or None,
                "ultrasound_guided": r.ultrasound_guided,
                "lead_to": {"muscle": r.lead_to_muscle, "side": r.lead_to_side or None}
                if r.lead_to_muscle
                else None,
            }
            for r in s.insertions
        ],
        "nprs_before": _nprs(observations, "before"),
        "nprs_after": _nprs(observations, "after"),
        "measurements": [_measurement(o, names.memo) for o in observations],
        "co_treatments": s.co_treatments,
        "cpt": s.cpt_code or None,
        "adverse_events": [
            {
                "type": e.event_type,
                "severity": e.severity,
                "onset": e.onset,
                "duration": f"{e.duration_value} {e.duration_unit}" if e.duration_unit else None,
                "action_taken": e.action_taken,
                "outcome": e.outcome,
                "muscles": e.muscles,
                "entered_in_error": bool(e.entered_in_error_reason),
                # Each later look at the event, oldest first; the last is how it stands.
                "follow_ups": [
                    {
                        "severity": f.severity,
                        "duration": f"{f.duration_value} {f.duration_unit}"
                        if f.duration_unit
                        else None,
                        "action_taken": f.action_taken,
                        "outcome": f.outcome,
                        "recorded_at": _when(f.recorded_at),
                    }
                    for f in e.follow_ups
                ],
            }
            for e in s.adverse_events
        ],
        "aftercare_issued": [_when(i.issued_at) for i in s.aftercare] or None,
        "addenda": _addenda(s),
    }


def _plan(episode: Any, memo: _Memo) -> dict[str, Any] | None:
    plans = episode.care_plans
    if not plans:
        return None
    plan = plans[0]
    return {
        "version": plan.version,
        "versions": len(plans),
        "planned_sessions": plan.planned_sessions,
        "frequency": plan.frequency,
        "review_on": plan.review_on.isoformat(),
        "note": plan.note,
        "goals": [
            {"description": g.description, "code": g.code, "component": g.component or None,
             "label": memo.label(g.code, g.component),
             "target": _number(g.target), "target_date": g.target_date.isoformat()}
            for g in plan.goals
        ],
        "therapies": [
            {"kind": t.kind, "provider": t.provider, "frequency": t.frequency,
             "exercises": t.exercises, "note": t.note}
            for t in plan.therapies
        ],
    }  # fmt: skip


def _measurements(episode: Any, memo: _Memo) -> list[dict[str, Any]]:
    """Every measurement of the episode with its classification against its baseline.

    A value taken right after needling is classified against the same session's value
    before needling (the immediate change); ratings of the whole course on their own.
    """
    in_error_sessions = {s.pk for s in episode.sessions if _in_error(s)}
    in_error_assessments = {a.pk for a in episode.assessments if _in_error(a)}
    performed = {s.pk: s.performed_at for s in episode.sessions}
    assessed = {a.pk: a.performed_at for a in episode.assessments}
    observations = episode.observations
    # The time each measure was taken, as `effective_time` reads it, from the loaded
    # records: no query.
    taken: dict[int, Any] = {}
    for o in observations:
        if o.session_id is not None:
            taken[o.pk] = performed[o.session_id]
        elif o.assessment_id is not None:
            taken[o.pk] = assessed[o.assessment_id]
        else:
            taken[o.pk] = o.recorded_at
    invalid = {
        o.pk
        for o in observations
        if o.entered_in_error_reason
        or o.session_id in in_error_sessions
        or o.assessment_id in in_error_assessments
    }
    valid = [o for o in observations if o.pk not in invalid]
    grouped = series_of(valid, lambda o: taken[o.pk])
    verdicts: dict[int, dict[str, Any]] = {}
    condition = episode.condition_code

    def classified(measure: str, before: Any, after: Any) -> dict[str, Any]:
        if measure in GLOBAL:
            return memo.verdict(measure, None, after, None)
        return memo.verdict(measure, before, after, condition)

    for series in grouped.values():
        baseline = series.baseline
        measure = series.code if series.code in GLOBAL else series.measure_code
        befores = {p.session_id: p.value for p in series.points if p.timing == "before"}
        for point in series.points:
            if series.code in GLOBAL:
                verdicts[point.observation_id] = classified(measure, None, point.value)
            elif point.timing == "after" and befores.get(point.session_id) is not None:
                before = befores[point.session_id]
                verdicts[point.observation_id] = classified(measure, before, point.value)
            elif baseline is not None and point.timing != "after" and point is not baseline:
                verdicts[point.observation_id] = classified(measure, baseline.value, point.value)
            else:
                verdicts[point.observation_id] = {
                    "classification": "baseline" if point is baseline else None
                }
    result = []
    for o in sorted(observations, key=lambda o: (taken[o.pk], o.pk)):
        result.append(
            {
                "id": o.pk,
                "code": o.code,
                "component": o.component or None,
                "side": o.side or None,
                "label": memo.label(o.code, o.component, o.side),
                "timing": o.timing,
                "value": _number(o.value),
                "taken_at": _when(taken[o.pk]),
                "session": o.session_id,
                "assessment": o.assessment_id,
                "entered_in_error": o.pk in invalid,
                **verdicts.get(o.pk, {"classification": None}),
            }
        )
    return result


def _unit(code: str) -> str:
    try:
        return knowledge.instrument(code).unit
    except knowledge.UnknownCode:
        return ""


def _course_lines(episode: dict[str, Any]) -> list[str]:
    """Each measure's first and latest course value (not right after needling, not the
    patient's diary), in words."""
    course: dict[tuple, list[dict[str, Any]]] = {}
    for m in episode["measurements"]:
        if not m["entered_in_error"] and m["timing"] not in ("after", "home"):
            course.setdefault((m["code"], m["component"], m["side"]), []).append(m)
    lines = []
    for (code, _, _), values in course.items():
        first, last = values[0], values[-1]
        unit = f" {_unit(code)}".rstrip()
        text = f"    {first['label']}: {first['value']:g}{unit}"
        if len(values) > 1:
            text = f"    {first['label']}: {first['value']:g} -> {last['value']:g}{unit}"
            if last.get("classification"):
                text += f" ({last['classification']})"
        lines.append(text)
    return lines


def summary_lines(chart: dict[str, Any]) -> list[str]:
    """The chart as a few lines of text for the `chart` command, measures in words."""
    p = chart["patient"]
    lines = [f"{p['family_name']}, {p['given_name']} ({p['mrn']}), born {p['birth_date']}"]
    for e in chart["episodes"]:
        signed = sum(1 for s in e["sessions"] if s["signed_at"])
        lines.append(
            f"  {e['condition']['code']} {e['condition']['display']} [{e['status']}]: "
            f"{len(e['assessments'])} assessments, {signed} signed sessions"
        )
        for goal in (e["plan"] or {}).get("goals", []):
            lines.append(
                f"    Goal: {goal['description']} ({goal['label']}, {goal['target']:g} by "
                f"{goal['target_date']})"
            )
        lines.extend(_course_lines(e))
    return lines


def _discharge(episode: Any) -> dict[str, Any] | None:
    if not episode.discharge:
        return None
    [record] = episode.discharge
    return {
        "reason": record.reason,
        "summary": record.summary,
        "discharged_at": _when(record.discharged_at),
        "snapshot": record.snapshot,
    }


def _chronological(records: Any) -> list[Any]:
    return sorted(records, key=lambda r: (r.performed_at, r.pk))


def _by_record(episode: Any) -> tuple[dict[int, list[Any]], dict[int, list[Any]]]:
    """The episode's measurements by session and by assessment, in the episode's order (a
    measurement always belongs to its record's episode)."""
    by_session: dict[int, list[Any]] = {}
    by_assessment: dict[int, list[Any]] = {}
    for o in episode.observations:
        if o.session_id is not None:
            by_session.setdefault(o.session_id, []).append(o)
        if o.assessment_id is not None:
            by_assessment.setdefault(o.assessment_id, []).append(o)
    return by_session, by_assessment


def patient_chart(patient: Patient) -> dict[str, Any]:
    """The whole record of one patient; use `with_chart` to load it in fixed queries."""
    consents = [
        {
            "template_version": c.template_version,
            "signed_at": _when(c.signed_at),
            "signed_name": c.signed_name,
            "signed_in": c.channel,
            "withdrawn_at": _when(c.withdrawal[0].withdrawn_at) if c.withdrawal else None,
        }
        for c in patient.chart_consents
    ]
    tz = zoneinfo.ZoneInfo(patient.clinic.timezone)
    episodes = []
    for e in patient.chart_episodes:
        of_sessions, of_assessments = _by_record(e)
        names = _Names(
            tz,
            patient.chart_practitioners,
            patient.chart_needle_sizes,
            of_sessions,
            of_assessments,
            patient.chart_memo,
        )
        condition = knowledge.condition(e.condition_code)
        screenings = sorted(e.screenings, key=lambda s: (s.recorded_at, s.pk))
        current = screenings[-1] if screenings else None
        verdict = knowledge.screen(current.factors if current else []).patient
        episodes.append(
            {
                "id": e.pk,
                "condition": {"code": e.condition_code, "display": condition.display},
                "body_area": e.body_area,
                "status": e.status,
                "period_start": e.period_start.isoformat(),
                "period_end": _when(e.period_end),
                "practitioner_in_charge": patient.chart_practitioners[e.care_manager_id],
                "screening": {
                    "recorded_at": _when(current.recorded_at) if current else None,
                    "factors": current.factors if current else [],
                    "verdict": verdict.verdict if current else None,
                },
                "consents": consents,
                "plan": _plan(e, names.memo),
                "measurements": _measurements(e, names.memo),
                "discharge": _discharge(e),
                "assessments": [_assessment(a, names) for a in _chronological(e.assessments)],
                "sessions": [_session(s, names) for s in _chronological(e.sessions)],
            }
        )
    return {
        "patient": {
            "id": patient.pk,
            "mrn": patient.mrn,
            "clinic": patient.clinic.name,
            "given_name": patient.given_name,
            "family_name": patient.family_name,
            "birth_date": patient.birth_date.isoformat(),
            "sex": patient.sex,
        },
        "episodes": episodes,
    }


def chart_chunks(
    patients: QuerySet[Patient], chunk: int = 200
) -> Iterator[list[tuple[Patient, dict[str, Any]]]]:
    """Every patient with their chart, `chunk` patients at a time: memory holds one chunk,
    and the queries grow with the number of chunks only."""
    ids = list(patients.order_by("clinic_id", "mrn").values_list("pk", flat=True))
    for start in range(0, len(ids), chunk):
        batch = with_chart(Patient.objects.filter(pk__in=ids[start : start + chunk]))
        with no_cycle_collection():
            charted = [(p, patient_chart(p)) for p in batch.order_by("clinic_id", "mrn")]
        yield charted


def charts(
    patients: QuerySet[Patient], chunk: int = 200
) -> Iterator[tuple[Patient, dict[str, Any]]]:
    """Every patient with their chart, loading them `chunk` at a time."""
    for batch in chart_chunks(patients, chunk):
        yield from batch
