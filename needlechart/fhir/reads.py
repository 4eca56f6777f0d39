"""What each FHIR resource type reads: its rows, scoped to the user's clinic as the apps'
selectors scope them, fetched with what its resource needs, and its search parameters.

Every type is one or more sources (Observation has two tables); a read or a search asks each
source for a queryset, so a page of any size costs the same few queries.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, Model, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from needlechart.accounts import rules
from needlechart.accounts.models import Clinic, Practitioner, User
from needlechart.charting.models import (
    Addendum,
    AdverseEvent,
    AdverseEventFollowUp,
    Assessment,
    Consent,
    NeedlingSession,
    PainMark,
    TriggerPointFinding,
)
from needlechart.fhir import codes, questionnaires, resources
from needlechart.outcomes.models import CarePlan, Observation
from needlechart.patients.models import EpisodeOfCare, Patient
from needlechart.portal.models import CheckIn, HealthQuestionnaire
from needlechart.rows import Columns


class BadParameter(ValueError):
    """A search parameter the server does not take, or a value not of its form (a 400)."""


# --- parameter values --------------------------------------------------------------------------

DATE_PREFIXES = ("eq", "ge", "gt", "le", "lt")


def _day_range(text: str) -> tuple[dt.date, dt.date]:
    """A FHIR date (YYYY, YYYY-MM or YYYY-MM-DD) as the days it covers, end exclusive."""
    try:
        if len(text) == 4:
            start = dt.date(int(text), 1, 1)
            return start, dt.date(start.year + 1, 1, 1)
        if len(text) == 7:
            start = dt.date.fromisoformat(f"{text}-01")
            following = dt.date(start.year + start.month // 12, start.month % 12 + 1, 1)
            return start, following
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return day, day + dt.timedelta(days=1)
    except ValueError:
        pass
    raise BadParameter(f"{text!r} is not a date (YYYY, YYYY-MM or YYYY-MM-DD).")


def date_filter(name: str, values: list[str], *, moment: bool) -> Q:
    """`date=ge2024-01-01&date=lt2024-02-01`: each value a condition, all of them hold. A
    day is the clinic's day where the field is a moment (the active time zone)."""
    condition = Q()
    for value in values:
        prefix = value[:2] if value[:2] in DATE_PREFIXES else "eq"
        start, end = _day_range(value[2:] if value[:2] in DATE_PREFIXES else value)
        low: Any = start
        high: Any = end
        if moment:
            zone = timezone.get_current_timezone()
            low = dt.datetime.combine(start, dt.time.min, tzinfo=zone)
            high = dt.datetime.combine(end, dt.time.min, tzinfo=zone)
        condition &= {
            "eq": Q(**{f"{name}__gte": low, f"{name}__lt": high}),
            "ge": Q(**{f"{name}__gte": low}),
            "gt": Q(**{f"{name}__gte": high}),
            "le": Q(**{f"{name}__lt": high}),
            "lt": Q(**{f"{name}__lt": low}),
        }[prefix]
    return condition


def reference_id(value: str, resource_type: str) -> int:
    """`Patient/12` or `12` as 12."""
    found = value.removeprefix(f"{resource_type}/")
    if not found.isdigit():
        raise BadParameter(f"{value!r} is not a {resource_type} reference.")
    return int(found)


def token(value: str) -> tuple[str | None, str]:
    """`system|code` as (system, code); a bare `code` as (None, code)."""
    if "|" in value:
        system, code = value.split("|", 1)
        return system, code
    return None, value


def one_of(value: str, choices: list[str], name: str) -> str:
    if value not in choices:
        raise BadParameter(f"{name} takes one of: {', '.join(choices)}.")
    return value


# --- sources -----------------------------------------------------------------------------------


def _unread(model: type[Model], path: str, keep: tuple[str, ...] = ()) -> list[str]:
    """The columns of a joined `model` at `path` that no resource reads (its keys are kept):
    a patient or a staff member is joined to nearly every row, and each column left out is
    a value not converted (dates and times cost most) for each resource."""
    return [
        f"{path}__{f.name}" if path else f.name
        for f in model._meta.concrete_fields
        if not f.primary_key and not f.is_relation and f.name not in keep
    ]


def _links(*paths: str) -> list[str]:
    """`_unread` for the rows joined only to lead somewhere: patients (their id and clinic
    serve), staff members (their names serve, for references' displays) and episodes of
    care (their keys serve); each path ends in one of them."""
    fields: list[str] = []
    for path in paths:
        if path.endswith("patient"):
            fields += _unread(Patient, path)
        elif path.endswith("episode"):
            fields += _unread(EpisodeOfCare, path)
        else:
            fields += _unread(User, path, keep=("first_name", "last_name", "username"))
    return fields


def _fetched(name: str) -> Prefetch:
    """Related rows as a plain list (`resources.fetched` reads it): a prefetch into the
    manager would build a queryset per row."""
    return Prefetch(name, to_attr=f"{name}_fetched")


# A search parameter: given its values (one per occurrence, each possibly comma-separated
# for "or"), the condition on the source's rows.
Filter = Callable[[list[str]], Q]


@dataclass(frozen=True)
class Source:
    """One table a resource type reads from."""

    model: type[Model]
    # The user's clinic's rows, with what the resource needs fetched alongside.
    rows: Callable[[User], QuerySet]
    # The resource of a row: of a model record, or of a plain row where `columns` says what
    # the builder reads (a bulk export reads those straight from SQL).
    build: Callable[[Any], dict[str, Any]]
    params: dict[str, Filter]
    patient_of: Callable[[Any], Patient | None]
    # The prefix of this source's ids, where a type has several sources ("m-12").
    prefix: str = ""
    # Rows a read answers 410 Gone for, with the reason (a record entered in error).
    gone: Callable[[Any], str] = lambda row: ""
    # Whether search leaves out `gone` rows.
    search_excludes: Q | None = None
    # The rows changed since an instant, by the best timestamps the record has (a bulk
    # export's `_since`, docs/fhir.md); None where the record has none: every row.
    changed_since: Callable[[dt.datetime], Q] | None = None
    columns: Columns | None = None

    def to_resource(self, record: Model) -> dict[str, Any]:
        """The resource of a record fetched by `rows`."""
        return self.build(self.columns.of(record) if self.columns is not None else record)

    def pages(self, rows: QuerySet, size: int) -> Callable[[int], list[Any]]:
        """`rows` (ordered by id) as `build` takes them, `size` at a time after an id (a
        bulk export's chunks), each with its `pk`: plain rows straight from SQL where the
        builder reads those (no model record built)."""
        if self.columns is not None:
            return self.columns.pages(rows, size)
        return lambda after: list(rows.filter(pk__gt=after)[:size])

    def about(self, patients: QuerySet) -> Q:
        """The rows about any of `patients` (ids); a source of no patient has none."""
        if self.model is Patient:
            return Q(pk__in=patients)
        found = self.params.get("patient") or self.params.get("subject")
        return found.among(patients) if isinstance(found, PatientParam) else NOTHING

    def pk_of(self, resource_id: str) -> int | None:
        number = resource_id.removeprefix(f"{self.prefix}-") if self.prefix else resource_id
        if self.prefix and number == resource_id:
            return None
        return int(number) if number.isdigit() and len(number) < 19 else None


@dataclass(frozen=True)
class ResourceType:
    name: str
    # "patients" and "clinical" are the API's areas; "directory" (the clinic and its
    # practitioners) is read with either scope.
    area: str
    sources: list[Source]
    # The search parameters the CapabilityStatement lists, with their FHIR types.
    param_types: dict[str, str] = field(default_factory=dict)

    @property
    def roles(self) -> frozenset:
        return rules.CLINICAL_READ_ROLES if self.area == "clinical" else rules.STAFF_ROLES

    def scopes(self) -> set[str]:
        if self.area == "directory":
            return {"patients:read", "clinical:read"}
        return {f"{self.area}:read"}


NOTHING = Q(pk__in=[])
# Every row, as a condition that survives `|` (an empty Q() is dropped from one).
ALL = Q(pk__isnull=False)


def _any_of(part: Callable[[str], Q]) -> Filter:
    """A parameter's values: each occurrence must hold, and within one, any of its
    comma-separated parts (`code=a,b&date=..` is (a or b) and the date)."""

    def condition(values: list[str]) -> Q:
        found = Q()
        for value in values:
            either = NOTHING
            for item in value.split(","):
                either |= part(item)
            found &= either
        return found

    return condition


def _ids(prefix: str) -> Filter:
    def condition(values: list[str]) -> Q:
        pks = set()
        for value in values:
            for part in value.split(","):
                number = part.removeprefix(f"{prefix}-") if prefix else part
                if number.isdigit() and len(number) < 19 and (not prefix or number != part):
                    pks.add(int(number))
        return Q(pk__in=pks)

    return condition


@dataclass(frozen=True)
class PatientParam:
    """The `patient` (or `subject`) parameter of a source: its rows about a patient, by the
    fields that lead to the patient (several where a row bears on one record or another)."""

    paths: tuple[str, ...]

    def __call__(self, values: list[str]) -> Q:
        return _any_of(self._one)(values)

    def _one(self, value: str) -> Q:
        patient_id = reference_id(value, "Patient")
        either = NOTHING
        for path in self.paths:
            either |= Q(**{path: patient_id})
        return either

    def among(self, patients: QuerySet) -> Q:
        """The rows about any of `patients` (a queryset of their ids)."""
        either = NOTHING
        for path in self.paths:
            either |= Q(**{f"{path}__in": patients})
        return either


def _patient(*paths: str) -> PatientParam:
    return PatientParam(paths)


def _dates(path: str, *, moment: bool) -> Filter:
    return lambda values: date_filter(path, values, moment=moment)


def _choices(mapping: dict[str, Q], name: str) -> Filter:
    """A token parameter whose codes each stand for a condition on the rows."""
    return _any_of(lambda value: mapping[one_of(token(value)[1], sorted(mapping), name)])


# --- patients and the directory ----------------------------------------------------------------


def _patients(user: User) -> QuerySet:
    return Patient.objects.filter(clinic_id=user.clinic_id)


def _mrn(value: str) -> Q:
    system, code = token(value)
    return NOTHING if system and not system.endswith("/mrn") else Q(mrn__iexact=code)


def _text(*paths: str) -> Filter:
    def starts(value: str) -> Q:
        either = NOTHING
        for path in paths:
            either |= Q(**{f"{path}__istartswith": value})
        return either

    return _any_of(starts)


PATIENT = ResourceType(
    "Patient", "patients",
    [
        Source(
            Patient, _patients, resources.patient,
            {
                "_id": _ids(""), "identifier": _any_of(_mrn), "family": _text("family_name"),
                "given": _text("given_name"), "name": _text("family_name", "given_name"),
                "birthdate": _dates("birth_date", moment=False),
                "gender": _choices({s: Q(sex=s) for s in ("female", "male", "other",
                                                                  "unknown")}, "gender"),
            },
            patient_of=lambda p: p,
            changed_since=lambda t: Q(updated_at__gte=t),
            columns=resources.PATIENT,
        )
    ],
    {"_id": "token", "identifier": "token", "family": "string", "given": "string",
     "name": "string", "birthdate": "date", "gender": "token"},
)  # fmt: skip


def _practitioners(user: User) -> QuerySet:
    return (
        Practitioner.objects.filter(user__clinic_id=user.clinic_id)
        .select_related("user")
        .prefetch_related(_fetched("credentials"))
    )


PRACTITIONER = ResourceType(
    "Practitioner", "directory",
    [
        Source(
            Practitioner, _practitioners, resources.practitioner,
            {"_id": _ids(""), "name": _text("user__last_name", "user__first_name")},
            patient_of=lambda p: None,
        )
    ],
    {"_id": "token", "name": "string"},
)  # fmt: skip

PRACTITIONER_ROLE = ResourceType(
    "PractitionerRole", "directory",
    [
        Source(
            Practitioner, _practitioners, resources.practitioner_role,
            {
                "_id": _ids(""),
                "practitioner": _any_of(lambda v: Q(pk=reference_id(v, "Practitioner"))),
                "organization": _any_of(
                    lambda v: Q(user__clinic_id=reference_id(v, "Organization"))
                ),
            },
            patient_of=lambda p: None,
        )
    ],
    {"_id": "token", "practitioner": "reference", "organization": "reference"},
)  # fmt: skip

ORGANIZATION = ResourceType(
    "Organization", "directory",
    [
        Source(
            Clinic, lambda user: Clinic.objects.filter(pk=user.clinic_id),
            resources.organization, {"_id": _ids("")}, patient_of=lambda c: None,
        )
    ],
    {"_id": "token"},
)  # fmt: skip


# --- episodes and conditions -------------------------------------------------------------------


def _episodes(user: User) -> QuerySet:
    return (
        EpisodeOfCare.objects.filter(patient__clinic_id=user.clinic_id)
        .select_related("patient", "care_manager__user")
        .defer(*_links("patient", "care_manager__user"))
    )


Status = EpisodeOfCare.Status
EPISODE_OF_CARE = ResourceType(
    "EpisodeOfCare", "clinical",
    [
        Source(
            EpisodeOfCare, _episodes, resources.episode_of_care,
            {
                "_id": _ids(""), "patient": _patient("patient_id"),
                "status": _choices({s.value: Q(status=s) for s in Status}, "status"),
                "date": _dates("period_start", moment=False),
            },
            patient_of=lambda e: e.patient, changed_since=lambda t: Q(updated_at__gte=t),
            columns=resources.EPISODE,
        )
    ],
    {"_id": "token", "patient": "reference", "status": "token", "date": "date"},
)  # fmt: skip


def _coded(field_name: str, *systems: str) -> Filter:
    """A token parameter on a field holding the code, in one of `systems` (or none named)."""

    def coded(value: str) -> Q:
        system, code = token(value)
        return Q(**{field_name: code}) if system in (None, "", *systems) else NOTHING

    return _any_of(coded)


CONDITION = ResourceType(
    "Condition", "clinical",
    [
        Source(
            EpisodeOfCare, _episodes, resources.condition,
            {
                "_id": _ids(""), "patient": _patient("patient_id"),
                "code": _coded("condition_code", codes.ICD_10_CM),
                "clinical-status": _choices({
                    "active": ~Q(status=Status.FINISHED), "inactive": Q(status=Status.FINISHED),
                }, "clinical-status"),
                "onset-date": _dates("onset_date", moment=False),
            },
            patient_of=lambda e: e.patient, changed_since=lambda t: Q(updated_at__gte=t),
            columns=resources.EPISODE,
        )
    ],
    {"_id": "token", "patient": "reference", "code": "token", "clinical-status": "token",
     "onset-date": "date"},
)  # fmt: skip


# --- needling sessions -------------------------------------------------------------------------


# What the Encounter and the Procedure read of a session and of its needling rows: a session
# holds much more (the note, safety checks, stimulation settings), left unread.
SESSION_UNREAD = _unread(NeedlingSession, "", keep=("performed_at", "signed_at", "cpt_code"))


def _in_error() -> Exists:
    return Exists(Addendum.objects.filter(session=OuterRef("pk"), kind="entered-in-error"))


def _sessions(user: User) -> QuerySet:
    return (
        NeedlingSession.objects.filter(episode__patient__clinic_id=user.clinic_id)
        .annotate(in_error=_in_error())
        .select_related("episode__patient", "practitioner__user")
        .defer(*_links("episode", "episode__patient", "practitioner__user"), *SESSION_UNREAD)
    )


def _needled_sessions(user: User) -> QuerySet:
    """Sessions with their needling rows, which the Procedure shows (the Encounter does not:
    its rows are not read for it)."""
    return _sessions(user).prefetch_related(*resources.PROCEDURE.prefetches())


def _session_changed(moment: dt.datetime) -> Q:
    """A draft may have changed at any time (its rows carry no time): always; a signed
    session when signed, or when an addendum was written on it."""
    amended = Exists(Addendum.objects.filter(session=OuterRef("pk"), written_at__gte=moment))
    return Q(signed_at__isnull=True) | Q(signed_at__gte=moment) | Q(amended)


def _session_states(done: str, draft: str) -> dict[str, Q]:
    return {
        done: Q(signed_at__isnull=False) & ~_in_error(),
        draft: Q(signed_at__isnull=True) & ~_in_error(),
        "entered-in-error": Q(_in_error()),
    }


def _session_type(
    name: str,
    rows: Callable[[User], QuerySet],
    build: Callable,
    columns: Columns,
    done: str,
    draft: str,
) -> ResourceType:
    return ResourceType(
        name, "clinical",
        [
            Source(
                NeedlingSession, rows, build,
                {
                    "_id": _ids(""), "patient": _patient("episode__patient_id"),
                    "date": _dates("performed_at", moment=True),
                    "status": _choices(_session_states(done, draft), "status"),
                },
                patient_of=lambda s: s.episode.patient, changed_since=_session_changed,
                columns=columns,
            )
        ],
        {"_id": "token", "patient": "reference", "date": "date", "status": "token"},
    )  # fmt: skip


ENCOUNTER = _session_type(
    "Encounter", _sessions, resources.encounter, resources.SESSION, "finished", "in-progress"
)
PROCEDURE = _session_type(
    "Procedure",
    _needled_sessions,
    resources.procedure,
    resources.PROCEDURE,
    "completed",
    "in-progress",
)


# --- observations ------------------------------------------------------------------------------


def _measurements(user: User) -> QuerySet:
    return (
        Observation.objects.filter(episode__patient__clinic_id=user.clinic_id)
        .select_related("episode__patient", "recorded_by__practitioner")
        .defer(*_links("episode", "episode__patient", "recorded_by"))
    )


def _of_assessments(model: type[Model], user: User) -> QuerySet:
    """The clinic's rows of `model`, a record of an assessment, with what their Observation
    reads of the assessment."""
    return (
        model.objects.filter(assessment__episode__patient__clinic_id=user.clinic_id)
        .select_related("assessment__episode__patient", "assessment__practitioner__user")
        .defer(
            *_links(
                "assessment__episode",
                "assessment__episode__patient",
                "assessment__practitioner__user",
            )
        )
    )


def _findings(user: User) -> QuerySet:
    return _of_assessments(TriggerPointFinding, user)


def _pain_marks(user: User) -> QuerySet:
    return _of_assessments(PainMark, user)


def _measure(value: str) -> Q:
    system, code = token(value)
    if system in (None, "", codes.LOINC) and code in codes.LOINC_DISPLAY:
        return Q(code="nprs")
    return Q(code=code) if system in (None, "", codes.system("measure")) else NOTHING


def _measure_category(value: str) -> Q:
    exam = Q(code__in=resources.EXAM_MEASURES)
    return exam if one_of(token(value)[1], ["exam", "survey"], "category") == "exam" else ~exam


def _finding(value: str) -> Q:
    """A finding is the code trigger-point, always of the exam category."""
    if token(value) in ((None, "trigger-point"), (codes.system("trigger-point"), "trigger-point")):
        return ALL
    return NOTHING


def _finding_category(value: str) -> Q:
    return ALL if one_of(token(value)[1], ["exam", "survey"], "category") == "exam" else NOTHING


def _pain_mark(value: str) -> Q:
    """A pain mark is the code pain-mark of the body chart, always of the exam category."""
    if token(value) in ((None, "pain-mark"), (codes.system("body-chart"), "pain-mark")):
        return ALL
    return NOTHING


OBSERVATION = ResourceType(
    "Observation", "clinical",
    [
        Source(
            Observation, _measurements, resources.measurement,
            {
                "_id": _ids(resources.MEASUREMENT), "patient": _patient("episode__patient_id"),
                "code": _any_of(_measure), "date": _dates("recorded_at", moment=True),
                "category": _any_of(_measure_category),
            },
            patient_of=lambda o: o.episode.patient, prefix=resources.MEASUREMENT,
            # Marking one entered in error keeps no time: those are always sent.
            changed_since=lambda t: Q(recorded_at__gte=t) | ~Q(entered_in_error_reason=""),
            columns=resources.MEASURED,
        ),
        Source(
            TriggerPointFinding, _findings, resources.finding,
            {
                "_id": _ids(resources.FINDING),
                "patient": _patient("assessment__episode__patient_id"),
                "code": _any_of(_finding), "date": _dates("assessment__performed_at", moment=True),
                "category": _any_of(_finding_category),
            },
            patient_of=lambda f: f.assessment.episode.patient, prefix=resources.FINDING,
            changed_since=lambda t: Q(assessment__signed_at__isnull=True)
            | Q(assessment__signed_at__gte=t),
            columns=resources.FOUND,
        ),
        Source(
            PainMark, _pain_marks, resources.pain_mark,
            {
                "_id": _ids(resources.PAIN_MARK),
                "patient": _patient("assessment__episode__patient_id"),
                "code": _any_of(_pain_mark),
                "date": _dates("assessment__performed_at", moment=True),
                "category": _any_of(_finding_category),
            },
            patient_of=lambda m: m.assessment.episode.patient, prefix=resources.PAIN_MARK,
            changed_since=lambda t: Q(assessment__signed_at__isnull=True)
            | Q(assessment__signed_at__gte=t),
            columns=resources.PAINED,
        ),
    ],
    {"_id": "token", "patient": "reference", "code": "token", "date": "date",
     "category": "token"},
)  # fmt: skip


# --- safety, consent and the plan --------------------------------------------------------------


def _events(user: User) -> QuerySet:
    return (
        AdverseEvent.objects.filter(session__episode__patient__clinic_id=user.clinic_id)
        .select_related("session__episode__patient", "recorded_by__practitioner")
        .defer(*_links("session__episode", "session__episode__patient", "recorded_by"))
        .prefetch_related(*resources.ADVERSE_EVENT.prefetches())
    )


ADVERSE_EVENT = ResourceType(
    "AdverseEvent", "clinical",
    [
        Source(
            AdverseEvent, _events, resources.adverse_event,
            {
                "_id": _ids(""), "subject": _patient("session__episode__patient_id"),
                "date": _dates("session__performed_at", moment=True),
                "event": _coded("event_type", codes.system("adverse-event")),
            },
            patient_of=lambda e: e.session.episode.patient,
            # R4's AdverseEvent has no status to say so: one entered in error is gone.
            gone=lambda e: e.entered_in_error_reason,
            search_excludes=~Q(entered_in_error_reason=""),
            changed_since=lambda t: Q(updated_at__gte=t) | Q(Exists(
                AdverseEventFollowUp.objects.filter(event=OuterRef("pk"), recorded_at__gte=t)
            )),
            columns=resources.ADVERSE_EVENT,
        )
    ],
    {"_id": "token", "subject": "reference", "date": "date", "event": "token"},
)  # fmt: skip


def _consents(user: User) -> QuerySet:
    return (
        Consent.objects.filter(patient__clinic_id=user.clinic_id)
        .select_related("patient", "template", "withdrawal")
        .defer(*_links("patient"))
    )


CONSENT = ResourceType(
    "Consent", "clinical",
    [
        Source(
            Consent, _consents, resources.consent,
            {
                "_id": _ids(""), "patient": _patient("patient_id"),
                "date": _dates("signed_at", moment=True),
                "status": _choices({
                    "active": Q(withdrawal__isnull=True), "inactive": Q(withdrawal__isnull=False),
                }, "status"),
            },
            patient_of=lambda c: c.patient,
            changed_since=lambda t: Q(signed_at__gte=t) | Q(withdrawal__withdrawn_at__gte=t),
            columns=resources.CONSENT,
        )
    ],
    {"_id": "token", "patient": "reference", "date": "date", "status": "token"},
)  # fmt: skip


def _later_version() -> Exists:
    return Exists(
        CarePlan.objects.filter(episode=OuterRef("episode"), version__gt=OuterRef("version"))
    )


def _plan_changed(moment: dt.datetime) -> Q:
    """A version is written once; it changes status when a later one is made (revoked) or
    its episode ends (completed)."""
    replaced = Exists(
        CarePlan.objects.filter(
            episode=OuterRef("episode"), version__gt=OuterRef("version"), created_at__gte=moment
        )
    )
    return Q(created_at__gte=moment) | Q(replaced) | Q(episode__updated_at__gte=moment)


def _plans(user: User) -> QuerySet:
    return (
        CarePlan.objects.filter(episode__patient__clinic_id=user.clinic_id)
        .annotate(replaced=_later_version())
        .select_related("episode__patient", "created_by__practitioner")
        .defer(*_links("episode__patient", "created_by"))
        .prefetch_related(*resources.PLAN.prefetches())
    )


CARE_PLAN = ResourceType(
    "CarePlan", "clinical",
    [
        Source(
            CarePlan, _plans, resources.care_plan,
            {
                "_id": _ids(""), "patient": _patient("episode__patient_id"),
                "status": _choices({
                    "active": Q(replaced=False) & ~Q(episode__status=Status.FINISHED),
                    "completed": Q(replaced=False, episode__status=Status.FINISHED),
                    "revoked": Q(replaced=True),
                }, "status"),
            },
            patient_of=lambda p: p.episode.patient, changed_since=_plan_changed,
            columns=resources.PLAN,
        )
    ],
    {"_id": "token", "patient": "reference", "status": "token"},
)  # fmt: skip


# --- provenance of signatures and addenda ------------------------------------------------------


def _is_id(text: str) -> bool:
    return text.isdigit() and len(text) < 19


def _target(value: str) -> tuple[str, str]:
    """`Encounter/12` or `Observation/tp-3` as (type, id): a target names its type."""
    kind, _, resource_id = value.partition("/")
    if not kind or not resource_id:
        raise BadParameter(f"{value!r} is not a reference such as Encounter/12.")
    return kind, resource_id


def _session_target(value: str, path: str) -> Q:
    """The session a target names (its Encounter or its Procedure)."""
    kind, resource_id = _target(value)
    if kind in ("Encounter", "Procedure") and _is_id(resource_id):
        return Q(**{path: int(resource_id)})
    return NOTHING


def _assessment_target(value: str, path: str) -> Q:
    """The assessment whose finding or measurement a target names."""
    kind, resource_id = _target(value)
    for prefix, model, field_name in (
        (resources.PAIN_MARK, PainMark, "assessment_id"),
        (resources.FINDING, TriggerPointFinding, "assessment_id"),
        (resources.MEASUREMENT, Observation, "assessment_id"),
    ):
        number = resource_id.removeprefix(f"{prefix}-")
        if kind == "Observation" and number != resource_id and _is_id(number):
            return Q(**{f"{path}__in": model.objects.filter(pk=int(number)).values(field_name)})
    return NOTHING


def _has_targets(path: str = "pk") -> Q:
    """An assessment with something served to point at: a pain mark, a finding or a
    measurement."""
    return Q(
        Exists(PainMark.objects.filter(assessment=OuterRef(path)))
        | Exists(TriggerPointFinding.objects.filter(assessment=OuterRef(path)))
        | Exists(Observation.objects.filter(assessment=OuterRef(path)))
    )


def _signed_sessions(user: User) -> QuerySet:
    return (
        NeedlingSession.objects.filter(
            episode__patient__clinic_id=user.clinic_id, signed_at__isnull=False
        )
        .select_related("episode__patient", "practitioner__user", "signed_by__practitioner")
        .defer(*_links("episode", "episode__patient", "practitioner__user", "signed_by"))
        .defer(*_unread(NeedlingSession, "", keep=("signed_at",)))
    )


def _signed_assessments(user: User) -> QuerySet:
    return (
        Assessment.objects.filter(episode__patient__clinic_id=user.clinic_id)
        .filter(_has_targets(), signed_at__isnull=False)
        .select_related("episode__patient", "practitioner__user", "signed_by__practitioner")
        .defer(*_links("episode", "episode__patient", "practitioner__user", "signed_by"))
        .prefetch_related(*resources.SIGNED_ASSESSMENT_ROW.prefetches())
    )


def _addenda(user: User) -> QuerySet:
    # Addenda of discharge summaries are left out: no resource serves the summary yet.
    clinic = Q(session__episode__patient__clinic_id=user.clinic_id) | Q(
        assessment__episode__patient__clinic_id=user.clinic_id
    )
    on_served = Q(session__isnull=False) | (
        Q(assessment__isnull=False) & _has_targets("assessment")
    )
    return (
        Addendum.objects.filter(clinic & on_served)
        .select_related("session__episode__patient", "assessment__episode__patient",
                        "author__practitioner")
        .defer(*_links("session__episode", "session__episode__patient", "assessment__episode",
                      "assessment__episode__patient", "author"))
        .prefetch_related(*resources.ADDENDUM_ROW.prefetches())
    )  # fmt: skip


PROVENANCE = ResourceType(
    "Provenance", "clinical",
    [
        Source(
            NeedlingSession, _signed_sessions, resources.session_signature,
            {
                "_id": _ids(resources.SIGNED_SESSION), "patient": _patient("episode__patient_id"),
                "target": _any_of(lambda value: _session_target(value, "pk")),
            },
            patient_of=lambda s: s.episode.patient, prefix=resources.SIGNED_SESSION,
            changed_since=lambda t: Q(signed_at__gte=t), columns=resources.SIGNED_SESSION_ROW,
        ),
        Source(
            Assessment, _signed_assessments, resources.assessment_signature,
            {
                "_id": _ids(resources.SIGNED_ASSESSMENT),
                "patient": _patient("episode__patient_id"),
                "target": _any_of(lambda value: _assessment_target(value, "pk")),
            },
            patient_of=lambda a: a.episode.patient, prefix=resources.SIGNED_ASSESSMENT,
            changed_since=lambda t: Q(signed_at__gte=t), columns=resources.SIGNED_ASSESSMENT_ROW,
        ),
        Source(
            Addendum, _addenda, resources.addendum,
            {
                "_id": _ids(resources.ADDENDUM),
                "patient": _patient("session__episode__patient_id",
                                    "assessment__episode__patient_id"),
                "target": _any_of(lambda value: _session_target(value, "session_id")
                                  | _assessment_target(value, "assessment_id")),
            },
            patient_of=lambda a: (a.session or a.assessment).episode.patient,
            prefix=resources.ADDENDUM, changed_since=lambda t: Q(written_at__gte=t),
            columns=resources.ADDENDUM_ROW,
        ),
    ],
    {"_id": "token", "patient": "reference", "target": "reference"},
)  # fmt: skip


# --- groups ------------------------------------------------------------------------------------


def _open_episodes() -> QuerySet:
    return EpisodeOfCare.objects.exclude(status=Status.FINISHED)


def caseload_patients(practitioner_id: int) -> QuerySet:
    """The ids of the patients in a practitioner's caseload (their Group's members)."""
    return _open_episodes().filter(care_manager_id=practitioner_id).values("patient_id")


def _caseloads(user: User) -> QuerySet:
    episodes = _open_episodes().only("pk", "patient_id", "care_manager_id")
    return (
        Practitioner.objects.filter(user__clinic_id=user.clinic_id)
        .select_related("user")
        .prefetch_related(Prefetch("episodes", queryset=episodes, to_attr="open_episodes"))
    )


def _member(value: str) -> Q:
    patient_id = reference_id(value, "Patient")
    return Q(pk__in=_open_episodes().filter(patient_id=patient_id).values("care_manager_id"))


GROUP = ResourceType(
    "Group", "clinical",
    [
        Source(
            Practitioner, _caseloads, resources.caseload,
            {
                "_id": _ids(resources.CASELOAD),
                "managing-entity": _any_of(lambda v: Q(pk=reference_id(v, "Practitioner"))),
                "member": _any_of(_member),
            },
            patient_of=lambda p: None, prefix=resources.CASELOAD,
        )
    ],
    {"_id": "token", "managing-entity": "reference", "member": "reference"},
)  # fmt: skip


# --- what patients answer ----------------------------------------------------------------------


def _check_ins(user: User) -> QuerySet:
    clinic = Q(session__episode__patient__clinic_id=user.clinic_id)
    return (
        CheckIn.objects.filter(clinic)
        .select_related("session__episode__patient")
        .defer(*_links("session__episode", "session__episode__patient"))
    )


def _questionnaire(answered: questionnaires.LocalQuestionnaire) -> Filter:
    return _any_of(lambda value: ALL if value == answered.url else NOTHING)


def _health_questions(user: User) -> QuerySet:
    return (
        HealthQuestionnaire.objects.filter(patient__clinic_id=user.clinic_id)
        .select_related("patient")
        .defer(*_links("patient"))
    )


QUESTIONNAIRE_RESPONSE = ResourceType(
    "QuestionnaireResponse", "clinical",
    [
        Source(
            CheckIn, _check_ins, resources.check_in,
            {
                "_id": _ids(resources.CHECK_IN),
                "patient": _patient("session__episode__patient_id"),
                "authored": _dates("answered_at", moment=True),
                "questionnaire": _questionnaire(questionnaires.CHECK_IN),
            },
            patient_of=lambda c: c.session.episode.patient, prefix=resources.CHECK_IN,
            changed_since=lambda t: Q(answered_at__gte=t), columns=resources.CHECKED_IN,
        ),
        Source(
            HealthQuestionnaire, _health_questions, resources.health_questions,
            {
                "_id": _ids(resources.HEALTH_QUESTIONS), "patient": _patient("patient_id"),
                "authored": _dates("submitted_at", moment=True),
                "questionnaire": _questionnaire(questionnaires.HEALTH_QUESTIONS),
            },
            patient_of=lambda h: h.patient, prefix=resources.HEALTH_QUESTIONS,
            changed_since=lambda t: Q(submitted_at__gte=t), columns=resources.HEALTH_ANSWERS,
        ),
    ],
    {"_id": "token", "patient": "reference", "authored": "date", "questionnaire": "reference"},
)  # fmt: skip


TYPES = {
    t.name: t
    for t in (
        PATIENT, PRACTITIONER, PRACTITIONER_ROLE, ORGANIZATION, EPISODE_OF_CARE, CONDITION,
        ENCOUNTER, PROCEDURE, OBSERVATION, ADVERSE_EVENT, CONSENT, CARE_PLAN, PROVENANCE,
        QUESTIONNAIRE_RESPONSE, GROUP,
    )
}  # fmt: skip
# What Patient/{id}/$everything gathers beside the patient, each by its patient parameter.
EVERYTHING = [
    EPISODE_OF_CARE, CONDITION, ENCOUNTER, PROCEDURE, OBSERVATION, ADVERSE_EVENT, CONSENT,
    CARE_PLAN, PROVENANCE, QUESTIONNAIRE_RESPONSE,
]  # fmt: skip
