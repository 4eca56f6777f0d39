"""The whole record issued in the background: laying out a long history takes tens of
seconds (about a tenth of a second a page), too long for a page to wait. The patient page
starts a job, shows it being prepared, then the issued document, or why it failed. The job
runs in a thread once its row has committed (needlechart/background.py); the `needlechart
document` command still lays the PDF out while it waits."""

import datetime as dt
import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from needlechart import background
from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.audit.submissions import once
from needlechart.documents import services
from needlechart.documents.models import DocumentJob, Kind
from needlechart.patients.models import Patient

logger = logging.getLogger(__name__)

Status = DocumentJob.Status
# A job still running this long after it started was stopped with its process: a record of
# hundreds of sessions takes well under a minute.
STALE = dt.timedelta(minutes=10)
STOPPED = "The process preparing it stopped (a restart of the server); start it again."


def record_job_start(
    *, actor: User, patient: Patient, notify_patient: bool = False, token: str = ""
) -> DocumentJob:
    """Start issuing the patient's whole record: the job's row and its audit row now, the
    PDF once they have committed. A double click, or a second tab while one is being
    prepared, starts one job."""
    authorize(actor, roles=rules.CLINICAL_WRITE_ROLES, patient=patient, what="issue documents")
    # Refused now, with the reason, rather than later in the job.
    services.issue_check(Kind.RECORD, patient, notify_patient=notify_patient,
                         send_to_referrer=False)  # fmt: skip

    def create() -> DocumentJob:
        # Locked: two tabs starting at once queue one behind the other, and the second
        # finds the first's job.
        Patient.objects.select_for_update().filter(pk=patient.pk).exists()
        running = _running(patient)
        if running is not None:
            return running
        job = DocumentJob.objects.create(
            patient=patient, kind=Kind.RECORD, notify_patient=notify_patient,
            requested_by=actor,
        )  # fmt: skip
        audit.record(
            actor=actor, action=audit.Action.CREATE, obj=job, patient=patient,
            detail={"kind": Kind.RECORD, "notify": notify_patient},
        )  # fmt: skip
        transaction.on_commit(lambda: launch(job.pk))
        return job

    with transaction.atomic():
        return once(actor=actor, token=token, model=DocumentJob, create=create)


def _running(patient: Patient) -> DocumentJob | None:
    job = DocumentJob.objects.filter(patient=patient, kind=Kind.RECORD).first()
    return job if job is not None and state(job) == Status.RUNNING else None


def launch(job_id: int) -> None:
    background.start(f"document-job-{job_id}", run, job_id)


def run(job_id: int) -> None:
    """Lay the record out and issue it as the one who asked (audited as theirs, as if they
    had waited), then mark the job done with its document, or failed with the reason."""
    job = DocumentJob.objects.select_related("patient", "requested_by").filter(pk=job_id).first()
    if job is None or job.status != Status.RUNNING:
        return
    try:
        document = services.document_issue(
            actor=job.requested_by, kind=job.kind, record=job.patient,
            notify_patient=job.notify_patient,
        )  # fmt: skip
    except ValidationError as error:
        _failed(job_id, " ".join(error.messages))
    except Exception as error:
        logger.exception("Document job %s failed", job_id)
        _failed(job_id, f"The document could not be made: {type(error).__name__}.")
    else:
        DocumentJob.objects.filter(pk=job_id).update(
            status=Status.DONE, document=document, updated_at=timezone.now()
        )


def _failed(job_id: int, reason: str) -> None:
    DocumentJob.objects.filter(pk=job_id).update(
        status=Status.FAILED, error=reason[:500], updated_at=timezone.now()
    )


def state(job: DocumentJob) -> str:
    """The job's status as the page shows it: a running job its process left is failed."""
    if job.status == Status.RUNNING and background.stale(job.updated_at, STALE):
        return Status.FAILED
    return job.status


def reason(job: DocumentJob) -> str:
    """Why a failed job failed."""
    return job.error or (STOPPED if state(job) == Status.FAILED else "")
