"""The episode form's condition in a browser: a text field with the catalogue as a list to
choose from, accessible, and a refusal that says what to choose instead."""

import re

from playwright.sync_api import Page, expect

from needlechart.patients.models import EpisodeOfCare
from tests.browser.conftest import axe_violations
from tests.browser.test_patient_flow import sign_in


def test_the_condition_is_typed_or_chosen_from_the_list_and_refused_with_suggestions(
    page: Page, transactional_db, world
):
    sign_in(page, "paula")
    page.goto(f"/patients/{world.patient_a.pk}/episodes/new/")
    field = page.get_by_label("Condition (ICD-10-CM)")
    expect(field).to_have_attribute("list", "id_condition_code-conditions")
    options = page.locator("#id_condition_code-conditions option")
    assert options.count() > 150
    assert axe_violations(page) == []

    field.fill("tennis elbow")
    page.get_by_label("Referral source").select_option(label="Self-referred")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#id_condition_code_errors")).to_contain_text(
        "Did you mean: M77.11 Lateral epicondylitis, right elbow"
    )
    expect(field).to_have_value("tennis elbow")
    expect(field).to_have_attribute("aria-invalid", "true")
    assert axe_violations(page) == []

    field.fill("M77.12 Lateral epicondylitis, left elbow (tennis elbow)")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(re.compile(r"/episodes/\d+/screening/$"))
    episode = EpisodeOfCare.objects.latest("pk")
    assert (episode.condition_code, episode.body_area) == ("M77.12", "arm-elbow")
