"""The visits a clinician charts, driven in the browser and counted in user actions.

An action is what the issue counts: a click, a field filled, an option chosen or a key
press. The browser tests use these flows to check what was recorded; `make bench`
(benchmarks/charting_flow.py) uses them to count the actions and time them on a demo clinic.
"""

import re
from dataclasses import dataclass, field

from playwright.sync_api import Locator, Page, expect


@dataclass
class Actions:
    """A page whose user actions are counted."""

    page: Page
    count: int = 0
    log: list[str] = field(default_factory=list)

    def _note(self, what: str) -> None:
        self.count += 1
        self.log.append(what)

    def click(self, target: Locator, what: str = "click") -> None:
        target.click()
        self._note(what)

    def fill(self, target: Locator, value: str, what: str = "fill") -> None:
        target.fill(value)
        # A filled field saves when the clinician moves on to the next one, which the next
        # action does; leaving it here (not counted) lets each save finish before it.
        target.blur()
        self._note(what)

    def choose(self, target: Locator, value: str | None = None, label: str | None = None) -> None:
        if label is not None:
            target.select_option(label=label)
        else:
            target.select_option(value)
        self._note("choose")

    def check(self, target: Locator) -> None:
        target.check()
        self._note("check")

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self._note(f"key {key}")


@dataclass(frozen=True)
class FollowUp:
    """What the clinician records at a routine follow-up visit."""

    findings: tuple[str, ...]  # a quick-pick label per row, in the rows' order
    pain_before: int
    pain_after: int
    rom_degrees: int


def settle(page: Page) -> None:
    """Wait until htmx has no request in flight (in-place saves are asynchronous)."""
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


def chart_follow_up(actions: Actions, patient_id: int, visit: FollowUp) -> int:
    """From the patient's page to a signed follow-up session; returns the session's id."""
    page = actions.page
    page.goto(f"/patients/{patient_id}/")
    actions.click(
        page.get_by_role(
            "button", name="Health unchanged, patient agrees: start from the last session"
        )
    )
    expect(page.get_by_role("heading", name="Muscles needled")).to_be_visible()
    session_id = int(re.search(r"/sessions/(\d+)/", page.url).group(1))
    actions.check(page.get_by_label(re.compile("^Clean technique")))
    settle(page)
    picks = page.get_by_label(re.compile("^Today's findings"))
    expect(picks).to_have_count(len(visit.findings))
    for index, label in enumerate(visit.findings):
        actions.choose(picks.nth(index), label=label)
        settle(page)
    actions.fill(page.get_by_label("Pain before needling, NPRS 0-10"), str(visit.pain_before))
    settle(page)
    actions.fill(page.get_by_label("Pain after needling, NPRS 0-10"), str(visit.pain_after))
    settle(page)
    actions.fill(page.get_by_label("Degrees"), str(visit.rom_degrees))
    settle(page)
    actions.click(page.get_by_role("button", name=re.compile(r"^All \d+ removed and disposed of")))
    settle(page)
    actions.click(page.get_by_role("button", name="Sign · aftercare given"))
    expect(page.get_by_text(re.compile(r"^Session signed \(CPT"))).to_be_visible()
    return session_id


def sign_in(page: Page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


@dataclass(frozen=True)
class FirstVisit:
    """What the clinician records at a patient's first visit."""

    given_name: str
    family_name: str
    birth_date: str  # YYYY-MM-DD
    sex: str  # the option's label
    condition: str  # the condition as the list shows it, e.g. "M54.2 Cervicalgia (neck pain)"
    referral: str  # the referral option's label
    pain: tuple[tuple[str, str], ...]  # (region id on the chart, intensity)
    findings: int  # trigger points recorded from the muscles to examine, best first
    pain_now: int
    rom_movement: str
    rom_degrees: int
    needle: str  # the needle option's label, e.g. "0.25 x 40 mm"
    technique: str  # the technique option's label
    responses: tuple[str, ...]  # today's findings for each needled row


def chart_first_visit(actions: Actions, visit: FirstVisit) -> int:
    """From the patient list to a signed first session; returns the session's id."""
    page = actions.page
    page.goto("/patients/")
    actions.click(page.get_by_role("link", name="New patient"))
    actions.fill(page.get_by_label("Given name"), visit.given_name)
    actions.fill(page.get_by_label("Family name"), visit.family_name)
    actions.fill(page.get_by_label("Date of birth"), visit.birth_date)
    actions.choose(page.get_by_label("Sex"), label=visit.sex)
    actions.click(page.get_by_role("button", name="Save and open an episode of care"))

    # A text field with a list to choose from: typing the option as listed chooses it.
    actions.fill(page.get_by_label("Condition (ICD-10-CM)"), visit.condition)
    actions.choose(page.get_by_label("Referral source"), label=visit.referral)
    actions.click(page.get_by_role("button", name="Save", exact=True))

    actions.click(page.get_by_role("button", name="None of these apply: save").first)

    actions.fill(page.get_by_label("Patient's full name, typed by the patient"),
                 f"{visit.given_name} {visit.family_name}")  # fmt: skip
    actions.check(page.get_by_label(re.compile("I have read the information above")))
    actions.click(page.get_by_role("button", name="Sign consent"))

    actions.click(page.get_by_role("button", name="New assessment"))
    intensity = ""
    for region, value in visit.pain:
        if value != intensity:
            actions.choose(page.get_by_label("Intensity (0-10)"), value)
            intensity = value
        actions.click(page.locator(f"#{region}"))
        settle(page)
        expect(page.locator(f"#{region}")).to_have_class(re.compile("is-pain-"))
    examine = page.locator("#candidates [data-examine-muscle]")
    for index in range(visit.findings):
        actions.click(examine.nth(index))
        actions.click(page.get_by_role("button", name="Add as an active trigger point"))
        settle(page)
    actions.fill(page.get_by_label("Pain now, NPRS 0-10"), str(visit.pain_now))
    settle(page)
    movement = page.get_by_role("combobox", name=re.compile("^Range of motion"))
    actions.fill(movement, visit.rom_movement)
    actions.fill(page.get_by_label("Degrees"), str(visit.rom_degrees))
    settle(page)
    actions.click(page.get_by_role("button", name="Sign assessment"))

    actions.click(
        page.get_by_role("button", name="Health unchanged, patient agrees: start the session")
    )
    expect(page.get_by_role("heading", name="Muscles needled")).to_be_visible()
    session_id = int(re.search(r"/sessions/(\d+)/", page.url).group(1))
    actions.check(page.get_by_label(re.compile("^Clean technique")))
    settle(page)
    for _ in range(len(visit.responses)):
        actions.click(page.locator(".assessed [data-add-muscle]").first)
        actions.choose(page.locator("#id_needle_size"), label=visit.needle)
        if not page.locator("#id_depth").input_value():
            actions.choose(page.locator("#id_depth"), "deep")
        actions.choose(page.locator("#id_technique"), label=visit.technique)
        actions.click(page.get_by_role("button", name="Add muscle"))
        settle(page)
    picks = page.get_by_label(re.compile("^Today's findings"))
    for index, label in enumerate(visit.responses):
        actions.choose(picks.nth(index), label=label)
        settle(page)
    actions.click(page.get_by_role("button", name=re.compile(r"^All \d+ removed and disposed of")))
    settle(page)
    actions.click(page.get_by_role("button", name="Sign · aftercare given"))
    expect(page.get_by_text(re.compile(r"^Session signed \(CPT"))).to_be_visible()
    return session_id
