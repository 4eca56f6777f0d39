"""needlechart's records as FHIR R4 resources (JSON-ready dicts); docs/fhir.md maps each.

Each function reads only what its record holds and what `reads.py` fetched with it
(select_related and prefetch_related), so that a page of resources costs no query per row.
"""

import datetime as dt
import functools
from decimal import Decimal
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts.models import Clinic, Practitioner, User
from needlechart.charting.models import (
    Addendum,
    AdverseEvent,
    Assessment,
    Consent,
    Insertion,
    NeedlingSession,
    TriggerPointFinding,
)
from needlechart.fhir import codes, questionnaires
from needlechart.knowledge.instruments import MUSCLE_MEASURES
from needlechart.outcomes.models import CarePlan, Observation, PlanTherapy
from needlechart.patients.models import EpisodeOfCare, Patient
from needlechart.portal.models import CheckIn, HealthQuestionnaire

Resource = dict[str, Any]

# Observation ids name the table they come from: several tables are Observations.
MEASUREMENT = "m"
FINDING = "tp"


def ref(resource_type: str, pk: Any, display: str = "") -> dict[str, str]:
    reference = {"reference": f"{resource_type}/{pk}"}
    if display:
        reference["display"] = display
    return reference


def instant(moment: dt.datetime) -> str:
    """A FHIR dateTime or instant, to the second, in the active (the clinic's) time zone."""
    return timezone.localtime(moment).isoformat(timespec="seconds")


def number(value: Decimal | int | float) -> int | float:
    """A decimal as the JSON number it is: 6.00 as 6, 4.50 as 4.5."""
    as_float = float(value)
    return int(as_float) if as_float.is_integer() else as_float


def _meta(moment: dt.datetime | None) -> dict[str, Any]:
    return {"meta": {"lastUpdated": instant(moment)}} if moment else {}


def staff_ref(user: User) -> dict[str, str]:
    """A staff member as a reference: their Practitioner where they have one (fetched with
    select_related), else their name (an assistant, say, has no Practitioner)."""
    try:
        practitioner = user.practitioner
    except ObjectDoesNotExist:
        return {"display": str(user)}
    return ref("Practitioner", practitioner.pk, str(user))


def _is_patient(user: User) -> bool:
    # A portal sign-in has no clinic; its records were entered by the patient.
    return user.clinic_id is None


@functools.cache
def _labels(model: type, field_name: str) -> dict[Any, str]:
    return {code: str(words) for code, words in model._meta.get_field(field_name).flatchoices}


def label(record: Any, field_name: str) -> str:
    """The words of a field's choice, as `get_FOO_display()` gives them, from a table made
    once per field (Django rebuilds it at each call, tens of thousands in a bulk export)."""
    value = getattr(record, field_name)
    return _labels(type(record), field_name).get(value, value)


def fetched(record: Any, name: str) -> list[Any]:
    """A record's related rows `name`: the plain list reads.py prefetched as `{name}_fetched`
    (a prefetch into the manager instead builds a queryset per record, most of a bulk
    export's cost), else the manager's rows (a record fetched without them)."""
    rows = getattr(record, f"{name}_fetched", None)
    return rows if rows is not None else list(getattr(record, name).all())


def _entered_in_error(record: NeedlingSession) -> bool:
    return any(a.kind == Addendum.Kind.ENTERED_IN_ERROR for a in fetched(record, "addenda"))


# --- people and the clinic ---------------------------------------------------------------------


def patient(p: Patient) -> Resource:
    telecom = [{"system": "phone", "value": p.phone}] if p.phone else []
    if p.email:
        telecom.append({"system": "email", "value": p.email})
    resource: Resource = {
        "resourceType": "Patient",
        "id": str(p.pk),
        **_meta(p.updated_at),
        "identifier": [
            {
                "use": "usual",
                "type": {
                    "coding": [{"system": codes.V2_0203, "code": "MR"}],
                    "text": "Medical record number",
                },
                "system": mrn_system(p.clinic_id),
                "value": p.mrn,
            }
        ],
        "active": True,
        "name": [{"use": "official", "family": p.family_name, "given": [p.given_name]}],
        "gender": p.sex,
        "birthDate": p.birth_date.isoformat(),
        "managingOrganization": ref("Organization", p.clinic_id),
    }
    if telecom:
        resource["telecom"] = telecom
    if p.address:
        resource["address"] = [{"text": p.address}]
    return resource


def mrn_system(clinic_id: int) -> str:
    """Record numbers are unique within a clinic: each clinic is its own identifier system."""
    return f"{codes.BASE}/sid/clinic-{clinic_id}/mrn"


def practitioner(p: Practitioner) -> Resource:
    user = p.user
    name: dict[str, Any] = {"text": str(user)}
    if user.last_name:
        name["family"] = user.last_name
    if user.first_name:
        name["given"] = [user.first_name]
    qualifications = [
        {
            "code": {"text": f"Dry needling: {c.course}"},
            "period": {
                "start": c.completed_on.isoformat(),
                **({"end": c.expires_on.isoformat()} if c.expires_on else {}),
            },
            "issuer": {"display": c.provider},
        }
        for c in fetched(p, "credentials")
    ]
    profession: dict[str, Any] = {"code": {"text": label(p, "profession")}}
    if p.registration_number:
        profession["identifier"] = [{"value": p.registration_number}]
        if p.registration_body:
            profession["issuer"] = {"display": p.registration_body}
    resource: Resource = {
        "resourceType": "Practitioner",
        "id": str(p.pk),
        "active": user.is_active,
        "name": [name],
        "qualification": [profession, *qualifications],
    }
    if p.registration_number:
        resource["identifier"] = [{"value": p.registration_number}]
    if user.email:
        resource["telecom"] = [{"system": "email", "value": user.email}]
    return resource


def practitioner_role(p: Practitioner) -> Resource:
    """The practitioner at their clinic, in their profession; where they hold a dry-needling
    credential, dry needling is their specialty over the span the credentials cover (from
    the first completed to the last expiry, open while one does not expire)."""
    user = p.user
    resource: Resource = {
        "resourceType": "PractitionerRole",
        "id": str(p.pk),
        "active": user.is_active,
        "practitioner": ref("Practitioner", p.pk, str(user)),
        "organization": ref("Organization", user.clinic_id),
        "code": [
            {"coding": [codes.coding("profession", p.profession)],
             "text": label(p, "profession")}
        ],
    }  # fmt: skip
    credentials = fetched(p, "credentials")
    if credentials:
        resource["specialty"] = [
            {"coding": [codes.coding("procedure", "dry-needling")], "text": "Dry needling"}
        ]
        period = {"start": min(c.completed_on for c in credentials).isoformat()}
        if all(c.expires_on for c in credentials):
            period["end"] = max(c.expires_on for c in credentials if c.expires_on).isoformat()
        resource["period"] = period
    return resource


CASELOAD = "caseload"


def caseload(p: Practitioner) -> Resource:
    """A practitioner's caseload: the patients of the open episodes of care they are in
    charge of (reads.py fetches those episodes as `open_episodes`)."""
    members = sorted({e.patient_id for e in p.open_episodes})
    return {
        "resourceType": "Group",
        "id": f"{CASELOAD}-{p.pk}",
        "type": "person",
        "actual": True,
        "code": {"text": "Caseload: patients of the open episodes of care in their charge"},
        "name": f"Caseload of {p.user}",
        "managingEntity": ref("Practitioner", p.pk, str(p.user)),
        "quantity": len(members),
        "member": [{"entity": ref("Patient", patient_id)} for patient_id in members],
    }


def organization(clinic: Clinic) -> Resource:
    telecom = [{"system": "phone", "value": clinic.phone}] if clinic.phone else []
    if clinic.email:
        telecom.append({"system": "email", "value": clinic.email})
    resource: Resource = {
        "resourceType": "Organization",
        "id": str(clinic.pk),
        "active": True,
        "name": clinic.name,
    }
    if telecom:
        resource["telecom"] = telecom
    if clinic.address:
        resource["address"] = [{"text": clinic.address}]
    return resource


# --- episodes and conditions -------------------------------------------------------------------


def episode_of_care(e: EpisodeOfCare) -> Resource:
    period = {"start": e.period_start.isoformat()}
    if e.period_end:
        period["end"] = e.period_end.isoformat()
    return {
        "resourceType": "EpisodeOfCare",
        "id": str(e.pk),
        **_meta(e.updated_at),
        "status": e.status,
        "diagnosis": [{"condition": ref("Condition", e.pk), "rank": 1}],
        "patient": ref("Patient", e.patient_id),
        "managingOrganization": ref("Organization", e.patient.clinic_id),
        "period": period,
        "careManager": ref("Practitioner", e.care_manager_id, str(e.care_manager.user)),
    }


def condition(e: EpisodeOfCare) -> Resource:
    """The episode's complaint: one Condition per episode, with the episode's id."""
    try:
        words = e.condition.option_label
    except knowledge.UnknownCode:
        words = e.condition_code
    try:
        area = knowledge.body_area(e.body_area).label
    except knowledge.UnknownCode:
        area = e.body_area
    clinical = "active" if e.status != EpisodeOfCare.Status.FINISHED else "inactive"
    resource: Resource = {
        "resourceType": "Condition",
        "id": str(e.pk),
        **_meta(e.updated_at),
        "clinicalStatus": {"coding": [{"system": codes.CONDITION_CLINICAL, "code": clinical}]},
        "verificationStatus": {
            "coding": [{"system": codes.CONDITION_VERIFICATION, "code": "confirmed"}]
        },
        "category": [
            {"coding": [{"system": codes.CONDITION_CATEGORY, "code": "encounter-diagnosis"}]}
        ],
        # The ICD-10-CM code as charted; needlechart's words go in the text, not as the
        # code's display, which is the official title's to give.
        "code": {"coding": [{"system": codes.ICD_10_CM, "code": e.condition_code}], "text": words},
        "bodySite": [{"text": area}],
        "subject": ref("Patient", e.patient_id),
        "recordedDate": instant(e.created_at),
        "recorder": ref("Practitioner", e.care_manager_id, str(e.care_manager.user)),
    }
    if e.onset_date:
        resource["onsetDateTime"] = e.onset_date.isoformat()
    if e.status == EpisodeOfCare.Status.FINISHED and e.period_end:
        resource["abatementDateTime"] = e.period_end.isoformat()
    return resource


# --- the needling session ----------------------------------------------------------------------


def _session_status(s: NeedlingSession, done: str, draft: str) -> str:
    if _entered_in_error(s):
        return "entered-in-error"
    return done if s.is_signed else draft


def encounter(s: NeedlingSession) -> Resource:
    episode = s.episode
    return {
        "resourceType": "Encounter",
        "id": str(s.pk),
        "status": _session_status(s, "finished", "in-progress"),
        "class": {"system": codes.V3_ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "type": [{"coding": [codes.coding("procedure", "dry-needling")], "text": "Dry needling"}],
        "subject": ref("Patient", episode.patient_id),
        "episodeOfCare": [ref("EpisodeOfCare", episode.pk)],
        "participant": [
            {"individual": ref("Practitioner", s.practitioner_id, str(s.practitioner.user))}
        ],
        "period": {"start": instant(s.performed_at)},
        "reasonReference": [ref("Condition", episode.pk)],
        "serviceProvider": ref("Organization", episode.patient.clinic_id),
    }


def _side_words(muscle: str, side: str) -> str:
    name = codes.muscle_name(muscle)
    return f"{name}, {side}" if side else name


def _row_extension(row: Insertion) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"url": "muscle", "valueCoding": codes.coding("muscle", row.muscle)},
        {"url": "technique", "valueCoding": codes.coding("needling-technique", row.technique)},
        {"url": "needles", "valueInteger": row.needles},
        {"url": "depth", "valueCode": row.depth},
    ]
    if row.side:
        parts.insert(1, {"url": "side", "valueCode": row.side})
    if row.depth_mm is not None:
        parts.append({"url": "depthMm", "valueInteger": row.depth_mm})
    if row.twitch_responses is not None:
        parts.append({"url": "twitchResponses", "valueInteger": row.twitch_responses})
    return {"url": codes.NEEDLING_ROW, "extension": parts}


def _row_words(row: Insertion) -> str:
    needles = f"{row.needles} needle{'s' if row.needles != 1 else ''}"
    depth = label(row, "depth").lower()
    if row.depth_mm is not None:
        depth += f" ({row.depth_mm} mm)"
    words = f"{_side_words(row.muscle, row.side)}: {needles}, {label(row, 'technique')}, "
    return words + depth


def procedure(s: NeedlingSession) -> Resource:
    """The needling of a session: each muscle and side a body site, with its technique and
    needle count in the needling-row extension."""
    rows = fetched(s, "insertions")
    code = [codes.coding("procedure", "dry-needling")]
    if s.cpt_code:
        code.append({"system": codes.CPT, "code": s.cpt_code})
    episode = s.episode
    sizes = {row.needle_size_id: row.needle_size for row in rows}
    resource: Resource = {
        "resourceType": "Procedure",
        "id": str(s.pk),
        "status": _session_status(s, "completed", "in-progress"),
        "code": {"coding": code, "text": "Dry needling"},
        "subject": ref("Patient", episode.patient_id),
        "encounter": ref("Encounter", s.pk),
        "performedDateTime": instant(s.performed_at),
        "performer": [{"actor": ref("Practitioner", s.practitioner_id, str(s.practitioner.user))}],
        "reasonReference": [ref("Condition", episode.pk)],
    }
    if rows:
        resource["extension"] = [_row_extension(row) for row in rows]
        resource["bodySite"] = [
            {
                "coding": [codes.coding("muscle", row.muscle)],
                "text": _side_words(row.muscle, row.side),
            }
            for row in rows
        ]
        resource["usedCode"] = [
            {"text": f"Dry needling needle {size}"} for _, size in sorted(sizes.items())
        ]
        resource["note"] = [{"text": "; ".join(_row_words(row) for row in rows)}]
    return resource


# --- observations ------------------------------------------------------------------------------

EXAM_MEASURES = ("rom", "ppt", "mmt", "dynamometry")


def _category(code: str) -> list[dict[str, Any]]:
    kind = "exam" if code in EXAM_MEASURES else "survey"
    return [{"coding": [{"system": codes.OBSERVATION_CATEGORY, "code": kind}]}]


def measurement(o: Observation) -> Resource:
    try:
        instrument: Any = o.instrument
        name, unit, loinc = instrument.name, instrument.unit, instrument.loinc
    except knowledge.UnknownCode:
        name, unit, loinc = o.code, "", None
    what = knowledge.component_label(o.code, o.component)
    text = ", ".join(part for part in (name, what, o.side) if part)
    coding = [codes.coding("measure", o.code)]
    if loinc:
        coding.insert(
            0, {"system": codes.LOINC, "code": loinc, "display": codes.LOINC_DISPLAY[loinc]}
        )
    quantity: dict[str, Any] = {"value": number(o.value)}
    if unit:
        quantity["unit"] = unit
    if unit in codes.UCUM_UNITS:
        quantity |= {"system": codes.UCUM, "code": codes.UCUM_UNITS[unit]}
    episode = o.episode
    recorded = instant(o.recorded_at)
    resource: Resource = {
        "resourceType": "Observation",
        "id": f"{MEASUREMENT}-{o.pk}",
        "status": "entered-in-error" if o.entered_in_error_reason else "final",
        "category": _category(o.code),
        "code": {"coding": coding, "text": text},
        "subject": ref("Patient", episode.patient_id),
        "effectiveDateTime": recorded,
        "issued": recorded,
        "performer": [
            ref("Patient", episode.patient_id)
            if _is_patient(o.recorded_by)
            else staff_ref(o.recorded_by)
        ],
        "valueQuantity": quantity,
        "note": [{"text": label(o, "timing")}],
    }
    resource["extension"] = [_measurement_extension(o)]
    if o.session_id:
        resource["encounter"] = ref("Encounter", o.session_id)
    if o.code in MUSCLE_MEASURES and o.component:
        resource["bodySite"] = {
            "coding": [codes.coding("muscle", o.component)],
            "text": _side_words(o.component, o.side),
        }
    if o.entered_in_error_reason:
        resource["note"].append({"text": f"Entered in error: {o.entered_in_error_reason}"})
    return resource


def _measurement_extension(o: Observation) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"url": "timing", "valueCode": o.timing},
        {"url": "episodeOfCare", "valueReference": ref("EpisodeOfCare", o.episode_id)},
    ]
    if o.component:
        parts.append({"url": "component", "valueString": o.component})
    if o.side:
        parts.append({"url": "side", "valueCode": o.side})
    return {"url": codes.MEASUREMENT, "extension": parts}


def _finding_part(code: str, value: bool) -> dict[str, Any]:
    return {"code": {"coding": [codes.coding("trigger-point", code)]}, "valueBoolean": value}


def finding(f: TriggerPointFinding) -> Resource:
    assessment = f.assessment
    episode = assessment.episode
    components = [
        _finding_part("taut-band", f.taut_band),
        _finding_part("hypersensitive-spot", f.hypersensitive_spot),
        _finding_part("recognised", f.recognised),
        _finding_part("jump-sign", f.jump_sign),
        _finding_part("twitch-response", f.twitch_response),
    ]
    if f.referred_sensation:
        components.append(
            {
                "code": {"coding": [codes.coding("trigger-point", "referred-sensation")]},
                "valueString": label(f, "referred_sensation"),
            }
        )
    if f.pressure_pain_threshold is not None:
        components.append(
            {
                "code": {"coding": [codes.coding("trigger-point", "pressure-pain-threshold")]},
                "valueQuantity": {
                    "value": number(f.pressure_pain_threshold), "unit": "kPa",
                    "system": codes.UCUM, "code": "kPa",
                },
            }
        )  # fmt: skip
    site = _side_words(f.muscle, f.side)
    resource: Resource = {
        "resourceType": "Observation",
        "id": f"{FINDING}-{f.pk}",
        "status": "final" if assessment.is_signed else "preliminary",
        "category": [{"coding": [{"system": codes.OBSERVATION_CATEGORY, "code": "exam"}]}],
        "code": {
            "coding": [codes.coding("trigger-point", "trigger-point")],
            "text": "Trigger point",
        },
        "subject": ref("Patient", episode.patient_id),
        "effectiveDateTime": instant(assessment.performed_at),
        "performer": [
            ref("Practitioner", assessment.practitioner_id, str(assessment.practitioner.user))
        ],
        "valueCodeableConcept": {"coding": [codes.coding("trigger-point", f.activity)]},
        "bodySite": {
            "coding": [codes.coding("muscle", f.muscle)],
            "text": f"{site} ({f.location})" if f.location else site,
        },
        "component": components,
    }
    return resource


# --- safety, consent and the plan --------------------------------------------------------------


def adverse_event(event: AdverseEvent) -> Resource:
    """An adverse event as it stands now: its latest follow-up's severity and outcome."""
    now = event.now
    session = event.session
    serious = now.severity == AdverseEvent.Severity.SERIOUS
    severity = "severe" if serious else now.severity
    kind = codes.coding("adverse-event", event.event_type)
    muscles = ", ".join(
        _side_words(*(item.split(":", 1) if ":" in item else (item, ""))) for item in event.muscles
    )
    text = kind["display"] + (f" ({muscles})" if muscles else "")
    return {
        "resourceType": "AdverseEvent",
        "id": str(event.pk),
        **_meta(event.updated_at),
        "actuality": "actual",
        "event": {
            "coding": [kind],
            "text": f"{text}: {now.description}" if now.description else text,
        },
        "subject": ref("Patient", session.episode.patient_id),
        "encounter": ref("Encounter", session.pk),
        "date": instant(session.performed_at),
        "recordedDate": instant(event.recorded_at),
        "seriousness": {
            "coding": [
                {"system": codes.AE_SERIOUSNESS, "code": "serious" if serious else "non-serious"}
            ]
        },
        "severity": {"coding": [{"system": codes.AE_SEVERITY, "code": severity}]},
        "outcome": {"coding": [{"system": codes.AE_OUTCOME, "code": now.outcome}]},
        "recorder": staff_ref(event.recorded_by),
        "suspectEntity": [{"instance": ref("Procedure", session.pk)}],
    }


def consent(c: Consent) -> Resource:
    try:
        withdrawal = c.withdrawal
    except ObjectDoesNotExist:
        withdrawal = None
    period = {"start": instant(c.signed_at)}
    if withdrawal is not None:
        period["end"] = instant(withdrawal.withdrawn_at)
    performer = [ref("Patient", c.patient_id, c.signed_name)]
    return {
        "resourceType": "Consent",
        "id": str(c.pk),
        "status": "inactive" if withdrawal is not None else "active",
        "scope": {"coding": [{"system": codes.CONSENT_SCOPE, "code": "treatment"}]},
        "category": [
            {"coding": [{"system": codes.LOINC, "code": "59284-0"}], "text": "Patient consent"}
        ],
        "patient": ref("Patient", c.patient_id),
        "dateTime": instant(c.signed_at),
        "performer": performer,
        "organization": [ref("Organization", c.patient.clinic_id)],
        "sourceAttachment": {
            "contentType": "text/plain",
            "title": f"{c.template.title} (version {c.template.version})",
        },
        # Dry needling with the patient's agreement: opt-in, as the consent text says.
        "policyRule": {"coding": [{"system": codes.V3_ACT_CODE, "code": "OPTIN"}]},
        "provision": {
            "type": "permit",
            "period": period,
            "code": [{"coding": [codes.coding("procedure", "dry-needling")]}],
        },
    }


def _goal(g: Any, subject: dict[str, str], active: bool) -> Resource:
    try:
        measure = knowledge.instrument(g.code)
        name, unit = measure.name, measure.unit
    except knowledge.UnknownCode:
        name, unit = g.code, ""
    what = knowledge.component_label(g.code, g.component)
    detail: dict[str, Any] = {"value": number(g.target)}
    if unit:
        detail["unit"] = unit
    if unit in codes.UCUM_UNITS:
        detail |= {"system": codes.UCUM, "code": codes.UCUM_UNITS[unit]}
    return {
        "resourceType": "Goal",
        "id": f"goal-{g.pk}",
        "lifecycleStatus": "active" if active else "cancelled",
        "description": {"text": g.description},
        "subject": subject,
        "target": [
            {
                "measure": {
                    "coding": [codes.coding("measure", g.code)],
                    "text": ", ".join(part for part in (name, what) if part),
                },
                "detailQuantity": detail,
                "dueDate": g.target_date.isoformat(),
            }
        ],
    }


def _therapy(t: PlanTherapy, status: str) -> dict[str, Any]:
    words = t.note
    if t.exercises:
        listed = "; ".join(f"{e.get('name', '')} {e.get('dose', '')}".strip() for e in t.exercises)
        words = f"{words}. {listed}" if words else listed
    detail: dict[str, Any] = {
        "code": {"coding": [codes.coding("therapy", t.kind)]},
        "status": status,
        "scheduledString": t.frequency,
        "performer": [{"display": t.provider}],
    }
    if words:
        detail["description"] = words
    return {"detail": detail}


def care_plan(plan: CarePlan, latest: bool) -> Resource:
    """A version of the episode's plan; a later version replaces it (one resource each)."""
    episode = plan.episode
    finished = episode.status == EpisodeOfCare.Status.FINISHED
    status = ("completed" if finished else "active") if latest else "revoked"
    activity_status = ("completed" if finished else "in-progress") if latest else "stopped"
    subject = ref("Patient", episode.patient_id)
    goals = fetched(plan, "goals")
    needling = {
        "detail": {
            "code": {"coding": [codes.coding("therapy", "dry-needling")]},
            "status": activity_status,
            "scheduledString": label(plan, "frequency"),
            "description": f"{plan.planned_sessions} needling sessions planned",
        }
    }
    resource: Resource = {
        "resourceType": "CarePlan",
        "id": str(plan.pk),
        "status": status,
        "intent": "plan",
        "title": f"Treatment plan, version {plan.version}",
        "subject": subject,
        "period": {"start": episode.period_start.isoformat()},
        "created": instant(plan.created_at),
        "author": staff_ref(plan.created_by),
        "addresses": [ref("Condition", episode.pk)],
        "activity": [needling, *(_therapy(t, activity_status) for t in fetched(plan, "therapies"))],
    }
    if plan.review_on >= episode.period_start:
        # Planned to run until its review.
        resource["period"]["end"] = plan.review_on.isoformat()
    if plan.note:
        resource["description"] = plan.note
    if goals:
        active = latest and not finished
        resource["contained"] = [_goal(g, subject, active) for g in goals]
        resource["goal"] = [{"reference": f"#goal-{g.pk}"} for g in goals]
    return resource


# --- provenance of signatures and addenda ------------------------------------------------------

# Provenance ids name the record they come from, as Observation ids do.
SIGNED_SESSION = "session"
SIGNED_ASSESSMENT = "assessment"
ADDENDUM = "addendum"


def session_targets(s: NeedlingSession) -> list[dict[str, str]]:
    """A session is two resources, its Encounter and its Procedure: a signature or an
    addendum bears on both."""
    return [ref("Encounter", s.pk), ref("Procedure", s.pk)]


def assessment_targets(a: Assessment) -> list[dict[str, str]]:
    """An assessment is served as what it found and measured: its trigger-point findings and
    its measurements (reads.py leaves out an assessment with neither)."""
    return [ref("Observation", f"{FINDING}-{f.pk}") for f in fetched(a, "findings")] + [
        ref("Observation", f"{MEASUREMENT}-{o.pk}") for o in fetched(a, "observations")
    ]


def _provenance(
    resource_id: str,
    targets: list[dict[str, str]],
    moment: dt.datetime,
    activity: dict[str, str],
    agent_type: dict[str, str],
    who: User,
    clinic_id: int,
) -> Resource:
    return {
        "resourceType": "Provenance",
        "id": resource_id,
        "target": targets,
        "recorded": instant(moment),
        "activity": {"coding": [activity]},
        "agent": [
            {
                "type": {"coding": [agent_type]},
                "who": staff_ref(who),
                "onBehalfOf": ref("Organization", clinic_id),
            }
        ],
    }


def signature(record: NeedlingSession | Assessment) -> Resource:
    """The signing of a session or an assessment: who signed it, for the clinic, and when."""
    signer = record.signed_by or record.practitioner.user
    assert record.signed_at is not None  # reads.py serves signed records only
    if isinstance(record, NeedlingSession):
        resource_id, targets = f"{SIGNED_SESSION}-{record.pk}", session_targets(record)
    else:
        resource_id, targets = f"{SIGNED_ASSESSMENT}-{record.pk}", assessment_targets(record)
    return _provenance(
        resource_id, targets, record.signed_at, codes.SIGNED, codes.LEGAL_AUTHENTICATOR, signer,
        record.episode.patient.clinic_id,
    )  # fmt: skip


def addendum(a: Addendum) -> Resource:
    """An addendum revises the record it is written on; entered in error nullifies it."""
    record: Any = a.session or a.assessment
    targets = session_targets(a.session) if a.session else assessment_targets(a.assessment)
    in_error = a.kind == Addendum.Kind.ENTERED_IN_ERROR
    resource = _provenance(
        f"{ADDENDUM}-{a.pk}", targets, a.written_at,
        codes.NULLIFIED if in_error else codes.REVISED, codes.AUTHOR, a.author,
        record.episode.patient.clinic_id,
    )  # fmt: skip
    resource["reason"] = [{"text": f"{label(a, 'kind')}: {a.reason}"}]
    return resource


# --- what patients answer ----------------------------------------------------------------------

CHECK_IN = "check-in"


HEALTH_QUESTIONS = "health-questions"


def _detail_answers(item: dict[str, Any], value: Any) -> list[dict[str, Any]]:
    values = value if isinstance(value, list | tuple) else [value]
    if item["type"] == "decimal":
        return [{"valueDecimal": number(v)} for v in values]
    if item["type"] == "integer":
        return [{"valueInteger": int(v)} for v in values]
    if item.get("repeats"):
        return [{"valueString": str(v)} for v in values]
    # One answer: a range given as a pair (an INR target) in words.
    return [{"valueString": "-".join(f"{v:g}" if isinstance(v, float) else str(v)
                                     for v in values)}]  # fmt: skip


def health_questions(h: HealthQuestionnaire) -> Resource:
    """The patient's answers to the health questions: each question yes or no, with the
    details given for a yes (as the factors store them), and their note."""
    given = {f["code"]: f for f in h.factors if isinstance(f, dict) and "code" in f}
    items: list[dict[str, Any]] = []
    for question in questionnaires.HEALTH_QUESTIONS.items():
        if question["linkId"] == "note":
            if h.note:
                items.append({"linkId": "note", "answer": [{"valueString": h.note}]})
            continue
        factor = given.get(question["linkId"])
        answer: dict[str, Any] = {"valueBoolean": factor is not None}
        details = [
            {"linkId": d["linkId"], "answer": _detail_answers(d, factor[param])}
            for d in question.get("item", [])
            if factor is not None
            and factor.get(param := d["linkId"].split("__", 1)[1]) not in (None, "", [])
        ]
        if details:
            answer["item"] = details
        items.append({"linkId": question["linkId"], "answer": [answer]})
    patient_ref = ref("Patient", h.patient_id)
    return {
        "resourceType": "QuestionnaireResponse",
        "id": f"{HEALTH_QUESTIONS}-{h.pk}",
        "questionnaire": questionnaires.HEALTH_QUESTIONS.url,
        "status": "completed",
        "subject": patient_ref,
        "authored": instant(h.submitted_at),
        "author": patient_ref,
        "source": patient_ref,
        "item": items,
    }


def check_in(c: CheckIn) -> Resource:
    """A portal check-in after a session, answering the check-in Questionnaire."""
    session = c.session
    patient_ref = ref("Patient", session.episode.patient_id)
    items: list[dict[str, Any]] = [
        {"linkId": "hours", "answer": [{"valueInteger": c.hours}]},
        {"linkId": "soreness", "answer": [{"valueInteger": c.soreness}]},
    ]
    if c.symptoms:
        items.append(
            {
                "linkId": "symptoms",
                "answer": [
                    {"valueCoding": codes.coding("check-in-symptom", code)} for code in c.symptoms
                ],
            }
        )
    if c.other:
        items.append({"linkId": "other", "answer": [{"valueString": c.other}]})
    return {
        "resourceType": "QuestionnaireResponse",
        "id": f"{CHECK_IN}-{c.pk}",
        "questionnaire": questionnaires.CHECK_IN.url,
        "status": "completed",
        "subject": patient_ref,
        "encounter": ref("Encounter", session.pk),
        "authored": instant(c.answered_at),
        "author": patient_ref,
        "source": patient_ref,
        "item": items,
    }
