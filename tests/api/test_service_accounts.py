"""Service accounts: another system of the clinic (booking, billing) owns API tokens, is named
in the audit trail as itself, never signs in to the pages, never holds a practitioner's
powers, and is stopped at once when deactivated."""

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from needlechart.accounts import services as account_services
from needlechart.accounts.models import Role, User
from needlechart.api import services
from needlechart.api.models import SCOPES, SERVICE_SCOPES, SIGN, ApiToken
from needlechart.audit.models import AuditEvent
from needlechart.charting.models import Addendum, Assessment
from needlechart.patients.models import Patient
from tests import charts
from tests.api.test_api import _get
from tests.conftest import client_for

NORA = {"given_name": "Nora", "family_name": "Quinn", "birth_date": "1975-03-02", "sex": "female"}
SOON = (timezone.localdate() + dt.timedelta(days=30)).isoformat()


def _account(world, name="Booking") -> User:
    return services.service_account_create(actor=world.admin, name=name)


def _secret(world, account, scopes=("patients:read", "patients:write")) -> str:
    _, secret = services.token_create(
        actor=world.admin, user=account, name="Booking token", scopes=list(scopes),
        expires_on=timezone.localdate() + dt.timedelta(days=30),
    )  # fmt: skip
    return secret


def _register(secret: str):
    return Client().post("/api/patients", data=json.dumps(NORA), content_type="application/json",
                         HTTP_AUTHORIZATION=f"Bearer {secret}")  # fmt: skip


def test_an_admin_makes_a_service_account_and_its_token_on_the_tokens_page(world):
    admin = client_for(world.admin)
    made = admin.post(reverse("api_tokens:service_create"), {"name": "Booking"})
    assert made.status_code == 302
    account = User.objects.get(role=Role.SERVICE)
    assert account.clinic == world.clinic_a and not account.has_usable_password()
    assert account.username == f"booking@service-{world.clinic_a.pk}"
    page = admin.get(reverse("api_tokens:list")).content.decode()
    assert "Booking" in page and "Deactivate" in page and _for(account) in page
    token_page = admin.post(_for(account), {
        "name": "Booking system", "user": account.pk, "scopes": ["patients:write"],
        "expires_on": SOON,
    })  # fmt: skip
    secret = re.search(r'<code id="new-token">(nc_[^<]+)</code>', token_page.content.decode())
    assert _register(secret.group(1)).status_code == 201
    assert AuditEvent.objects.filter(action="create", object_type="User", user=world.admin,
                                     detail__role="service").exists()  # fmt: skip


def _for(account: User) -> str:
    """The tokens page making a token for the service account."""
    return f"{reverse('api_tokens:list')}?acts_as={account.pk}"


def _offered(page: str, name: str) -> list[str]:
    return re.findall(rf'name="{name}" value="([^"]+)"', page)


def test_the_page_offers_a_service_account_every_scope_but_signing(world):
    account = _account(world)
    admin = client_for(world.admin)
    for_it = admin.get(_for(account)).content.decode()
    assert _offered(for_it, "scopes") == SERVICE_SCOPES
    assert "clinical:read" in SERVICE_SCOPES and SIGN not in SERVICE_SCOPES
    assert f"Make a token for {account}" in for_it
    # The staff form offers signing, and acts as people only.
    for_people = admin.get(reverse("api_tokens:list")).content.decode()
    assert SIGN in _offered(for_people, "scopes")
    assert f'value="{account.pk}"' not in for_people.split('id="id_user"')[1].split("</select>")[0]
    assert f'value="{world.practitioner.pk}"' in for_people


def test_the_page_for_another_clinic_s_or_a_deactivated_account_is_404(world):
    other = User.objects.create(clinic=world.clinic_b, role=Role.SERVICE, username="b@service")
    admin = client_for(world.admin)
    assert admin.get(_for(other)).status_code == 404
    mine = _account(world)
    services.service_account_deactivate(actor=world.admin, account=mine)
    assert admin.get(_for(mine)).status_code == 404
    assert admin.get(reverse("api_tokens:list") + "?acts_as=x").status_code == 404


def test_its_writes_are_audited_as_itself_not_as_a_person(world):
    account = _account(world)
    created = _register(_secret(world, account))
    assert created.status_code == 201
    row = AuditEvent.objects.get(action="create", object_type="Patient")
    assert row.user == account and row.username == account.username
    assert row.detail["api_token"] == "Booking token"


@pytest.mark.parametrize("scopes", [["clinical:sign"], ["clinical:write", "clinical:sign"],
                                    SCOPES])  # fmt: skip
def test_it_never_gets_the_signing_scope(world, scopes):
    account = _account(world)
    with pytest.raises(ValidationError) as refused:
        _secret(world, account, scopes)
    assert "it signs nothing (no clinical:sign)" in refused.value.message_dict["scopes"][0]
    assert not ApiToken.objects.exists()


def _scope_table() -> dict[str, str]:
    """docs/api.md's scopes, each with what its last column says of a service account."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    rows = re.findall(r"^\| `([a-z]+:[a-z]+)` \|.*\| ([^|]+) \|$", text, re.MULTILINE)
    return dict(rows)


def test_the_scope_table_of_the_docs_says_which_a_service_account_may_hold():
    table = _scope_table()
    assert set(table) == set(SCOPES)
    assert {scope for scope, said in table.items() if said.startswith("yes")} == set(SERVICE_SCOPES)


def test_it_may_hold_the_read_and_write_scopes_of_every_area(world):
    account = _account(world)
    _secret(world, account, SERVICE_SCOPES)
    assert ApiToken.objects.get().scopes == sorted(SERVICE_SCOPES)


def test_a_forged_post_of_the_signing_scope_is_refused_by_field(world):
    account = _account(world)
    admin = client_for(world.admin)
    forged = {"name": "Booking", "user": account.pk, "scopes": ["clinical:read", SIGN],
              "expires_on": SOON}  # fmt: skip
    page = admin.post(_for(account), forged)
    assert page.status_code == 400
    field = page.context["form"].errors
    assert list(field) == ["scopes"] and "it signs nothing (no clinical:sign)" in field["scopes"][0]
    assert "it signs nothing (no clinical:sign)" in page.content.decode()
    # Sent through the staff form, the service account is not one it offers.
    page = admin.post(reverse("api_tokens:list"), forged)
    assert page.status_code == 400 and list(page.context["form"].errors) == ["user"]
    assert not ApiToken.objects.exists()


def test_it_cannot_sign_in_to_the_pages_even_with_a_password_or_a_session(world):
    account = _account(world)
    account.set_password("a long passphrase 1234")
    account.save()
    person = User.objects.get(pk=world.front_desk.pk)
    person.set_password("a long passphrase 1234")
    person.save()
    for user, status in ((person, 302), (account, 200)):
        answer = Client().post(reverse("login"), {"username": user.username,
                                                  "password": "a long passphrase 1234"})  # fmt: skip
        assert answer.status_code == status, user
    signed_in = client_for(account)
    page = signed_in.get(reverse("patients:list"))
    assert page.status_code == 302 and reverse("login") in page["Location"]


def test_it_is_not_staff_on_the_staff_pages(world):
    account = _account(world)
    admin = client_for(world.admin)
    assert account.username not in admin.get(reverse("accounts:staff")).content.decode()
    assert admin.get(reverse("accounts:staff_edit", args=[account.pk])).status_code == 404
    assert admin.post(reverse("accounts:staff_send_link", args=[account.pk])).status_code == 404
    with pytest.raises(ValidationError):
        account_services.staff_create(actor=world.admin, username="sneaky", email="s@example.org",
                                      first_name="S", last_name="N", role=Role.SERVICE)  # fmt: skip


def test_deactivating_it_stops_its_tokens_at_once(world):
    account = _account(world)
    secret = _secret(world, account)
    assert _get(secret, "/patients").status_code == 200
    done = client_for(world.admin).post(reverse("api_tokens:service_deactivate", args=[account.pk]))
    assert done.status_code == 302
    refused = _get(secret, "/patients")
    assert refused.status_code == 401
    assert ApiToken.objects.get().revoked_at is not None
    assert _register(secret).status_code == 401 and not Patient.objects.filter(
        family_name="Quinn").exists()  # fmt: skip
    assert AuditEvent.objects.filter(action="update", object_type="User",
                                     detail__deactivated=True).exists()  # fmt: skip


def test_another_clinic_s_service_account_is_404_and_a_person_is_not_deactivated_here(world):
    admin = client_for(world.admin)
    url = reverse("api_tokens:service_deactivate", args=[world.practitioner.pk])
    assert admin.post(url).status_code == 404
    world.practitioner.refresh_from_db()
    assert world.practitioner.is_active


# --- the clinical record -----------------------------------------------------------------------


@pytest.fixture
def charted(world):
    """Clinic A's episode charted by its practitioner: an assessment, a signed and a draft
    session, a measurement, an adverse event."""
    world.chart = charts.build(world.practitioner, world.episode_a, signed=True)
    return world


def _clinical_reads(world) -> list[str]:
    chart, episode = world.chart, world.episode_a.pk
    return [
        f"/patients/{world.patient_a.pk}/episodes", f"/episodes/{episode}",
        f"/patients/{world.patient_a.pk}/consent", f"/episodes/{episode}/screening",
        f"/episodes/{episode}/assessments", f"/assessments/{chart.assessment.pk}",
        f"/episodes/{episode}/sessions", f"/sessions/{chart.signed_session.pk}",
        f"/episodes/{episode}/measurements",
    ]  # fmt: skip


def test_with_clinical_read_it_reads_the_record_audited_as_itself(charted):
    world = charted
    account = _account(world)
    secret = _secret(world, account, ["clinical:read", "dashboard:read"])
    before = AuditEvent.objects.count()
    for path in [*_clinical_reads(world), "/dashboard"]:
        answer = _get(secret, path)
        assert answer.status_code == 200, (path, answer.content)
    rows = AuditEvent.objects.order_by("id")[before:]
    assert {(row.user_id, row.username, row.detail["api_token"]) for row in rows} == {
        (account.pk, account.username, "Booking token")
    }
    read = {row.object_type for row in rows}
    assert {"EpisodeOfCare", "ClinicalImpression", "Encounter", "Dashboard"} <= read


def test_without_the_scope_it_reads_no_clinical_record(charted):
    world = charted
    secret = _secret(world, _account(world), ["patients:read", "patients:write"])
    for path in [*_clinical_reads(world), "/dashboard"]:
        answer = _get(secret, path)
        assert answer.status_code == 403 and "lacks the" in answer.json()["detail"], path


def _send(secret: str, method: str, path: str, body: dict | None = None):
    return getattr(Client(), method)(f"/api{path}", data=json.dumps(body or {}),
                                     content_type="application/json",
                                     HTTP_AUTHORIZATION=f"Bearer {secret}")  # fmt: skip


def test_with_clinical_write_it_records_what_it_is_sent_as_itself(charted):
    world = charted
    account = _account(world)
    secret = _secret(world, account, ["clinical:read", "clinical:write"])
    screened = _send(secret, "post", f"/episodes/{world.episode_a.pk}/screening", {"factors": []})
    assert screened.status_code == 201, screened.json()
    measured = _send(secret, "post", f"/sessions/{world.chart.session.pk}/measurements",
                     {"code": "nprs", "value": 3, "timing": "after"})  # fmt: skip
    assert measured.status_code == 201, measured.json()
    made = AuditEvent.objects.filter(action="create", object_type__in=["RiskAssessment", "Observation"],
                                     user=account)  # fmt: skip
    assert made.count() == 2 and {row.detail["api_token"] for row in made} == {"Booking token"}


def test_it_never_signs_needles_nor_writes_an_addendum_even_with_a_forged_scope(charted):
    world = charted
    chart = world.chart
    account = _account(world)
    secret = _secret(world, account, SERVICE_SCOPES)
    # The signing scope written into its token behind the page's back changes nothing.
    ApiToken.objects.update(scopes=SCOPES)
    addendum = {"reason": "Late entry", "text": "Calf settled by evening."}
    refused = {
        "sign a session": ("post", f"/sessions/{chart.session.pk}/sign", {}),
        "sign an assessment": ("post", f"/assessments/{chart.assessment.pk}/sign", {}),
        "a session addendum": ("post", f"/sessions/{chart.signed_session.pk}/addenda", addendum),
        "entered in error": ("post", f"/sessions/{chart.session.pk}/addenda",
                             {"reason": "Wrong patient", "kind": "entered-in-error"}),
        "an assessment addendum": ("post", f"/assessments/{chart.assessment.pk}/addenda",
                                   addendum),
        "a discharge": ("post", f"/episodes/{world.episode_a.pk}/discharge",
                        {"reason": "goals-met", "summary": "Settled."}),
        "open an assessment": ("post", f"/episodes/{world.episode_a.pk}/assessments",
                               {"kind": "reassessment"}),
        "start needling": ("post", f"/episodes/{world.episode_a.pk}/sessions",
                           {"screening_status": "unchanged", "consent_confirmed": True}),
        "change a needling row": ("patch", f"/rows/{chart.insertion.pk}", {"needles": 2}),
    }  # fmt: skip
    for what, (method, path, body) in refused.items():
        answer = _send(secret, method, path, body)
        assert answer.status_code == 403, (what, answer.content)
        assert "examining, needling, signing, addenda and a discharge" in answer.json()["detail"]
    chart.session.refresh_from_db()
    chart.assessment.refresh_from_db()
    assert chart.session.signed_at is None and chart.assessment.signed_at is None
    assert not Addendum.objects.filter(author=account).exists()
    assert not Assessment.objects.filter(created_by=account).exists()
    assert not AuditEvent.objects.filter(user=account, action__in=["create", "sign"]).exists()


def test_the_services_refuse_it_every_signature_whoever_calls(charted):
    """The guard behind the API: a command or a later page calling the services as a service
    account is refused as well."""
    from needlechart.charting import services as charting
    from needlechart.outcomes import services as outcomes

    world = charted
    chart, account = world.chart, _account(world)
    clinic = world.clinic_a
    calls = {
        "assess patients": lambda: charting.assessment_start(
            actor=account, episode=world.episode_a),
        "add addenda": lambda: charting.addendum_add(
            actor=account, record=chart.signed_session, reason="Late", text="More."),
        "sign an assessment": lambda: charting.assessment_sign(
            actor=account, assessment=chart.assessment),
        "chart needling": lambda: charting.session_sign(actor=account, session=chart.session),
        "discharge patients": lambda: outcomes.discharge(
            actor=account, episode=world.episode_a, reason="goals-met", summary="Settled."),
        "witness a consent": lambda: charting.consent_sign(
            actor=account, patient=world.patient_a, signed_name="Ann Smith", confirmed=True,
            template=charting.current_template(clinic=clinic, kind="consent")),
    }  # fmt: skip
    for what, call in calls.items():
        with pytest.raises(ValidationError) as refused:
            call()
        assert refused.value.messages == [f"Your role may not {what}."]
