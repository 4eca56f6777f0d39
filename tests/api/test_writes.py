"""The clinical writes after the visit, through the API: an assessment charted and signed,
an adverse event followed up and marked entered in error, an episode discharged; the pages'
rules and words, errors by field, the audit trail naming the token."""

import pytest

from needlechart.audit.models import AuditEvent
from needlechart.charting.models import (
    AdverseEventFollowUp,
    Assessment,
    NeedlingSession,
    PainMark,
    TriggerPointFinding,
)
from needlechart.outcomes.models import Discharge
from needlechart.patients.models import EpisodeOfCare
from tests import charts
from tests.api.test_api import _get, _token
from tests.api.test_clinical import _send, ready  # noqa: F401 (a fixture)

WRITE = ["clinical:read", "clinical:write"]


def test_an_assessment_is_charted_signed_and_then_takes_addenda_only(world, ready):  # noqa: F811
    secret = _token(world, [*WRITE, "clinical:sign"])
    started = _send(secret, "post", f"/episodes/{world.episode_a.pk}/assessments", {})
    assert started.status_code == 201 and started.json()["kind"] == "initial"
    url = f"/assessments/{started.json()['id']}"
    # Nothing marked yet: the page's rule refuses the signature.
    empty = _send(secret, "post", f"{url}/sign")
    assert empty.status_code == 400 and "painful region" in empty.json()["detail"]
    marked = _send(secret, "post", f"{url}/pain-marks",
                   {"region": "calf-left", "intensity": 6, "quality": "aching"})  # fmt: skip
    assert marked.status_code == 200 and marked.json()["intensity"] == 6
    remarked = _send(secret, "post", f"{url}/pain-marks", {"region": "calf-left", "intensity": 4})
    assert remarked.json()["intensity"] == 4 and PainMark.objects.count() == 1
    finding = _send(secret, "post", f"{url}/findings",
                    {"muscle": "gastrocnemius", "side": "left", "taut_band": True,
                     "recognised": True})  # fmt: skip
    assert finding.status_code == 201, finding.json()
    extra = _send(secret, "post", f"{url}/findings", {"muscle": "soleus", "side": "left"})
    assert _send(secret, "delete", f"/findings/{extra.json()['id']}").status_code == 204
    noted = _send(secret, "patch", url, {"note": "Tender calf."})
    assert noted.status_code == 200 and noted.json()["note"] == "Tender calf."
    signed = _send(secret, "post", f"{url}/sign")
    assert signed.status_code == 200 and signed.json()["signed_at"]
    assert [f["muscle"] for f in signed.json()["findings"]] == ["gastrocnemius"]

    late = _send(secret, "patch", url, {"note": "Changed later"})
    assert late.status_code == 400 and Assessment.objects.get().note == "Tender calf."
    assert _send(secret, "post", f"{url}/pain-marks",
                 {"region": "calf-right", "intensity": 2}).status_code == 400  # fmt: skip
    added = _send(secret, "post", f"{url}/addenda", {"reason": "Late entry", "text": "Also ..."})
    assert added.status_code == 201
    audited = AuditEvent.objects.filter(detail__api_token="Billing", patient=world.patient_a)
    assert {"create", "update", "delete", "sign"} <= set(audited.values_list("action", flat=True))


def test_assessment_writes_refuse_by_field_and_signing_takes_its_scope(world, ready):  # noqa: F811
    secret = _token(world, WRITE)
    kind = _send(secret, "post", f"/episodes/{world.episode_a.pk}/assessments", {"kind": "x"})
    assert kind.status_code == 400 and "kind" in kind.json()["errors"]
    assert not Assessment.objects.exists()
    url = f"/assessments/{_send(secret, 'post', f'/episodes/{world.episode_a.pk}/assessments').json()['id']}"
    region = _send(secret, "post", f"{url}/pain-marks", {"region": "elbow-moon", "intensity": 2})
    assert region.status_code == 400 and "region" in region.json()["errors"]
    loud = _send(secret, "post", f"{url}/pain-marks", {"region": "calf-left", "intensity": 11})
    assert loud.status_code == 400 and "intensity" in loud.json()["errors"]
    side = _send(secret, "post", f"{url}/findings", {"muscle": "gastrocnemius"})
    assert side.status_code == 400 and "side" in side.json()["errors"]
    nul = _send(secret, "patch", url, {"note": "bad \x00 byte"})
    assert nul.status_code == 400 and "note" in nul.json()["errors"]
    _send(secret, "post", f"{url}/pain-marks", {"region": "calf-left", "intensity": 3})
    unsigned = _send(secret, "post", f"{url}/sign")
    assert unsigned.status_code == 403 and "clinical:sign" in unsigned.json()["detail"]
    assert Assessment.objects.get().signed_at is None
    assert not TriggerPointFinding.objects.exists()


def test_an_adverse_event_is_followed_up_without_rewriting_it_and_marked_in_error(world):
    built = charts.build(world.practitioner, world.episode_a, signed=False)
    secret = _token(world, WRITE)
    url = f"/adverse-events/{built.event.pk}"
    followed = _send(secret, "post", f"{url}/follow-ups",
                     {"outcome": "recovering", "duration_value": 2, "duration_unit": "days"})  # fmt: skip
    assert followed.status_code == 201, followed.json()
    assert followed.json()["outcome"] == "recovering"
    same = _send(secret, "post", f"{url}/follow-ups", {"outcome": "recovering"})
    assert same.status_code == 200 and AdverseEventFollowUp.objects.count() == 1
    built.event.refresh_from_db()
    assert built.event.outcome == "resolved"  # as first recorded, kept
    nulled = _send(secret, "post", f"{url}/follow-ups", {"severity": None})
    assert nulled.status_code == 400 and "severity" in nulled.json()["errors"]
    bad = _send(secret, "post", f"{url}/follow-ups", {"severity": "apocalyptic"})
    assert bad.status_code == 400 and "severity" in bad.json()["errors"]
    no_reason = _send(secret, "post", f"{url}/entered-in-error", {"reason": " "})
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["errors"]
    wrong = _send(secret, "post", f"{url}/entered-in-error", {"reason": "Wrong patient"})
    assert wrong.status_code == 200
    assert wrong.json()["entered_in_error_reason"] == "Wrong patient"
    again = _send(secret, "post", f"{url}/follow-ups", {"outcome": "resolved"})
    assert again.status_code == 400 and "entered in error" in again.json()["detail"]


def test_an_episode_is_discharged_once_when_no_draft_is_left(world):
    built = charts.build(world.practitioner, world.episode_a, signed=True)
    secret = _token(world, WRITE)
    url = f"/episodes/{world.episode_a.pk}/discharge"
    assert _get(secret, url).status_code == 400
    blank = _send(secret, "post", url, {"reason": "goals-met", "summary": ""})
    assert blank.status_code == 400 and "summary" in blank.json()["errors"]
    reason = _send(secret, "post", url, {"reason": "bored", "summary": "Done."})
    assert reason.status_code == 400 and "reason" in reason.json()["errors"]
    drafts = _send(secret, "post", url, {"reason": "goals-met", "summary": "Pain 1 of 10."})
    assert drafts.status_code == 400 and "draft sessions" in drafts.json()["detail"]
    _send(secret, "post", f"/sessions/{built.session.pk}/addenda",
          {"reason": "Not seen", "kind": "entered-in-error"})  # fmt: skip
    done = _send(secret, "post", url, {"reason": "goals-met", "summary": "Pain 1 of 10."})
    assert done.status_code == 201, done.json()
    assert done.json()["reason"] == "goals-met" and done.json()["snapshot"]
    world.episode_a.refresh_from_db()
    assert world.episode_a.status == EpisodeOfCare.Status.FINISHED
    twice = _send(secret, "post", url, {"reason": "goals-met", "summary": "Again."})
    assert twice.status_code == 400 and Discharge.objects.count() == 1
    # Discharged: no new session, addenda only.
    assert _send(secret, "post", f"/episodes/{world.episode_a.pk}/sessions",
                 {"screening_status": "unchanged"}).status_code == 400  # fmt: skip
    assert NeedlingSession.objects.filter(episode=world.episode_a).count() == 2
    in_error = _send(secret, "post", f"{url}/addenda", {"reason": "x", "kind": "entered-in-error"})
    assert in_error.status_code == 400
    added = _send(secret, "post", f"{url}/addenda", {"reason": "Letter", "text": "GP informed."})
    assert added.status_code == 201
    assert [a["reason"] for a in _get(secret, url).json()["addenda"]] == ["Letter"]


@pytest.mark.parametrize(
    "method,path",
    [("post", "/episodes/{e}/assessments"), ("post", "/episodes/{e}/discharge"),
     ("post", "/adverse-events/{ev}/follow-ups"), ("post", "/adverse-events/{ev}/entered-in-error"),
     ("delete", "/findings/{f}"), ("post", "/assessments/{a}/pain-marks")],
)  # fmt: skip
def test_writes_take_the_write_scope_and_another_clinic_s_records_are_404(world, method, path):
    built = charts.build(world.other_practitioner, world.episode_b, signed=False)
    ids = {"e": world.episode_b.pk, "ev": built.event.pk, "f": built.finding.pk,
           "a": built.assessment.pk}  # fmt: skip
    body = {"reason": "x", "summary": "y", "region": "calf-left", "intensity": 1}
    reader = _token(world, ["clinical:read"])
    refused = _send(reader, method, path.format(**ids), body)
    assert refused.status_code == 403 and "clinical:write" in refused.json()["detail"]
    writer = _token(world, WRITE)
    assert _send(writer, method, path.format(**ids), body).status_code == 404


def test_a_multipart_post_without_its_boundary_gets_a_json_answer_not_a_server_error(world):
    from django.test import Client

    built = charts.build(world.practitioner, world.episode_a, signed=False)
    secret = _token(world, [*WRITE, "clinical:sign"])
    response = Client(raise_request_exception=True).post(
        f"/api/assessments/{built.assessment.pk}/sign", content_type="multipart/form-data",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )  # fmt: skip
    assert response.status_code == 200 and response.json()["signed_at"]
