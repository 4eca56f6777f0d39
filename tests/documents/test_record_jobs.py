"""The whole record is laid out in the background: the patient page starts a job and shows
it being prepared, then the issued document; a failed job shows why and starts again; a job
its process left behind is reported failed; a double click starts one job."""

import datetime as dt
import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from needlechart.audit.models import AuditEvent
from needlechart.documents import jobs, services
from needlechart.documents.models import Document, DocumentJob
from tests import factories
from tests.conftest import client_for
from tests.documents import pdf


def _issue(client, patient, token="w" * 24, **extra):
    return client.post(
        reverse("documents:issue", args=[patient.pk]),
        {"kind": "record", "record": patient.pk, "form_token": token, **extra},
    )


def _page(client, patient) -> str:
    return client.get(reverse("patients:detail", args=[patient.pk])).content.decode()


@pytest.fixture
def at_once(monkeypatch, django_capture_on_commit_callbacks):
    """Each job runs where it is started, once its row commits, rather than in a thread."""
    monkeypatch.setattr(jobs, "launch", jobs.run)

    def run(call):
        with django_capture_on_commit_callbacks(execute=True):
            return call()

    return run


def test_the_whole_record_is_issued_by_a_job_started_once_however_often_it_is_pressed(
    signed, at_once
):
    w, patient = signed.world, signed.patient
    client = client_for(w.practitioner)
    first = at_once(lambda: _issue(client, patient))
    again = at_once(lambda: _issue(client, patient))  # the double click: the same form token
    assert first.status_code == again.status_code == 302
    job = DocumentJob.objects.get()
    document = Document.objects.get()
    assert (job.status, job.document, job.requested_by) == ("done", document, w.practitioner)
    assert document.kind == "record" and document.issued_by == w.practitioner
    assert "Bruise settled by the next day." in pdf.text(bytes(document.content))
    started = AuditEvent.objects.get(action="create", object_type="DocumentJob")
    assert started.object_id == str(job.pk) and started.patient_id == patient.pk
    assert AuditEvent.objects.filter(
        action="create", object_type="DocumentReference", object_id=str(document.pk)
    ).exists()
    page = _page(client, patient)
    assert reverse("documents:download", args=[document.pk]) in page
    assert 'id="record-job"' not in page


def test_the_page_shows_the_record_being_prepared_and_a_second_tab_starts_no_second_job(
    signed, django_capture_on_commit_callbacks
):
    client = client_for(signed.world.practitioner)
    with django_capture_on_commit_callbacks(execute=False) as started:
        assert _issue(client, signed.patient).status_code == 302
        assert _issue(client, signed.patient, token="t" * 24).status_code == 302
    assert len(started) == 1 and DocumentJob.objects.count() == 1
    assert not Document.objects.exists()
    assert "The whole record is being prepared (started" in _page(client, signed.patient)


def test_a_failed_job_shows_why_and_can_be_started_again(signed, at_once, monkeypatch):
    client = client_for(signed.world.practitioner)
    issue = services.document_issue

    def broken(**kwargs):
        raise RuntimeError("the renderer is out of memory")

    monkeypatch.setattr(services, "document_issue", broken)
    at_once(lambda: _issue(client, signed.patient))
    job = DocumentJob.objects.get()
    assert job.status == "failed" and job.error == "The document could not be made: RuntimeError."
    page = _page(client, signed.patient)
    assert "was not issued: The document could not be made: RuntimeError." in page

    monkeypatch.setattr(
        services, "document_issue", lambda **kw: (_ for _ in ()).throw(ValidationError("No."))
    )
    at_once(lambda: _issue(client, signed.patient, token="n" * 24))
    assert DocumentJob.objects.first().error == "No."

    monkeypatch.setattr(services, "document_issue", issue)
    at_once(lambda: _issue(client, signed.patient, token="a" * 24))
    assert DocumentJob.objects.first().status == "done"
    assert Document.objects.count() == 1
    assert "was not issued" not in _page(client, signed.patient)


def test_a_job_its_process_left_behind_is_reported_failed_and_started_again(signed, at_once):
    w = signed.world
    left = DocumentJob.objects.create(patient=signed.patient, requested_by=w.practitioner)
    DocumentJob.objects.filter(pk=left.pk).update(
        updated_at=timezone.now() - jobs.STALE - dt.timedelta(minutes=1)
    )
    client = client_for(w.practitioner)
    assert jobs.STOPPED in _page(client, signed.patient)
    at_once(lambda: _issue(client, signed.patient))
    assert DocumentJob.objects.count() == 2 and DocumentJob.objects.first().status == "done"


def test_a_job_is_refused_at_once_when_it_cannot_be_sent_as_asked(signed, at_once):
    client = client_for(signed.world.practitioner)
    no_portal = factories.patient(signed.world.clinic_a, given_name="Nora")
    response = at_once(lambda: _issue(client, no_portal, notify="on"))
    assert response.status_code == 302 and not DocumentJob.objects.exists()
    assert "no portal account" in client.get(response.url).content.decode()


def test_only_clinicians_of_the_clinic_start_a_job(signed):
    w = signed.world
    assert _issue(client_for(w.front_desk), signed.patient).status_code == 403
    assert _issue(client_for(w.assistant), signed.patient).status_code == 403
    assert _issue(client_for(w.other_practitioner), signed.patient).status_code == 404
    assert not DocumentJob.objects.exists()
    # Nor does anyone but a clinician see a job on the page.
    DocumentJob.objects.create(patient=signed.patient, requested_by=w.practitioner)
    assert 'id="record-job"' not in _page(client_for(w.assistant), signed.patient)


@pytest.mark.django_db(transaction=True)
def test_the_job_runs_in_a_thread_after_the_press_commits(signed):
    client = client_for(signed.world.practitioner)
    assert _issue(client, signed.patient).status_code == 302
    job = DocumentJob.objects.get()
    for thread in threading.enumerate():
        if thread.name == f"document-job-{job.pk}":
            thread.join(timeout=120)
    deadline = time.monotonic() + 60
    while DocumentJob.objects.get().status == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    job.refresh_from_db()
    assert job.status == "done" and job.document.kind == "record"
