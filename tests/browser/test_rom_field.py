"""The range-of-motion field from the keyboard, and what axe-core makes of it."""

import re

from django.template.loader import render_to_string
from playwright.sync_api import Page, expect

from needlechart.outcomes import selectors
from tests.browser.conftest import axe_violations
from tests.outcomes.test_measures_in_words import neck_course  # noqa: F401  (fixture)


def form_page(page: Page, body: str) -> None:
    page.set_content(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Measures</title>'
        f"</head><body><main><h1>Measures</h1>{body}</main></body></html>"
    )


def field(**context) -> str:
    return render_to_string("includes/rom_field.html", context)


def test_a_movement_is_typed_in_words_and_a_side_chosen_with_the_keyboard_alone(page: Page):
    form_page(
        page,
        '<form id="f" method="post" action="/">'
        + field(prefix="before", movement="", side="")
        + '<button type="submit">Record</button></form>',
    )
    movement = page.get_by_label("Range of motion")
    side = page.get_by_label("Side")
    expect(movement).to_have_attribute("list", "before-movements")
    assert page.locator("#before-movements option").count() == 37
    page.keyboard.press("Tab")
    expect(movement).to_be_focused()
    page.keyboard.type("Cervical rotation")
    page.keyboard.press("Tab")
    expect(side).to_be_focused()
    page.keyboard.press("ArrowDown")
    posted = page.evaluate("Object.fromEntries(new FormData(document.getElementById('f')))")
    assert posted == {"component": "Cervical rotation", "side": "left"}


def test_the_field_and_the_within_session_table_pass_axe(page: Page, neck_course):  # noqa: F811
    within = render_to_string(
        "outcomes/_within_session.html",
        {"within": selectors.episode_progress(neck_course.episode_a).within_session, "latest": 10},
    )
    form_page(
        page,
        '<form method="post" action="/">'
        + field(prefix="before", movement="cervical-rotation", side="left")
        + field(
            prefix="after",
            movement="",
            side="",
            label="Range of motion after needling",
            error="Choose the movement from the list.",
            optional=True,
        )
        + '<button type="submit">Record</button></form>'
        + within,
    )
    expect(page.locator("#before-component")).to_have_value("Cervical rotation")
    expect(page.locator("#after-component")).to_have_accessible_name(
        "Range of motion after needling"
    )
    expect(page.locator("#after-component")).to_have_accessible_description(
        re.compile("Choose the movement from the list")
    )
    expect(page.get_by_role("table")).to_contain_text("Cervical rotation (left)")
    assert axe_violations(page) == []
