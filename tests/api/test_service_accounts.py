"""Service accounts: another system of the clinic (booking, billing) owns API tokens, is named
in the audit trail as itself, never signs in to the pages, never holds a practitioner's
powers, and is stopped at once when deactivated."""

import datetime as dt
import json
import re

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from needlechart.accounts import services as account_services
from needlechart.accounts.models import Role, User
from needlechart.api import services
from needlechart.api.models import ApiToken
from needlechart.audit.models import AuditEvent
from needlechart.patients.models import Patient
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
    assert "Booking" in page and "Deactivate" in page
    token_page = admin.post(reverse("api_tokens:list"), {
        "name": "Booking system", "user": account.pk, "scopes": ["patients:write"],
        "expires_on": SOON,
    })  # fmt: skip
    secret = re.search(r'<code id="new-token">(nc_[^<]+)</code>', token_page.content.decode())
    assert _register(secret.group(1)).status_code == 201
    assert AuditEvent.objects.filter(action="create", object_type="User", user=world.admin,
                                     detail__role="service").exists()  # fmt: skip


def test_its_writes_are_audited_as_itself_not_as_a_person(world):
    account = _account(world)
    created = _register(_secret(world, account))
    assert created.status_code == 201
    row = AuditEvent.objects.get(action="create", object_type="Patient")
    assert row.user == account and row.username == account.username
    assert row.detail["api_token"] == "Booking token"


@pytest.mark.parametrize("scopes", [["clinical:sign"], ["clinical:write", "clinical:sign"],
                                    ["clinical:read"], ["dashboard:read"]])  # fmt: skip
def test_it_never_gets_the_signing_scope_nor_a_clinical_one(world, scopes):
    account = _account(world)
    with pytest.raises(ValidationError) as refused:
        _secret(world, account, scopes)
    assert "not a practitioner" in refused.value.message_dict["scopes"][0]
    assert not ApiToken.objects.exists()


def test_the_page_refuses_the_signing_scope_for_it_by_field(world):
    account = _account(world)
    page = client_for(world.admin).post(reverse("api_tokens:list"), {
        "name": "Booking", "user": account.pk, "scopes": ["patients:read", "clinical:sign"],
        "expires_on": SOON,
    })  # fmt: skip
    assert (
        page.status_code == 400
        and "it may sign nothing (no clinical:sign)" in page.content.decode()
    )
    assert not ApiToken.objects.exists()


def test_a_token_made_with_clinical_scopes_behind_the_service_s_back_is_still_refused(world):
    account = _account(world)
    secret = _secret(world, account)
    ApiToken.objects.update(scopes=["clinical:read", "clinical:write", "clinical:sign"])
    read = _get(secret, f"/episodes/{world.episode_a.pk}")
    assert read.status_code == 403 and "service account" in read.json()["detail"]


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
