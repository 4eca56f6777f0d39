from playwright.sync_api import Page, expect

from needlechart.accounts.models import Role
from tests import factories
from tests.browser.conftest import axe_violations
from tests.browser.test_patient_flow import sign_in


def test_clicking_regions_updates_the_muscles_and_a_muscle_page_shows_its_zones(
    page: Page, transactional_db
):
    clinic = factories.clinic("Harbour Physio")
    factories.practitioner(clinic, "paula", role=Role.PRACTITIONER)
    sign_in(page, "paula")

    page.get_by_role("link", name="Body chart").click()
    expect(page.get_by_text("Mark painful regions on the chart")).to_be_visible()
    # The chart answers clicks once its deferred script has run, before DOMContentLoaded.
    page.wait_for_load_state("domcontentloaded")

    page.locator("#temple-right").click()
    ranking = page.locator("#candidates")
    expect(ranking).to_contain_text("Upper trapezius (right)")
    expect(page.locator("#temple-right")).to_have_attribute("aria-pressed", "true")

    # The keyboard works too: focus a region and press Enter.
    page.locator("#shoulder-top-right").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#selected-regions")).to_have_text("Marked: 2 regions")
    first = ranking.locator("> li").first
    expect(first).to_contain_text("Upper trapezius (right)")
    expect(first).to_contain_text(
        "Top of the shoulder (right) lies in the typical spillover referral zone of the right "
        "upper trapezius, and its trigger points lie there."
    )

    # Head pain brings up the headache red flags above the muscles, with their source.
    warnings = page.locator("#screen-first")
    expect(warnings).to_contain_text("Screen first: Headache")
    expect(warnings).to_contain_text("Do 2019 (SNNOOP10)")
    expect(first).to_contain_text("Refers pain there and lies under it")

    # Clicking again unmarks; the warning goes with the last head region.
    page.locator("#temple-right").click()
    expect(page.locator("#temple-right")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#selected-regions")).to_have_text("Marked: 1 region")
    expect(warnings).not_to_contain_text("Headache")
    page.locator("#calf-left").click()
    expect(warnings).to_contain_text("Screen first: Calf pain")
    expect(warnings).to_contain_text("deep vein thrombosis")
    assert axe_violations(page) == []
    page.locator("#calf-left").click()

    ranking.get_by_role("link", name="Upper trapezius (right)").click()
    expect(page.get_by_role("heading", name="Upper trapezius", exact=True)).to_be_visible()
    expect(page.locator("#shoulder-top-right")).to_have_class("region is-local")
    expect(page.locator("#temple-right")).to_have_class("region is-primary")
    expect(page.get_by_text("Lung and pleura")).to_be_visible()
