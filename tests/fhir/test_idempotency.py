"""`Idempotency-Key` on FHIR's writes: a retried import or `$export` kick-off gets the first
answer back (the same transaction-response; the same status URL, one job), the key reused
for another request is a 409 OperationOutcome, and two requests racing on one key do the
work once."""

import json
from typing import Any

import pytest
from django.test import Client

from needlechart.audit.models import AuditEvent, Submission
from needlechart.fhir import jobs
from needlechart.fhir.models import ExportJob
from needlechart.patients.models import Patient
from tests.conftest import client_for
from tests.fhir import tokens
from tests.fhir.test_import import GOOD, WRITE, _bundle, _patient
from tests.racing import POSTGRESQL, at_once

ASYNC = {"HTTP_PREFER": "respond-async"}
READ = ["patients:read", "clinical:read"]


@pytest.fixture(autouse=True)
def _no_export_runs(monkeypatch, settings, tmp_path):
    """The kick-off is what is under test: the job it starts does not run."""
    settings.DATA_DIR = tmp_path
    monkeypatch.setattr(jobs, "launch", lambda job_id: None)


def _auth(secret: str, key: str | None = "retry-0001") -> dict[str, str]:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return headers


def _import(secret: str, bundle: Any, key: str | None = "retry-0001") -> Any:
    return Client().post("/fhir/", json.dumps(bundle), content_type="application/fhir+json",
                         **_auth(secret, key))  # fmt: skip


def _kick_off(secret: str, path: str = "/fhir/$export", key: str | None = "retry-0001",
              **params: Any) -> Any:  # fmt: skip
    return Client().get(path, params, **ASYNC, **_auth(secret, key))


def _outcome(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.content
    assert answer["Content-Type"].startswith("application/fhir+json")
    body = answer.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


def test_a_retried_import_gets_the_first_transaction_response_and_writes_nothing(world):
    secret = tokens.token(world, WRITE, world.admin)
    first = _import(secret, GOOD)
    created = AuditEvent.objects.filter(action="create").count()
    again = _import(secret, GOOD)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert again["Content-Type"].startswith("application/fhir+json")
    assert "Idempotent-Replayed" not in first
    # The replay is the first answer: created, not found again.
    assert {e["response"]["status"] for e in again.json()["entry"][:2]} == {"201 Created"}
    assert Patient.objects.filter(family_name="Walsh").count() == 2
    assert AuditEvent.objects.filter(action="create").count() == created


def test_the_same_key_with_another_bundle_is_a_409_outcome_and_imports_nothing(world):
    secret = tokens.token(world, WRITE, world.admin)
    _import(secret, GOOD)
    other = _import(secret, _bundle(_patient("3", "h-300")))
    issue = _outcome(other, 409)
    assert (
        issue["code"] == "conflict" and "Idempotency-Key was already used" in issue["diagnostics"]
    )
    assert not Patient.objects.filter(given_name="Nell3").exists()
    # And with an export, another operation.
    read_write = tokens.token(world, WRITE + READ, world.admin)
    _import(read_write, GOOD, key="shared-1")
    assert _outcome(_kick_off(read_write, key="shared-1"), 409)["code"] == "conflict"
    assert not ExportJob.objects.exists()


def test_a_refused_import_keeps_no_key(world):
    secret = tokens.token(world, WRITE, world.admin)
    bad = _bundle(_patient("1", "h-100", gender="not-a-gender"))
    assert _import(secret, bad).status_code == 422
    assert not Submission.objects.exists()
    assert _import(secret, GOOD).status_code == 200


def test_a_malformed_key_is_an_outcome_naming_the_header(world):
    secret = tokens.token(world, WRITE, world.admin)
    issue = _outcome(_import(secret, GOOD, key="é"), 422)
    assert issue["expression"] == ["Idempotency-Key"]
    assert "visible ASCII" in issue["diagnostics"]
    assert not Patient.objects.filter(family_name="Walsh").exists()


def test_a_retried_kick_off_gets_the_same_status_url_and_starts_no_second_job(world):
    secret = tokens.token(world, READ)
    group = f"/fhir/Group/caseload-{world.practitioner_a.pk}/$export"
    for path in ("/fhir/$export", "/fhir/Patient/$export", group):
        key = f"kick-{path}"
        first = _kick_off(secret, path, key=key, _type="Patient")
        again = _kick_off(secret, path, key=key, _type="Patient")
        assert first.status_code == again.status_code == 202
        assert again["Content-Location"] == first["Content-Location"]
        assert again["Idempotent-Replayed"] == "true"
        assert again["Content-Type"].startswith("application/fhir+json")
    assert ExportJob.objects.count() == 3
    assert AuditEvent.objects.filter(action="export", object_type="ExportJob").count() == 3
    # Another _type with the same key is another request.
    assert _outcome(_kick_off(secret, key="kick-/fhir/$export", _type="Condition"), 409)
    # Without a key each kick-off starts its own job.
    _kick_off(secret, key=None)
    _kick_off(secret, key=None)
    assert ExportJob.objects.count() == 5


def test_a_refused_kick_off_keeps_no_key_and_its_corrected_retry_starts_the_job(world):
    secret = tokens.token(world, READ)
    refused = Client().get("/fhir/$export", **_auth(secret))  # no Prefer: respond-async
    assert _outcome(refused, 400)["code"] == "invalid"
    assert _kick_off(secret).status_code == 202 and ExportJob.objects.count() == 1


def test_a_signed_in_staff_member_s_keys_are_their_own(world):
    practitioner = client_for(world.practitioner)
    first = practitioner.get("/fhir/$export", **ASYNC, HTTP_IDEMPOTENCY_KEY="mine")
    again = practitioner.get("/fhir/$export", **ASYNC, HTTP_IDEMPOTENCY_KEY="mine")
    assert again["Content-Location"] == first["Content-Location"]
    other = client_for(world.admin).get("/fhir/$export", **ASYNC, HTTP_IDEMPOTENCY_KEY="mine")
    assert other["Content-Location"] != first["Content-Location"]
    assert ExportJob.objects.count() == 2


def test_a_token_without_the_scope_is_refused_with_a_key_too(world):
    secret = tokens.token(world, ["patients:write"], world.admin)
    assert _outcome(_import(secret, GOOD), 403)["code"] == "forbidden"
    assert not Submission.objects.exists()
    assert _outcome(_import("nc_unknown", GOOD), 401)["code"] == "login"


@POSTGRESQL
def test_two_imports_sent_with_one_key_at_once_import_once(transactional_db, world):
    secret = tokens.token(world, WRITE, world.admin)
    answers = at_once(lambda: _import(secret, GOOD, key="two-at-once"))
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    assert sorted(a.has_header("Idempotent-Replayed") for a in answers) == [False, True]
    assert Patient.objects.filter(family_name="Walsh").count() == 2


@POSTGRESQL
def test_two_kick_offs_sent_with_one_key_at_once_start_one_job(transactional_db, world):
    secret = tokens.token(world, READ)
    answers = at_once(lambda: _kick_off(secret, key="two-at-once"))
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0]["Content-Location"] == answers[1]["Content-Location"]
    assert ExportJob.objects.count() == 1
