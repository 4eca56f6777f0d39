"""The portal with the keyboard alone, on a phone: a patient who cannot use a pointer signs
in, answers a check-in and adds to the pain diary by Tab, arrow keys, Space and Enter,
and no page needs sideways scrolling at phone width."""

from playwright.sync_api import Browser, Locator, Page, expect

from needlechart import knowledge
from needlechart.outcomes.models import Observation
from needlechart.portal.models import CheckIn
from tests import factories
from tests.browser.test_portal_flow import phone
from tests.portal.conftest import signed_session

# More Tab presses than any portal page has stops before its main form.
MAX_TABS = 60


def tab_to(page: Page, target: Locator) -> None:
    """Press Tab until `target` has the focus; fail if the Tab order never reaches it."""
    handle = target.element_handle()
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("element => document.activeElement === element", handle):
            return
    raise AssertionError(f"Tab never reached {target}")


def fits_the_phone(page: Page) -> None:
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{page.url} scrolls sideways: {width}"


def follow(page: Page, link: str, heading: str) -> None:
    """Tab to a link, open it with Enter, and check the page it leads to fits the phone."""
    tab_to(page, page.get_by_role("link", name=link))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    fits_the_phone(page)


def choose_on_scale(page: Page, field: str, value: int) -> None:
    """A 0-10 scale: Tab lands on the row of choices, the arrow keys move along it."""
    tab_to(page, page.locator(f"#id_{field}_0"))
    for _ in range(value):
        page.keyboard.press("ArrowRight")
    expect(page.locator(f"#id_{field}_{value}")).to_be_checked()


def test_a_patient_answers_a_check_in_and_the_diary_by_keyboard_on_a_phone(
    browser: Browser, live_server, transactional_db, consented_long_ago, needle
):
    world = consented_long_ago
    session = signed_session(world, needle, 26)
    patient = phone(browser, live_server)

    patient.goto("/portal/login/")
    fits_the_phone(patient)
    tab_to(patient, patient.get_by_label("Email address"))
    patient.keyboard.type(world.patient_user.email)
    patient.keyboard.press("Tab")
    patient.keyboard.type(factories.PASSWORD)
    patient.keyboard.press("Enter")
    expect(patient.get_by_role("heading", name="Hello, Ann")).to_be_visible()
    fits_the_phone(patient)

    follow(patient, "Answer the 24-hour check-in", "24 hours after")
    choose_on_scale(patient, "soreness", 3)
    tab_to(patient, patient.get_by_label(knowledge.symptom("bruising").label))
    patient.keyboard.press("Space")
    tab_to(patient, patient.get_by_role("button", name="Send my answers"))
    patient.keyboard.press("Enter")
    expect(patient.get_by_text("Thank you")).to_be_visible()
    check_in = CheckIn.objects.get(session=session)
    assert (check_in.hours, check_in.soreness, check_in.symptoms) == (24, 3, ["bruising"])

    patient.goto("/portal/")
    follow(patient, "Add today's pain to your diary", "Pain diary")
    choose_on_scale(patient, "pain", 2)
    tab_to(patient, patient.get_by_role("button", name="Add to my diary"))
    patient.keyboard.press("Enter")
    expect(patient.locator("table").get_by_role("cell", name="Pain")).to_be_visible()
    entry = Observation.objects.get(episode=world.episode_a, timing="home")
    assert (entry.code, entry.value) == ("nprs", 2)

    for path in ("/portal/progress/", f"/portal/sessions/{session.pk}/", "/portal/learn/"):
        patient.goto(path)
        fits_the_phone(patient)
    patient.context.close()
