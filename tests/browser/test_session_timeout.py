"""An idle session, in the browser: the page warns before the end, the server signs the
user out, and after signing in again the page comes back with the input left unsaved."""

import datetime as dt

import time_machine
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests import factories


def test_an_idle_session_warns_signs_out_and_keeps_the_unsaved_input(page: Page, transactional_db):
    clinic = factories.clinic("Harbour Physio")
    factories.user(clinic, "frank", role="front_desk")
    patient = factories.patient(clinic, given_name="Maeve", family_name="Doyle")
    with time_machine.travel(timezone.now(), tick=True) as server_clock:
        page.clock.install()
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill("frank")
        page.get_by_label("Password").fill(factories.PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"/patients/{patient.pk}/edit/")
        page.get_by_label("Phone").fill("+353 1 555 0199")

        # Two minutes before the clinic's 15 minutes run out, the page warns.
        page.clock.fast_forward("13:30")
        warning = page.get_by_role("alertdialog")
        expect(warning).to_contain_text("You will be signed out in about 2 minutes")
        # "Stay signed in" keeps the session going.
        warning.get_by_role("button", name="Stay signed in").click()
        expect(warning).to_be_hidden()

        # Then nothing for 16 minutes: the server signs the session out.
        server_clock.shift(dt.timedelta(minutes=16))
        page.clock.fast_forward("16:00")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        expect(page.get_by_text("after 15 minutes without activity")).to_be_visible()
        page.get_by_label("Username").fill("frank")
        page.get_by_label("Password").fill(factories.PASSWORD)
        page.get_by_role("button", name="Sign in").click()

    # Back on the page, with the number typed before the sign-out, not yet saved.
    expect(page.get_by_label("Phone")).to_have_value("+353 1 555 0199")
    expect(page.get_by_text("is back in the form")).to_be_visible()
    patient.refresh_from_db()
    assert patient.phone != "+353 1 555 0199"
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("+353 1 555 0199")).to_be_visible()
    patient.refresh_from_db()
    assert patient.phone == "+353 1 555 0199"
