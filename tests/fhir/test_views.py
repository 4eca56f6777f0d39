"""FHIR at /fhir/: who may read what (tokens and sessions, scopes and roles, clinics), the
searches and their paging, OperationOutcome for every error, and the audit of every read."""

import datetime as dt
import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from needlechart.api import services
from needlechart.api.models import ApiToken
from needlechart.audit.models import AuditEvent
from needlechart.outcomes import measurements
from tests import charts, factories
from tests.conftest import client_for


def _token(world, scopes, user=None) -> str:
    _, secret = services.token_create(
        actor=world.admin, user=user or world.practitioner, name="Registry", scopes=scopes,
        expires_on=timezone.localdate() + dt.timedelta(days=30),
    )  # fmt: skip
    return secret


def _get(secret: str, path: str, **params):
    return Client().get(f"/fhir/{path}", params, HTTP_AUTHORIZATION=f"Bearer {secret}")


def _outcome(answer, status: int) -> str:
    assert answer.status_code == status, answer.content
    assert answer["Content-Type"].startswith("application/fhir+json")
    body = answer.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]["code"]


@pytest.fixture
def charted(world):
    world.chart_a = charts.build(world.practitioner, world.episode_a, signed=True)
    world.chart_b = charts.build(world.other_practitioner, world.episode_b, signed=True)
    return world


def test_no_credentials_a_wrong_revoked_or_expired_token_is_401(world):
    assert _outcome(Client().get("/fhir/Patient"), 401) == "login"
    assert _outcome(_get("nc_wrong", "Patient"), 401) == "login"
    assert _outcome(Client().get("/fhir/Patient", HTTP_AUTHORIZATION="Basic eDp5"), 401)
    secret = _token(world, ["patients:read"])
    assert _get(secret, "Patient").status_code == 200
    services.token_revoke(actor=world.admin, token=ApiToken.objects.get())
    assert _outcome(_get(secret, "Patient"), 401) == "login"
    expired = _token(world, ["patients:read"])
    ApiToken.objects.filter(revoked_at=None).update(expires_at=timezone.now())
    assert _outcome(_get(expired, f"Patient/{world.patient_a.pk}"), 401) == "login"


def test_a_token_needs_the_read_scope_of_the_area(charted):
    patients_only = _token(charted, ["patients:read"])
    assert _get(patients_only, f"Patient/{charted.patient_a.pk}").status_code == 200
    refused = _get(patients_only, f"Condition/{charted.episode_a.pk}")
    assert _outcome(refused, 403) == "forbidden"
    assert "clinical:read" in refused.json()["issue"][0]["diagnostics"]
    assert _outcome(_get(patients_only, "Observation"), 403) == "forbidden"
    assert _outcome(_get(patients_only, f"Patient/{charted.patient_a.pk}/$everything"), 403)
    clinical_only = _token(charted, ["clinical:read"])
    assert _outcome(_get(clinical_only, "Patient"), 403) == "forbidden"
    assert _get(clinical_only, "Encounter").status_code == 200
    # The clinic and its practitioners are read with either scope.
    assert _get(clinical_only, "Practitioner").status_code == 200
    assert _get(patients_only, f"Organization/{charted.clinic_a.pk}").status_code == 200
    dashboard = _token(charted, ["dashboard:read"])
    assert _outcome(_get(dashboard, "Organization"), 403) == "forbidden"


def test_front_desk_reads_patients_but_no_clinical_record(charted):
    token = _token(charted, ["patients:read", "clinical:read"], user=charted.front_desk)
    assert _get(token, f"Patient/{charted.patient_a.pk}").status_code == 200
    assert _outcome(_get(token, f"Condition/{charted.episode_a.pk}"), 403) == "forbidden"
    assert _outcome(_get(token, "Procedure"), 403) == "forbidden"
    assert _outcome(_get(token, f"Patient/{charted.patient_a.pk}/$everything"), 403)
    # Another clinic's record is a 404 for every role, as on the pages.
    assert _outcome(_get(token, f"Condition/{charted.episode_b.pk}"), 404) == "not-found"
    desk = client_for(charted.front_desk)
    assert _outcome(desk.get(f"/fhir/Encounter/{charted.chart_a.session.pk}"), 403)
    assert desk.get("/fhir/Patient").status_code == 200


def test_another_clinics_record_is_404_through_every_type(charted):
    token = _token(charted, ["patients:read", "clinical:read"])
    chart = charted.chart_b
    for path in [
        f"Patient/{charted.patient_b.pk}", f"Patient/{charted.patient_b.pk}/$everything",
        f"EpisodeOfCare/{charted.episode_b.pk}", f"Condition/{charted.episode_b.pk}",
        f"Encounter/{chart.session.pk}", f"Procedure/{chart.signed_session.pk}",
        f"Observation/m-{chart.observation.pk}", f"Observation/tp-{chart.finding.pk}",
        f"AdverseEvent/{chart.event.pk}", f"Consent/{chart.consent.pk}",
        f"Practitioner/{charted.practitioner_b.pk}", f"Organization/{charted.clinic_b.pk}",
        "Patient/x", "Observation/12", "Unknown/1",
    ]:  # fmt: skip
        assert _outcome(_get(token, path), 404) in ("not-found", "not-supported"), path
    # A search by another clinic's patient finds nothing.
    found = _get(token, "Encounter", patient=f"Patient/{charted.patient_b.pk}").json()
    assert found["total"] == 0 and not found.get("entry")


def test_reads_and_searches_are_audited_with_the_tokens_name(charted):
    token = _token(charted, ["patients:read", "clinical:read"])
    session = charted.chart_a.signed_session
    assert _get(token, f"Procedure/{session.pk}").status_code == 200
    viewed = AuditEvent.objects.get(
        action="view", object_type="Encounter", object_id=str(session.pk)
    )
    assert viewed.detail == {"via": "fhir", "resource": f"Procedure/{session.pk}",
                             "api_token": "Registry"}  # fmt: skip
    assert viewed.user == charted.practitioner and viewed.patient_id == charted.patient_a.pk
    listed = _get(token, "Observation", patient=charted.patient_a.pk).json()
    rows = AuditEvent.objects.filter(action="list", detail__resource="Observation")
    assert rows.count() == listed["total"] == 3
    assert {r.object_type for r in rows} == {
        "Observation", "Observation/TriggerPointFinding", "Observation/PainMark"
    }  # fmt: skip
    assert all(r.patient_id == charted.patient_a.pk for r in rows)
    everything = _get(token, f"Patient/{charted.patient_a.pk}/$everything").json()
    exported = AuditEvent.objects.get(action="export", object_type="Patient")
    assert exported.detail["resources"] == everything["total"]
    assert exported.detail["api_token"] == "Registry"
    # A signed-in staff member's reads are audited too, without a token.
    client_for(charted.assistant).get(f"/fhir/Condition/{charted.episode_a.pk}")
    assert AuditEvent.objects.filter(user=charted.assistant, action="view",
                                     detail={"via": "fhir", "resource": f"Condition/{charted.episode_a.pk}"}).exists()  # fmt: skip


def test_sessions_patients_and_methods_get_operation_outcomes(charted):
    assert client_for(charted.admin).get("/fhir/Consent").status_code == 200
    # A patient's portal sign-in reaches nothing of the staff side.
    assert _outcome(client_for(charted.patient_user).get("/fhir/Patient"), 404) == "not-found"
    posted = client_for(charted.admin).post("/fhir/Patient", {}, content_type="application/json")
    assert _outcome(posted, 405) == "not-supported" and posted["Allow"] == "GET, HEAD"
    token = _token(charted, ["patients:read"])
    deleted = Client().delete(f"/fhir/Patient/{charted.patient_a.pk}",
                              HTTP_AUTHORIZATION=f"Bearer {token}")  # fmt: skip
    assert _outcome(deleted, 405) == "not-supported"
    # The base takes a Bundle to import (POST) only.
    base = Client().get("/fhir/")
    assert _outcome(base, 405) == "not-supported" and base["Allow"] == "POST"


def test_a_session_owing_its_second_factor_is_401_not_the_sign_in_page(charted):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.create(user=charted.practitioner, name="phone", confirmed=True)
    client = Client()
    client.post("/accounts/login/", {"username": "paula", "password": factories.PASSWORD})
    assert _outcome(client.get("/fhir/Patient"), 401) == "login"


def test_bad_search_parameters_are_400_with_what_is_wrong(charted):
    token = _token(charted, ["patients:read", "clinical:read"])
    unknown = _get(token, "Encounter", colour="blue")
    assert _outcome(unknown, 400) == "not-supported"
    assert "colour" in unknown.json()["issue"][0]["diagnostics"]
    for path, params in [
        ("Encounter", {"date": "yesterday"}), ("Encounter", {"date": "ge2024-13-01"}),
        ("Encounter", {"status": "lost"}), ("Condition", {"patient": "Practitioner/1"}),
        ("Observation", {"category": "vital-signs"}), ("Patient", {"_count": "-1"}),
        ("Patient", {"_count": "100000"}), ("Patient", {"_offset": "x"}),
        ("Patient", {"gender": "x"}),
    ]:  # fmt: skip
        assert _outcome(_get(token, path, **params), 400) == "invalid", (path, params)


def test_searches_by_patient_date_status_and_code(charted):
    token = _token(charted, ["patients:read", "clinical:read"])
    chart = charted.chart_a
    other = factories.patient(charted.clinic_a, given_name="Olga")
    factories.episode(other, charted.practitioner_a, condition_code="M54.50")

    def ids(path, **params):
        return {e["resource"]["id"] for e in _get(token, path, **params).json().get("entry", [])}

    patient = f"Patient/{charted.patient_a.pk}"
    assert ids("Encounter", patient=patient) == {
        str(chart.session.pk),
        str(chart.signed_session.pk),
    }
    assert ids("Procedure", patient=patient, status="completed") == {str(chart.signed_session.pk)}
    assert ids("Encounter", status="in-progress", patient=charted.patient_a.pk) == {
        str(chart.session.pk)
    }
    today = timezone.localdate().isoformat()
    assert len(ids("Encounter", date=today)) == 2
    assert ids("Encounter", date=f"lt{today}") == set()
    assert len(ids("Encounter", date=[f"ge{today[:7]}", f"le{today}"])) == 2
    assert ids("Condition", code="http://hl7.org/fhir/sid/icd-10-cm|M54.50") == {
        str(other.episodes.get().pk)
    }
    assert ids("Condition", code="M54.50,M54.2") >= {str(other.episodes.get().pk)}
    assert ids("Observation", code="http://loinc.org|72514-3") == {f"m-{chart.observation.pk}"}
    assert ids("Observation", code="trigger-point") == {f"tp-{chart.finding.pk}"}
    mark = chart.assessment.pain_marks.get()
    assert ids("Observation", code="pain-mark") == {f"pm-{mark.pk}"}
    assert ids("Observation", category="exam") == {f"tp-{chart.finding.pk}", f"pm-{mark.pk}"}
    assert ids("Observation", category="survey") == {f"m-{chart.observation.pk}"}
    assert ids("AdverseEvent", subject=patient, event="bruising") == {str(chart.event.pk)}
    assert ids("Consent", patient=patient, status="active") == {str(chart.consent.pk)}
    assert ids("Patient", family="smi") == {str(charted.patient_a.pk)}
    assert ids("Patient", identifier=charted.patient_a.mrn) == {str(charted.patient_a.pk)}
    assert ids("EpisodeOfCare", patient=other.pk, status="active") == {str(other.episodes.get().pk)}


def test_count_pages_with_next_links_until_the_last(charted):
    token = _token(charted, ["patients:read", "clinical:read"])
    for number in range(6):
        measurements.observation_add(actor=charted.practitioner, episode=charted.episode_a,
                                     code="nprs", value=number, timing="reassessment")  # fmt: skip
    seen, url, pages = [], "/fhir/Observation?patient=" + str(charted.patient_a.pk) + "&_count=3", 0
    while url:
        bundle = Client().get(url, HTTP_AUTHORIZATION=f"Bearer {token}").json()
        pages += 1
        assert bundle["total"] == 9
        assert bundle["link"][0]["relation"] == "self"
        seen += [e["resource"]["id"] for e in bundle["entry"]]
        url = next((lk["url"] for lk in bundle["link"] if lk["relation"] == "next"), None)
        assert url is None or url.startswith("http://testserver/fhir/Observation?")
    assert pages == 3 and len(seen) == len(set(seen)) == 9
    # The pages run through the measurements, the findings, then the pain marks, without a gap.
    mark = charted.chart_a.assessment.pain_marks.get()
    assert seen[-2:] == [f"tp-{charted.chart_a.finding.pk}", f"pm-{mark.pk}"]


def test_an_adverse_event_entered_in_error_is_gone(charted):
    from needlechart.charting import services as charting

    event = charted.chart_a.event
    token = _token(charted, ["clinical:read"])
    assert _get(token, f"AdverseEvent/{event.pk}").json()["severity"]["coding"][0]["code"] == "mild"
    charting.adverse_event_enter_in_error(
        actor=charted.practitioner, event=event, reason="Wrong patient"
    )
    gone = _get(token, f"AdverseEvent/{event.pk}")
    assert (
        _outcome(gone, 410) == "deleted"
        and "Wrong patient" in gone.json()["issue"][0]["diagnostics"]
    )
    assert _get(token, "AdverseEvent").json()["total"] == 0


def test_the_capability_statement_lists_what_is_served(client, db):
    statement = client.get("/fhir/metadata").json()
    assert (
        statement["resourceType"] == "CapabilityStatement" and statement["fhirVersion"] == "4.0.1"
    )
    from needlechart.fhir import reads

    served = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(served) == set(reads.TYPES) | {"CodeSystem", "Questionnaire"}
    for name, kind in reads.TYPES.items():
        assert {p["name"] for p in served[name]["searchParam"]} == set(kind.param_types)
        assert [i["code"] for i in served[name]["interaction"]] == ["read", "search-type"]
    assert [o["name"] for o in served["Patient"]["operation"]] == ["everything", "export"]
    assert [o["definition"] for o in served["Group"]["operation"]] == [
        "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"
    ]
    # Bulk export of the clinic, and import by a Bundle at the base; nothing else.
    assert [o["name"] for o in statement["rest"][0]["operation"]] == ["export"]
    assert statement["rest"][0]["interaction"] == [{"code": "transaction"}]


def _queries(token: str, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert _get(token, path).status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    "path",
    ["Patient", "Practitioner", "EpisodeOfCare", "Condition", "Encounter", "Procedure",
     "Observation", "AdverseEvent", "Consent", "CarePlan", "everything"],
)  # fmt: skip
def test_queries_stay_the_same_as_the_history_grows(charted, path):
    token = _token(charted, ["patients:read", "clinical:read"])
    if path == "everything":
        path = f"Patient/{charted.patient_a.pk}/$everything"

    def grow():
        charts.grow(charted.practitioner, charted.episode_a)

    grow()
    _queries(token, path)  # the token's first use notes it; later ones within the minute do not
    small = _queries(token, path)
    for _ in range(2):
        grow()
    assert _queries(token, path) == small


def test_a_token_over_its_rate_gets_429_with_retry_after(world, settings):
    settings.API_RATE = "2/m"
    token = _token(world, ["patients:read"])
    answers = [_get(token, "Patient") for _ in range(3)]
    assert [a.status_code for a in answers[:2]] == [200, 200]
    assert _outcome(answers[2], 429) == "throttled"
    assert int(answers[2]["Retry-After"]) > 0


def test_dates_are_the_clinics_in_reads_searches_and_the_bulk_export(charted, tmp_path):
    """A clinic in Sydney sees its sessions' and measurements' times with its own offset, on
    every path that builds resources."""
    from needlechart.fhir import bulk
    from needlechart.outcomes.models import Observation

    world = charted
    world.clinic_a.timezone = "Australia/Sydney"
    world.clinic_a.save(update_fields=["timezone"])
    moment = dt.datetime(2026, 1, 15, 22, 30, tzinfo=dt.UTC)  # 09:30 the next day, +11:00
    Observation.objects.filter(episode=world.episode_a).update(recorded_at=moment)
    measured = Observation.objects.filter(episode=world.episode_a).first()
    secret = _token(world, ["clinical:read"])

    read = _get(secret, f"Observation/m-{measured.pk}").json()
    assert read["effectiveDateTime"] == "2026-01-16T09:30:00+11:00"
    found = _get(secret, "Observation", date="2026-01-16", code="nprs").json()
    ids = {entry["resource"]["id"] for entry in found.get("entry", [])}
    assert f"m-{measured.pk}" in ids
    assert all(e["resource"]["effectiveDateTime"].endswith("+11:00") for e in found["entry"])

    bulk.export(world.clinic_a, tmp_path, ["Observation"])
    lines = (tmp_path / "Observation.ndjson").read_text().splitlines()
    exported = next(json.loads(line) for line in lines if f'"m-{measured.pk}"' in line)
    assert exported["effectiveDateTime"] == "2026-01-16T09:30:00+11:00"
    # Outside them, the active zone is untouched.
    assert timezone.get_current_timezone_name() != "Australia/Sydney"
