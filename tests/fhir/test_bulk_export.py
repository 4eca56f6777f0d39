"""$export over HTTP, the FHIR Bulk Data pattern: kick-off, status polling, the manifest and
its NDJSON files (valid FHIR R4), cancelling with DELETE; clinic-scoped, scoped, audited."""

import datetime as dt
import threading
import time
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.http import http_date

from needlechart.audit.models import AuditEvent
from needlechart.fhir import bulk, jobs
from needlechart.fhir.models import ExportJob
from tests import charts
from tests.conftest import client_for
from tests.fhir import tokens, validation

ASYNC = {"HTTP_PREFER": "respond-async", "HTTP_ACCEPT": "application/fhir+json"}


def _token(world: Any, scopes: list[str], user: Any = None) -> str:
    return tokens.token(world, scopes, user)


def _auth(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def charted(world, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    world.chart_a = charts.build(world.practitioner, world.episode_a, signed=True)
    world.chart_b = charts.build(world.other_practitioner, world.episode_b, signed=True)
    world.secret = _token(world, ["patients:read", "clinical:read"])
    return world


@pytest.fixture
def at_once(monkeypatch, django_capture_on_commit_callbacks):
    """The job runs as soon as its kick-off commits, in the test's own thread and
    transaction (the thread it runs in otherwise is tried by the last test)."""
    monkeypatch.setattr(jobs, "launch", jobs.run)

    def kick_off(path: str, secret: str, **params: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return Client().get(path, params, **ASYNC, **_auth(secret))

    return kick_off


def _outcome(answer: Any, status: int) -> str:
    assert answer.status_code == status, answer.content
    assert answer["Content-Type"].startswith("application/fhir+json")
    body = answer.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]["code"]


def _status_path(answer: Any) -> str:
    assert answer.status_code == 202, answer.content
    return answer["Content-Location"].removeprefix("http://testserver")


def _ndjson(answer: Any) -> list[dict[str, Any]]:
    import json

    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/fhir+ndjson"
    text = b"".join(answer.streaming_content).decode()
    return [json.loads(line) for line in text.splitlines()]


def test_kick_off_poll_and_download_valid_ndjson_of_the_clinic(charted, at_once):
    started = at_once("/fhir/$export", charted.secret)
    status = _status_path(started)
    assert status.startswith("/fhir/$export-status/")
    done = Client().get(status, **_auth(charted.secret))
    assert done.status_code == 200 and done["Content-Type"] == "application/json"
    manifest = done.json()
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"] == "http://testserver/fhir/$export"
    assert manifest["transactionTime"]
    by_type = {o["type"]: o for o in manifest["output"]}
    # Every type the clinic has a record of (it has no treatment plan and no check-in: no
    # CarePlan file, no QuestionnaireResponse file).
    assert set(by_type) == set(bulk.SYSTEM_TYPES) - {"CarePlan", "QuestionnaireResponse"}
    resources: list[dict[str, Any]] = []
    for name, output in by_type.items():
        assert output["url"].startswith(f"http://testserver{status}/")
        found = _ndjson(Client().get(output["url"], **_auth(charted.secret)))
        assert len(found) == output["count"] and {r["resourceType"] for r in found} == {name}
        resources += found
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    # The clinic's own records only.
    assert [p["id"] for p in patients] == [str(charted.patient_a.pk)]
    assert validation.errors(resources) == []
    # Audited: the kick-off, each patient exported, each file downloaded; with the token.
    rows = AuditEvent.objects.filter(action="export", detail__operation="$export")
    assert rows.filter(object_type="ExportJob", detail__types=bulk.SYSTEM_TYPES).count() == 1
    assert rows.get(object_type="Patient").patient_id == charted.patient_a.pk
    assert rows.filter(detail__has_key="file").count() == len(by_type)
    assert all(row.detail["api_token"] == "Registry" for row in rows)


def test_patient_level_and_type_filter(charted, at_once):
    status = _status_path(at_once("/fhir/Patient/$export", charted.secret))
    types = [o["type"] for o in Client().get(status, **_auth(charted.secret)).json()["output"]]
    assert "Practitioner" not in types and "Organization" not in types and "Patient" in types
    status = _status_path(at_once("/fhir/$export", charted.secret, _type="Patient,Condition"))
    types = [o["type"] for o in Client().get(status, **_auth(charted.secret)).json()["output"]]
    assert types == ["Patient", "Condition"]


def test_a_running_job_reports_progress_and_delete_cancels_it(charted):
    started = Client().get("/fhir/$export", **ASYNC, **_auth(charted.secret))
    status = _status_path(started)  # not run: its transaction is the test's, never committed
    job = ExportJob.objects.get()
    ExportJob.objects.filter(pk=job.pk).update(done=7, total=20)
    running = Client().get(status, **_auth(charted.secret))
    assert _outcome(running, 202) == "informational"
    assert running["X-Progress"] == "7 of 20 resources written"
    cancelled = Client().delete(status, **_auth(charted.secret))
    assert _outcome(cancelled, 202) == "informational"
    assert _outcome(Client().get(status, **_auth(charted.secret)), 404) == "not-found"
    # The thread, when it comes to the job, finds it gone and writes nothing.
    jobs.run(job.pk)
    assert not jobs.directory(job).exists()
    assert AuditEvent.objects.filter(action="delete", object_type="ExportJob").exists()


def test_delete_removes_a_finished_exports_files(charted, at_once):
    status = _status_path(at_once("/fhir/$export", charted.secret, _type="Patient"))
    url = Client().get(status, **_auth(charted.secret)).json()["output"][0]["url"]
    folder = jobs.directory(ExportJob.objects.get())
    assert (folder / "Patient.ndjson").is_file()
    assert Client().delete(status, **_auth(charted.secret)).status_code == 202
    assert not folder.exists()
    assert _outcome(Client().get(url, **_auth(charted.secret)), 404) == "not-found"


def test_a_job_stopped_with_its_process_is_reported_failed(charted):
    status = _status_path(Client().get("/fhir/$export", **ASYNC, **_auth(charted.secret)))
    ExportJob.objects.update(updated_at=timezone.now() - jobs.STALE - dt.timedelta(minutes=1))
    assert _outcome(Client().get(status, **_auth(charted.secret)), 500) == "exception"


def test_another_clinics_job_is_404(charted, at_once):
    status = _status_path(at_once("/fhir/$export", charted.secret, _type="Patient"))
    url = Client().get(status, **_auth(charted.secret)).json()["output"][0]["url"]
    other = client_for(charted.other_practitioner)  # a practitioner of clinic B, signed in
    for answer in [other.get(status), other.get(url), other.delete(status)]:
        assert _outcome(answer, 404) == "not-found"
    assert Client().get(url, **_auth(charted.secret)).status_code == 200


def test_scopes_roles_and_bad_requests(charted, at_once):
    for scopes in (["patients:read"], ["clinical:read"]):
        refused = Client().get("/fhir/$export", **ASYNC, **_auth(_token(charted, scopes)))
        assert _outcome(refused, 403) == "forbidden"
    desk = _token(charted, ["patients:read", "clinical:read"], user=charted.front_desk)
    assert _outcome(Client().get("/fhir/$export", **ASYNC, **_auth(desk)), 403) == "forbidden"
    assert _outcome(Client().get("/fhir/$export"), 401) == "login"
    status = _status_path(at_once("/fhir/$export", charted.secret, _type="Patient"))
    patients_only = _token(charted, ["patients:read"])
    assert _outcome(Client().get(status, **_auth(patients_only)), 403) == "forbidden"
    secret = charted.secret
    plain = Client().get("/fhir/$export", **_auth(secret))  # without Prefer: respond-async
    assert _outcome(plain, 400) == "invalid"
    for params in ({"_type": "Patient,Bogus"}, {"_since": "2024-01-01"},
                   {"_outputFormat": "text/csv"}):  # fmt: skip
        assert _outcome(Client().get("/fhir/$export", params, **ASYNC, **_auth(secret)), 400)
    assert _outcome(Client().get("/fhir/Patient/$export", {"_type": "Organization"}, **ASYNC,
                                 **_auth(secret)), 400)  # fmt: skip
    posted = Client().post("/fhir/$export", **ASYNC, **_auth(secret))
    assert _outcome(posted, 405) == "not-supported" and posted["Allow"] == "GET"
    assert ExportJob.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_export_runs_in_a_thread_after_the_kick_off_commits(world, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    secret = _token(world, ["patients:read", "clinical:read"])
    status = _status_path(Client().get("/fhir/$export", **ASYNC, **_auth(secret)))
    job = ExportJob.objects.get()
    for thread in threading.enumerate():
        if thread.name == f"fhir-export-{job.pk}":
            thread.join(timeout=60)
    deadline = time.monotonic() + 30
    while (answer := Client().get(status, **_auth(secret))).status_code == 202:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert answer.status_code == 200
    output = {o["type"]: o["count"] for o in answer.json()["output"]}
    assert output["Patient"] == 1 and output["Organization"] == 1


def test_expired_exports_are_removed_at_the_next_kick_off_and_by_the_command(
    charted, at_once, settings
):
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    settings.FHIR_EXPORT_HOURS = 24
    old = _status_path(at_once("/fhir/$export", charted.secret, _type="Patient"))
    job = ExportJob.objects.get()
    folder = jobs.directory(job)
    assert (folder / "Patient.ndjson").is_file()
    done = Client().get(old, **_auth(charted.secret))
    expires = jobs.expires_at(job)
    assert done["Expires"] == http_date(expires.timestamp())
    # Within the expiry the next kick-off leaves it be.
    at_once("/fhir/$export", charted.secret, _type="Patient")
    assert ExportJob.objects.filter(pk=job.pk).exists()
    ExportJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - dt.timedelta(hours=25))
    newer = _status_path(at_once("/fhir/$export", charted.secret, _type="Patient"))
    assert not ExportJob.objects.filter(pk=job.pk).exists() and not folder.exists()
    assert _outcome(Client().get(old, **_auth(charted.secret)), 404) == "not-found"
    assert Client().get(newer, **_auth(charted.secret)).status_code == 200
    removed = AuditEvent.objects.get(action="delete", object_id=str(job.pk))
    assert removed.user is None and removed.detail["expired"] is True
    assert removed.clinic_id == charted.clinic_a.pk
    # The command removes what has expired, of every clinic, and says how many.
    ExportJob.objects.update(updated_at=timezone.now() - dt.timedelta(hours=30))
    kept = [jobs.directory(j) for j in ExportJob.objects.all()]
    out = io.StringIO()
    call_command("fhir-export", "--clean", stdout=out)
    assert out.getvalue().strip() == "2 expired exports removed"
    assert not ExportJob.objects.exists() and not any(folder.exists() for folder in kept)
    with pytest.raises(CommandError) as both:
        call_command("fhir-export", "somewhere", "--clean")
    assert both.value.returncode == 2
    with pytest.raises(CommandError) as neither:
        call_command("fhir-export")
    assert neither.value.returncode == 2 and "DIR" in str(neither.value)
