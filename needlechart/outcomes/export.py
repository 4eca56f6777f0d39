"""A patient's whole record as plain JSON: `needlechart chart`, and later the portal's
right of access. One fixed set of queries serves any number of patients."""

import zoneinfo
from collections.abc import Iterator
from typing import Any

from django.db.models import Prefetch, QuerySet

from needlechart import knowledge
from needlechart.charting.models import (
    Addendum,
    Assessment,
    Consent,
    Insertion,
    NeedlingSession,
)
from needlechart.outcomes.models import CarePlan, Observation
from needlechart.outcomes.progress import GLOBAL, effective_time, measure_label, series_of
from needlechart.patients.models import EpisodeOfCare, Patient


def with_chart(patients: QuerySet[Patient]) -> QuerySet[Patient]:
    """The patients with everything `patient_chart` reads, prefetched."""
    assessments = Assessment.objects.select_related("practitioner__user").prefetch_related(
        "pain_marks", "findings", "observations", "addenda"
    )
    sessions = NeedlingSession.objects.select_related("practitioner__user").prefetch_related(
        Prefetch("insertions", queryset=Insertion.objects.select_related("needle_size")),
        "observations",
        "adverse_events",
        "aftercare_issues",
        "addenda",
    )
    plans = CarePlan.objects.prefetch_related("goals", "therapies").order_by("-version")
    episodes = EpisodeOfCare.objects.select_related(
        "care_manager__user", "discharge"
    ).prefetch_related(
        "screenings",
        Prefetch("assessments", queryset=assessments),
        Prefetch("sessions", queryset=sessions),
        Prefetch("care_plans", queryset=plans),
        "observations",
    )
    return patients.select_related("clinic").prefetch_related(
        Prefetch("consents", queryset=Consent.objects.select_related("template", "withdrawal")),
        Prefetch("episodes", queryset=episodes),
    )


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
        for a in record.addenda.all()
    ]  # fmt: skip


def _in_error(record: Assessment | NeedlingSession) -> bool:
    return any(a.kind == Addendum.Kind.ENTERED_IN_ERROR for a in record.addenda.all())


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
            for m in a.pain_marks.all()
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
            for f in a.findings.all()
        ],
        "measurements": [_measurement(o) for o in a.observations.all()],
        "note": a.note,
        "addenda": _addenda(a),
    }


def _nprs(s: NeedlingSession, timing: str) -> float | int | None:
    values = [o.value for o in s.observations.all() if o.code == "nprs" and o.timing == timing]
    return _number(values[-1]) if values else None


def _session(s: NeedlingSession, tz: zoneinfo.ZoneInfo) -> dict[str, Any]:
    rows = list(s.insertions.all())
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
        "measurements": [_measurement(o) for o in s.observations.all()],
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
            }
            for e in s.adverse_events.all()
        ],
        "aftercare_issued": [_when(i.issued_at) for i in s.aftercare_issues.all()] or None,
        "addenda": _addenda(s),
    }


def _plan(episode: EpisodeOfCare) -> dict[str, Any] | None:
    plans = list(episode.care_plans.all())
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
            for g in plan.goals.all()
        ],
        "therapies": [
            {"kind": t.kind, "provider": t.provider, "frequency": t.frequency,
             "exercises": t.exercises, "note": t.note}
            for t in plan.therapies.all()
        ],
    }  # fmt: skip


def _measurements(episode: EpisodeOfCare) -> list[dict[str, Any]]:
    """Every measurement of the episode with its classification against its baseline.

    A value taken right after needling is classified against the same session's value
    before needling (the immediate change); ratings of the whole course on their own.
    """
    in_error_records = {("session", s.pk) for s in episode.sessions.all() if _in_error(s)} | {
        ("assessment", a.pk) for a in episode.assessments.all() if _in_error(a)
    }
    sessions = {s.pk: s for s in episode.sessions.all()}
    assessments = {a.pk: a for a in episode.assessments.all()}
    observations = list(episode.observations.all())
    for o in observations:
        # Reuse the loaded parents, so effective times cost no query.
        if o.session_id:
            o.session = sessions[o.session_id]
        if o.assessment_id:
            o.assessment = assessments[o.assessment_id]

    def invalid(o: Observation) -> bool:
        return bool(o.entered_in_error_reason) or (
            ("session", o.session_id) in in_error_records
            or ("assessment", o.assessment_id) in in_error_records
        )

    valid = [o for o in observations if not invalid(o)]
    grouped = series_of(valid)
    verdicts: dict[int, dict[str, Any]] = {}
    for series in grouped.values():
        baseline = series.baseline
        befores = {p.session_id: p.value for p in series.points if p.timing == "before"}
        for point in series.points:
            if series.code in GLOBAL:
                change = knowledge.classify_change(series.code, None, point.value)
            elif point.timing == "after" and befores.get(point.session_id) is not None:
                change = knowledge.classify_change(
                    series.measure_code, befores[point.session_id], point.value,
                    condition=episode.condition_code,
                )  # fmt: skip
            elif baseline is not None and point.timing != "after" and point != baseline:
                change = knowledge.classify_change(
                    series.measure_code, baseline.value, point.value,
                    condition=episode.condition_code,
                )  # fmt: skip
            else:
                verdicts[point.observation_id] = {
                    "classification": "baseline" if point == baseline else None
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
    record = getattr(episode, "discharge", None)
    if record is None:
        return None
    return {
        "reason": record.reason,
        "summary": record.summary,
        "discharged_at": _when(record.discharged_at),
        "snapshot": record.snapshot,
    }


def _chronological(records: Any) -> list[Any]:
    return sorted(records, key=lambda r: (r.performed_at, r.pk))


def patient_chart(patient: Patient) -> dict[str, Any]:
    """The whole record of one patient; use `with_chart` to load it in fixed queries."""
    consents = [
        {
            "template_version": c.template.version,
            "signed_at": _when(c.signed_at),
            "signed_name": c.signed_name,
            "signed_in": c.channel,
            "withdrawn_at": _when(c.withdrawal.withdrawn_at) if hasattr(c, "withdrawal") else None,
        }
        for c in patient.consents.all()
    ]
    tz = zoneinfo.ZoneInfo(patient.clinic.timezone)
    episodes = []
    for e in patient.episodes.all():
        screenings = sorted(e.screenings.all(), key=lambda s: (s.recorded_at, s.pk))
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
                "assessments": [_assessment(a) for a in _chronological(e.assessments.all())],
                "sessions": [_session(s, tz) for s in _chronological(e.sessions.all())],
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


def charts(
    patients: QuerySet[Patient], chunk: int = 200
) -> Iterator[tuple[Patient, dict[str, Any]]]:
    """Every patient with their chart, loading them `chunk` at a time."""
    ids = list(patients.order_by("clinic_id", "mrn").values_list("pk", flat=True))
    for start in range(0, len(ids), chunk):
        batch = with_chart(Patient.objects.filter(pk__in=ids[start : start + chunk]))
        for patient in batch.order_by("clinic_id", "mrn"):
            yield patient, patient_chart(patient)
