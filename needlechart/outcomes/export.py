"""A patient's whole record as plain JSON: `needlechart chart`, and later the portal's
right of access. One fixed set of queries serves any number of patients."""

import gc
import zoneinfo
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db.models import QuerySet
from django.db.models.base import ModelState

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
from needlechart.outcomes.progress import GLOBAL, effective_time, measure_label, series_of
from needlechart.patients.models import EpisodeOfCare, Patient


class ChartQuerySet(QuerySet[Patient]):
    """Patients that bring their whole chart with them: when the patients are read, one
    fixed set of queries loads every record `patient_chart` needs, as plain lists on the
    instances (`chart_episodes`, `chart_sessions` ...).

    Written by hand rather than with `prefetch_related`: Django's prefetching builds a
    manager and a queryset for each of the hundreds of thousands of records a clinic-wide
    export reads, and joins the practitioner and the needle size onto every row; here the
    rows are grouped in dictionaries and the few practitioners and needle sizes are read
    once.
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


def _grouped(rows: Iterable[Any], key: str, owners: Iterable[Any], attr: str) -> list[Any]:
    """Hand each row to its owner's `attr` list, keeping the rows' order; the rows back."""
    rows = _records(rows) if isinstance(rows, QuerySet) else list(rows)
    lists: dict[int, list[Any]] = {}
    for owner in owners:
        lists[owner.pk] = []
        setattr(owner, attr, lists[owner.pk])
    for row in rows:
        lists[getattr(row, key)].append(row)
    return rows


def _records(rows: QuerySet[Any]) -> list[Any]:
    """The rows as model instances, built straight from their converted column values.

    `Model.from_db`, the usual path, sends every foreign key value through a descriptor
    that also checks a cache: for the charting tables, full of foreign keys, that doubles
    the cost of a row. These records are only read, so they are built as Django builds
    any loaded record (a `ModelState` that is neither new nor unsaved) without the detour.
    """
    model = rows.model
    names = [field.attname for field in model._meta.concrete_fields]
    db = rows.db
    records = []
    for values in rows.values_list(*names):
        record = model.__new__(model)
        record.__dict__.update(zip(names, values, strict=True))
        record._state = state = ModelState()
        state.adding, state.db = False, db
        records.append(record)
    return records


# The lists of an assessment's and of a session's own records, and where they go.
_OF_ASSESSMENT = (
    (PainMark, "chart_pain_marks"),
    (TriggerPointFinding, "chart_findings"),
    (Addendum, "chart_addenda"),
)
_OF_SESSION = (
    (AdverseEvent, "chart_adverse_events"),
    (AftercareIssue, "chart_aftercare_issues"),
    (Addendum, "chart_addenda"),
)


def load_charts(patients: list[Patient]) -> None:
    """Read every record of these patients' charts onto them, in one query per table."""
    ids = [p.pk for p in patients]
    # A one-to-one read with select_related points back at its owner: the cycle would keep
    # the owner (an episode and all its sessions) alive after the chunk, until Python's
    # cycle collector happens by. So withdrawals and discharges are read on their own.
    consents = list(Consent.objects.filter(patient_id__in=ids).select_related("template"))
    _grouped(consents, "patient_id", patients, "chart_consents")
    withdrawals = ConsentWithdrawal.objects.filter(consent_id__in=[c.pk for c in consents])
    _grouped(withdrawals, "consent_id", consents, "chart_withdrawal")
    episodes = EpisodeOfCare.objects.filter(patient_id__in=ids)
    episodes = _grouped(
        list(episodes.select_related("care_manager__user")),
        "patient_id", patients, "chart_episodes",
    )  # fmt: skip
    of_episodes = {"episode_id__in": [e.pk for e in episodes]}
    _grouped(Discharge.objects.filter(**of_episodes), "episode_id", episodes, "chart_discharge")
    _grouped(Screening.objects.filter(**of_episodes), "episode_id", episodes, "chart_screenings")
    _grouped(Observation.objects.filter(**of_episodes), "episode_id", episodes,
             "chart_observations")  # fmt: skip
    assessments = _grouped(Assessment.objects.filter(**of_episodes), "episode_id", episodes,
                           "chart_assessments")  # fmt: skip
    sessions = _grouped(NeedlingSession.objects.filter(**of_episodes), "episode_id", episodes,
                        "chart_sessions")  # fmt: skip
    plans = _grouped(CarePlan.objects.filter(**of_episodes).order_by("-version"), "episode_id",
                     episodes, "chart_care_plans")  # fmt: skip

    of_assessments = {"assessment_id__in": [a.pk for a in assessments]}
    for model, attr in _OF_ASSESSMENT:
        _grouped(model.objects.filter(**of_assessments), "assessment_id", assessments, attr)
    of_sessions = {"session_id__in": [s.pk for s in sessions]}
    insertions = _grouped(Insertion.objects.filter(**of_sessions), "session_id", sessions,
                          "chart_insertions")  # fmt: skip
    for model, attr in _OF_SESSION:
        rows = _grouped(model.objects.filter(**of_sessions), "session_id", sessions, attr)
        if model is AdverseEvent:
            follow_ups = AdverseEventFollowUp.objects.filter(event_id__in=[e.pk for e in rows])
            _grouped(follow_ups, "event_id", rows, "chart_follow_ups")
    of_plans = {"plan_id__in": [p.pk for p in plans]}
    _grouped(PlanGoal.objects.filter(**of_plans), "plan_id", plans, "chart_goals")
    _grouped(PlanTherapy.objects.filter(**of_plans), "plan_id", plans, "chart_therapies")

    # The few practitioners and needle sizes, read once rather than joined onto each row.
    practitioners = Practitioner.objects.select_related("user").in_bulk(
        {r.practitioner_id for r in [*assessments, *sessions]}
    )
    for record in [*assessments, *sessions]:
        record.practitioner = practitioners[record.practitioner_id]
    needles = NeedleSize.objects.in_bulk({i.needle_size_id for i in insertions})
    for insertion in insertions:
        insertion.needle_size = needles[insertion.needle_size_id]


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _number(value: Any) -> float | int | None:
    if value is None:
        return None
    number = float(value)
    return int(number) if number.is_integer() else number


def _addenda(record: Assessment | NeedlingSession) -> list[dict[str, Any]]:
    return [
        {"kind": a.kind, "reason": a.reason, "text": a.text, "written_at": _when(a.written_at),
         "author_id": a.author_id}
        for a in record.chart_addenda
    ]  # fmt: skip


def _in_error(record: Assessment | NeedlingSession) -> bool:
    return any(a.kind == Addendum.Kind.ENTERED_IN_ERROR for a in record.chart_addenda)


def _measurement(o: Observation) -> dict[str, Any]:
    return {
        "code": o.code,
        "component": o.component or None,
        "side": o.side or None,
        "label": measure_label(o.code, o.component, o.side),
        "timing": o.timing,
        "value": _number(o.value),
        "recorded_at": _when(o.recorded_at),
    }


def _assessment(a: Assessment) -> dict[str, Any]:
    return {
        "id": a.pk,
        "kind": a.kind,
        "performed_at": _when(a.performed_at),
        "practitioner": str(a.practitioner),
        "signed_at": _when(a.signed_at),
        "entered_in_error": _in_error(a),
        "pain": [
            {"region": m.region, "intensity": m.intensity, "quality": m.quality}
            for m in a.chart_pain_marks
        ],
        "findings": [
            {
                "muscle": f.muscle,
                "side": f.side or None,
                "taut_band": f.taut_band,
                "hypersensitive_spot": f.hypersensitive_spot,
                "referred_sensation": f.referred_sensation or None,
                "referred_regions": f.referred_regions,
                "activity": f.activity,
                "jump_sign": f.jump_sign,
                "twitch_response": f.twitch_response,
                "pressure_pain_threshold": _number(f.pressure_pain_threshold),
            }
            for f in a.chart_findings
        ],
        "measurements": [_measurement(o) for o in a.chart_observations],
        "note": a.note,
        "addenda": _addenda(a),
    }


def _nprs(s: NeedlingSession, timing: str) -> float | int | None:
    values = [o.value for o in s.chart_observations if o.code == "nprs" and o.timing == timing]
    return _number(values[-1]) if values else None


def _session(s: NeedlingSession, tz: zoneinfo.ZoneInfo) -> dict[str, Any]:
    rows = s.chart_insertions
    return {
        "id": s.pk,
        # The day as the clinic saw it: 23:30 in Sydney is not the UTC day.
        "date": s.performed_at.astimezone(tz).date().isoformat(),
        "performed_at": _when(s.performed_at),
        "practitioner": str(s.practitioner),
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
                "needle_size": str(r.needle_size),
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
            for r in rows
        ],
        "nprs_before": _nprs(s, "before"),
        "nprs_after": _nprs(s, "after"),
        "measurements": [_measurement(o) for o in s.chart_observations],
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
                "entered_in_error": e.entered_in_error,
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
                    for f in e.chart_follow_ups
                ],
            }
            for e in s.chart_adverse_events
        ],
        "aftercare_issued": [_when(i.issued_at) for i in s.chart_aftercare_issues] or None,
        "addenda": _addenda(s),
    }


def _plan(episode: EpisodeOfCare) -> dict[str, Any] | None:
    plans = episode.chart_care_plans
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
             "label": measure_label(g.code, g.component),
             "target": _number(g.target), "target_date": g.target_date.isoformat()}
            for g in plan.chart_goals
        ],
        "therapies": [
            {"kind": t.kind, "provider": t.provider, "frequency": t.frequency,
             "exercises": t.exercises, "note": t.note}
            for t in plan.chart_therapies
        ],
    }  # fmt: skip


def _measurements(episode: EpisodeOfCare) -> list[dict[str, Any]]:
    """Every measurement of the episode with its classification against its baseline.

    A value taken right after needling is classified against the same session's value
    before needling (the immediate change); ratings of the whole course on their own.
    """
    in_error_records = {("session", s.pk) for s in episode.chart_sessions if _in_error(s)} | {
        ("assessment", a.pk) for a in episode.chart_assessments if _in_error(a)
    }
    sessions = {s.pk: s for s in episode.chart_sessions}
    assessments = {a.pk: a for a in episode.chart_assessments}
    observations = episode.chart_observations
    for o in observations:
        # The time the measure was taken, from the loaded parents, as `effective_time`
        # reads it: no query, and no trip through the relation descriptors per row.
        if o.session_id is not None:
            o.taken_at = sessions[o.session_id].performed_at
        elif o.assessment_id is not None:
            o.taken_at = assessments[o.assessment_id].performed_at
        else:
            o.taken_at = o.recorded_at

    def invalid(o: Observation) -> bool:
        return bool(o.entered_in_error_reason) or (
            ("session", o.session_id) in in_error_records
            or ("assessment", o.assessment_id) in in_error_records
        )

    valid = [o for o in observations if not invalid(o)]
    grouped = series_of(valid)
    verdicts: dict[int, dict[str, Any]] = {}
    condition = episode.condition_code
    # The same change of the same measure recurs across a course (pain 6 -> 3 ...):
    # classify each once per episode.
    changes: dict[tuple[str, Any, Any], Any] = {}

    def classified(measure: str, before: Any, after: Any) -> Any:
        key = (measure, before, after)
        if key not in changes:
            if measure in GLOBAL:
                changes[key] = knowledge.classify_change(measure, None, after)
            else:
                changes[key] = knowledge.classify_change(
                    measure, before, after, condition=condition
                )
        return changes[key]

    for series in grouped.values():
        baseline = series.baseline
        measure = series.code if series.code in GLOBAL else series.measure_code
        befores = {p.session_id: p.value for p in series.points if p.timing == "before"}
        for point in series.points:
            if series.code in GLOBAL:
                change = classified(measure, None, point.value)
            elif point.timing == "after" and befores.get(point.session_id) is not None:
                change = classified(measure, befores[point.session_id], point.value)
            elif baseline is not None and point.timing != "after" and point is not baseline:
                change = classified(measure, baseline.value, point.value)
            else:
                verdicts[point.observation_id] = {
                    "classification": "baseline" if point is baseline else None
                }
                continue
            verdicts[point.observation_id] = {
                "classification": change.classification,
                "change": change.change,
                "threshold": change.threshold,
            }
    result = []
    for o in sorted(observations, key=lambda o: (effective_time(o), o.pk)):
        result.append(
            {
                "id": o.pk,
                "code": o.code,
                "component": o.component or None,
                "side": o.side or None,
                "label": measure_label(o.code, o.component, o.side),
                "timing": o.timing,
                "value": _number(o.value),
                "taken_at": _when(effective_time(o)),
                "session": o.session_id,
                "assessment": o.assessment_id,
                "entered_in_error": invalid(o),
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


def _discharge(episode: EpisodeOfCare) -> dict[str, Any] | None:
    if not episode.chart_discharge:
        return None
    [record] = episode.chart_discharge
    return {
        "reason": record.reason,
        "summary": record.summary,
        "discharged_at": _when(record.discharged_at),
        "snapshot": record.snapshot,
    }


def _chronological(records: Any) -> list[Any]:
    return sorted(records, key=lambda r: (r.performed_at, r.pk))


def _hand_out_observations(episode: EpisodeOfCare) -> None:
    """Give each session and assessment its own measurements from the episode's, in the
    episode's order (a measurement always belongs to its record's episode)."""
    by_session: dict[int, list[Observation]] = {}
    by_assessment: dict[int, list[Observation]] = {}
    for o in episode.chart_observations:
        if o.session_id is not None:
            by_session.setdefault(o.session_id, []).append(o)
        if o.assessment_id is not None:
            by_assessment.setdefault(o.assessment_id, []).append(o)
    for s in episode.chart_sessions:
        s.chart_observations = by_session.get(s.pk, [])
    for a in episode.chart_assessments:
        a.chart_observations = by_assessment.get(a.pk, [])


def patient_chart(patient: Patient) -> dict[str, Any]:
    """The whole record of one patient; use `with_chart` to load it in fixed queries."""
    consents = [
        {
            "template_version": c.template.version,
            "signed_at": _when(c.signed_at),
            "signed_name": c.signed_name,
            "signed_in": c.channel,
            "withdrawn_at": _when(c.chart_withdrawal[0].withdrawn_at)
            if c.chart_withdrawal
            else None,
        }
        for c in patient.chart_consents
    ]
    tz = zoneinfo.ZoneInfo(patient.clinic.timezone)
    episodes = []
    for e in patient.chart_episodes:
        _hand_out_observations(e)
        screenings = sorted(e.chart_screenings, key=lambda s: (s.recorded_at, s.pk))
        current = screenings[-1] if screenings else None
        verdict = knowledge.screen(current.factors if current else []).patient
        episodes.append(
            {
                "id": e.pk,
                "condition": {"code": e.condition_code, "display": e.condition.display},
                "body_area": e.body_area,
                "status": e.status,
                "period_start": e.period_start.isoformat(),
                "period_end": _when(e.period_end),
                "practitioner_in_charge": str(e.care_manager),
                "screening": {
                    "recorded_at": _when(current.recorded_at) if current else None,
                    "factors": current.factors if current else [],
                    "verdict": verdict.verdict if current else None,
                },
                "consents": consents,
                "plan": _plan(e),
                "measurements": _measurements(e),
                "discharge": _discharge(e),
                "assessments": [_assessment(a) for a in _chronological(e.chart_assessments)],
                "sessions": [_session(s, tz) for s in _chronological(e.chart_sessions)],
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
        with _no_cycle_collection():
            charted = [(p, patient_chart(p)) for p in batch.order_by("clinic_id", "mrn")]
        yield charted


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector while a chunk is read and charted. The chunk's tens
    of thousands of new records set it off again and again, each time scanning everything
    alive, for about a third of the export's time; the records are freed by reference
    counting when the chunk is done, and the collector runs again from then on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def charts(
    patients: QuerySet[Patient], chunk: int = 200
) -> Iterator[tuple[Patient, dict[str, Any]]]:
    """Every patient with their chart, loading them `chunk` at a time."""
    for batch in chart_chunks(patients, chunk):
        yield from batch
