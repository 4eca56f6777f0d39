"""axe-core finds no violation on the pages of a working day, the body chart and the
patient's progress chart; and the body chart still works by keyboard and by click."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from needlechart.charting.models import Assessment, NeedlingSession
from needlechart.outcomes.models import CarePlan, Observation
from needlechart.portal.models import CheckIn
from tests import factories
from tests.browser.conftest import axe_violations
from tests.browser.test_patient_flow import sign_in
from tests.browser.test_portal_progress import rated, sign_in_to_the_portal


@pytest.fixture
def busy(transactional_db, world):
    """Paula's day: a signed session this morning with a red flag reported since, a draft
    assessment, a plan review due; and the audit trail those pages leave."""
    now = timezone.now()
    session = NeedlingSession.objects.create(
        episode=world.episode_a, practitioner=world.practitioner_a, created_by=world.practitioner,
        performed_at=now - dt.timedelta(hours=2), signed_at=now - dt.timedelta(hours=2),
        signed_by=world.practitioner,
    )  # fmt: skip
    Assessment.objects.create(
        episode=world.episode_a, practitioner=world.practitioner_a, created_by=world.practitioner,
        performed_at=now - dt.timedelta(days=2),
    )  # fmt: skip
    CarePlan.objects.create(episode=world.episode_a, version=1, created_by=world.practitioner,
                            review_on=timezone.localdate() - dt.timedelta(days=1))  # fmt: skip
    CheckIn.objects.create(session=session, hours=24, soreness=4,
                           red_flags=["breathlessness-chest-pain"], answered_at=now)  # fmt: skip
    Observation.objects.create(episode=world.episode_a, code="nprs", value=6, timing="baseline",
                               recorded_by=world.practitioner)  # fmt: skip
    factories.patient(world.clinic_a, given_name="Zoe", family_name="Byrne")
    return world


def assert_accessible(page: Page) -> None:
    violations = axe_violations(page)
    assert violations == [], "\n".join(violations)


def test_a_practitioners_pages_have_no_accessibility_violations(page: Page, busy):
    sign_in(page, "paula")
    assert_accessible(page)  # the patient list, with its care columns and filters

    page.get_by_label("My patients").check()
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("row", name="Smith, Ann")).to_contain_text("In care")
    assert_accessible(page)

    page.goto("/")
    expect(page.get_by_role("heading", name="Red flags reported by patients")).to_be_visible()
    expect(page.get_by_role("heading", name="Plan reviews due")).to_be_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Clinic dashboard")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="still active").click()
    expect(page.get_by_role("heading", name="Active episodes")).to_be_visible()
    assert_accessible(page)


def test_the_audit_trail_has_no_accessibility_violations(page: Page, busy):
    sign_in(page, "alice")
    page.get_by_role("link", name="Audit trail").click()
    expect(page.get_by_role("cell", name="Patient details of Ann Smith").first).to_be_visible()
    assert_accessible(page)


def test_the_body_chart_has_no_violations_and_works_by_keyboard_and_click(page: Page, world):
    sign_in(page, "paula")
    page.get_by_role("link", name="Body chart").click()
    assert_accessible(page)

    # Regions are buttons named by the region, reached and pressed from the keyboard.
    temple = page.get_by_role("button", name="Temple (right)")
    temple.focus()
    page.keyboard.press("Enter")
    expect(temple).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#selected-regions")).to_have_text("Marked: 1 region")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    expect(page.locator("#selected-regions")).to_have_text("Marked: 2 regions")
    page.get_by_role("button", name="Temple (right)").click()
    expect(temple).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#candidates")).not_to_be_empty()
    assert_accessible(page)


def test_the_patients_progress_chart_has_no_accessibility_violations(
    browser, live_server, transactional_db, world
):
    rated(world)
    patient = sign_in_to_the_portal(browser, live_server, world.patient_user.email)
    patient.goto("/portal/progress/")
    expect(patient.get_by_role("img", name="Your pain over time")).to_be_visible()
    assert_accessible(patient)
    patient.goto("/portal/")
    assert_accessible(patient)
