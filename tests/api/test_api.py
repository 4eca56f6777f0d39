"""The REST API: tokens a clinic admin controls, the same rules as the pages (clinic scoping,
roles, audit), JSON errors, and a rate limit."""

import datetime as dt
import hashlib
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from needlechart.api import services
from needlechart.api.models import ApiToken
from needlechart.audit.models import AuditEvent
from tests.conftest import client_for


def _token(world, scopes, user=None, days=30) -> str:
    _, secret = services.token_create(
        actor=world.admin, user=user or world.practitioner, name="Billing", scopes=scopes,
        expires_on=timezone.localdate() + dt.timedelta(days=days),
    )  # fmt: skip
    return secret


def _get(secret: str, path: str, **params):
    return Client().get(f"/api{path}", params, HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_an_admin_makes_a_token_shown_once_and_stored_hashed(world):
    admin = client_for(world.admin)
    page = admin.post(reverse("api_tokens:list"), {
        "name": "Billing", "user": world.practitioner.pk, "scopes": ["patients:read"],
        "expires_on": (timezone.localdate() + dt.timedelta(days=30)).isoformat(),
    })  # fmt: skip
    assert page.status_code == 200
    secret = re.search(r'<code id="new-token">(nc_[^<]+)</code>', page.content.decode()).group(1)
    token = ApiToken.objects.get()
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiToken.objects.values().get())
    assert secret not in admin.get(reverse("api_tokens:list")).content.decode()
    assert AuditEvent.objects.filter(action="create", object_type="ApiToken").exists()
    assert _get(secret, "/patients").status_code == 200


def test_reads_go_through_the_clinic_scope_and_are_audited_with_the_tokens_name(world):
    secret = _token(world, ["patients:read", "clinical:read"])
    listed = _get(secret, "/patients")
    assert listed.status_code == 200
    ids = {p["id"] for p in listed.json()["results"]}
    assert world.patient_a.pk in ids and world.patient_b.pk not in ids
    assert _get(secret, f"/patients/{world.patient_a.pk}").json()["mrn"] == world.patient_a.mrn
    missing = _get(secret, f"/patients/{world.patient_b.pk}")
    assert missing.status_code == 404 and missing.json()["detail"] == "Not found."
    assert _get(secret, f"/episodes/{world.episode_b.pk}").status_code == 404
    assert _get(secret, f"/episodes/{world.episode_a.pk}").status_code == 200
    viewed = AuditEvent.objects.filter(action="view", patient=world.patient_a,
                                       detail__api_token="Billing")  # fmt: skip
    assert viewed.exists() and viewed.first().user == world.practitioner


def test_a_token_without_the_scope_gets_403_and_a_role_without_it_too(world):
    secret = _token(world, ["patients:read"])
    refused = _get(secret, f"/episodes/{world.episode_a.pk}")
    assert refused.status_code == 403 and "clinical:read" in refused.json()["detail"]
    front_desk = _token(world, ["clinical:read"], user=world.front_desk)
    assert _get(front_desk, f"/episodes/{world.episode_a.pk}").status_code == 403


def test_a_revoked_expired_or_wrong_token_gets_401(world):
    secret = _token(world, ["patients:read"])
    assert _get("nc_not-a-token", "/patients").status_code == 401
    assert Client().get("/api/patients").status_code == 401
    services.token_revoke(actor=world.admin, token=ApiToken.objects.get())
    revoked = _get(secret, "/patients")
    assert revoked.status_code == 401 and "token" in revoked.json()["detail"]
    expired = _token(world, ["patients:read"])
    ApiToken.objects.filter(revoked_at=None).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert _get(expired, "/patients").status_code == 401


def test_writes_go_through_the_services_with_a_json_error_per_field(world):
    secret = _token(world, ["patients:read", "patients:write"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    made = client.post("/api/patients", {"given_name": "Nora", "family_name": "Quinn",
                                          "birth_date": "1975-03-02", "sex": "female"},
                       content_type="application/json")  # fmt: skip
    assert made.status_code == 201 and made.json()["mrn"]
    created = AuditEvent.objects.get(action="create", object_type="Patient",
                                     object_id=str(made.json()["id"]))  # fmt: skip
    assert created.detail["api_token"] == "Billing"
    malformed = client.post("/api/patients", {"given_name": "Nora", "birth_date": "soon"},
                            content_type="application/json")  # fmt: skip
    assert malformed.status_code == 422
    assert {"family_name", "birth_date"} <= set(malformed.json()["errors"])
    refused = client.post("/api/patients", {"given_name": "Nora", "family_name": "Quinn",
                                             "birth_date": "1975-03-02", "sex": "unknown-sex"},
                          content_type="application/json")  # fmt: skip
    assert refused.status_code == 400 and "sex" in refused.json()["errors"]
    read_only = _token(world, ["patients:read"])
    assert Client(HTTP_AUTHORIZATION=f"Bearer {read_only}").post(
        "/api/patients", {}, content_type="application/json"
    ).status_code in (403, 422)


def test_the_rate_limit_answers_429_with_retry_after(world, settings):
    from needlechart.api.api import api

    secret = _token(world, ["patients:read"])
    throttle = api.throttle[0]
    throttle.rate = "3/m"
    throttle.num_requests, throttle.duration = throttle.parse_rate("3/m")
    try:
        answers = [_get(secret, "/patients") for _ in range(4)]
    finally:
        throttle.rate = settings.API_RATE
        throttle.num_requests, throttle.duration = throttle.parse_rate(settings.API_RATE)
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1]["Retry-After"]) > 0


def test_the_openapi_schema_and_docs_are_served(world):
    schema = Client().get("/api/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/patients", "/api/patients/{patient_id}", "/api/episodes/{episode_id}"} <= set(
        paths
    )
    assert "422" in paths["/api/patients"]["post"]["responses"]
    docs = Client().get("/api/docs")
    assert docs.status_code == 200


@pytest.mark.parametrize("role", ["practitioner", "front_desk"])
def test_only_a_clinic_admin_manages_tokens(world, role):
    user = world.practitioner if role == "practitioner" else world.front_desk
    assert client_for(user).get(reverse("api_tokens:list")).status_code == 403


def test_a_needling_session_reads_with_its_rows_and_measurements(world):
    from tests import charts

    built = charts.build(world.practitioner, world.episode_a, signed=True)
    other = charts.build(world.other_practitioner, world.episode_b, signed=True)
    secret = _token(world, ["clinical:read"])
    listed = _get(secret, f"/episodes/{world.episode_a.pk}/sessions")
    assert listed.status_code == 200
    assert built.signed_session.pk in {s["id"] for s in listed.json()}
    read = _get(secret, f"/sessions/{built.signed_session.pk}")
    assert read.status_code == 200
    body = read.json()
    assert body["signed_at"] and body["rows"]
    expected = {(r.muscle, r.side) for r in built.signed_session.insertions.all()}
    assert {(r["muscle"], r["side"]) for r in body["rows"]} == expected
    assert _get(secret, f"/sessions/{other.signed_session.pk}").status_code == 404
    assert _get(secret, f"/episodes/{world.episode_b.pk}/sessions").status_code == 404
    assert AuditEvent.objects.filter(
        action="view", object_id=str(built.signed_session.pk), detail__api_token="Billing"
    ).exists()


def test_the_dashboard_pages_its_review_list_and_audits_only_the_episodes_listed(
    world, monkeypatch
):
    from needlechart.api import api
    from needlechart.outcomes import dashboard
    from tests import factories

    monkeypatch.setattr(api, "PAGE", 2)
    factories.overdue_reviews(world.clinic_a, world.practitioner_a, 5, by=world.practitioner)
    factories.overdue_reviews(world.clinic_b, world.practitioner_b, 1, by=world.other_practitioner)
    every = dashboard.figures(dashboard.Filters(clinic=world.clinic_a))["review_due"]
    secret = _token(world, ["dashboard:read"])
    listed = AuditEvent.objects.filter(action="list", object_type="EpisodeOfCare")
    pages = []
    for number in (1, 2, 3):
        answer = _get(secret, "/dashboard", review_page=number).json()
        assert answer["review_due_count"] == 5 and answer["review_page"] == number
        assert answer["sessions"] == 0  # the other figures are there as before
        pages.append(answer["review_due"])
        # Each view records the episodes it lists, and those alone.
        assert sorted(listed.filter(detail__api_token="Billing").values_list(
            "object_id", flat=True
        ).order_by("-id")[: len(answer["review_due"])]) == sorted(
            str(r["episode"]) for r in answer["review_due"]
        )  # fmt: skip
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [r for p in pages for r in p] == every
    assert listed.count() == 5
    assert set(listed.values_list("patient__clinic", flat=True)) == {world.clinic_a.pk}
    past = _get(secret, "/dashboard", review_page=4).json()
    assert past["review_due"] == [] and past["review_due_count"] == 5
    refused = _get(secret, "/dashboard", review_page=0)
    assert refused.status_code == 400 and "review_page" in refused.json()["errors"]
