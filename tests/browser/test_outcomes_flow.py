"""A plan with two co-therapies, three sessions without improvement, the review prompt,
then discharge: as a practitioner does it in the browser."""

import datetime as dt
import re

from playwright.sync_api import Page, expect

from needlechart.charting import services as chart_services
from needlechart.outcomes.models import CarePlan, Discharge
from tests import factories
from tests.browser.flows import settle
from tests.browser.flows import sign_in as sign_in_as


def sign_in(page: Page, username: str) -> None:
    sign_in_as(page, username, factories.PASSWORD)


def chart_session(page: Page, episode_id: int, first: bool, before: str, after: str) -> None:
    page.goto(f"/episodes/{episode_id}/sessions/new/")
    page.get_by_label("Unchanged since the last screening").check()
    page.get_by_label(re.compile("Clean technique")).check()
    page.get_by_label(re.compile("The patient agrees to dry needling today")).check()
    start = "Start session" if first else "Start from the last session"
    page.get_by_role("button", name=start).click()
    if first:
        page.locator("#id_muscle").select_option("upper-trapezius")
        page.locator("#id_side").select_option("right")
        page.locator("#id_needles").fill("2")
        page.locator("#id_needle_size").select_option(label="0.25 x 40 mm")
        page.locator("#id_depth").select_option("superficial")
        page.locator("#id_technique").select_option("pistoning")
        page.get_by_role("button", name="Add muscle").click()
    expect(page.locator("table.rows tbody")).to_have_count(1)
    page.get_by_label(re.compile("^Today's findings")).select_option(
        label="1 twitch, familiar pain, tolerated well"
    )
    settle(page)
    for label, value in [("Pain before needling, NPRS 0-10", before),
                         ("Pain after needling, NPRS 0-10", after)]:  # fmt: skip
        page.get_by_label(label).fill(value)
        page.get_by_label(label).blur()
        settle(page)
    page.get_by_role("button", name="All 2 removed and disposed of").click()
    settle(page)
    page.get_by_role("button", name="Sign without aftercare").click()
    expect(page.get_by_text(re.compile(r"Session signed \(CPT 20560\)"))).to_be_visible()


def test_plan_three_sessions_without_improvement_review_prompt_then_discharge(
    page: Page, transactional_db
):
    clinic = factories.clinic("Harbour Physio")
    paula = factories.practitioner(clinic, "paula", first_name="Paula", last_name="Byrne")
    factories.credential(paula, dt.date(2024, 3, 1), None)
    patient = factories.patient(clinic, given_name="Maeve", family_name="Doyle")
    episode = factories.episode(patient, paula, period_start=dt.date.today())
    chart_services.screening_record(actor=paula.user, episode=episode, factors=[])
    chart_services.consent_sign(
        actor=paula.user, patient=patient,
        template=chart_services.current_template(clinic=clinic, kind="consent"),
        signed_name="Maeve Doyle", confirmed=True,
    )  # fmt: skip
    sign_in(page, "paula")

    # The plan: a goal on pain, physical therapy and a home exercise programme beside needling.
    page.goto(f"/episodes/{episode.pk}/")
    page.get_by_role("link", name="Record a plan").click()
    page.get_by_label("Planned needling sessions").fill("4")
    page.get_by_label("Review date").fill((dt.date.today() + dt.timedelta(days=30)).isoformat())
    goal = page.get_by_label("Goal 1")
    goal.get_by_label("Goal", exact=True).fill("Neck pain 3 or less")
    goal.get_by_label("Measure").select_option("nprs")
    goal.get_by_label("Target", exact=True).fill("3")
    goal.get_by_label("Target date").fill((dt.date.today() + dt.timedelta(days=42)).isoformat())
    therapy = page.get_by_label("Therapy 1")
    therapy.get_by_label("Therapy", exact=True).select_option("physical-therapy")
    therapy.get_by_label("Provided by").fill("Paula Byrne")
    therapy.get_by_label("How often").fill("Weekly, after needling")
    therapy = page.get_by_label("Therapy 2")
    therapy.get_by_label("Therapy", exact=True).select_option("home-exercise")
    therapy.get_by_label("Provided by").fill("Patient at home")
    therapy.get_by_label("How often").fill("Daily")
    therapy.get_by_label("Exercises and doses").fill("Chin tucks: 3 x 10\nShoulder rolls: 2 x 15")
    page.get_by_role("button", name="Save plan").click()
    expect(page.get_by_text("Treatment plan saved (version 1).")).to_be_visible()
    expect(page.get_by_text("Home exercise programme: Patient at home, Daily")).to_be_visible()
    expect(page.get_by_text("Chin tucks: 3 x 10")).to_be_visible()
    expect(page.get_by_text("On track")).to_be_visible()

    # Three sessions, pain barely moving.
    for number, (before, after) in enumerate([("7", "5"), ("7", "6"), ("6", "5")]):
        chart_session(page, episode.pk, first=number == 0, before=before, after=after)

    page.goto(f"/episodes/{episode.pk}/")
    prompt = page.get_by_role("status").filter(has_text="Review prompt")
    expect(prompt).to_contain_text("No important improvement in pain after 3 sessions")
    expect(page.get_by_text("Review due", exact=True)).to_be_visible()
    expect(page.locator('svg.plot[aria-label^="Pain before and after"]')).to_be_visible()

    # The dashboard lists the episode for review, and links to it.
    page.get_by_role("link", name="Dashboard").click()
    review = page.get_by_role("row", name=re.compile("Maeve Doyle"))
    expect(review).to_contain_text("no important improvement after 3 sessions")

    # Discharge with a summary: the episode becomes read-only.
    page.goto(f"/episodes/{episode.pk}/")
    page.get_by_role("link", name="Discharge", exact=True).click()
    expect(page.get_by_text("Sessions given")).to_be_visible()
    page.get_by_label("Reason").select_option("plateau")
    page.get_by_label("Summary").fill(
        "No change in neck pain after three sessions; referred to the GP for review."
    )
    page.get_by_role("button", name="Discharge").click()
    expect(page.get_by_text("Episode discharged. It now takes addenda only.")).to_be_visible()
    expect(page.get_by_text("referred to the GP for review")).to_be_visible()
    page.goto(f"/episodes/{episode.pk}/")
    expect(page.get_by_role("link", name="New session")).to_have_count(0)
    expect(page.get_by_role("link", name="Edit episode")).to_have_count(0)

    discharge = Discharge.objects.get(episode=episode)
    assert discharge.snapshot["sessions"] == 3 and discharge.reason == "plateau"
    assert CarePlan.objects.get(episode=episode).therapies.count() == 2
