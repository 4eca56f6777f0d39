"""Sign-in defences a security review expects: a lockout counted per account across
addresses and per address across accounts, and passwords that are not the user's or the
clinic's name."""

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from needlechart.accounts.models import Role
from tests import factories


def _sign_in(username: str, password: str, address: str) -> bool:
    client = Client(REMOTE_ADDR=address)
    client.post(reverse("login"), {"username": username, "password": password})
    return "_auth_user_id" in client.session


def test_a_locked_account_stays_locked_from_another_address(world, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        assert not _sign_in("paula", "wrong-guess", f"198.51.100.{n + 1}")
    # The right password, from an address that has never failed, is still refused.
    assert not _sign_in("paula", factories.PASSWORD, "203.0.113.9")
    # Another account is not locked by it.
    assert _sign_in("alice", factories.PASSWORD, "203.0.113.9")


def test_one_address_cannot_try_a_password_on_every_account(world, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        factories.user(world.clinic_a, f"target{n}", role=Role.ASSISTANT)
        assert not _sign_in(f"target{n}", "Spring2026!", "198.51.100.77")
    # That address is now refused even with an account's right password.
    assert not _sign_in("alice", factories.PASSWORD, "198.51.100.77")
    assert _sign_in("alice", factories.PASSWORD, "198.51.100.78")


@pytest.mark.parametrize(
    "password",
    ["alicesmith2026", "Alice.Smith.1987!", "northsidephysio2026", "Northside Physio 2026!",
     "alice-northside-99", "smith@northside#1"],
)  # fmt: skip
def test_a_password_made_of_the_users_or_the_clinics_name_is_refused(world, password):
    world.clinic_a.name = "Northside Physio"
    user = factories.user(world.clinic_a, "asmith", role=Role.ASSISTANT,
                          first_name="Alice", last_name="Smith")  # fmt: skip
    user.clinic = world.clinic_a
    with pytest.raises(ValidationError) as refused:
        validate_password(password, user)
    assert "your name or your clinic's name" in " ".join(refused.value.messages)


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short-pass1", "too short"), ("password1234", "too common"),
     ("123456789012345", "entirely numeric")],
)  # fmt: skip
def test_short_common_and_numeric_passwords_are_refused(world, password, reason):
    with pytest.raises(ValidationError) as refused:
        validate_password(password, world.admin)
    assert reason in " ".join(refused.value.messages)


def test_a_patients_password_may_not_be_their_clinics_name(world):
    world.clinic_a.name = "Harbour Sports Clinic"
    world.clinic_a.save()
    patient_user = world.patient_user
    patient_user.refresh_from_db()
    with pytest.raises(ValidationError):
        validate_password("HarbourSports2026", patient_user)
    validate_password("correct-horse-battery-staple", patient_user)


def test_a_good_passphrase_passes(world):
    validate_password("correct-horse-battery-staple", world.admin)
