"""Group: a practitioner's caseload (the patients of the open episodes in their charge),
read and searched as a FHIR Group, and exported with `Group/{id}/$export`: only its
members' records; clinic-scoped, refused to the front desk, audited."""

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from needlechart.audit.models import AuditEvent
from needlechart.fhir import jobs
from needlechart.fhir.models import ExportJob
from needlechart.patients.models import EpisodeOfCare
from tests import charts, factories
from tests.conftest import client_for
from tests.fhir import tokens


def _get(secret: str, path: str, **params: Any) -> Any:
    return Client().get(f"/fhir/{path}", params, HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.fixture
def caseloads(world):
    """Paula has Ann (patient A) and Olga; Alice has Carl; Dana's episode with Paula ended."""
    alice = world.admin.practitioner
    world.olga = factories.patient(world.clinic_a, given_name="Olga", family_name="Other")
    factories.episode(world.olga, world.practitioner_a, condition_code="M54.50")
    world.carl = factories.patient(world.clinic_a, given_name="Carl", family_name="Case")
    factories.episode(world.carl, alice)
    world.dana = factories.patient(world.clinic_a, given_name="Dana", family_name="Done")
    ended = factories.episode(world.dana, world.practitioner_a)
    EpisodeOfCare.objects.filter(pk=ended.pk).update(status=EpisodeOfCare.Status.FINISHED)
    world.secret = tokens.token(world, ["patients:read", "clinical:read"])
    return world


def test_a_caseload_lists_the_patients_of_open_episodes_in_the_practitioners_charge(caseloads):
    paula = caseloads.practitioner_a
    found = _get(caseloads.secret, f"Group/caseload-{paula.pk}").json()
    assert found["resourceType"] == "Group" and found["type"] == "person" and found["actual"]
    assert found["managingEntity"]["reference"] == f"Practitioner/{paula.pk}"
    members = [m["entity"]["reference"] for m in found["member"]]
    assert members == sorted(
        [f"Patient/{caseloads.patient_a.pk}", f"Patient/{caseloads.olga.pk}"],
        key=lambda r: int(r.split("/")[1]),
    )
    assert found["quantity"] == 2


def test_searches_by_managing_entity_and_member(caseloads):
    def ids(**params: Any) -> set[str]:
        bundle = _get(caseloads.secret, "Group", **params).json()
        return {e["resource"]["id"] for e in bundle.get("entry", [])}

    paula, alice = caseloads.practitioner_a.pk, caseloads.admin.practitioner.pk
    assert ids() == {f"caseload-{paula}", f"caseload-{alice}"}
    assert ids(**{"managing-entity": f"Practitioner/{alice}"}) == {f"caseload-{alice}"}
    assert ids(member=f"Patient/{caseloads.carl.pk}") == {f"caseload-{alice}"}
    assert ids(member=caseloads.dana.pk) == set()  # her episode has ended
    assert _get(caseloads.secret, "Group", member="Practitioner/1").status_code == 400


def test_another_clinic_is_404_front_desk_403_and_reads_are_audited(caseloads):
    other = _get(caseloads.secret, f"Group/caseload-{caseloads.practitioner_b.pk}")
    assert other.status_code == 404 and other.json()["resourceType"] == "OperationOutcome"
    assert _get(caseloads.secret, f"Group/{caseloads.practitioner_a.pk}").status_code == 404
    desk = client_for(caseloads.front_desk)
    assert desk.get(f"/fhir/Group/caseload-{caseloads.practitioner_a.pk}").status_code == 403
    resource = f"Group/caseload-{caseloads.practitioner_a.pk}"
    client_for(caseloads.assistant).get(f"/fhir/{resource}")
    assert AuditEvent.objects.filter(user=caseloads.assistant, action="view",
                                     detail={"via": "fhir", "resource": resource}).exists()  # fmt: skip


def test_a_search_costs_the_same_queries_as_caseloads_grow(caseloads):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert _get(caseloads.secret, "Group").status_code == 200
        return len(captured)

    queries()
    small = queries()
    for number in range(3):
        patient = factories.patient(caseloads.clinic_a, given_name=f"P{number}")
        factories.episode(patient, caseloads.practitioner_a)
        factories.practitioner(caseloads.clinic_a, f"extra{number}")
    assert _get(caseloads.secret, "Group").json()["total"] == 5
    assert queries() == small


def test_group_export_writes_only_the_members_records(caseloads, settings, tmp_path,
                                                      monkeypatch,
                                                      django_capture_on_commit_callbacks):  # fmt: skip
    settings.DATA_DIR = tmp_path
    monkeypatch.setattr(jobs, "launch", jobs.run)
    charts.build(caseloads.practitioner, caseloads.episode_a, signed=True)
    carl_episode = caseloads.carl.episodes.get()
    charts.build(caseloads.admin, carl_episode, signed=True)
    paula = caseloads.practitioner_a
    with django_capture_on_commit_callbacks(execute=True):
        started = Client().get(f"/fhir/Group/caseload-{paula.pk}/$export",
                               HTTP_PREFER="respond-async",
                               HTTP_AUTHORIZATION=f"Bearer {caseloads.secret}")  # fmt: skip
    assert started.status_code == 202, started.content
    job = ExportJob.objects.get()
    assert job.group == f"caseload-{paula.pk}"
    status = started["Content-Location"].removeprefix("http://testserver")
    manifest = Client().get(status, HTTP_AUTHORIZATION=f"Bearer {caseloads.secret}").json()
    files = {o["type"]: o for o in manifest["output"]}
    assert "Group" not in files and "Practitioner" not in files

    def ids(name: str) -> set[str]:
        import json

        answer = Client().get(files[name]["url"].removeprefix("http://testserver"),
                              HTTP_AUTHORIZATION=f"Bearer {caseloads.secret}")  # fmt: skip
        text = b"".join(answer.streaming_content).decode()
        return {json.loads(line)["id"] for line in text.splitlines()}

    assert ids("Patient") == {str(caseloads.patient_a.pk), str(caseloads.olga.pk)}
    assert ids("Encounter") == {str(s.pk) for s in caseloads.episode_a.sessions.all()}
    assert str(carl_episode.pk) not in ids("Condition")
    audited = AuditEvent.objects.filter(action="export", object_type="Patient")
    assert {int(pk) for pk in audited.values_list("object_id", flat=True)} == {
        caseloads.patient_a.pk, caseloads.olga.pk
    }  # fmt: skip
    # Another clinic's group, or one not of this form, is not known.
    for path in (f"caseload-{caseloads.practitioner_b.pk}", "caseload-x", "12"):
        refused = Client().get(f"/fhir/Group/{path}/$export", HTTP_PREFER="respond-async",
                               HTTP_AUTHORIZATION=f"Bearer {caseloads.secret}")  # fmt: skip
        assert refused.status_code == 404, path
    assert ExportJob.objects.count() == 1
