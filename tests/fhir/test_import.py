"""Import: POST /fhir/ and `needlechart fhir-import` of Patients with their Conditions and
Observations; checked whole first (a bad resource refuses everything, each problem named),
written through the import services, and never twice; and the round trip of a demo clinic
through fhir-export into an empty clinic."""

import datetime as dt
import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from needlechart.accounts.models import Role
from needlechart.audit.models import AuditEvent
from needlechart.fhir import codes
from needlechart.outcomes.models import Observation
from needlechart.patients.models import EpisodeOfCare, Patient
from tests import factories
from tests.fhir import tokens
from tests.fhir.test_resources import admin, built  # noqa: F401 - the demo clinic fixtures

MEASURE = codes.system("measure")


def _patient(number: str, mrn: str, **fields: Any) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:patient-{number}",
        "resource": {
            "resourceType": "Patient",
            "identifier": [{"system": "https://hospital.example.org/mrn", "value": mrn}],
            "name": [{"family": "Walsh", "given": [f"Nell{number}"]}],
            "gender": "female",
            "birthDate": "1971-04-02",
            **fields,
        },
        "request": {"method": "POST", "url": "Patient"},
    }


def _condition(number: str, patient: str, code: str = "M54.2") -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:condition-{number}",
        "resource": {
            "resourceType": "Condition",
            "clinicalStatus": {"coding": [{"system": codes.CONDITION_CLINICAL, "code": "active"}]},
            "code": {"coding": [{"system": codes.ICD_10_CM, "code": code}]},
            "subject": {"reference": f"urn:uuid:patient-{patient}"},
            "onsetDateTime": "2026-09-01",
            "recordedDate": "2026-10-01",
        },
        "request": {"method": "POST", "url": "Condition"},
    }


def _observation(number: str, patient: str, value: Any, **fields: Any) -> dict[str, Any]:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": codes.LOINC, "code": "72514-3"}]},
        "subject": {"reference": f"urn:uuid:patient-{patient}"},
        "effectiveDateTime": "2026-10-02T09:30:00+00:00",
        "valueQuantity": {"value": value},
        **fields,
    }
    return {"fullUrl": f"urn:uuid:observation-{number}", "resource": resource,
            "request": {"method": "POST", "url": "Observation"}}  # fmt: skip


def _bundle(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


GOOD = _bundle(
    _patient("1", "h-100"),
    _patient("2", "h-200", telecom=[{"system": "email", "value": "nell2@example.org"}]),
    _condition("1", "1"),
    _condition("2", "2", code="M79.18"),
    _observation("1", "1", 6),
    _observation("2", "1", 55, code={"coding": [{"system": MEASURE, "code": "rom"}]},
                 extension=[{"url": codes.MEASUREMENT, "extension": [
                     {"url": "timing", "valueCode": "baseline"},
                     {"url": "component", "valueString": "cervical-rotation"},
                     {"url": "side", "valueCode": "left"}]}]),
    _observation("3", "2", 3),
    {"fullUrl": "urn:uuid:encounter-1", "resource": {"resourceType": "Encounter",
                                                      "status": "finished"}},
)  # fmt: skip


def _token(world: Any, scopes: list[str], user: Any = None) -> str:
    return tokens.token(world, scopes, user or world.admin, name="Migration")


WRITE = ["patients:write", "clinical:write"]


def _post(secret: str, bundle: Any) -> Any:
    return Client().post("/fhir/", json.dumps(bundle), content_type="application/fhir+json",
                         HTTP_AUTHORIZATION=f"Bearer {secret}")  # fmt: skip


def _counts() -> tuple[int, int, int, int]:
    return (Patient.objects.count(), EpisodeOfCare.objects.count(), Observation.objects.count(),
            AuditEvent.objects.filter(action="create").count())  # fmt: skip


def test_a_bundle_becomes_patients_episodes_and_measurements_once(world):
    secret = _token(world, WRITE)
    before = _counts()
    answer = _post(secret, GOOD)
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created"] * 7 + ["200 OK"]
    assert "not imported" in body["entry"][7]["response"]["outcome"]["issue"][0]["diagnostics"]
    nell = Patient.objects.get(clinic=world.clinic_a, mrn="H-100")
    assert body["entry"][0]["response"]["location"] == f"Patient/{nell.pk}"
    assert (nell.given_name, nell.family_name, nell.birth_date, nell.sex) == (
        "Nell1", "Walsh", dt.date(1971, 4, 2), "female")  # fmt: skip
    episode = nell.episodes.get()
    assert (episode.condition_code, episode.onset_date, episode.period_start, episode.status) == (
        "M54.2", dt.date(2026, 9, 1), dt.date(2026, 10, 1), "active")  # fmt: skip
    assert episode.care_manager.user == world.admin  # the importing admin, who practises
    measured = {
        (o.code, o.component, o.side, o.timing, o.value) for o in episode.observations.all()
    }
    assert measured == {("nprs", "", "", "reassessment", 6),
                        ("rom", "cervical-rotation", "left", "baseline", 55)}  # fmt: skip
    assert Patient.objects.get(mrn="H-200").episodes.get().observations.get().value == 3
    # Every record audited as imported, with the token's name.
    created = AuditEvent.objects.filter(action="create", detail__imported="fhir")
    assert created.count() == 7 and all(r.detail["api_token"] == "Migration" for r in created)
    after = _counts()
    assert after[:3] == (before[0] + 2, before[1] + 2, before[2] + 3)
    # The same Bundle again (as a collection this time) creates nothing again.
    again = _post(secret, {**GOOD, "type": "collection"})
    assert [e["response"]["status"] for e in again.json()["entry"]] == ["200 OK"] * 8
    assert again.json()["entry"][0]["response"]["location"] == f"Patient/{nell.pk}"
    assert _counts() == after


def test_a_bundle_with_any_bad_resource_is_refused_whole_naming_each_problem(world):
    secret = _token(world, WRITE)
    before = _counts()
    nameless = _patient("3", "h-300")
    del nameless["resource"]["identifier"]
    bad = _bundle(
        _patient("1", "h-100"), nameless,
        _patient("4", "h-400", gender="sometimes"),
        _condition("1", "1", code="Q99.999"),
        _condition("2", "1"),
        _observation("1", "1", 14),  # NPRS runs from 0 to 10
        _observation("2", "1", None),
        _observation("3", "1", 2, code={"coding": [{"system": codes.LOINC, "code": "8867-4"}]}),
        _observation("4", "9", 2),
    )  # fmt: skip
    answer = _post(secret, bad)
    assert answer.status_code == 422
    issues = answer.json()["issue"]
    found = {(i["expression"][0], i["diagnostics"].split(":")[0]) for i in issues}
    assert {
        "Bundle.entry[1].resource.identifier", "Bundle.entry[2].resource.gender",
        "Bundle.entry[3].resource.code", "Bundle.entry[5].resource.valueQuantity.value",
        "Bundle.entry[6].resource.valueQuantity.value", "Bundle.entry[7].resource.code",
        "Bundle.entry[8].resource.subject",
    } == {expression for expression, _ in found}  # fmt: skip
    assert any("entry 3 (urn:uuid:condition-1), code: Q99.999" in i["diagnostics"]
               for i in issues)  # fmt: skip
    assert _counts() == before
    assert _post(secret, {"resourceType": "Patient"}).status_code == 422
    assert _post(secret, _bundle(kind="searchset")).status_code == 422


def test_importing_needs_both_write_scopes_and_a_clinic_admin(world):
    for scopes in (["patients:write"], ["clinical:write"], ["patients:read", "clinical:read"]):
        assert _post(_token(world, scopes), GOOD).status_code == 403
    practitioner = _token(world, WRITE, user=world.practitioner)
    assert _post(practitioner, GOOD).status_code == 403
    assert Client().post("/fhir/", "{}", content_type="application/fhir+json").status_code == 401
    assert _post(_token(world, WRITE), "not json").status_code == 422
    assert not Patient.objects.filter(mrn="H-100").exists()


def test_the_command_imports_a_bundle_and_refuses_a_bad_one(world, tmp_path):
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(GOOD))
    out = io.StringIO()
    call_command("fhir-import", str(path), "--as", "alice", stdout=out)
    assert "Patient: 2 created" in out.getvalue() and "Encounter: 1 skipped" in out.getvalue()
    out = io.StringIO()
    call_command("fhir-import", str(path), "--as", "alice", stdout=out)
    assert "Patient: 2 found" in out.getvalue() and "created" not in out.getvalue()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_bundle(_patient("5", "h-500"), _condition("5", "5", code="X"))))
    err = io.StringIO()
    with pytest.raises(CommandError, match="refused: 1 problem"):
        call_command("fhir-import", str(bad), "--as", "alice", stderr=err)
    assert "entry 1 (urn:uuid:condition-5), code: X is not" in err.getvalue()
    assert not Patient.objects.filter(mrn="H-500").exists()
    with pytest.raises(CommandError, match="not an active clinic admin") as refused:
        call_command("fhir-import", str(path), "--as", "paula")
    assert refused.value.returncode == 2


def _same(clinic_id: int) -> dict[str, Any]:
    """What must survive the round trip, without the ids that do not."""
    patients = {
        p.mrn: (p.given_name, p.family_name, p.birth_date, p.sex, p.phone, p.email, p.address)
        for p in Patient.objects.filter(clinic_id=clinic_id)
    }
    episodes = sorted(
        (e.patient.mrn, e.condition_code, e.onset_date, e.status, e.period_start, e.period_end)
        for e in EpisodeOfCare.objects.filter(patient__clinic_id=clinic_id).select_related("patient")
    )  # fmt: skip
    measurements = sorted(
        (o.episode.patient.mrn, o.episode.condition_code, o.episode.period_start, o.code,
         o.component, o.side, o.timing, o.value, o.recorded_at)
        for o in Observation.objects.filter(episode__patient__clinic_id=clinic_id,
                                            entered_in_error_reason="")
        .select_related("episode__patient")
    )  # fmt: skip
    return {"patients": patients, "episodes": episodes, "measurements": measurements}


def test_a_demo_clinic_exported_and_imported_into_an_empty_one_is_the_same(admin, tmp_path):  # noqa: F811
    exported = tmp_path / "export"
    call_command("fhir-export", str(exported), "--clinic", str(admin.clinic_id),
                 stdout=io.StringIO(), stderr=io.StringIO())  # fmt: skip
    empty = factories.clinic("Empty", timezone=admin.clinic.timezone)
    newcomer = factories.practitioner(empty, "nina", role=Role.CLINIC_ADMIN)
    out = io.StringIO()
    call_command("fhir-import", str(exported), "--as", "nina", stdout=out)
    original, copy = _same(admin.clinic_id), _same(empty.pk)
    assert copy["patients"] == original["patients"]
    assert copy["episodes"] == original["episodes"]
    assert copy["measurements"] == original["measurements"]
    assert len(copy["measurements"]) > 50 and len(copy["episodes"]) >= 12
    assert EpisodeOfCare.objects.filter(care_manager=newcomer).count() == len(copy["episodes"])
    # And again: nothing more.
    call_command("fhir-import", str(exported), "--as", "nina", stdout=io.StringIO())
    assert _same(empty.pk) == copy


def test_an_import_large_enough_takes_the_statistics_of_the_tables_it_filled(world, monkeypatch):
    """A clinic's first import fills tables the planner last saw empty: their statistics
    are taken at once, as the import ends, where the rows reach a bulk load's size."""
    from needlechart.db import statistics
    from tests.db.test_statistics import _analysed, _keeping_statistics

    _keeping_statistics()
    # The bundle's 3 measurements make a bulk load; its 2 patients and 2 episodes do not.
    monkeypatch.setattr(statistics, "BULK_LOAD_ROWS", 3)
    tables = ("outcomes_observation", "patients_patient", "patients_episodeofcare")
    before = {table: _analysed(table) for table in tables}
    assert _post(_token(world, WRITE), GOOD).status_code == 200
    assert _analysed("outcomes_observation") > before["outcomes_observation"]
    assert _analysed("patients_patient") == before["patients_patient"]
    assert _analysed("patients_episodeofcare") == before["patients_episodeofcare"]
    # The same bundle again writes nothing, and takes nothing.
    taken = _analysed("outcomes_observation")
    assert _post(_token(world, WRITE), GOOD).status_code == 200
    assert _analysed("outcomes_observation") == taken


def test_an_import_takes_the_statistics_of_the_summaries_its_measures_gave_rows(world, monkeypatch):
    """The dashboard reads a summary row per episode, which the database's triggers wrote
    for each episode the import measured."""
    from needlechart.db import statistics
    from tests.db.test_statistics import _analysed, _keeping_statistics

    _keeping_statistics()
    monkeypatch.setattr(statistics, "BULK_LOAD_ROWS", 2)
    before = _analysed("outcomes_episodesummary")
    assert _post(_token(world, WRITE), GOOD).status_code == 200
    assert _analysed("outcomes_episodesummary") > before
