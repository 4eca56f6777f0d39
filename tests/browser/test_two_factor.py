"""Two-factor sign-in in the browser: a clinic that requires it sends a practitioner to set
it up; the code is computed from the key the page shows, as an authenticator app would;
after signing out, signing in asks for a code again and takes it."""

import base64
import time

from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from needlechart.accounts.models import TwoFactor
from tests import factories
from tests.totp import next_code


def _code_from(secret: str) -> str:
    key = base64.b32decode(secret.replace(" ", "") + "=" * (-len(secret.replace(" ", "")) % 8))
    totp = TOTP(key)
    totp.time = time.time()
    return f"{totp.token():06d}"


def _password(page: Page) -> None:
    page.goto("/patients/")
    page.get_by_label("Username").fill("paula")
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_practitioner_sets_up_two_factor_signs_out_and_signs_in_with_a_code(
    page: Page, transactional_db
):
    clinic = factories.clinic("Harbour Physio", two_factor=TwoFactor.CLINICIANS)
    factories.practitioner(clinic, "paula", first_name="Paula", last_name="Byrne")

    _password(page)
    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    expect(page.get_by_role("img", name="QR code")).to_be_visible()
    secret = page.locator("#two-factor-secret").inner_text()
    page.get_by_label("Code from your authenticator app").fill(_code_from(secret))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Two-factor sign-in is on")).to_be_visible()
    expect(page.get_by_role("list", name="Recovery codes").get_by_role("listitem")).to_have_count(
        10
    )
    page.get_by_role("link", name="Continue").click()
    expect(page.get_by_role("heading", name="Patients")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    _password(page)
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    # A new code, as the app shows after the one used to set up: a code works once.
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(
        next_code(TOTPDevice.objects.get(user__username="paula", confirmed=True))
    )
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Patients")).to_be_visible()
