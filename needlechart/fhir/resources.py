"""needlechart's records as FHIR R4 resources (JSON-ready dicts); docs/fhir.md maps each.

Each function reads only what its record holds and what `reads.py` fetched with it
(select_related and prefetch_related), so that a page of resources costs no query per row.
The builders of a clinic's records (all but its directory: the clinic, its practitioners and
their caseloads) take plain rows instead, whose columns are named beside them
(`rows.Columns`): a bulk export reads those straight from SQL, and a read or a search turns
its model records into the same rows, so each type has one builder.
"""

import contextlib
import datetime as dt
import functools
import operator
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts.models import Clinic, Practitioner, User
from needlechart.charting.models import (
    Addendum,
    AdverseEvent,
    AdverseEventFollowUp,
    Insertion,
    NeedleSize,
    PainMark,
    TriggerPointFinding,
)
from needlechart.fhir import codes, questionnaires
from needlechart.knowledge.instruments import MUSCLE_MEASURES
from needlechart.outcomes.models import CarePlan, Observation, PlanGoal, PlanTherapy
from needlechart.patients.models import EpisodeOfCare
from needlechart.rows import Columns, Related, fetched

Resource = dict[str, Any]

# Observation ids name the table they come from: several tables are Observations.
MEASUREMENT = "m"
FINDING = "tp"
PAIN_MARK = "pm"


def ref(resource_type: str, pk: Any, display: str = "") -> dict[str, str]:
    reference = {"reference": f"{resource_type}/{pk}"}
    if display:
        reference["display"] = display
    return reference


# The clinic's zone while its resources are built, read by `instant` from a context variable:
# Django's active zone sits in an asgiref Local, whose lookup at each date was a tenth of
# a bulk export's time.
@dataclass(frozen=True)
class _Clock:
    """The clinic's zone, and the hours of UTC `Instants.utc_text` has made in it."""

    zone: dt.tzinfo
    hours: dict[str, tuple[str, str] | None] = field(default_factory=dict)


_clock: ContextVar[_Clock | None] = ContextVar("needlechart_fhir_clock", default=None)


@contextlib.contextmanager
def in_clinic_time(zone_name: str) -> Iterator[None]:
    """Dates in the resources built (and in date searches) are the clinic's days."""
    zone = zoneinfo.ZoneInfo(zone_name)
    token = _clock.set(_Clock(zone))
    try:
        with timezone.override(zone):
            yield
    finally:
        _clock.reset(token)


def _now_clock() -> _Clock:
    return _clock.get() or _Clock(timezone.get_current_timezone())


def instant(moment: dt.datetime) -> str:
    """A FHIR dateTime or instant, to the second, in the clinic's (else the active) zone."""
    clock = _clock.get()
    return _in_zone(moment, clock.zone if clock else timezone.get_current_timezone())


def _in_zone(moment: dt.datetime, zone: dt.tzinfo) -> str:
    return moment.astimezone(zone).isoformat(timespec="seconds")


def number(value: Decimal | int | float) -> int | float:
    """A decimal as the JSON number it is: 6.00 as 6, 4.50 as 4.5."""
    as_float = float(value)
    return int(as_float) if as_float.is_integer() else as_float


def _meta(moment: str | None) -> dict[str, Any]:
    """`meta` of a resource last updated at `moment` (an `instant`)."""
    return {"meta": {"lastUpdated": moment}} if moment else {}


class Instants:
    """`instant` as the builders of plain rows take their date-times (`columns`)."""

    def __call__(self, moment: dt.datetime) -> str:
        return instant(moment)

    def utc_text(self) -> Callable[[str], str]:
        """`instant` of the text of a UTC time as SQLite holds it, 'YYYY-MM-DD HH:MM:SS'
        (perhaps with '.ffffff'), in the zone of now (an export's, for all it reads).

        A bulk export's times are tens of thousands, nearly all different, and parsing each
        one, moving it to the zone and formatting it was a tenth of the export. The text of
        an hour of UTC is made once an export instead, and a time's minutes and seconds
        copied after it: they are the same in the zone wherever its offset is whole hours
        and does not change within that hour (elsewhere, as at a half-hour offset, or for
        text of another form, the time is made in full)."""
        clock = _now_clock()
        zone, hours = clock.zone, clock.hours

        def made(text: str) -> str:
            if len(text) in (19, 26) and text[10] == " " and text[13] == ":" == text[16]:
                hour = text[:13]
                try:
                    parts = hours[hour]
                except KeyError:
                    parts = hours[hour] = _hour_parts(hour, zone)
                if parts is not None:
                    return parts[0] + text[13:19] + parts[1]
            moment = dt.datetime.fromisoformat(text)
            return _in_zone(moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC), zone)

        return made


_HOUR = dt.timedelta(hours=1)
_LAST_SECOND = dt.timedelta(seconds=3599)


def _hour_parts(hour: str, zone: dt.tzinfo) -> tuple[str, str] | None:
    """For an hour of UTC ('YYYY-MM-DD HH'), the text `instant` gives its times before their
    minutes and seconds, and after them (the offset); None where the zone's offset is not
    whole hours, or changes within the hour."""
    start = dt.datetime.fromisoformat(f"{hour}:00:00+00:00")
    local = start.astimezone(zone)
    offset = local.utcoffset()
    if (
        offset is None
        or offset % _HOUR
        or (start + _LAST_SECOND).astimezone(zone).utcoffset() != offset
    ):
        return None
    text = local.isoformat(timespec="seconds")
    return text[:13], text[19:]


def columns(
    name: str, own: str, linked: dict[str, str] | None = None, lists: Iterable[Related] = ()
) -> Columns:
    """The `Columns` of a builder here: its rows hold their date-times as FHIR instants
    (`instant`), which a bulk export makes straight from the database's values."""
    return Columns(name, own, linked, lists, moment=Instants())


def person(path: str, prefix: str) -> dict[str, str]:
    """The columns of a staff member at `path` that `person_name` and `staff_of` read from
    a row, as attributes `{prefix}_first` and so on."""
    return {
        f"{prefix}_first": f"{path}__first_name",
        f"{prefix}_last": f"{path}__last_name",
        f"{prefix}_username": f"{path}__username",
    }


@functools.cache
def _person_columns(prefix: str) -> operator.attrgetter:
    """What `person` put in a row for `prefix`: (first name, last name, username)."""
    return operator.attrgetter(f"{prefix}_first", f"{prefix}_last", f"{prefix}_username")


def person_name(row: Any, prefix: str) -> str:
    """The name of a staff member `person` put in a row, as str() of the User gives it."""
    return User.name_of(*_person_columns(prefix)(row))


def staff(path: str, prefix: str) -> dict[str, str]:
    """`person`, with the staff member's Practitioner (None where they have none) as
    `{prefix}_practitioner`."""
    return {**person(path, prefix), f"{prefix}_practitioner": f"{path}__practitioner__id"}


def staff_of(row: Any, prefix: str) -> dict[str, str]:
    """The staff member `staff` put in a row as a reference: their Practitioner where they
    have one, else their name (an assistant, say, has no Practitioner)."""
    return _staff_reference(getattr(row, f"{prefix}_practitioner"), *_person_columns(prefix)(row))


def practitioner_of(row: Any, prefix: str, practitioner_id: int) -> dict[str, str]:
    """A reference to Practitioner `practitioner_id`, named as `person` put them in a row."""
    return _staff_reference(practitioner_id, *_person_columns(prefix)(row))


@functools.lru_cache(maxsize=4096)
def _staff_reference(
    practitioner_id: int | None, first_name: str, last_name: str, username: str
) -> dict[str, str]:
    """A staff member as a reference, made once per staff member (and name) and shared by
    the resources that name them (never changed: they are only encoded)."""
    name = User.name_of(first_name, last_name, username)
    if practitioner_id is None:
        return {"display": name}
    return ref("Practitioner", practitioner_id, name)


@functools.cache
def _labels(model: type, field_name: str) -> dict[Any, str]:
    return {code: str(words) for code, words in model._meta.get_field(field_name).flatchoices}


def label(record: Any, field_name: str) -> str:
    """The words of a field's choice, as `get_FOO_display()` gives them, from a table made
    once per field (Django rebuilds it at each call, tens of thousands in a bulk export)."""
    return choice(type(record), field_name, getattr(record, field_name))


def choice(model: type, field_name: str, value: Any) -> str:
    """`label` of a plain row's value of the model's field."""
    return _labels(model, field_name).get(value, value)


# --- people and the clinic ---------------------------------------------------------------------


# What a Patient reads of its record.
PATIENT = columns(
    "PatientRow",
    "pk updated_at clinic_id mrn family_name given_name sex birth_date phone email address",
)


def patient(p: Any) -> Resource:
    """A patient (a `PATIENT` row)."""
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


# What the EpisodeOfCare and its Condition read.
EPISODE = columns(
    "Episode",
    "pk updated_at created_at status period_start period_end onset_date condition_code "
    "body_area patient_id care_manager_id",
    {"clinic_id": "patient__clinic_id", **person("care_manager__user", "manager")},
)


def _care_manager(e: Any) -> dict[str, str]:
    return practitioner_of(e, "manager", e.care_manager_id)


def episode_of_care(e: Any) -> Resource:
    """An episode of care (an `EPISODE` row)."""
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
        "managingOrganization": ref("Organization", e.clinic_id),
        "period": period,
        "careManager": _care_manager(e),
    }


def condition(e: Any) -> Resource:
    """The episode's complaint (of an `EPISODE` row): one Condition per episode, with the
    episode's id."""
    try:
        words = knowledge.condition(e.condition_code).option_label
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
        "recordedDate": e.created_at,
        "recorder": _care_manager(e),
    }
    if e.onset_date:
        resource["onsetDateTime"] = e.onset_date.isoformat()
    if e.status == EpisodeOfCare.Status.FINISHED and e.period_end:
        resource["abatementDateTime"] = e.period_end.isoformat()
    return resource


# --- the needling session ----------------------------------------------------------------------


# What the Encounter reads of a session; `in_error` is an annotation reads.py makes (an
# entered-in-error addendum was written on it).
SESSION_OWN = "pk in_error signed_at performed_at episode_id practitioner_id"
SESSION_LINKED = {
    "patient_id": "episode__patient_id",
    "clinic_id": "episode__patient__clinic_id",
    **person("practitioner__user", "practitioner"),
}
SESSION = columns("Session", SESSION_OWN, SESSION_LINKED)


def _session_status(s: Any, done: str, draft: str) -> str:
    if s.in_error:
        return "entered-in-error"
    return done if s.signed_at is not None else draft


def _practitioner(s: Any) -> dict[str, str]:
    return practitioner_of(s, "practitioner", s.practitioner_id)


def encounter(s: Any) -> Resource:
    """A session (a `SESSION` row) as the visit it was."""
    return {
        "resourceType": "Encounter",
        "id": str(s.pk),
        "status": _session_status(s, "finished", "in-progress"),
        "class": {"system": codes.V3_ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "type": [{"coding": [codes.coding("procedure", "dry-needling")], "text": "Dry needling"}],
        "subject": ref("Patient", s.patient_id),
        "episodeOfCare": [ref("EpisodeOfCare", s.episode_id)],
        "participant": [{"individual": _practitioner(s)}],
        "period": {"start": s.performed_at},
        "reasonReference": [ref("Condition", s.episode_id)],
        "serviceProvider": ref("Organization", s.clinic_id),
    }


@functools.lru_cache(maxsize=1024)
def _side_words(muscle: str, side: str) -> str:
    name = codes.muscle_name(muscle)
    return f"{name}, {side}" if side else name


@functools.lru_cache(maxsize=1024)
def _body_site(muscle: str, side: str) -> dict[str, Any]:
    """A muscle and side as a body site, made once and shared (never changed)."""
    return {"coding": [codes.coding("muscle", muscle)], "text": _side_words(muscle, side)}


@functools.lru_cache(maxsize=256)
def _needle_words(diameter_mm: Decimal, length_mm: int) -> str:
    return NeedleSize.words(diameter_mm, length_mm)


# What the Procedure reads of a needling row.
NEEDLING_ROW = columns(
    "NeedlingRow",
    "muscle side needles depth depth_mm technique twitch_responses needle_size_id",
    {"diameter_mm": "needle_size__diameter_mm", "length_mm": "needle_size__length_mm"},
)
PROCEDURE = columns(
    "NeedledSession",
    f"{SESSION_OWN} cpt_code",
    SESSION_LINKED,
    [
        Related(
            "insertions",
            "session_id",
            lambda: Insertion.objects.select_related("needle_size"),
            NEEDLING_ROW,
        )
    ],
)


def _row_extension(row: Any) -> dict[str, Any]:
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


def _row_words(row: Any) -> str:
    needles = f"{row.needles} needle{'s' if row.needles != 1 else ''}"
    depth = choice(Insertion, "depth", row.depth).lower()
    if row.depth_mm is not None:
        depth += f" ({row.depth_mm} mm)"
    technique = choice(Insertion, "technique", row.technique)
    return f"{_side_words(row.muscle, row.side)}: {needles}, {technique}, {depth}"


def procedure(s: Any) -> Resource:
    """The needling of a session (a `PROCEDURE` row): each muscle and side a body site, with
    its technique and needle count in the needling-row extension."""
    rows = s.insertions
    code = [codes.coding("procedure", "dry-needling")]
    if s.cpt_code:
        code.append({"system": codes.CPT, "code": s.cpt_code})
    sizes = {row.needle_size_id: _needle_words(row.diameter_mm, row.length_mm) for row in rows}
    resource: Resource = {
        "resourceType": "Procedure",
        "id": str(s.pk),
        "status": _session_status(s, "completed", "in-progress"),
        "code": {"coding": code, "text": "Dry needling"},
        "subject": ref("Patient", s.patient_id),
        "encounter": ref("Encounter", s.pk),
        "performedDateTime": s.performed_at,
        "performer": [{"actor": _practitioner(s)}],
        "reasonReference": [ref("Condition", s.episode_id)],
    }
    if rows:
        resource["extension"] = [_row_extension(row) for row in rows]
        resource["bodySite"] = [_body_site(row.muscle, row.side) for row in rows]
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


# What the Observation of a measurement reads; the recorder's clinic is None where the
# patient recorded it (a portal sign-in has no clinic).
MEASURED = columns(
    "Measurement",
    "pk code component side value timing recorded_at session_id entered_in_error_reason episode_id",
    {
        "patient_id": "episode__patient_id",
        "recorder_clinic": "recorded_by__clinic_id",
        **staff("recorded_by", "recorder"),
    },
)


@functools.lru_cache(maxsize=1024)
def _measure_parts(code: str, component: str, side: str) -> tuple[Any, ...]:
    """What the Observations of one measure (and component and side) share: category, code,
    unit and body site. Made once per measure rather than per row, and shared by the
    resources built (which are only encoded, never changed)."""
    try:
        measure = knowledge.instrument(code)
        title, unit, loinc = measure.name, measure.unit, measure.loinc
    except knowledge.UnknownCode:
        title, unit, loinc = code, "", None
    what = knowledge.component_label(code, component)
    text = ", ".join(part for part in (title, what, side) if part)
    coding = [codes.coding("measure", code)]
    if loinc:
        coding.insert(
            0, {"system": codes.LOINC, "code": loinc, "display": codes.LOINC_DISPLAY[loinc]}
        )
    units: dict[str, Any] = {"unit": unit} if unit else {}
    if unit in codes.UCUM_UNITS:
        units |= {"system": codes.UCUM, "code": codes.UCUM_UNITS[unit]}
    body_site = None
    if code in MUSCLE_MEASURES and component:
        body_site = {
            "coding": [codes.coding("muscle", component)],
            "text": _side_words(component, side),
        }
    return _category(code), {"coding": coding, "text": text}, units, body_site


def measurement(o: Any) -> Resource:
    """A measurement (a `MEASURED` row)."""
    category, code, units, body_site = _measure_parts(o.code, o.component, o.side)
    recorded = o.recorded_at
    by_patient = o.recorder_clinic is None
    resource: Resource = {
        "resourceType": "Observation",
        "id": f"{MEASUREMENT}-{o.pk}",
        "status": "entered-in-error" if o.entered_in_error_reason else "final",
        "category": category,
        "code": code,
        "subject": ref("Patient", o.patient_id),
        "effectiveDateTime": recorded,
        "issued": recorded,
        "performer": [ref("Patient", o.patient_id) if by_patient else staff_of(o, "recorder")],
        "valueQuantity": {"value": number(o.value), **units},
        "note": [{"text": choice(Observation, "timing", o.timing)}],
    }
    resource["extension"] = [_measurement_extension(o)]
    if o.session_id:
        resource["encounter"] = ref("Encounter", o.session_id)
    if body_site is not None:
        resource["bodySite"] = body_site
    if o.entered_in_error_reason:
        resource["note"].append({"text": f"Entered in error: {o.entered_in_error_reason}"})
    return resource


def _measurement_extension(o: Any) -> dict[str, Any]:
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


# What an Observation of an assessment's record reads of its assessment.
ASSESSED = {
    "signed_at": "assessment__signed_at",
    "performed_at": "assessment__performed_at",
    "patient_id": "assessment__episode__patient_id",
    "practitioner_id": "assessment__practitioner_id",
    **person("assessment__practitioner__user", "practitioner"),
}


def _examined(row: Any, prefix: str, code: dict[str, str], text: str) -> Resource:
    """What an Observation of an assessment's record (an `ASSESSED` row) starts with: final
    once the assessment is signed, examined by its practitioner at its time."""
    return {
        "resourceType": "Observation",
        "id": f"{prefix}-{row.pk}",
        "status": "final" if row.signed_at is not None else "preliminary",
        "category": [{"coding": [{"system": codes.OBSERVATION_CATEGORY, "code": "exam"}]}],
        "code": {"coding": [code], "text": text},
        "subject": ref("Patient", row.patient_id),
        "effectiveDateTime": row.performed_at,
        "performer": [_practitioner(row)],
    }


# What the Observation of a trigger-point finding reads, with its assessment's.
FOUND = columns(
    "Finding",
    "pk muscle side location taut_band hypersensitive_spot recognised jump_sign "
    "twitch_response referred_sensation pressure_pain_threshold",
    ASSESSED,
)


def finding(f: Any) -> Resource:
    """A trigger-point finding (a `FOUND` row)."""
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
                "valueString": choice(
                    TriggerPointFinding, "referred_sensation", f.referred_sensation
                ),
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
    activity = TriggerPointFinding.activity_of(f.recognised)
    tp = codes.coding("trigger-point", "trigger-point")
    resource = _examined(f, FINDING, tp, "Trigger point")
    resource |= {
        "valueCodeableConcept": {"coding": [codes.coding("trigger-point", activity)]},
        "bodySite": {
            "coding": [codes.coding("muscle", f.muscle)],
            "text": f"{site} ({f.location})" if f.location else site,
        },
        "component": components,
    }
    return resource


# What the Observation of a pain mark on the body chart reads, with its assessment's.
PAINED = columns(
    "PainMarked",
    "pk region intensity quality",
    ASSESSED,
)


def pain_mark(m: Any) -> Resource:
    """A region of pain marked on an assessment's body chart (a `PAINED` row): its intensity
    0-10 as the value, the region as the body site, the pain's quality as a component."""
    resource = _examined(
        m, PAIN_MARK, codes.coding("body-chart", "pain-mark"), "Pain marked on the body chart"
    )
    resource |= {
        "valueInteger": m.intensity,
        "bodySite": {"coding": [codes.coding("body-region", m.region)]},
    }
    if m.quality:
        resource["component"] = [
            {
                "code": {"coding": [codes.coding("body-chart", "quality")]},
                "valueCodeableConcept": {"coding": [codes.coding("body-chart", m.quality)]},
            }
        ]
    return resource


# --- safety, consent and the plan --------------------------------------------------------------


# What an AdverseEvent reads, with its follow-ups' (`AdverseEvent.now` in rows).
ADVERSE_EVENT = columns(
    "AdverseEvent",
    "pk event_type muscles description severity outcome updated_at recorded_at session_id",
    {
        "performed_at": "session__performed_at",
        "patient_id": "session__episode__patient_id",
        **staff("recorded_by", "recorder"),
    },
    [
        Related(
            "follow_ups",
            "event_id",
            lambda: AdverseEventFollowUp.objects.all(),
            columns("FollowUp", "severity outcome description"),
        )
    ],
)


def adverse_event(event: Any) -> Resource:
    """An adverse event (an `ADVERSE_EVENT` row) as it stands now: its latest follow-up's
    severity, outcome and description, else as first recorded."""
    now = event.follow_ups[-1] if event.follow_ups else event
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
        "subject": ref("Patient", event.patient_id),
        "encounter": ref("Encounter", event.session_id),
        "date": event.performed_at,
        "recordedDate": event.recorded_at,
        "seriousness": {
            "coding": [
                {"system": codes.AE_SERIOUSNESS, "code": "serious" if serious else "non-serious"}
            ]
        },
        "severity": {"coding": [{"system": codes.AE_SEVERITY, "code": severity}]},
        "outcome": {"coding": [{"system": codes.AE_OUTCOME, "code": now.outcome}]},
        "recorder": staff_of(event, "recorder"),
        "suspectEntity": [{"instance": ref("Procedure", event.session_id)}],
    }


# What a Consent reads: its template's title and version, and when it was withdrawn (None
# where it stands).
CONSENT = columns(
    "ConsentRow",
    "pk patient_id signed_name signed_at",
    {
        "clinic_id": "patient__clinic_id",
        "template_title": "template__title",
        "template_version": "template__version",
        "withdrawn_at": "withdrawal__withdrawn_at",
    },
)


def consent(c: Any) -> Resource:
    """A patient's consent (a `CONSENT` row)."""
    period = {"start": c.signed_at}
    if c.withdrawn_at is not None:
        period["end"] = c.withdrawn_at
    performer = [ref("Patient", c.patient_id, c.signed_name)]
    return {
        "resourceType": "Consent",
        "id": str(c.pk),
        "status": "inactive" if c.withdrawn_at is not None else "active",
        "scope": {"coding": [{"system": codes.CONSENT_SCOPE, "code": "treatment"}]},
        "category": [
            {"coding": [{"system": codes.LOINC, "code": "59284-0"}], "text": "Patient consent"}
        ],
        "patient": ref("Patient", c.patient_id),
        "dateTime": c.signed_at,
        "performer": performer,
        "organization": [ref("Organization", c.clinic_id)],
        "sourceAttachment": {
            "contentType": "text/plain",
            "title": f"{c.template_title} (version {c.template_version})",
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


def _therapy(t: Any, status: str) -> dict[str, Any]:
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


# What a CarePlan reads of a version of the plan, with its goals and other therapies;
# `replaced` is an annotation reads.py makes (a later version exists).
PLAN = columns(
    "Plan",
    "pk version planned_sessions frequency review_on note created_at replaced episode_id",
    {
        "episode_status": "episode__status",
        "period_start": "episode__period_start",
        "patient_id": "episode__patient_id",
        **staff("created_by", "author"),
    },
    [
        Related(
            "goals",
            "plan_id",
            lambda: PlanGoal.objects.all(),
            columns("Goal", "pk description code component target target_date"),
        ),
        Related(
            "therapies",
            "plan_id",
            lambda: PlanTherapy.objects.all(),
            columns("Therapy", "kind provider frequency exercises note"),
        ),
    ],
)


def care_plan(plan: Any) -> Resource:
    """A version of the episode's plan (a `PLAN` row); a later version replaces it (one
    resource each)."""
    latest = not plan.replaced
    finished = plan.episode_status == EpisodeOfCare.Status.FINISHED
    status = ("completed" if finished else "active") if latest else "revoked"
    activity_status = ("completed" if finished else "in-progress") if latest else "stopped"
    subject = ref("Patient", plan.patient_id)
    goals = plan.goals
    needling = {
        "detail": {
            "code": {"coding": [codes.coding("therapy", "dry-needling")]},
            "status": activity_status,
            "scheduledString": choice(CarePlan, "frequency", plan.frequency),
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
        "period": {"start": plan.period_start.isoformat()},
        "created": plan.created_at,
        "author": staff_of(plan, "author"),
        "addresses": [ref("Condition", plan.episode_id)],
        "activity": [needling, *(_therapy(t, activity_status) for t in plan.therapies)],
    }
    if plan.review_on >= plan.period_start:
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


def session_targets(session_id: int) -> list[dict[str, str]]:
    """A session is two resources, its Encounter and its Procedure: a signature or an
    addendum bears on both."""
    return [ref("Encounter", session_id), ref("Procedure", session_id)]


def _targets(holder: str = "", parent: str = "pk") -> list[Related]:
    """An assessment's findings and measurements, their ids only (its Provenance's targets);
    of the assessment at `holder`, whose id is the row's `parent`."""
    target = columns("Target", "pk")
    return [
        Related(name, "assessment_id", lambda model=model: model.objects.all(), target, holder,
                parent)
        for name, model in (("pain_marks", PainMark), ("findings", TriggerPointFinding),
                            ("observations", Observation))
    ]  # fmt: skip


def assessment_targets(row: Any) -> list[dict[str, str]]:
    """An assessment is served as what it marked, found and measured: its pain marks, its
    trigger-point findings and its measurements (reads.py leaves out an assessment with none
    of them)."""
    return [
        *(ref("Observation", f"{PAIN_MARK}-{m.pk}") for m in row.pain_marks),
        *(ref("Observation", f"{FINDING}-{f.pk}") for f in row.findings),
        *(ref("Observation", f"{MEASUREMENT}-{o.pk}") for o in row.observations),
    ]


def _provenance(
    resource_id: str,
    targets: list[dict[str, str]],
    moment: str,
    activity: dict[str, str],
    agent_type: dict[str, str],
    who: dict[str, str],
    clinic_id: int,
) -> Resource:
    return {
        "resourceType": "Provenance",
        "id": resource_id,
        "target": targets,
        "recorded": moment,
        "activity": {"coding": [activity]},
        "agent": [
            {
                "type": {"coding": [agent_type]},
                "who": who,
                "onBehalfOf": ref("Organization", clinic_id),
            }
        ],
    }


# What a signature reads of a signed session or assessment: the staff member who signed it,
# else (signed before the signer was kept) its practitioner.
SIGNED_LINKED = {
    "clinic_id": "episode__patient__clinic_id",
    **person("practitioner__user", "practitioner"),
    **staff("signed_by", "signer"),
}
SIGNED_OWN = "pk signed_at practitioner_id"
SIGNED_SESSION_ROW = columns("SignedSession", SIGNED_OWN, SIGNED_LINKED)
SIGNED_ASSESSMENT_ROW = columns("SignedAssessment", SIGNED_OWN, SIGNED_LINKED, _targets())


def _signature(row: Any, resource_id: str, targets: list[dict[str, str]]) -> Resource:
    """The signing of a session or an assessment: who signed it, for the clinic, and when."""
    assert row.signed_at is not None  # reads.py serves signed records only
    who = staff_of(row, "signer") if row.signer_username is not None else _practitioner(row)
    return _provenance(
        resource_id, targets, row.signed_at, codes.SIGNED, codes.LEGAL_AUTHENTICATOR, who,
        row.clinic_id,
    )  # fmt: skip


def session_signature(row: Any) -> Resource:
    """A `SIGNED_SESSION_ROW`'s signature."""
    return _signature(row, f"{SIGNED_SESSION}-{row.pk}", session_targets(row.pk))


def assessment_signature(row: Any) -> Resource:
    """A `SIGNED_ASSESSMENT_ROW`'s signature."""
    return _signature(row, f"{SIGNED_ASSESSMENT}-{row.pk}", assessment_targets(row))


# What an addendum's Provenance reads: it is written on a session or on an assessment.
ADDENDUM_ROW = columns(
    "Addendum",
    "pk kind reason written_at session_id assessment_id",
    {
        "session_clinic": "session__episode__patient__clinic_id",
        "assessment_clinic": "assessment__episode__patient__clinic_id",
        **staff("author", "author"),
    },
    _targets("assessment", "assessment_id"),
)


def addendum(a: Any) -> Resource:
    """An addendum (an `ADDENDUM_ROW`) revises the record it is written on; entered in error
    nullifies it."""
    if a.session_id:
        targets, clinic_id = session_targets(a.session_id), a.session_clinic
    else:
        targets, clinic_id = assessment_targets(a), a.assessment_clinic
    in_error = a.kind == Addendum.Kind.ENTERED_IN_ERROR
    resource = _provenance(
        f"{ADDENDUM}-{a.pk}", targets, a.written_at,
        codes.NULLIFIED if in_error else codes.REVISED, codes.AUTHOR, staff_of(a, "author"),
        clinic_id,
    )  # fmt: skip
    resource["reason"] = [{"text": f"{choice(Addendum, 'kind', a.kind)}: {a.reason}"}]
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


# What the QuestionnaireResponse of the health questions reads.
HEALTH_ANSWERS = columns("HealthAnswers", "pk patient_id submitted_at factors note")


def health_questions(h: Any) -> Resource:
    """The patient's answers to the health questions (a `HEALTH_ANSWERS` row): each
    question yes or no, with the details given for a yes (as the factors store them), and
    their note."""
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
        "authored": h.submitted_at,
        "author": patient_ref,
        "source": patient_ref,
        "item": items,
    }


# What a check-in's QuestionnaireResponse reads.
CHECKED_IN = columns(
    "CheckIn",
    "pk hours soreness symptoms other answered_at session_id",
    {"patient_id": "session__episode__patient_id"},
)


def check_in(c: Any) -> Resource:
    """A portal check-in after a session (a `CHECKED_IN` row), answering the check-in
    Questionnaire."""
    patient_ref = ref("Patient", c.patient_id)
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
        "encounter": ref("Encounter", c.session_id),
        "authored": c.answered_at,
        "author": patient_ref,
        "source": patient_ref,
        "item": items,
    }
