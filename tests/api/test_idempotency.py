"""A client retrying a write with the same `Idempotency-Key`: one record, the first answer
back; the key reused for another request is a 409; keys are the token's own and last a day."""

import datetime as dt
import io
import json

from django.test import Client
from django.utils import timezone

from needlechart.api.models import SCOPES
from needlechart.audit.models import AuditEvent, Submission
from needlechart.charting.models import NeedlingSession
from needlechart.patients.models import Patient
from tests.api.test_api import _token
from tests.api.test_clinical import ready  # noqa: F401 (a fixture)
from tests.racing import POSTGRESQL, at_once

NORA = {"given_name": "Nora", "family_name": "Quinn", "birth_date": "1975-03-02", "sex": "female"}


def _post(secret: str, path: str, body: dict, key: str | None = "retry-0001", method="post"):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    call = getattr(Client(), method)
    return call(f"/api{path}", data=json.dumps(body), content_type="application/json", **headers)


def test_a_retried_registration_makes_one_patient_and_gets_the_first_answer(world):
    secret = _token(world, ["patients:write"])
    first = _post(secret, "/patients", NORA)
    again = _post(secret, "/patients", dict(reversed(NORA.items())))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Patient.objects.filter(family_name="Quinn").count() == 1
    assert AuditEvent.objects.filter(object_type="Patient", action="create",
                                     object_id=str(first.json()["id"])).count() == 1  # fmt: skip


def test_without_a_key_each_post_writes(world):
    secret = _token(world, ["patients:write"])
    _post(secret, "/patients", NORA, key=None)
    _post(secret, "/patients", NORA, key=None)
    assert Patient.objects.filter(family_name="Quinn").count() == 2


def test_the_same_key_with_another_body_or_operation_is_a_409_and_writes_nothing(world):
    secret = _token(world, ["patients:write", "clinical:write"])
    _post(secret, "/patients", NORA)
    other = _post(secret, "/patients", {**NORA, "given_name": "Norah"})
    assert other.status_code == 409
    assert "Idempotency-Key was already used for a different request" in other.json()["detail"]
    elsewhere = _post(secret, f"/episodes/{world.episode_a.pk}/screening", {"factors": []})
    assert elsewhere.status_code == 409
    assert Patient.objects.filter(given_name__startswith="Nora").count() == 1


def test_a_key_is_the_token_s_own(world):
    first, second = _token(world, ["patients:write"]), _token(world, ["patients:write"])
    _post(first, "/patients", NORA)
    assert _post(second, "/patients", NORA).status_code == 201
    assert Patient.objects.filter(family_name="Quinn").count() == 2


def test_a_refused_request_keeps_no_key_so_its_corrected_retry_is_not_a_conflict(world):
    secret = _token(world, ["patients:write"])
    refused = _post(secret, "/patients", {**NORA, "sex": ""})
    assert refused.status_code in (400, 422)
    assert not Submission.objects.exists()
    # A retry of the refused request runs again and is refused again.
    assert _post(secret, "/patients", {**NORA, "sex": ""}).status_code == refused.status_code
    assert _post(secret, "/patients", NORA).status_code == 201


def test_a_key_expires_after_a_day_and_its_kept_answer_goes(world):
    secret = _token(world, ["patients:write"])
    _post(secret, "/patients", NORA)
    _post(secret, "/patients", {**NORA, "family_name": "Quill"}, key="other-key")
    Submission.objects.update(created_at=timezone.now() - dt.timedelta(hours=24, minutes=1))
    assert "Idempotent-Replayed" not in _post(secret, "/patients", NORA)
    assert Patient.objects.filter(family_name="Quinn").count() == 2
    # The other expired answer, with its patient's details, is not kept either.
    assert Submission.objects.count() == 1 and "Quill" not in Submission.objects.get().response_body
    assert _post(secret, "/patients", NORA)["Idempotent-Replayed"] == "true"


def test_a_revoked_token_gets_no_replay(world):
    from needlechart.api import services
    from needlechart.api.models import ApiToken

    secret = _token(world, ["patients:write"])
    _post(secret, "/patients", NORA)
    services.token_revoke(actor=world.admin, token=ApiToken.objects.get())
    assert _post(secret, "/patients", NORA).status_code == 401


def test_a_malformed_key_is_a_json_error_naming_the_header(world):
    secret = _token(world, ["patients:write"])
    response = _post(secret, "/patients", NORA, key="x" * 256)
    assert response.status_code == 422
    assert response.json()["errors"] == {"Idempotency-Key": ["Send 1 to 255 visible ASCII "
                                                             "characters."]}  # fmt: skip
    assert not Patient.objects.filter(family_name="Quinn").exists()


def test_a_retried_patch_changes_and_audits_once(world, ready):  # noqa: F811
    secret = _token(world, SCOPES)
    started = _post(secret, f"/episodes/{world.episode_a.pk}/sessions",
                    {"screening_status": "unchanged", "consent_confirmed": True}, key="start-1")  # fmt: skip
    assert _post(secret, f"/episodes/{world.episode_a.pk}/sessions",
                 {"screening_status": "unchanged", "consent_confirmed": True},
                 key="start-1").status_code == 201  # fmt: skip
    assert NeedlingSession.objects.count() == 1
    session = started.json()["session"]["id"]
    for _ in range(2):
        changed = _post(secret, f"/sessions/{session}", {"note": "Calf tight"}, key="note-1",
                        method="patch")  # fmt: skip
        assert changed.status_code == 200 and changed.json()["note"] == "Calf tight"
    written = AuditEvent.objects.filter(object_type="Encounter")
    assert written.filter(action="update").count() == written.filter(action="create").count() == 1


def test_the_schema_documents_the_header_and_the_409_on_every_write(world):
    schema = Client().get("/api/openapi.json").json()
    writes = [op for ops in schema["paths"].values() for m, op in ops.items()
              if m in ("post", "patch")]  # fmt: skip
    assert len(writes) > 8
    for operation in writes:
        names = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
        assert "Idempotency-Key" in names and "409" in operation["responses"]


@POSTGRESQL
def test_two_connections_sending_one_key_at_once_make_one_patient(transactional_db, world):
    secret = _token(world, ["patients:write"])
    answers = at_once(lambda: _post(secret, "/patients", NORA, key="two-at-once"))
    assert Patient.objects.filter(family_name="Quinn").count() == 1
    assert [response.status_code for response in answers] == [201, 201]
    assert answers[0].json() == answers[1].json()


def test_a_body_sent_as_a_form_is_a_json_refusal_each_time_not_a_server_error(world):
    from django.test.client import MULTIPART_CONTENT

    secret = _token(world, ["patients:write"])
    for _ in range(2):
        response = Client().post("/api/patients", {"given_name": "Nora"},
                                 content_type=MULTIPART_CONTENT, HTTP_IDEMPOTENCY_KEY="form-1",
                                 HTTP_AUTHORIZATION=f"Bearer {secret}")  # fmt: skip
        assert response.status_code == 400 and "detail" in response.json()
    assert not Patient.objects.filter(given_name="Nora").exists()


def test_housekeeping_removes_answers_past_a_day_of_senders_that_never_write_again(world):
    from django.core.management import call_command

    secret = _token(world, ["patients:write"])
    _post(secret, "/patients", NORA)
    _post(secret, "/patients", {**NORA, "family_name": "Quill"}, key="fresh-key")
    Submission.objects.filter(response_body__contains="Quinn").update(
        created_at=timezone.now() - dt.timedelta(hours=24, minutes=1)
    )
    # A form's double-submit token is not an API answer: it stays.
    Submission.objects.create(token="form-token-000001", user=world.practitioner,
                              object_type="patients.Patient", object_id="1")  # fmt: skip
    out = io.StringIO()
    call_command("housekeeping", stdout=out)
    assert "removed 1 expired API answers" in out.getvalue()
    kept = sorted(Submission.objects.values_list("token", flat=True))
    assert len(kept) == 2 and "form-token-000001" in kept
    assert not Submission.objects.filter(response_body__contains="Quinn").exists()
