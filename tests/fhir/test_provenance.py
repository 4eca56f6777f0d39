"""Provenance of signatures and addenda: who signed a session or an assessment, for which
clinic and when; each addendum revising, and each entered in error nullifying, its record.
Read, searched by target and patient, in $everything and in the bulk export; clinic-scoped,
refused to the front desk, audited, with constant queries."""

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from needlechart.audit.models import AuditEvent
from needlechart.charting import services as charting
from needlechart.fhir import bulk, resources
from tests import charts
from tests.conftest import client_for
from tests.fhir import tokens

LA = "http://terminology.hl7.org/CodeSystem/v3-DocumentCompletion"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"


def _get(secret: str, path: str, **params: Any) -> Any:
    return Client().get(f"/fhir/{path}", params, HTTP_AUTHORIZATION=f"Bearer {secret}")


def _ids(secret: str, **params: Any) -> set[str]:
    bundle = _get(secret, "Provenance", **params).json()
    return {e["resource"]["id"] for e in bundle.get("entry", [])}


def _sign_and_amend(world: Any, actor: Any, episode: Any) -> Any:
    chart = charts.build(actor, episode, signed=True)
    charting.assessment_sign(actor=actor, assessment=chart.assessment)
    chart.addendum = charting.addendum_add(
        actor=actor, record=chart.signed_session, reason="Depth not noted",
        text="Soleus needled to 30 mm.",
    )  # fmt: skip
    chart.in_error = charting.addendum_add(
        actor=actor, record=chart.session, reason="Wrong patient", kind="entered-in-error"
    )
    return chart


@pytest.fixture
def signed(world):
    world.chart_a = _sign_and_amend(world, world.practitioner, world.episode_a)
    world.chart_b = _sign_and_amend(world, world.other_practitioner, world.episode_b)
    world.secret = tokens.token(world, ["patients:read", "clinical:read"])
    return world


def test_a_signed_session_names_its_signer_for_the_clinic_and_when(signed):
    session = signed.chart_a.signed_session
    session.refresh_from_db()
    answer = _get(signed.secret, f"Provenance/session-{session.pk}")
    assert answer.status_code == 200, answer.content
    found = answer.json()
    assert found["target"] == [
        {"reference": f"Encounter/{session.pk}"}, {"reference": f"Procedure/{session.pk}"}
    ]  # fmt: skip
    assert found["recorded"] == resources.instant(session.signed_at)
    assert found["activity"]["coding"][0] == {
        "system": LA, "code": "LA", "display": "legally authenticated"
    }  # fmt: skip
    agent = found["agent"][0]
    assert agent["who"]["reference"] == f"Practitioner/{signed.practitioner_a.pk}"
    assert agent["onBehalfOf"] == {"reference": f"Organization/{signed.clinic_a.pk}"}
    assert agent["type"]["coding"][0]["code"] == "legal"


def test_a_signed_assessment_points_at_what_it_found(signed):
    assessment = signed.chart_a.assessment
    found = _get(signed.secret, f"Provenance/assessment-{assessment.pk}").json()
    mark = assessment.pain_marks.get()
    assert found["target"] == [
        {"reference": f"Observation/pm-{mark.pk}"},
        {"reference": f"Observation/tp-{signed.chart_a.finding.pk}"},
    ]
    assert found["activity"]["coding"][0]["code"] == "LA"
    # An unsigned assessment has no signature.
    draft = charting.assessment_start(actor=signed.practitioner, episode=signed.episode_a)
    assert _get(signed.secret, f"Provenance/assessment-{draft.pk}").status_code == 404


def test_an_addendum_revises_and_entered_in_error_nullifies_its_record(signed):
    chart = signed.chart_a
    revised = _get(signed.secret, f"Provenance/addendum-{chart.addendum.pk}").json()
    assert revised["activity"]["coding"][0] == {
        "system": DATA_OPERATION, "code": "UPDATE", "display": "revise"
    }  # fmt: skip
    assert revised["target"][0] == {"reference": f"Encounter/{chart.signed_session.pk}"}
    assert revised["agent"][0]["type"]["coding"][0]["code"] == "author"
    assert revised["reason"] == [{"text": "Addendum: Depth not noted"}]
    nullified = _get(signed.secret, f"Provenance/addendum-{chart.in_error.pk}").json()
    assert nullified["activity"]["coding"][0]["code"] == "NULLIFY"
    assert nullified["target"][1] == {"reference": f"Procedure/{chart.session.pk}"}


def test_searches_by_target_patient_and_count(signed):
    chart, secret = signed.chart_a, signed.secret
    signed_session = chart.signed_session.pk
    assert _ids(secret, target=f"Encounter/{signed_session}") == {
        f"session-{signed_session}", f"addendum-{chart.addendum.pk}"
    }  # fmt: skip
    assert _ids(secret, target=f"Procedure/{chart.session.pk}") == {f"addendum-{chart.in_error.pk}"}
    assert _ids(secret, target=f"Observation/tp-{chart.finding.pk}") == {
        f"assessment-{chart.assessment.pk}"
    }
    mine = {
        f"session-{signed_session}", f"assessment-{chart.assessment.pk}",
        f"addendum-{chart.addendum.pk}", f"addendum-{chart.in_error.pk}",
    }  # fmt: skip
    assert _ids(secret, patient=f"Patient/{signed.patient_a.pk}") == mine
    assert _ids(secret) == mine  # clinic B's are not clinic A's
    page = _get(secret, "Provenance", _count=3).json()
    assert page["total"] == 4 and len(page["entry"]) == 3
    assert page["link"][-1]["relation"] == "next"
    bad = _get(secret, "Provenance", target="12")
    assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"


def test_another_clinic_is_404_front_desk_403_and_reads_are_audited(signed):
    chart_b = signed.chart_b
    for path in [
        f"Provenance/session-{chart_b.signed_session.pk}",
        f"Provenance/assessment-{chart_b.assessment.pk}",
        f"Provenance/addendum-{chart_b.addendum.pk}", "Provenance/12", "Provenance/session-x",
    ]:  # fmt: skip
        answer = _get(signed.secret, path)
        assert answer.status_code == 404 and answer.json()["resourceType"] == "OperationOutcome"
    desk = client_for(signed.front_desk)
    refused = desk.get(f"/fhir/Provenance/session-{signed.chart_a.signed_session.pk}")
    assert refused.status_code == 403 and refused.json()["resourceType"] == "OperationOutcome"
    assert desk.get("/fhir/Provenance").status_code == 403
    addendum = signed.chart_a.addendum
    _get(signed.secret, f"Provenance/addendum-{addendum.pk}")
    row = AuditEvent.objects.get(
        action="view", detail__resource=f"Provenance/addendum-{addendum.pk}"
    )
    assert row.object_type == "Addendum" and row.object_id == str(addendum.pk)
    assert row.patient_id == signed.patient_a.pk
    _get(signed.secret, "Provenance", patient=signed.patient_a.pk)
    assert AuditEvent.objects.filter(action="list", detail__resource="Provenance").count() == 4


def test_everything_and_the_bulk_export_carry_provenance(signed, tmp_path):
    everything = _get(signed.secret, f"Patient/{signed.patient_a.pk}/$everything").json()
    found = {e["resource"]["id"] for e in everything["entry"]
             if e["resource"]["resourceType"] == "Provenance"}  # fmt: skip
    assert found == _ids(signed.secret, patient=signed.patient_a.pk)
    assert "Provenance" in bulk.PATIENT_TYPES
    outputs = bulk.export(signed.clinic_a, tmp_path, ["Provenance"], size=2)
    assert [(o.type, o.count) for o in outputs] == [("Provenance", 4)]


def _queries(secret: str, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert _get(secret, path).status_code == 200
    return len(queries)


def test_searches_cost_the_same_queries_as_signatures_and_addenda_grow(signed):
    path = f"Provenance?patient={signed.patient_a.pk}"
    _queries(signed.secret, path)
    small = _queries(signed.secret, path)
    for _ in range(2):
        _sign_and_amend(signed, signed.practitioner, signed.episode_a)
    assert _ids(signed.secret, patient=signed.patient_a.pk, _count=100).__len__() == 12
    assert _queries(signed.secret, path) == small


def test_an_assessment_of_pain_marks_only_is_signed_for_its_marks(signed):
    """The body chart alone is a record: its marks are served as Observations, and its
    signature points at them."""
    w = signed
    assessment = charting.assessment_start(actor=w.practitioner, episode=w.episode_a)
    charting.pain_mark_set(
        actor=w.practitioner, assessment=assessment, region="calf-left", intensity=4,
        quality="burning",
    )  # fmt: skip
    charting.assessment_sign(actor=w.practitioner, assessment=assessment)
    mark = assessment.pain_marks.get()
    observation = _get(w.secret, f"Observation/pm-{mark.pk}").json()
    assert observation["status"] == "final" and observation["valueInteger"] == 4
    assert observation["bodySite"]["coding"][0]["code"] == "calf-left"
    assert observation["component"][0]["valueCodeableConcept"]["coding"][0]["code"] == "burning"
    found = _get(w.secret, f"Provenance/assessment-{assessment.pk}").json()
    assert found["target"] == [{"reference": f"Observation/pm-{mark.pk}"}]
    searched = _get(w.secret, f"Provenance?target=Observation/pm-{mark.pk}").json()
    assert [e["resource"]["id"] for e in searched["entry"]] == [f"assessment-{assessment.pk}"]
