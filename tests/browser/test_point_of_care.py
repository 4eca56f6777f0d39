"""The routine follow-up visit at the point of care: charted in place, from the keyboard too,
with every safety signal on the screen where the needling is decided."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from needlechart.charting.models import (
    AftercareIssue,
    Assessment,
    Consent,
    Insertion,
    NeedlingSession,
    Screening,
)
from needlechart.outcomes.models import Observation
from tests import charts, factories
from tests.browser.conftest import axe_violations
from tests.browser.flows import (
    Actions,
    FirstVisit,
    FollowUp,
    chart_first_visit,
    chart_follow_up,
    settle,
)
from tests.browser.flows import sign_in as sign_in_as


def sign_in(page: Page, username: str) -> None:
    sign_in_as(page, username, factories.PASSWORD)


@pytest.fixture
def follow_up(transactional_db):
    clinic = factories.clinic("Harbour Physio")
    paula = factories.practitioner(clinic, "paula", first_name="Paula", last_name="Byrne")
    factories.credential(paula, dt.date(2024, 3, 1), None)
    patient = factories.patient(clinic, given_name="Maeve", family_name="Doyle")
    episode = factories.episode(patient, paula, condition_code="M54.2", body_area="neck",
                                period_start=dt.date.today() - dt.timedelta(days=30))  # fmt: skip
    ready = charts.follow_up_ready(paula.user, episode)
    return {"user": paula.user, "patient": patient, "episode": episode, **vars(ready)}


def start_from_the_last_session(page: Page, follow_up: dict) -> None:
    """Paula signs in and starts today's session from the patient's last one."""
    sign_in(page, "paula")
    page.goto(f"/patients/{follow_up['patient'].pk}/")
    page.get_by_role(
        "button", name="Health unchanged, patient agrees: start from the last session"
    ).click()


VISIT = FollowUp(
    findings=(
        "3 twitches, familiar pain, tolerated well",
        "1 twitch, pain not familiar, tolerated well",
        "No twitch, familiar pain, tolerated fairly",
        "2 twitches, familiar pain, tolerated well",
    ),
    pain_before=6,
    pain_after=3,
    rom_degrees=62,
)


def test_a_follow_up_is_charted_in_place_in_a_dozen_actions(page: Page, follow_up):
    sign_in(page, "paula")
    actions = Actions(page)
    session_id = chart_follow_up(actions, follow_up["patient"].pk, VISIT)
    assert actions.count <= 12, actions.log

    session = NeedlingSession.objects.get(pk=session_id)
    assert session.is_signed and session.clean_technique
    rows = list(session.insertions.order_by("id"))
    last_rows = list(follow_up["last"].insertions.order_by("id"))
    # The plan came across from the last session; the findings are today's.
    assert [(r.muscle, r.side, r.needles, r.needle_size_id, r.depth, r.technique) for r in rows] \
        == [(r.muscle, r.side, r.needles, r.needle_size_id, r.depth, r.technique)
            for r in last_rows]  # fmt: skip
    assert [(r.twitch_responses, r.familiar_pain, r.tolerance) for r in rows] == [
        (3, True, "good"), (1, False, "good"), (0, True, "fair"), (2, True, "good"),
    ]  # fmt: skip
    assert session.needles_opened == session.needles_removed == sum(r.needles for r in rows) == 6
    values = {(o.code, o.timing): o for o in Observation.objects.filter(session=session)}
    assert values[("nprs", "before")].value == 6 and values[("nprs", "after")].value == 3
    rom = values[("rom", "before")]
    assert (rom.component, rom.side, rom.value) == ("cervical-rotation", "right", Decimal(62))
    assert AftercareIssue.objects.filter(session=session).count() == 1
    assert session.cpt_code == "20561"  # three or more muscles


def test_in_place_saves_keep_the_page_and_its_scroll_position(page: Page, follow_up):
    start_from_the_last_session(page, follow_up)
    expect(page.get_by_role("heading", name="Muscles needled")).to_be_visible()
    page.evaluate("window.stillThisPage = true")
    pain = page.get_by_label("Pain after needling, NPRS 0-10")
    pain.scroll_into_view_if_needed()
    before = page.evaluate("window.scrollY")
    assert before > 0
    pain.fill("4")
    pain.blur()
    settle(page)
    expect(page.locator("#toast")).to_contain_text("Measurement saved.")
    assert page.evaluate("window.stillThisPage") is True
    assert page.evaluate("window.scrollY") == before
    expect(page.locator("#nprs-summary")).to_contain_text("after: 4")


def test_the_needle_count_follows_the_rows_until_the_clinician_changes_it(page: Page, follow_up):
    start_from_the_last_session(page, follow_up)
    opened = page.get_by_label("Needles opened")
    expect(opened).to_have_value("6")
    page.get_by_role("button", name="Remove Infraspinatus (right)").click()
    settle(page)
    expect(opened).to_have_value("4")
    opened.fill("7")
    opened.blur()
    settle(page)
    expect(page.get_by_text("Counted by hand")).to_be_visible()
    page.get_by_role("button", name="Remove Splenius capitis (right)").click()
    settle(page)
    expect(page.get_by_label("Needles opened")).to_have_value("7")
    session = NeedlingSession.objects.get(signed_at__isnull=True)
    assert session.needles_opened == 7 and session.needles_opened_by_hand


def test_the_session_form_works_from_the_keyboard_alone(page: Page, follow_up):
    sign_in(page, "paula")
    page.goto(f"/patients/{follow_up['patient'].pk}/")

    def tab_to(selector: str) -> None:
        for _ in range(400):
            page.keyboard.press("Tab")
            if page.evaluate(f"document.activeElement.matches({selector!r})"):
                return
        raise AssertionError(f"Tab never reached {selector}")

    tab_to("button[name=from_last][value=on]")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Muscles needled")).to_be_visible()
    tab_to("#clean-technique")
    page.keyboard.press("Space")
    settle(page)
    for row in Insertion.objects.filter(session__signed_at__isnull=True).order_by("id"):
        tab_to(f"#response-{row.pk}")
        # Digits find the choice: "2" is "2 twitches, familiar pain, tolerated well".
        page.keyboard.type("2")
        settle(page)
    tab_to("#nprs-before")
    page.keyboard.type("5")
    tab_to("#nprs-after")
    page.keyboard.type("2")
    tab_to("#session-rom-component")  # leaving the pain field saves it
    settle(page)
    tab_to("#all-removed")
    page.keyboard.press("Enter")
    settle(page)
    tab_to("button[name=aftercare][value=given]")
    page.keyboard.press("Enter")
    expect(page.get_by_text(re.compile(r"^Session signed \(CPT"))).to_be_visible()
    session = NeedlingSession.objects.exclude(pk=follow_up["last"].pk).get()
    assert session.is_signed and session.clean_technique
    assert {(r.twitch_responses, r.familiar_pain, r.tolerance) for r in session.insertions.all()} \
        == {(2, True, "good")}  # fmt: skip
    pain = {o.timing: o.value for o in session.observations.filter(code="nprs")}
    assert pain == {"before": 5, "after": 2}


def test_a_copied_row_is_edited_in_place_and_a_row_gone_elsewhere_is_said_so(page: Page, follow_up):
    start_from_the_last_session(page, follow_up)
    page.evaluate("window.stillThisPage = true")
    page.get_by_role("link", name="Edit Levator scapulae (right)").click()
    editor = page.get_by_role("form", name="Edit Levator scapulae (right)")
    editor.get_by_label("Needles").fill("3")
    editor.get_by_label("Depth (mm)").fill("25")
    editor.get_by_label("Twitch responses elicited").fill("9")
    editor.get_by_label("Familiar pain reproduced").select_option("no")
    editor.get_by_label("Tolerance").select_option("poor")
    editor.get_by_role("button", name="Save row").click()
    row = page.locator("tr", has_text="Levator scapulae")
    expect(row).to_contain_text("3 \u00d7 0.25 x 40 mm")
    expect(row).to_contain_text("Deep, 25 mm")
    findings = row.get_by_label(re.compile("^Today's findings"))
    expect(findings).to_have_value("9:no:poor")
    expect(page.get_by_label("Needles opened")).to_have_value("8")
    assert page.evaluate("window.stillThisPage") is True

    # Bad input: the field's message next to the field, nothing changed.
    page.get_by_role("link", name="Edit Levator scapulae (right)").click()
    editor = page.get_by_role("form", name="Edit Levator scapulae (right)")
    editor.get_by_label("Needles").fill("0")
    editor.get_by_role("button", name="Save row").click()
    expect(editor.locator(".errors")).to_contain_text("greater than or equal to 1")
    assert Insertion.objects.get(muscle="levator-scapulae", session__signed_at=None).needles == 3
    editor.get_by_role("link", name="Cancel").click()

    # Another tab removes a row; this tab's next change to it is told, not a server error.
    other = page.context.new_page()
    other.goto(page.url)
    other.get_by_role("button", name="Remove Splenius capitis (right)").click()
    settle(other)
    page.get_by_label("Today's findings, Splenius capitis (right)").select_option(
        label="1 twitch, familiar pain, tolerated well"
    )
    expect(page.locator("#toast")).to_contain_text("no longer in the session")
    expect(page.locator("tr", has_text="Splenius capitis")).to_have_count(0)


# `make run` serves the demo with DEBUG on: a refused value must keep the page there too.
@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_bad_measurements_in_place_say_why_next_to_the_field(
    page: Page, follow_up, settings, debug
):
    settings.DEBUG = debug
    start_from_the_last_session(page, follow_up)
    pain = page.get_by_label("Pain before needling, NPRS 0-10")
    pain.fill("11")
    pain.blur()
    settle(page)
    expect(page.locator("#slot-error-nprs-before")).to_contain_text("runs from 0 to 10")
    rom = page.get_by_role("combobox", name=re.compile("^Range of motion"))
    rom.fill("Elbow wiggle")
    page.get_by_label("Degrees").fill("40")
    page.get_by_label("Degrees").blur()
    settle(page)
    expect(page.locator("#slot-error-rom")).to_contain_text("Choose the movement measured")
    expect(page.get_by_role("button", name="Sign · aftercare given")).to_be_visible()
    assert not Observation.objects.filter(session__signed_at=None).exists()


def test_the_movement_side_and_timing_chosen_first_wait_for_the_degrees(page: Page, follow_up):
    """A range of motion is saved when its degrees are entered: choosing the movement, the
    side or the timing first posts nothing and shows no error."""
    start_from_the_last_session(page, follow_up)
    expect(page.get_by_role("heading", name="Muscles needled")).to_be_visible()
    posted = []
    page.on("request", lambda r: posted.append(r.url) if "/observations/" in r.url else None)
    movement = page.get_by_role("combobox", name=re.compile("^Range of motion"))
    movement.fill("Shoulder flexion")
    movement.blur()
    page.locator("#session-rom-side").select_option("right")
    page.locator("#rom-timing").select_option("after")
    degrees = page.get_by_label("Degrees")
    degrees.fill("150")
    degrees.blur()
    settle(page)
    expect(page.locator("#toast")).to_contain_text("Measurement saved")
    expect(page.locator("#slot-error-rom")).to_be_empty()
    assert len(posted) == 1
    saved = Observation.objects.get(session__signed_at=None, code="rom")
    assert (saved.component, saved.side, saved.timing, saved.value) == (
        "shoulder-flexion",
        "right",
        "after",
        150,
    )


def test_the_follow_up_pages_pass_axe(page: Page, follow_up):
    sign_in(page, "paula")
    for url in (f"/patients/{follow_up['patient'].pk}/",
                f"/episodes/{follow_up['episode'].pk}/",
                f"/episodes/{follow_up['episode'].pk}/sessions/new/"):  # fmt: skip
        page.goto(url)
        assert axe_violations(page) == [], url
    page.goto(f"/patients/{follow_up['patient'].pk}/")
    page.get_by_role(
        "button", name="Health unchanged, patient agrees: start from the last session"
    ).click()
    expect(page.get_by_role("heading", name="Muscles needled")).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_role("link", name="Edit Upper trapezius (right)").click()
    expect(page.get_by_role("button", name="Save row")).to_be_visible()
    assert axe_violations(page) == []


FIRST = FirstVisit(
    given_name="Nora", family_name="Quinn", birth_date="1975-03-02", sex="Female",
    condition="M54.2 Cervicalgia (neck pain)", referral="Self-referred",
    pain=(("neck-posterior-right", "6"), ("shoulder-top-right", "6"), ("temple-right", "4")),
    findings=2, pain_now=6, rom_movement="Cervical rotation", rom_degrees=60,
    needle="0.25 x 40 mm", technique="Fast-in fast-out (pistoning)",
    responses=("2 twitches, familiar pain, tolerated well",
               "1 twitch, familiar pain, tolerated well"),
)  # fmt: skip


def test_a_first_visit_is_charted_in_at_most_45_actions(page: Page, transactional_db):
    clinic = factories.clinic("Harbour Physio")
    paula = factories.practitioner(clinic, "paula", first_name="Paula", last_name="Byrne")
    factories.credential(paula, dt.date(2024, 3, 1), None)
    sign_in(page, "paula")
    actions = Actions(page)
    session_id = chart_first_visit(actions, FIRST)
    assert actions.count <= 45, actions.log

    session = NeedlingSession.objects.get(pk=session_id)
    patient = session.episode.patient
    assert (patient.given_name, patient.family_name, str(patient.birth_date), patient.sex) == (
        "Nora", "Quinn", "1975-03-02", "female",
    )  # fmt: skip
    episode = session.episode
    assert (episode.condition_code, episode.body_area, episode.referral_source) == (
        "M54.2", "neck", "self",
    )  # fmt: skip
    assert episode.care_manager == paula
    assert Screening.objects.get(episode=episode).factors == []
    assert Consent.objects.get(patient=patient).signed_name == "Nora Quinn"
    assessment = Assessment.objects.get(episode=episode)
    assert assessment.is_signed
    assert {(m.region, m.intensity) for m in assessment.pain_marks.all()} == {
        ("neck-posterior-right", 6), ("shoulder-top-right", 6), ("temple-right", 4),
    }  # fmt: skip
    findings = list(assessment.findings.order_by("id"))
    assert len(findings) == 2 and all(f.meets_criteria and f.recognised for f in findings)
    baseline = {o.code: o for o in assessment.observations.all()}
    assert baseline["nprs"].value == 6 and baseline["nprs"].timing == "baseline"
    assert (baseline["rom"].component, baseline["rom"].value) == ("cervical-rotation", 60)
    # The session needled the assessed trigger points, with what was chosen for each.
    rows = list(session.insertions.order_by("id"))
    assert [(r.muscle, r.side) for r in rows] == [(f.muscle, f.side) for f in findings]
    assert {(r.needle_size.length_mm, r.technique) for r in rows} == {(40, "pistoning")}
    assert [(r.twitch_responses, r.familiar_pain, r.tolerance) for r in rows] == [
        (2, True, "good"), (1, True, "good"),
    ]  # fmt: skip
    assert session.is_signed and session.needles_opened == session.needles_removed == 2
    assert AftercareIssue.objects.filter(session=session).count() == 1


def test_every_safety_signal_shows_where_the_needling_is_decided(page: Page, follow_up):
    from needlechart.charting import services
    from needlechart.portal import services as portal_services

    patient, episode, last = follow_up["patient"], follow_up["episode"], follow_up["last"]
    patient.email = "maeve@example.org"
    patient.save()
    portal_user = factories.portal_account(patient).user
    portal_services.checkin_answer(
        actor=portal_user, session=last, hours=24, soreness=5,
        symptoms=["bruising", "breathlessness-chest-pain"],
        now=last.performed_at + dt.timedelta(hours=25),
    )  # fmt: skip
    portal_services.questionnaire_submit(actor=portal_user, factors=[{"code": "diabetes"}])
    admin = factories.practitioner(patient.clinic, "ada", role="clinic_admin")
    services.template_new_version(
        actor=admin.user, kind="consent", title="Consent to dry needling", body="New text."
    )
    # A colleague whose credential lapsed holds a second episode of the patient.
    trent = factories.practitioner(patient.clinic, "trent", first_name="Trent", last_name="Lowe")
    factories.credential(trent, dt.date(2020, 1, 1), dt.date(2022, 1, 1))
    factories.episode(patient, trent, condition_code="M79.18", body_area="lower-leg",
                      period_start=dt.date.today())  # fmt: skip

    sign_in(page, "paula")
    expected = [
        "Red flag reported",
        "Unconfirmed adverse event: Bruising",
        "Health answers sent from the portal",
        "No current consent: The consent text changed to version 2",
        "M79.18 is held by Trent Lowe, who cannot needle",
    ]
    for url in (f"/patients/{patient.pk}/", f"/episodes/{episode.pk}/",
                f"/episodes/{episode.pk}/sessions/new/"):  # fmt: skip
        page.goto(url)
        signals = page.get_by_role("list", name="Safety signals")
        for text in expected:
            expect(signals).to_contain_text(text)
    page.goto(f"/episodes/{episode.pk}/")
    banner = page.get_by_role("region", name="Safety screening")
    expect(banner).to_contain_text("Red flag reported after a session: review before needling")
    expect(banner).not_to_contain_text("No contraindication")
    # No current consent: the start is refused before pressing Start, with the reason.
    start = page.locator(".start-panel")
    expect(start).to_contain_text("A session cannot start yet")
    expect(start.get_by_role("button", name=re.compile("start"))).to_have_count(0)
    assert axe_violations(page) == []

    # The practitioner whose credential lapsed is told before pressing Start.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, "trent")
    page.goto(f"/patients/{patient.pk}/")
    expect(page.get_by_role("list", name="Safety signals")).to_contain_text(
        "You cannot needle today: the dry-needling credential has lapsed"
    )
    expect(page.locator(".start-panel").first).to_contain_text("You cannot needle today")


def test_the_pages_of_a_visit_pass_axe(page: Page, follow_up):
    from needlechart.charting import services

    episode, patient = follow_up["episode"], follow_up["patient"]
    assessment = services.assessment_start(actor=follow_up["user"], episode=episode)
    services.pain_mark_set(actor=follow_up["user"], assessment=assessment,
                           region="neck-posterior-right", intensity=6, quality="")  # fmt: skip
    sign_in(page, "paula")
    for url in (
        f"/episodes/{episode.pk}/screening/",
        f"/patients/{patient.pk}/consent/",
        f"/assessments/{assessment.pk}/",
        f"/episodes/{episode.pk}/measurements/",
        f"/patients/{patient.pk}/timeline/",
        f"/sessions/{follow_up['last'].pk}/",
        "/patients/new/",
    ):
        page.goto(url)
        assert axe_violations(page) == [], url
