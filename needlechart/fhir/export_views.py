"""The Bulk Data $export over HTTP: the kick-off (system level, the clinic, and patient
level), the status URL (polled, or DELETE to cancel) and the NDJSON files. The export runs
as a job (jobs.py); these views only start, report and hand out what it wrote."""

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from django.http import FileResponse, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.http import http_date

from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.fhir import bulk, jobs, reads
from needlechart.fhir.idempotency import idempotent
from needlechart.fhir.models import ExportJob
from needlechart.fhir.views import FhirError, fhir_view_for, respond, role, scope, user_of

NDJSON = "application/fhir+ndjson"
# What _outputFormat may say: NDJSON by any of the names the Bulk Data guide allows.
FORMATS = (NDJSON, "application/ndjson", "ndjson")
PARAMETERS = ("_type", "_outputFormat", "_since")


def _information(text: str, status: int) -> HttpResponse:
    return respond(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "information", "code": "informational", "diagnostics": text}],
        },
        status,
    )


def _allowed(request: HttpRequest) -> User:
    """The whole record: both read scopes and a clinical role, as $everything."""
    user, token = user_of(request)
    scope(token, reads.PATIENT)
    scope(token, reads.EPISODE_OF_CARE)
    role(user, reads.EPISODE_OF_CARE)
    return user


def _types(request: HttpRequest, allowed: list[str]) -> list[str]:
    asked = [name.strip() for value in request.GET.getlist("_type") for name in value.split(",")]
    asked = [name for name in asked if name]
    unknown = bulk.unknown_types(asked, allowed)
    if unknown:
        raise FhirError(
            400, "not-supported",
            f"_type {', '.join(unknown)} is not exported here; it takes {', '.join(allowed)}.",
        )  # fmt: skip
    return list(dict.fromkeys(asked)) or allowed


def _since(text: str | None) -> dt.datetime | None:
    """A FHIR instant: a date and time with its offset (`2024-03-01T00:00:00Z`)."""
    if text is None:
        return None
    moment = bulk.instant(text)
    if moment is None:
        raise FhirError(400, "invalid", f"_since {text!r} is not an instant: {bulk.INSTANT_FORM}.")
    return moment


def _kick_off(
    request: HttpRequest, allowed: list[str], group: Callable[[User], str] = lambda user: ""
) -> HttpResponse:
    user = _allowed(request)
    group_id = group(user)
    if "respond-async" not in request.headers.get("Prefer", ""):
        raise FhirError(400, "invalid", "An $export runs in the background: send the header "
                        "Prefer: respond-async.")  # fmt: skip
    unknown = sorted(set(request.GET) - set(PARAMETERS))
    if unknown:
        raise FhirError(400, "not-supported", f"$export does not take {', '.join(unknown)}; "
                        f"it takes {', '.join(PARAMETERS)}.")  # fmt: skip
    output_format = request.GET.get("_outputFormat", NDJSON)
    if output_format not in FORMATS:
        raise FhirError(400, "not-supported", f"_outputFormat {output_format} is not "
                        f"supported; the files are {NDJSON}.")  # fmt: skip
    types = _types(request, allowed)
    since = _since(request.GET.get("_since"))
    job = jobs.job_start(
        user=user, types=types, request=request.build_absolute_uri(), since=since, group=group_id
    )
    response = _information("The export has started; poll the Content-Location.", 202)
    response["Content-Location"] = request.build_absolute_uri(
        reverse("fhir:export_status", args=[job.pk])
    )
    return response


@fhir_view_for("GET")
@idempotent
def export_system(request: HttpRequest) -> HttpResponse:
    """Every record of the clinic, its practitioners and the clinic itself."""
    return _kick_off(request, bulk.SYSTEM_TYPES)


@fhir_view_for("GET")
@idempotent
def export_patients(request: HttpRequest) -> HttpResponse:
    """Every patient of the clinic with their records (the patient compartment)."""
    return _kick_off(request, bulk.PATIENT_TYPES)


@fhir_view_for("GET")
@idempotent
def export_group(request: HttpRequest, group_id: str) -> HttpResponse:
    """The group's members with their records: a caseload's patients."""

    def known(user: User) -> str:
        # Another clinic's group is not known here, as another clinic's record.
        source = reads.GROUP.sources[0]
        pk = source.pk_of(group_id)
        if pk is None or not source.rows(user).filter(pk=pk).exists():
            raise FhirError(404, "not-found", f"Group/{group_id} is not known.")
        return group_id

    return _kick_off(request, bulk.PATIENT_TYPES, known)


def _job(user: User, job_id: uuid.UUID) -> ExportJob:
    # Another clinic's job is not known here, as another clinic's record.
    job = ExportJob.objects.filter(pk=job_id, clinic_id=user.clinic_id).first()
    if job is None:
        raise FhirError(404, "not-found", "No such export.")
    return job


@fhir_view_for("GET", "DELETE")
def export_status(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    user = _allowed(request)
    job = _job(user, job_id)
    if request.method == "DELETE":
        jobs.job_cancel(user=user, job=job)
        return _information("The export was cancelled and its files removed.", 202)
    status = jobs.state(job)
    if status == ExportJob.Status.RUNNING:
        response = _information("The export is running.", 202)
        response["X-Progress"] = f"{job.done} of {job.total or '?'} resources written"
        response["Retry-After"] = "2"
        return response
    if status == ExportJob.Status.FAILED:
        text = job.error or "The export stopped before it ended; start it again."
        raise FhirError(500, "exception", text)

    def url_of(resource_type: str) -> str:
        return request.build_absolute_uri(reverse("fhir:export_file", args=[job.pk, resource_type]))

    body: dict[str, Any] = jobs.manifest(job, url_of)
    response = respond(body)
    # When the files are removed (the Bulk Data guide's way to say so).
    response["Expires"] = http_date(jobs.expires_at(job).timestamp())
    # The manifest is plain JSON, not a FHIR resource (the Bulk Data guide).
    response["Content-Type"] = "application/json"
    return response


@fhir_view_for("GET")
def export_file(request: HttpRequest, job_id: uuid.UUID, resource_type: str) -> HttpResponse:
    """One NDJSON file of a finished export, streamed from disk; each download audited."""
    user = _allowed(request)
    job = _job(user, job_id)
    path = jobs.output_path(job, resource_type) if jobs.state(job) == "done" else None
    if path is None or not path.is_file():
        raise FhirError(404, "not-found", f"This export has no {resource_type} file.")
    audit.record(actor=user, action=audit.Action.EXPORT, obj=job,
                 detail={"via": "fhir", "operation": "$export",
                         "file": f"{resource_type}.ndjson"})  # fmt: skip
    return FileResponse(path.open("rb"), content_type=NDJSON)
