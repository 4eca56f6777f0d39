"""What patients answer in the portal as FHIR: each check-in after a session a
QuestionnaireResponse to needlechart's published check-in Questionnaire; searched by
patient and authored, clinic-scoped, refused to the front desk, audited, constant queries."""

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from needlechart.audit.models import AuditEvent
from needlechart.fhir import resources
from needlechart.portal.models import CheckIn, HealthQuestionnaire
from tests import charts
from tests.conftest import client_for
from tests.fhir import tokens

CHECK_IN = "https://needlechart.org/fhir/Questionnaire/check-in"


def _get(secret: str, path: str, **params: Any) -> Any:
    return Client().get(f"/fhir/{path}", params, HTTP_AUTHORIZATION=f"Bearer {secret}")


def _check_in(actor: Any, episode: Any, **answers: Any) -> CheckIn:
    session = charts.build(actor, episode, signed=True).signed_session
    values = {"hours": 24, "soreness": 4, "symptoms": ["bruising", "tiredness"]} | answers
    return CheckIn.objects.create(session=session, **values)


@pytest.fixture
def answered(world):
    world.check_in_a = _check_in(world.practitioner, world.episode_a, other="Stiff neck at night")
    world.check_in_b = _check_in(world.other_practitioner, world.episode_b)
    world.secret = tokens.token(world, ["clinical:read"])
    return world


def test_a_check_in_answers_the_published_questionnaire(answered):
    check_in = answered.check_in_a
    found = _get(answered.secret, f"QuestionnaireResponse/check-in-{check_in.pk}").json()
    assert found["questionnaire"] == CHECK_IN and found["status"] == "completed"
    assert found["subject"] == found["author"] == {"reference": f"Patient/{answered.patient_a.pk}"}
    assert found["encounter"] == {"reference": f"Encounter/{check_in.session_id}"}
    assert found["authored"] == resources.instant(check_in.answered_at)
    answers = {item["linkId"]: item["answer"] for item in found["item"]}
    assert answers["hours"] == [{"valueInteger": 24}]
    assert answers["soreness"] == [{"valueInteger": 4}]
    assert [a["valueCoding"]["code"] for a in answers["symptoms"]] == ["bruising", "tiredness"]
    assert answers["other"] == [{"valueString": "Stiff neck at night"}]
    # Every answer's linkId is a question of the Questionnaire, and every symptom one it offers.
    questionnaire = Client().get("/fhir/Questionnaire/check-in").json()
    assert questionnaire["url"] == CHECK_IN
    questions = {item["linkId"]: item for item in questionnaire["item"]}
    assert set(answers) <= set(questions)
    offered = {o["valueCoding"]["code"] for o in questions["symptoms"]["answerOption"]}
    assert {"bruising", "tiredness"} <= offered
    assert questions["soreness"]["text"].startswith("How sore are the places")
    by_url = Client().get("/fhir/Questionnaire", {"url": CHECK_IN}).json()
    assert [e["resource"]["id"] for e in by_url["entry"]] == ["check-in"]
    assert Client().get("/fhir/Questionnaire/intake").status_code == 404


def test_searches_by_patient_authored_and_questionnaire(answered):
    secret, check_in = answered.secret, answered.check_in_a

    def ids(**params: Any) -> set[str]:
        bundle = _get(secret, "QuestionnaireResponse", **params).json()
        return {e["resource"]["id"] for e in bundle.get("entry", [])}

    mine = {f"check-in-{check_in.pk}"}
    assert ids() == mine
    assert ids(patient=f"Patient/{answered.patient_a.pk}") == mine
    assert ids(patient=answered.patient_b.pk) == set()
    today = timezone.localdate()
    assert ids(authored=today.isoformat()) == mine
    assert ids(authored=f"lt{today.isoformat()}") == set()
    assert ids(authored=f"ge{(today - dt.timedelta(days=1)).isoformat()}") == mine
    assert ids(questionnaire=CHECK_IN) == mine
    assert ids(questionnaire=f"{CHECK_IN}-other") == set()
    assert _get(secret, "QuestionnaireResponse", authored="soon").status_code == 400


def test_another_clinic_is_404_front_desk_403_and_reads_are_audited(answered):
    other = _get(answered.secret, f"QuestionnaireResponse/check-in-{answered.check_in_b.pk}")
    assert other.status_code == 404 and other.json()["resourceType"] == "OperationOutcome"
    assert (
        _get(answered.secret, f"QuestionnaireResponse/{answered.check_in_a.pk}").status_code == 404
    )
    desk = client_for(answered.front_desk)
    path = f"/fhir/QuestionnaireResponse/check-in-{answered.check_in_a.pk}"
    assert desk.get(path).status_code == 403
    assert desk.get("/fhir/QuestionnaireResponse").status_code == 403
    assert client_for(answered.assistant).get(path).status_code == 200
    row = AuditEvent.objects.get(user=answered.assistant, action="view")
    assert row.object_type == "QuestionnaireResponse/CheckIn"
    assert row.patient_id == answered.patient_a.pk
    everything = _get(tokens.token(answered, ["patients:read", "clinical:read"]),
                      f"Patient/{answered.patient_a.pk}/$everything").json()  # fmt: skip
    assert f"check-in-{answered.check_in_a.pk}" in {
        e["resource"]["id"] for e in everything["entry"]
    }


HEALTH = "https://needlechart.org/fhir/Questionnaire/health-questions"


def _health(world: Any) -> HealthQuestionnaire:
    return HealthQuestionnaire.objects.create(
        patient=world.patient_a, episode=world.episode_a, note="Knee replaced in 2019",
        factors=[{"code": "lymphedema", "limb": "arm", "side": "left"},
                 {"code": "anticoagulant", "drug": "warfarin", "inr": 2.5}],
    )  # fmt: skip


def test_the_health_questions_answer_yes_with_details_or_no(answered):
    health = _health(answered)
    found = _get(answered.secret, f"QuestionnaireResponse/health-questions-{health.pk}").json()
    assert found["questionnaire"] == HEALTH and found["author"] == found["subject"]
    assert found["authored"] == resources.instant(health.submitted_at)
    answers = {item["linkId"]: item["answer"] for item in found["item"]}
    lymphedema = answers["lymphedema"][0]
    assert lymphedema["valueBoolean"] is True
    assert {d["linkId"]: d["answer"] for d in lymphedema["item"]} == {
        "lymphedema__limb": [{"valueString": "arm"}], "lymphedema__side": [{"valueString": "left"}]
    }  # fmt: skip
    thinner = {d["linkId"]: d["answer"] for d in answers["anticoagulant"][0]["item"]}
    assert thinner == {"anticoagulant__drug": [{"valueString": "warfarin"}],
                       "anticoagulant__inr": [{"valueDecimal": 2.5}]}  # fmt: skip
    assert answers["pregnancy"] == [{"valueBoolean": False}]
    assert answers["note"] == [{"valueString": "Knee replaced in 2019"}]
    # Each question is the portal's, and each detail one the Questionnaire declares.
    questionnaire = Client().get("/fhir/Questionnaire/health-questions").json()
    questions = {item["linkId"]: item for item in questionnaire["item"]}
    assert set(answers) == set(questions)
    assert questions["pregnancy"]["type"] == "boolean"
    declared = {d["linkId"]: d for d in questions["anticoagulant"]["item"]}
    assert declared["anticoagulant__inr"]["type"] == "decimal"

    def ids(**params: Any) -> set[str]:
        bundle = _get(answered.secret, "QuestionnaireResponse", **params).json()
        return {e["resource"]["id"] for e in bundle.get("entry", [])}

    assert ids(questionnaire=HEALTH) == {f"health-questions-{health.pk}"}
    assert ids(patient=answered.patient_a.pk) == {
        f"health-questions-{health.pk}", f"check-in-{answered.check_in_a.pk}"
    }  # fmt: skip
    desk = client_for(answered.front_desk)
    assert desk.get(f"/fhir/QuestionnaireResponse/health-questions-{health.pk}").status_code == 403


def _queries(secret: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert _get(secret, "QuestionnaireResponse").status_code == 200
    return len(queries)


def test_a_search_costs_the_same_queries_as_check_ins_grow(answered):
    _health(answered)
    _queries(answered.secret)
    small = _queries(answered.secret)
    for _ in range(3):
        _check_in(answered.practitioner, answered.episode_a, hours=48)
        _health(answered)
    assert _get(answered.secret, "QuestionnaireResponse").json()["total"] == 8
    assert _queries(answered.secret) == small
