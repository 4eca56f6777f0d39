"""$export jobs (FHIR Bulk Data): a kick-off makes a job row, the export runs in the
background, the status URL reports it, DELETE cancels it and removes its files.

The export runs in a thread of the process that took the kick-off, started once the job's
transaction has committed (needlechart/background.py says why a thread). A running job is
touched after every chunk, and one not touched for `STALE` is reported failed, to be asked
for again.
"""

import datetime as dt
import logging
import shutil
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from needlechart import background
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.audit.context import api_token
from needlechart.fhir import bulk, reads
from needlechart.fhir.models import ExportJob

logger = logging.getLogger(__name__)

# A running job untouched this long was stopped with its process.
STALE = dt.timedelta(minutes=10)
Status = ExportJob.Status


def directory(job: ExportJob) -> Path:
    return Path(settings.DATA_DIR) / "fhir-export" / str(job.pk)


def expires_at(job: ExportJob) -> dt.datetime:
    """When the job and its files are removed: `FHIR_EXPORT_HOURS` after it was last
    touched (it finished, or its process stopped)."""
    return job.updated_at + dt.timedelta(hours=settings.FHIR_EXPORT_HOURS)


def jobs_clean(*, now: dt.datetime | None = None) -> int:
    """Remove every job, of any clinic, past its expiry, with its files; each removal is
    audited as the system's. A running job is touched after every chunk, so one untouched
    for the whole expiry is not running. Returns how many were removed."""
    moment = now or timezone.now()
    cutoff = moment - dt.timedelta(hours=settings.FHIR_EXPORT_HOURS)
    expired = list(ExportJob.objects.filter(updated_at__lt=cutoff).select_related("clinic"))
    detail = {"via": "fhir", "operation": "$export", "expired": True}
    for job in expired:
        with transaction.atomic():
            audit.record(
                actor=None, action=audit.Action.DELETE, obj=job, clinic=job.clinic, detail=detail
            )
            ExportJob.objects.filter(pk=job.pk).delete()
        shutil.rmtree(directory(job), ignore_errors=True)
    return len(expired)


def job_start(
    *,
    user: User,
    types: list[str],
    request: str,
    since: dt.datetime | None = None,
    group: str = "",
) -> ExportJob:
    """Record the job and its audit row; the export starts once they are committed. Expired
    jobs are removed first, so the files of old exports do not pile up."""
    jobs_clean()
    with transaction.atomic():
        job = ExportJob.objects.create(
            clinic_id=user.clinic_id, user=user, api_token=api_token.get() or "",
            request=request[:2000], types=types, since=since, group=group,
        )  # fmt: skip
        detail: dict[str, Any] = {"via": "fhir", "operation": "$export", "types": types}
        if since is not None:
            detail["since"] = since.isoformat()
        if group:
            detail["group"] = group
        audit.record(actor=user, action=audit.Action.EXPORT, obj=job, detail=detail)
        transaction.on_commit(lambda: launch(job.pk))
    return job


def launch(job_id: uuid.UUID) -> None:
    background.start(f"fhir-export-{job_id}", run, job_id)


def run(job_id: uuid.UUID) -> None:
    """Export the job's types, noting its progress after every chunk. A job deleted
    meanwhile (cancelled) stops at its next chunk, and its files are removed."""
    job = ExportJob.objects.select_related("clinic", "user").filter(pk=job_id).first()
    if job is None:
        return
    folder = directory(job)
    # The thread starts without the request's context: its audit rows name the token again.
    named = api_token.set(job.api_token or None)
    done = 0

    def progress(name: str, written: int) -> None:
        nonlocal done
        done += written

    def cancelled() -> bool:
        touched = ExportJob.objects.filter(pk=job_id).update(done=done, updated_at=timezone.now())
        return not touched

    try:
        patients = group_patients(job.group) if job.group else None
        total = bulk.count(job.types, bulk.Selection(job.clinic_id, job.since, patients))
        if not ExportJob.objects.filter(pk=job_id).update(total=total):
            return
        detail = {"via": "fhir", "operation": "$export", "job": str(job.pk)}
        bulk.audit_patients(job.clinic, job.user, detail, among=patients)
        outputs = bulk.export(
            job.clinic, folder, job.types, progress=progress, cancelled=cancelled,
            since=job.since, patients=patients,
        )  # fmt: skip
        finished = ExportJob.objects.filter(pk=job_id).update(
            status=Status.DONE, done=done, updated_at=timezone.now(),
            output=[{"type": o.type, "count": o.count} for o in outputs],
        )  # fmt: skip
        if not finished:
            shutil.rmtree(folder, ignore_errors=True)
    except bulk.Cancelled:
        shutil.rmtree(folder, ignore_errors=True)
    except Exception as error:
        logger.exception("FHIR export %s failed", job_id)
        shutil.rmtree(folder, ignore_errors=True)
        ExportJob.objects.filter(pk=job_id).update(
            status=Status.FAILED, error=f"The export failed: {type(error).__name__}.",
            updated_at=timezone.now(),
        )  # fmt: skip
    finally:
        api_token.reset(named)


def group_patients(group_id: str) -> Any:
    """The ids of a group's members (a caseload's patients, as its Group lists them)."""
    source = reads.GROUP.sources[0]
    pk = source.pk_of(group_id)
    return reads.caseload_patients(pk if pk is not None else 0)


def state(job: ExportJob) -> str:
    """The job's status as the client sees it: a running job its process left is failed."""
    if job.status == Status.RUNNING and background.stale(job.updated_at, STALE):
        return Status.FAILED
    return job.status


def job_cancel(*, user: User, job: ExportJob) -> None:
    """Cancel a job or forget a finished one: its row and files go (a running export stops
    at its next chunk); audited."""
    with transaction.atomic():
        audit.record(actor=user, action=audit.Action.DELETE, obj=job,
                     detail={"via": "fhir", "operation": "$export"})  # fmt: skip
        ExportJob.objects.filter(pk=job.pk).delete()
    shutil.rmtree(directory(job), ignore_errors=True)


def output_path(job: ExportJob, resource_type: str) -> Path | None:
    if resource_type not in {o["type"] for o in job.output}:
        return None
    return directory(job) / f"{resource_type}.ndjson"


def manifest(job: ExportJob, url_of: Any) -> dict[str, Any]:
    """The Bulk Data manifest of a finished job; `url_of(type)` is each file's address."""
    return {
        "transactionTime": job.created_at.isoformat(timespec="seconds"),
        "request": job.request,
        "requiresAccessToken": True,
        "output": [
            {"type": o["type"], "url": url_of(o["type"]), "count": o["count"]} for o in job.output
        ],
        "error": [],
    }
