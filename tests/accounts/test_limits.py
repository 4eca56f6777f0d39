"""Rate limits on forms that send email or try a password: past the limit a clear page with
429 and Retry-After, nothing sent; other addresses and users are not held up."""

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests import factories
from tests.conftest import client_for


@pytest.fixture(autouse=True)
def one_instant():
    """django-ratelimit counts in fixed windows (a minute, an hour, each key's offset its
    own): requests that straddled the turn of one would be counted afresh, and the limit
    tested would not be reached (axes then refused the portal sign-in, without Retry-After).
    The clock stands still for each test."""
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=False):
        yield


def _reset(address: str, email: str):
    return Client(REMOTE_ADDR=address).post(reverse("password_reset"), {"email": email})


def test_password_reset_is_limited_per_address_and_per_mailbox(world):
    for n in range(5):
        assert _reset("198.51.100.1", f"nobody{n}@example.org").status_code == 302
    refused = _reset("198.51.100.1", "alice@example.org")
    assert refused.status_code == 429 and refused["Retry-After"] == "3600"
    assert "Too many tries at resetting a password" in refused.content.decode()
    assert mail.outbox == []
    # Another address is not held up, but one mailbox gets three links an hour at most.
    for n in range(3):
        assert _reset(f"203.0.113.{n + 1}", "alice@example.org").status_code == 302
    assert _reset("203.0.113.9", "alice@example.org").status_code == 429
    assert _reset("203.0.113.9", "paula@example.org").status_code == 302


def test_portal_sign_in_is_limited_per_address(world):
    client = Client(REMOTE_ADDR="198.51.100.2")
    for _ in range(10):
        client.post(reverse("portal:login"), {"username": "x@example.org", "password": "no"})
    refused = client.post(
        reverse("portal:login"), {"username": "ann@example.org", "password": factories.PASSWORD}
    )
    assert refused.status_code == 429 and refused["Retry-After"] == "60"
    assert "_auth_user_id" not in client.session
    elsewhere = Client(REMOTE_ADDR="198.51.100.3").post(
        reverse("portal:login"), {"username": "ann@example.org", "password": factories.PASSWORD}
    )
    assert elsewhere.status_code == 302


def test_portal_invitations_are_limited_per_staff_member(world, django_capture_on_commit_callbacks):
    patient = factories.patient(world.clinic_a, given_name="Cara", email="cara@example.org")
    client = client_for(world.front_desk)
    url = reverse("portal:invite_patient", args=[patient.pk])
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(20):
            assert client.post(url).status_code == 302
        refused = client.post(url)
    assert refused.status_code == 429
    assert len(mail.outbox) == 20
    # A colleague can still send one.
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(world.practitioner).post(url).status_code == 302
