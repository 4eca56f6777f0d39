"""The patient's progress chart read on a phone: it fits the screen and its text is large
enough to read."""

import datetime as dt

from playwright.sync_api import Browser, Page, expect

from needlechart.outcomes.models import Observation
from tests import factories

PHONE = {"width": 375, "height": 740}
# The smallest text a patient should have to read on the chart, in CSS pixels.
SMALLEST_TEXT_PX = 12


def sign_in_to_the_portal(browser: Browser, live_server, email: str) -> Page:
    context = browser.new_context(base_url=live_server.url, viewport=PHONE, is_mobile=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto("/portal/login/")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Hello, Ann")).to_be_visible()
    return page


def rated(world) -> None:
    """Six weeks of pain: a baseline at the clinic, then the patient's diary."""
    start = dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC)
    for day, value in enumerate([7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 3, 2]):
        Observation.objects.create(
            episode=world.episode_a, code="nprs", value=value,
            timing="baseline" if day == 0 else "home",
            recorded_by=world.practitioner if day == 0 else world.patient_user,
            recorded_at=start + dt.timedelta(days=3 * day),
        )  # fmt: skip


# The chart's text is text: its font size times the on-screen scale of its coordinates (the
# determinant, so that the turned axis label counts too) is its size in CSS pixels.
TEXT_SIZES = """svg => [...svg.querySelectorAll('text')].map(t => {
    const m = t.getScreenCTM();
    return parseFloat(getComputedStyle(t).fontSize) * Math.sqrt(Math.abs(m.a * m.d - m.b * m.c));
})"""


def test_the_progress_chart_fits_a_phone_and_its_text_is_readable(
    browser: Browser, live_server, transactional_db, world
):
    rated(world)
    page = sign_in_to_the_portal(browser, live_server, world.patient_user.email)
    page.get_by_role("link", name="My progress").click()
    chart = page.get_by_role("img", name="Your pain over time")
    expect(chart).to_be_visible()

    box = chart.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    # Tall enough to tell 0 to 10 apart.
    assert box["height"] >= 220, box
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width

    sizes = chart.evaluate(TEXT_SIZES)
    assert len(sizes) >= 8  # ticks of both axes, the axis label and the legend
    assert min(sizes) >= SMALLEST_TEXT_PX, sorted(sizes)[:5]
    # Every label stays inside the chart: nothing is cut off at the edges.
    inside = chart.evaluate(
        """svg => { const outer = svg.getBoundingClientRect();
        return [...svg.querySelectorAll('text')].every(g => {
          const r = g.getBoundingClientRect();
          return r.left >= outer.left - 1 && r.right <= outer.right + 1
            && r.top >= outer.top - 1 && r.bottom <= outer.bottom + 1; }); }"""
    )
    assert inside


def test_on_a_large_screen_the_chart_keeps_a_sensible_size(
    browser: Browser, live_server, transactional_db, world
):
    rated(world)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto("/portal/login/")
    page.get_by_label("Email address").fill(world.patient_user.email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto("/portal/progress/")
    box = page.get_by_role("img", name="Your pain over time").bounding_box()
    assert box["width"] <= 460 and box["height"] <= 440, box
    context.close()
