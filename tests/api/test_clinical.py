"""A follow-up visit charted through the API: the same rules as the pages (screening and
consent first, contraindicated rows refused, signing with every check, signed notes read-only,
addenda), the same audit, and JSON errors per field."""

import json

import pytest
from django.test import Client

from needlechart.audit.models import AuditEvent
from needlechart.charting import services
from needlechart.charting.models import NeedleSize, NeedlingSession
from tests.api.test_api import _get, _token

ALL = ["clinical:read", "clinical:write", "patients:read"]


def _send(secret: str, method: str, path: str, body: dict | None = None):
    call = getattr(Client(), method)
    return call(f"/api{path}", data=json.dumps(body or {}), content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {secret}")  # fmt: skip


@pytest.fixture
def ready(world):
    """Patient A screened (no risk factor) and consented; the clinic's needles listed."""
    clinic = world.clinic_a
    services.needle_sizes(clinic)
    services.screening_record(actor=world.practitioner, episode=world.episode_a, factors=[])
    services.consent_sign(
        actor=world.practitioner, patient=world.patient_a,
        template=services.current_template(clinic=clinic, kind="consent"),
        signed_name=world.patient_a.full_name, confirmed=True,
    )  # fmt: skip
    return NeedleSize.objects.filter(clinic=clinic).first()


ROW = {"muscle": "gastrocnemius", "side": "left", "needles": 1, "depth": "deep",
       "technique": "pistoning", "twitch_responses": 2, "familiar_pain": True,
       "tolerance": "good"}  # fmt: skip


def test_a_follow_up_visit_is_charted_signed_and_corrected_through_the_api(world, ready):
    secret = _token(world, [*ALL, "clinical:sign"])
    episode = world.episode_a.pk
    assert _get(secret, f"/patients/{world.patient_a.pk}/consent").json()["current"] is True
    assert _get(secret, f"/episodes/{episode}/screening").json()["factors"] == []

    started = _send(secret, "post", f"/episodes/{episode}/sessions", {
        "screening_status": "unchanged", "clean_technique": True, "consent_confirmed": True,
    })  # fmt: skip
    assert started.status_code == 201, started.json()
    session = started.json()["session"]["id"]
    row = _send(secret, "post", f"/sessions/{session}/rows", {**ROW, "needle_size": ready.pk})
    assert row.status_code == 201 and row.json()["safety_verdict"] == "allowed"
    for timing, value in (("before", 6), ("after", 3)):
        measured = _send(secret, "post", f"/sessions/{session}/measurements",
                         {"code": "nprs", "value": value, "timing": timing})  # fmt: skip
        assert measured.status_code == 201, measured.json()

    # Signing checks everything the page checks: here, the needle count is missing.
    refused = _send(secret, "post", f"/sessions/{session}/sign")
    assert refused.status_code == 400
    assert "needles opened" in refused.json()["detail"]
    changed = _send(secret, "patch", f"/sessions/{session}",
                    {"needles_opened": 1, "needles_removed": 1, "sharps_disposed": True})  # fmt: skip
    assert changed.status_code == 200 and changed.json()["needles_opened"] == 1
    signed = _send(secret, "post", f"/sessions/{session}/sign", {"aftercare_given": True})
    assert signed.status_code == 200, signed.json()
    assert signed.json()["signed_at"] and signed.json()["cpt_code"]

    # Signed: read-only, corrected by addenda.
    late = _send(secret, "patch", f"/sessions/{session}", {"note": "Changed later"})
    assert late.status_code == 400 and NeedlingSession.objects.get(pk=session).note == ""
    added = _send(secret, "post", f"/sessions/{session}/addenda",
                  {"reason": "Late entry", "text": "Calf stretch advised."})  # fmt: skip
    assert added.status_code == 201
    read = _get(secret, f"/sessions/{session}").json()
    assert [a["reason"] for a in read["addenda"]] == ["Late entry"]
    assert {(m["timing"], m["value"]) for m in read["measurements"]} == {
        ("before", 6),
        ("after", 3),
    }
    audited = AuditEvent.objects.filter(detail__api_token="Billing", patient=world.patient_a)
    assert {"create", "sign", "update"} <= set(audited.values_list("action", flat=True))


def test_a_contraindicated_row_is_refused_by_field_and_nothing_is_written(world, ready):
    services.screening_record(actor=world.practitioner, episode=world.episode_a,
                              factors=[{"code": "lymphedema", "limb": "leg", "side": "left"}])  # fmt: skip
    secret = _token(world, ALL)
    started = _send(secret, "post", f"/episodes/{world.episode_a.pk}/sessions", {
        "screening_status": "changed", "clean_technique": True, "consent_confirmed": True,
    })  # fmt: skip
    session = started.json()["session"]["id"]
    refused = _send(secret, "post", f"/sessions/{session}/rows", {**ROW, "needle_size": ready.pk})
    assert refused.status_code == 400
    assert "Contraindicated: Lymphedema" in refused.json()["errors"]["muscle"][0]
    assert not NeedlingSession.objects.get(pk=session).insertions.exists()


def test_signing_takes_its_own_scope_and_writes_take_the_write_scope(world, ready):
    reader = _token(world, ["clinical:read"])
    refused = _send(reader, "post", f"/episodes/{world.episode_a.pk}/sessions",
                    {"screening_status": "unchanged"})  # fmt: skip
    assert refused.status_code == 403 and "clinical:write" in refused.json()["detail"]
    assert not NeedlingSession.objects.exists()
    writer = _token(world, ALL)
    session = _send(writer, "post", f"/episodes/{world.episode_a.pk}/sessions", {
        "screening_status": "unchanged", "clean_technique": True, "consent_confirmed": True,
    }).json()["session"]["id"]  # fmt: skip
    unsigned = _send(writer, "post", f"/sessions/{session}/sign")
    assert unsigned.status_code == 403 and "clinical:sign" in unsigned.json()["detail"]
    assert NeedlingSession.objects.get(pk=session).signed_at is None


def test_no_consent_no_session_and_another_clinics_records_are_404(world):
    secret = _token(world, ALL)
    services.screening_record(actor=world.practitioner, episode=world.episode_a, factors=[])
    refused = _send(secret, "post", f"/episodes/{world.episode_a.pk}/sessions",
                    {"screening_status": "unchanged"})  # fmt: skip
    assert refused.status_code == 400 and "consent" in refused.json()["detail"]
    assert not NeedlingSession.objects.exists()
    assert _get(secret, f"/patients/{world.patient_a.pk}/consent").json()["current"] is False
    for path in (f"/episodes/{world.episode_b.pk}/screening", f"/episodes/{world.episode_b.pk}/plan",
                 f"/patients/{world.patient_b.pk}/consent",
                 f"/episodes/{world.episode_b.pk}/measurements"):  # fmt: skip
        assert _get(secret, path).status_code == 404, path
    other = _send(secret, "post", f"/episodes/{world.episode_b.pk}/screening", {"factors": []})
    assert other.status_code == 404


def test_bad_bodies_get_a_json_error_per_field(world, ready):
    secret = _token(world, ALL)
    malformed = _send(secret, "post", f"/episodes/{world.episode_a.pk}/sessions", {})
    assert malformed.status_code == 422 and "screening_status" in malformed.json()["errors"]
    session = _send(secret, "post", f"/episodes/{world.episode_a.pk}/sessions", {
        "screening_status": "unchanged", "clean_technique": True, "consent_confirmed": True,
    }).json()["session"]["id"]  # fmt: skip
    foreign = NeedleSize.objects.create(clinic=world.clinic_b, diameter_mm="0.30", length_mm=40)
    wrong = _send(secret, "post", f"/sessions/{session}/rows", {**ROW, "needle_size": foreign.pk})
    assert wrong.status_code == 400 and "needle_size" in wrong.json()["errors"]
    nulled = _send(secret, "patch", f"/sessions/{session}", {"needles_opened": None})
    assert nulled.status_code == 400 and "needles_opened" in nulled.json()["errors"]
    empty = _send(secret, "patch", f"/sessions/{session}", {})
    assert empty.status_code == 400
    kind = _send(secret, "post", f"/sessions/{session}/addenda", {"reason": "x", "kind": "other"})
    assert kind.status_code == 400 and "kind" in kind.json()["errors"]


GOAL = {"description": "Pain at most 2 of 10", "code": "nprs", "target": 2,
        "target_date": "2030-01-01"}  # fmt: skip


def test_the_plan_and_the_assessments_read_and_a_plan_is_written(world, ready):
    from tests import charts

    built = charts.build(world.practitioner, world.episode_a, signed=False)
    secret = _token(world, ALL)
    listed = _get(secret, f"/episodes/{world.episode_a.pk}/assessments").json()
    assert [a["id"] for a in listed] == [built.assessment.pk]
    read = _get(secret, f"/assessments/{built.assessment.pk}").json()
    assert read["findings"][0]["muscle"] == "gastrocnemius"
    assert read["pain_marks"][0]["region"] == "calf-left"
    assert _get(secret, f"/episodes/{world.episode_a.pk}/plan").status_code == 400
    made = _send(secret, "post", f"/episodes/{world.episode_a.pk}/plan", {
        "planned_sessions": 4, "frequency": "weekly", "review_on": "2030-01-01",
        "goals": [GOAL], "therapies": [{"kind": "home-exercise", "provider": "Home programme",
                                    "frequency": "daily", "note": "",
                                    "exercises": [{"name": "Calf stretch", "dose": "3 x 30 s"}]}],
        "based_on": 0,
    })  # fmt: skip
    assert made.status_code == 201, made.json()
    plan = _get(secret, f"/episodes/{world.episode_a.pk}/plan").json()
    assert plan["version"] == 1 and plan["therapies"][0]["kind"] == "home-exercise"
    stale = _send(secret, "post", f"/episodes/{world.episode_a.pk}/plan", {
        "planned_sessions": 6, "frequency": "weekly", "review_on": "2030-01-01", "based_on": 0,
        "goals": [GOAL],
    })  # fmt: skip
    # Saved meanwhile (by the first call): not silently replaced.
    assert stale.status_code == 400 and "now version 1" in stale.json()["detail"]
