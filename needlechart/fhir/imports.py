"""FHIR import: a Bundle (or NDJSON lines) of Patients with their Conditions and Observations
from another system, as patients, episodes of care and measurements of the actor's clinic.

Everything is checked before anything is written: a resource the import takes that is
invalid refuses the whole import, with every problem named by the entry (its index and
fullUrl) and the field. The writes then go through the apps' bulk import services
(patients_import, episodes_import, observations_import), in one transaction, so that their
rules and audit rows hold as for any other import.

Importing the same resources again creates nothing again: a patient is matched by their
record number (the Patient identifier the export writes), an episode by its patient, ICD-10-CM
code and first day, a measurement by its episode, measure, what and when it measured.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from needlechart import knowledge
from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import Practitioner, User
from needlechart.db.statistics import refresh_after_load
from needlechart.fhir import codes, resources
from needlechart.outcomes.measurements import observation_check, observations_import
from needlechart.outcomes.models import EpisodeSummary, Observation, Timing
from needlechart.patients.models import EpisodeOfCare, Patient
from needlechart.patients.services import episodes_import, patients_import

# What the import takes; EpisodeOfCare only for the period and status of its Condition.
TAKEN = ("Patient", "Condition", "EpisodeOfCare", "Observation")
BUNDLE_TYPES = ("transaction", "collection")
Resource = dict[str, Any]


@dataclass(frozen=True)
class Entry:
    index: int
    full_url: str
    resource: Resource


@dataclass(frozen=True)
class Problem:
    index: int | None
    full_url: str
    path: str
    text: str

    def expression(self) -> str:
        where = "Bundle" if self.index is None else f"Bundle.entry[{self.index}].resource"
        return f"{where}.{self.path}" if self.path else where

    def __str__(self) -> str:
        where = "Bundle" if self.index is None else f"entry {self.index}"
        if self.full_url:
            where += f" ({self.full_url})"
        return f"{where}, {self.path or 'resource'}: {self.text}"


class Refused(Exception):
    """The import was refused whole; nothing was written."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class Result:
    """What became of each entry: "created", "found" (there already) or "skipped" (a
    resource the import does not take), with the record it is now."""

    index: int
    outcome: str
    location: str = ""
    note: str = ""


# --- reading a Bundle --------------------------------------------------------------------------


def bundle_entries(bundle: Any) -> list[Entry]:
    """The entries of a transaction or collection Bundle; a Bundle not of that form is
    refused as a whole."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise Refused([Problem(None, "", "resourceType", "Send a Bundle.")])
    if bundle.get("type") not in BUNDLE_TYPES:
        raise Refused([Problem(None, "", "type", "The Bundle must be a transaction or a "
                               "collection.")])  # fmt: skip
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise Refused([Problem(None, "", "entry", "The entries must be a list.")])
    found, problems = [], []
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        full_url = entry.get("fullUrl", "") if isinstance(entry, dict) else ""
        if not isinstance(resource, dict) or not isinstance(full_url, str):
            problems.append(Problem(index, "", "", "An entry holds a resource."))
            continue
        found.append(Entry(index, full_url, resource))
    if problems:
        raise Refused(problems)
    return found


def resource_entries(items: list[Resource]) -> list[Entry]:
    """Resources without a Bundle (NDJSON lines, an export's files), in the order given."""
    return [Entry(index, "", resource) for index, resource in enumerate(items)]


# --- checking ----------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What the import would write, and what each entry stands for."""

    clinic_zone: ZoneInfo
    problems: list[Problem] = field(default_factory=list)
    # Each entry's keys (its fullUrl, Type/id) to the record it stands for.
    records: dict[str, Any] = field(default_factory=dict)
    new_patients: list[Patient] = field(default_factory=list)
    new_episodes: list[EpisodeOfCare] = field(default_factory=list)
    new_observations: list[Observation] = field(default_factory=list)
    results: dict[int, Result] = field(default_factory=dict)
    # Each patient's episodes of this import (by the patient's id() while unsaved).
    episodes_of: dict[int, list[EpisodeOfCare]] = field(default_factory=dict)

    # Each entry's record, by the entry's index.
    chosen: dict[int, Any] = field(default_factory=dict)

    def stands_for(self, entry: Entry, record: Any) -> None:
        self.chosen[entry.index] = record
        for key in _keys(entry):
            self.records[key] = record

    def skip(self, entry: Entry, note: str) -> None:
        self.results[entry.index] = Result(entry.index, "skipped", note=note)

    def problem(self, entry: Entry, path: str, text: str) -> None:
        self.problems.append(Problem(entry.index, entry.full_url, path, text))


def _keys(entry: Entry) -> list[str]:
    keys = [entry.full_url] if entry.full_url else []
    resource_id = entry.resource.get("id")
    if isinstance(resource_id, str) and resource_id:
        keys.append(f"{entry.resource.get('resourceType')}/{resource_id}")
    return keys


def _resolve(plan: _Plan, reference: Any, resource_type: str) -> Any:
    """The record a reference names: an entry of the import by fullUrl or Type/id."""
    if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
        return None
    text = reference["reference"]
    if text in plan.records:
        return plan.records[text]
    # An absolute URL ending in Type/id names the entry with that id too.
    tail = "/".join(text.rstrip("/").split("/")[-2:])
    if tail.startswith(f"{resource_type}/"):
        return plan.records.get(tail)
    return None


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value[:10]) if len(value) >= 10 else None
    except ValueError:
        return None


def _moment(value: Any, zone: ZoneInfo) -> dt.datetime | None:
    if not isinstance(value, str) or len(value) <= 10:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=zone)


PATIENT_FIELDS = {
    "mrn": "identifier", "given_name": "name[0].given", "family_name": "name[0].family",
    "birth_date": "birthDate", "sex": "gender", "phone": "telecom", "email": "telecom",
    "address": "address",
}  # fmt: skip


def _record_number(resource: Resource) -> str:
    """The record number: the identifier typed MR or of a record-number system, else the
    first identifier with a value."""
    identifiers = [i for i in resource.get("identifier") or [] if isinstance(i, dict)]
    for identifier in identifiers:
        typed = (identifier.get("type") or {}).get("coding") or []
        is_mrn = any(c.get("code") == "MR" for c in typed if isinstance(c, dict))
        if (is_mrn or str(identifier.get("system", "")).endswith("/mrn")) and identifier.get(
            "value"
        ):
            return str(identifier["value"])
    return next((str(i["value"]) for i in identifiers if i.get("value")), "")


def _patient(plan: _Plan, entry: Entry, clinic_id: int, existing: dict[str, Patient]) -> None:
    resource = entry.resource
    mrn = _record_number(resource).strip().upper()
    if not mrn:
        plan.problem(entry, "identifier", "A patient needs an identifier (their record "
                     "number), by which importing again finds them.")  # fmt: skip
        return
    names = [n for n in resource.get("name") or [] if isinstance(n, dict)]
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    given = name.get("given") or []
    telecom = [t for t in resource.get("telecom") or [] if isinstance(t, dict)]
    addresses = [a for a in resource.get("address") or [] if isinstance(a, dict)]
    address = addresses[0] if addresses else {}
    birth = _date(resource.get("birthDate"))
    if resource.get("birthDate") is not None and birth is None:
        plan.problem(entry, "birthDate", "Not a date (YYYY-MM-DD).")
        return
    patient = Patient(
        clinic_id=clinic_id,
        mrn=mrn,
        given_name=str(given[0]).strip() if given else "",
        family_name=str(name.get("family", "")).strip(),
        birth_date=birth,
        sex=resource.get("gender") or "",
        phone=next((str(t.get("value", "")) for t in telecom if t.get("system") == "phone"), ""),
        email=next((str(t.get("value", "")) for t in telecom if t.get("system") == "email"), ""),
        address=str(address.get("text") or ", ".join(address.get("line") or [])),
    )
    found = existing.get(mrn)
    if found is None:
        try:
            patient.full_clean(exclude=["clinic"], validate_unique=False,
                               validate_constraints=False)  # fmt: skip
        except ValidationError as error:
            for name_, messages in error.message_dict.items():
                plan.problem(entry, PATIENT_FIELDS.get(name_, name_), " ".join(messages))
            return
        existing[mrn] = found = patient
        plan.new_patients.append(patient)
        plan.results[entry.index] = Result(entry.index, "created")
    else:
        plan.results[entry.index] = Result(entry.index, "found" if found.pk else "created")
    plan.stands_for(entry, found)


def _code(resource: Resource, system: str) -> str:
    codings = (resource.get("code") or {}).get("coding") or []
    return next(
        (str(c.get("code")) for c in codings if isinstance(c, dict) and c.get("system") == system),
        "",
    )


def _episode_of(resource: Resource) -> tuple[str, dt.date | None, dt.date | None]:
    """Status and period of an EpisodeOfCare resource."""
    period = resource.get("period") or {}
    return str(resource.get("status", "")), _date(period.get("start")), _date(period.get("end"))


def _condition(
    plan: _Plan,
    entry: Entry,
    about: dict[str, Resource],
    care_manager: Practitioner | None,
    existing: dict[tuple[int, str, dt.date], EpisodeOfCare],
) -> None:
    resource = entry.resource
    patient = _resolve(plan, resource.get("subject"), "Patient")
    if not isinstance(patient, Patient):
        plan.problem(entry, "subject", "Name a Patient of this import.")
        return
    code = _code(resource, codes.ICD_10_CM)
    # The EpisodeOfCare naming this Condition, where the import has it, gives the episode's
    # own period and status; the Condition alone, its recorded and abatement dates.
    episode_resource = next((about[k] for k in _keys(entry) if k in about), None)
    today = timezone.localdate()
    clinical = next((c.get("code") for c in (resource.get("clinicalStatus") or {})
                     .get("coding") or [] if isinstance(c, dict)), "active")  # fmt: skip
    status = EpisodeOfCare.Status.ACTIVE if clinical in ("active", "recurrence", "relapse") \
        else EpisodeOfCare.Status.FINISHED  # fmt: skip
    start = _date(resource.get("recordedDate")) or _date(resource.get("onsetDateTime")) or today
    end = _date(resource.get("abatementDateTime"))
    if episode_resource is not None:
        status_text, episode_start, episode_end = _episode_of(episode_resource)
        if status_text in EpisodeOfCare.Status.values:
            status = EpisodeOfCare.Status(status_text)
        start, end = episode_start or start, episode_end or end
    # A finished episode has the day it ended; an open one has none.
    end = (end or start) if status == EpisodeOfCare.Status.FINISHED else None
    if not code:
        plan.problem(entry, "code", f"Code the condition in ICD-10-CM ({codes.ICD_10_CM}).")
        return
    try:
        known = knowledge.condition(code)
    except knowledge.UnknownCode:
        plan.problem(
            entry, "code", f"{code} is not an ICD-10-CM code in the needlechart catalogue."
        )
        return
    if not known.valid_on(start):
        plan.problem(entry, "code", f"{code} is not a valid ICD-10-CM code on {start}.")
        return
    if care_manager is None:
        plan.problem(entry, "", "The clinic has no active practitioner to take charge of "
                     "the episode of care.")  # fmt: skip
        return
    key = (id(patient), code, start)
    episode = existing.get(key)
    if episode is None:
        episode = EpisodeOfCare(
            patient=patient, condition_code=code, onset_date=_date(resource.get("onsetDateTime")),
            referral_source="other", referral_detail="Imported", status=status,
            care_manager=care_manager, period_start=start, period_end=end,
        )  # fmt: skip
        existing[key] = episode
        plan.new_episodes.append(episode)
        plan.results[entry.index] = Result(entry.index, "created")
    else:
        plan.results[entry.index] = Result(entry.index, "found" if episode.pk else "created")
    plan.episodes_of.setdefault(id(patient), [])
    if episode not in plan.episodes_of[id(patient)]:
        plan.episodes_of[id(patient)].append(episode)
    plan.stands_for(entry, episode)


def _extension(resource: Resource) -> dict[str, Any]:
    """The measurement extension's parts by name, each its value."""
    for extension in resource.get("extension") or []:
        if isinstance(extension, dict) and extension.get("url") == codes.MEASUREMENT:
            return {
                part.get("url"): next((v for k, v in part.items() if k.startswith("value")), None)
                for part in extension.get("extension") or []
                if isinstance(part, dict)
            }
    return {}


def _measure(resource: Resource) -> str:
    if _code(resource, codes.LOINC) in codes.LOINC_DISPLAY:
        return "nprs"
    return _code(resource, codes.system("measure"))


OBSERVATION_FIELDS = {"value": "valueQuantity.value", "code": "code", "timing": "extension",
                      "component": "extension", "side": "extension"}  # fmt: skip


def _observation(
    plan: _Plan, entry: Entry, actor: User, existing: dict[tuple, Observation]
) -> None:
    resource = entry.resource
    if _code(resource, codes.system("trigger-point")):
        plan.skip(entry, "Trigger-point findings are charted in an assessment; not imported.")
        return
    if _code(resource, codes.system("body-chart")):
        plan.skip(entry, "Pain marks are charted on an assessment's body chart; not imported.")
        return
    if resource.get("status") == "entered-in-error":
        plan.skip(entry, "Entered in error; not imported.")
        return
    patient = _resolve(plan, resource.get("subject"), "Patient")
    if not isinstance(patient, Patient):
        plan.problem(entry, "subject", "Name a Patient of this import.")
        return
    code = _measure(resource)
    if not code:
        plan.problem(entry, "code", "Code the measure as NPRS (LOINC 72514-3) or by needlechart's "
                     f"measure code system ({codes.system('measure')}).")  # fmt: skip
        return
    quantity = resource.get("valueQuantity") or {}
    try:
        value = Decimal(str(quantity["value"]))
    except (KeyError, TypeError, InvalidOperation):
        plan.problem(entry, "valueQuantity.value", "A measurement has a number as its value.")
        return
    moment = _moment(resource.get("effectiveDateTime") or resource.get("issued"), plan.clinic_zone)
    if moment is None:
        plan.problem(entry, "effectiveDateTime", "Say when it was measured (a date and time).")
        return
    parts = _extension(resource)
    episode = _resolve(plan, parts.get("episodeOfCare"), "EpisodeOfCare")
    if not isinstance(episode, EpisodeOfCare):
        episode = _covering(plan, patient, timezone.localdate(moment, plan.clinic_zone))
    if episode is None:
        plan.problem(entry, "subject", "No Condition of this patient in the import covers the "
                     "day it was measured.")  # fmt: skip
        return
    component = str(parts.get("component") or "")
    body_site = (resource.get("bodySite") or {}).get("coding") or []
    if not component and body_site and isinstance(body_site[0], dict):
        component = str(body_site[0].get("code", ""))
    timing = str(parts.get("timing") or Timing.REASSESSMENT)
    observation = Observation(
        episode=episode, code=code, component=component, side=str(parts.get("side") or ""),
        timing=timing, value=value, recorded_by=actor, recorded_at=moment,
    )  # fmt: skip
    try:
        observation_check(observation)
        observation.full_clean(exclude=["episode", "recorded_by", "assessment", "session"],
                               validate_unique=False, validate_constraints=False)  # fmt: skip
    except ValidationError as error:
        for name, messages in error.message_dict.items():
            plan.problem(entry, OBSERVATION_FIELDS.get(name, name), " ".join(messages))
        return
    end = episode.period_end
    if end is not None and timezone.localdate(moment, plan.clinic_zone) > end:
        plan.problem(
            entry, "effectiveDateTime", f"Measured after its episode of care ended ({end})."
        )
        return
    key = (id(episode), code, observation.component, observation.side, timing, moment, value)
    found = existing.get(key)
    if found is None:
        existing[key] = observation
        plan.new_observations.append(observation)
        plan.results[entry.index] = Result(entry.index, "created")
    else:
        plan.results[entry.index] = Result(entry.index, "found" if found.pk else "created")
        observation = found
    plan.stands_for(entry, observation)


def _covering(plan: _Plan, patient: Patient, day: dt.date) -> EpisodeOfCare | None:
    """The patient's episode of this import open on `day`, the latest begun if several."""
    open_then = [
        e for e in plan.episodes_of.get(id(patient), [])
        if e.period_start <= day and (e.period_end is None or day <= e.period_end)
    ]  # fmt: skip
    return max(open_then, key=lambda e: e.period_start, default=None)


def _care_manager(actor: User) -> Practitioner | None:
    """Who is in charge of an imported episode: the importing admin where they practise,
    else the clinic's first active practitioner."""
    own = Practitioner.objects.filter(user=actor, user__is_active=True).first()
    return (
        own
        or Practitioner.objects.filter(user__clinic_id=actor.clinic_id, user__is_active=True)
        .order_by("pk")
        .first()
    )


def _plan(actor: User, entries: list[Entry]) -> _Plan:
    plan = _Plan(ZoneInfo(actor.clinic.timezone))
    by_type: dict[str, list[Entry]] = {name: [] for name in TAKEN}
    for entry in entries:
        kind = entry.resource.get("resourceType")
        if kind in by_type:
            by_type[str(kind)].append(entry)
        else:
            plan.skip(entry, f"{kind} resources are not imported.")
    mrns = [_record_number(e.resource).strip().upper() for e in by_type["Patient"]]
    patients = {p.mrn: p for p in Patient.objects.filter(clinic_id=actor.clinic_id, mrn__in=mrns)}
    for entry in by_type["Patient"]:
        _patient(plan, entry, actor.clinic_id, patients)
    # Each EpisodeOfCare by the Conditions it names.
    about: dict[str, Resource] = {}
    for entry in by_type["EpisodeOfCare"]:
        for diagnosis in entry.resource.get("diagnosis") or []:
            reference = (diagnosis.get("condition") or {}).get("reference") if isinstance(
                diagnosis, dict) else None  # fmt: skip
            if isinstance(reference, str):
                about[reference] = entry.resource
                about["/".join(reference.split("/")[-2:])] = entry.resource
    found = [p for p in patients.values() if p.pk]
    episodes = {
        (id(patients[e.patient.mrn]), e.condition_code, e.period_start): e
        for e in EpisodeOfCare.objects.filter(patient__in=found).select_related("patient")
    }
    care_manager = _care_manager(actor) if by_type["Condition"] else None
    for entry in by_type["Condition"]:
        _condition(plan, entry, about, care_manager, episodes)
    # An EpisodeOfCare entry stands for its Condition's episode.
    for entry in by_type["EpisodeOfCare"]:
        named = [d.get("condition") for d in entry.resource.get("diagnosis") or []
                 if isinstance(d, dict)]  # fmt: skip
        episode = next((e for r in named if isinstance(e := _resolve(plan, r, "Condition"),
                                                       EpisodeOfCare)), None)  # fmt: skip
        if episode is None:
            plan.skip(entry, "Names no Condition of this import.")
            continue
        plan.results[entry.index] = Result(entry.index, "found" if episode.pk else "created")
        plan.stands_for(entry, episode)
    known = [e for e in episodes.values() if e.pk]
    observations = {
        (id(episodes[(id(patients[o.episode.patient.mrn]), o.episode.condition_code,
                      o.episode.period_start)]), o.code, o.component, o.side, o.timing,
         o.recorded_at, o.value): o
        for o in Observation.objects.filter(episode__in=known).select_related("episode__patient")
    }  # fmt: skip
    for entry in by_type["Observation"]:
        _observation(plan, entry, actor, observations)
    return plan


# --- writing -----------------------------------------------------------------------------------


def resources_import(*, actor: User, entries: list[Entry], source: str) -> list[Result]:
    """Check every entry, then write what is new in one transaction; refused whole (raising
    Refused, nothing written) when any resource the import takes is invalid."""
    authorize(actor, roles=rules.ADMIN_ROLES, what="import records")
    plan = _plan(actor, entries)
    if plan.problems:
        raise Refused(plan.problems)
    try:
        with transaction.atomic():
            patients_import(actor=actor, patients=plan.new_patients, source=source)
            for episode in plan.new_episodes:
                episode.patient = episode.patient  # the patient's id, now that it has one
            episodes_import(actor=actor, episodes=plan.new_episodes, source=source)
            for observation in plan.new_observations:
                observation.episode = observation.episode
            observations_import(actor=actor, observations=plan.new_observations, source=source)
    except ValidationError as error:
        # What the services refuse that the checks above let through.
        raise Refused([Problem(None, "", "", " ".join(error.messages))]) from None
    # A clinic's first import from another system is its largest load: the planner's
    # statistics of the tables it filled are taken now rather than when a server gets to it.
    # The database's triggers gave each episode measured a row of its summary, which the
    # dashboard reads for every episode of the clinic (at most one per new episode).
    refresh_after_load(
        {
            Patient._meta.db_table: len(plan.new_patients),
            EpisodeOfCare._meta.db_table: len(plan.new_episodes),
            Observation._meta.db_table: len(plan.new_observations),
            EpisodeSummary._meta.db_table: len(plan.new_episodes),
        }
    )
    for entry in entries:
        result = plan.results[entry.index]
        record = plan.chosen.get(entry.index)
        if record is not None:
            kind = entry.resource["resourceType"]
            prefix = f"{resources.MEASUREMENT}-" if isinstance(record, Observation) else ""
            result.location = f"{kind}/{prefix}{record.pk}"
    return [plan.results[entry.index] for entry in entries]
