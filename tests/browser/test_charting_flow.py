"""The whole dry-needling visit in the browser, as a practitioner charts it."""

import datetime as dt
import re

from playwright.sync_api import Page, expect

from needlechart.audit.models import AuditEvent
from needlechart.charting.models import (
    Addendum,
    AdverseEvent,
    AftercareIssue,
    NeedlingSession,
    TriggerPointFinding,
)
from needlechart.patients.models import EpisodeOfCare, Patient
from tests import factories
from tests.browser.flows import settle
from tests.browser.flows import sign_in as sign_in_as


def sign_in(page: Page, username: str) -> None:
    sign_in_as(page, username, factories.PASSWORD)


def test_a_new_patient_from_screening_to_a_signed_session_with_an_addendum(
    page: Page, transactional_db
):
    clinic = factories.clinic("Harbour Physio", phone="+353 1 555 0100")
    paula = factories.practitioner(clinic, "paula", first_name="Paula", last_name="Byrne")
    factories.credential(paula, dt.date(2024, 3, 1), None)
    patient = factories.patient(clinic, given_name="Maeve", family_name="Doyle")
    episode = factories.episode(patient, paula, condition_code="M54.2", body_area="neck",
                                period_start=dt.date.today())  # fmt: skip

    sign_in(page, "paula")
    page.goto(f"/episodes/{episode.pk}/")
    expect(page.get_by_text("No health screening recorded for this episode.")).to_be_visible()

    # 1. Screening with a caution: an anticoagulant. Saving goes on to the consent.
    page.get_by_role("link", name="Record the screening").first.click()
    page.get_by_role("button", name="Save screening").first.click()
    expect(page.get_by_text("or choose “None of these apply”")).to_be_visible()
    page.get_by_label("Anticoagulant or antiplatelet medicine").check()
    page.get_by_label("Medicine", exact=True).fill("apixaban")
    page.get_by_role("button", name="Save screening").first.click()

    # 2. Consent, typed and confirmed by the patient, witnessed by Paula; back to the episode.
    expect(page.get_by_text("What dry needling is")).to_be_visible()
    page.get_by_label("Patient's full name, typed by the patient").fill("Maeve Doyle")
    page.get_by_label(re.compile("I have read the information above")).check()
    page.get_by_role("button", name="Sign consent").click()
    expect(page.get_by_text("Consent signed and witnessed.")).to_be_visible()
    banner = page.get_by_role("region", name="Safety screening")
    expect(banner).to_contain_text("Caution")
    expect(banner).to_contain_text("apixaban")
    expect(page).to_have_url(re.compile(f"/episodes/{episode.pk}/$"))

    # 3. Assessment on the body chart, in place: intensity, then the region.
    page.get_by_role("button", name="New assessment").click()
    # The chart's script runs once the page has loaded: a click before then marks nothing.
    expect(page).to_have_url(re.compile(r"/assessments/\d+/$"))
    page.wait_for_load_state("load")
    page.get_by_label("Intensity (0-10)").select_option("7")
    page.locator("#neck-posterior-right").click()
    expect(page.get_by_text("Back of the neck (right): 7/10")).to_be_visible()
    expect(page.locator("#candidates")).to_contain_text("Upper trapezius (right)")
    page.get_by_role("link", name="Record a finding in Upper trapezius (right)").click()
    expect(page.locator("#id_muscle")).to_have_value("upper-trapezius")
    expect(page.locator("#id_side")).to_have_value("right")
    page.get_by_label("Referred sensation felt as").select_option("deep-ache")
    page.get_by_role("button", name="Add as an active trigger point").click()
    expect(
        page.get_by_role("cell", name=re.compile("Upper trapezius \\(right\\) Active"))
    ).to_be_visible()
    pain = page.get_by_label("Pain now, NPRS 0-10")
    pain.fill("7")
    pain.blur()
    expect(page.locator("#observations")).to_contain_text("Pain intensity")
    page.get_by_role("button", name="Sign assessment").click()
    expect(page.get_by_text("Assessment signed.")).to_be_visible()
    finding = TriggerPointFinding.objects.get(assessment__episode=episode)
    assert (
        finding.meets_criteria and finding.recognised and finding.referred_sensation == "deep-ache"
    )

    # 4. A session of three muscles, one with a caution (lung under the upper trapezius).
    page.get_by_role("button", name="Health unchanged, patient agrees: start the session").click()
    page.get_by_label(re.compile("^Clean technique")).check()
    for muscle, side in [
        ("upper-trapezius", "right"),
        ("levator-scapulae", "right"),
        ("splenius-capitis", "right"),
    ]:
        if muscle == "upper-trapezius":
            page.get_by_role("link", name="Upper trapezius (right)").click()
            # Over the lung: the form suggests the superficial approach from the muscle's data.
            expect(page.locator("#id_depth")).to_have_value("superficial")
            expect(page.locator("#muscle-advice")).to_contain_text("lung")
        else:
            page.locator("#id_muscle").select_option(muscle)
            page.locator("#id_side").select_option(side)
            page.locator("#id_depth").select_option("deep")
        expect(page.locator("#id_needle_size")).to_have_value("")
        page.locator("#id_needle_size").select_option(label="0.25 x 40 mm")
        page.locator("#id_technique").select_option("pistoning")
        page.get_by_role("button", name="Add muscle").click()
        expect(
            page.locator("table.rows tbody", has_text=muscle.split("-")[0].capitalize())
        ).to_have_count(1)
    rows = page.locator("table.rows tbody")
    expect(rows).to_have_count(3)
    caution_row = rows.filter(has_text="Upper trapezius")
    expect(caution_row).to_contain_text("Caution")
    expect(caution_row).to_contain_text("pneumothorax")
    expect(page.get_by_text("CPT code suggested: 20561")).to_be_visible()
    expect(page.get_by_label("Needles opened")).to_have_value("3")

    # Signing refuses while the needle count does not match and findings are missing.
    removed = page.get_by_label("Needles removed and disposed of")
    removed.fill("2")
    removed.blur()
    settle(page)
    page.get_by_role("button", name="Sign · aftercare given").click()
    expect(page.locator("#sign")).to_contain_text(
        "Needle count does not match: 3 opened, 2 removed and disposed of."
    )
    expect(page.locator("#sign")).to_contain_text(
        "Levator scapulae (right): record today's findings"
    )
    session = NeedlingSession.objects.get(episode=episode)
    assert not session.is_signed
    for label in page.get_by_label(re.compile("^Today's findings")).all():
        label.select_option(label="2 twitches, familiar pain, tolerated well")
        settle(page)
    page.get_by_role("button", name="All 3 removed and disposed of").click()
    settle(page)
    for name, value in [("Pain before needling, NPRS 0-10", "7"),
                        ("Pain after needling, NPRS 0-10", "4")]:  # fmt: skip
        page.get_by_label(name).fill(value)
        page.get_by_label(name).blur()
        settle(page)
    expect(page.locator("#nprs-summary")).to_contain_text("NPRS before: 7 · after: 4")

    # 5. An adverse event during the session.
    page.get_by_role("link", name="Record an adverse event").first.click()
    page.get_by_label("Type").select_option("bruising")
    page.get_by_label("Onset").select_option("during")
    page.get_by_label("Severity").select_option("mild")
    page.get_by_label("Action taken").select_option("self-care")
    page.get_by_label("Outcome").select_option("recovering")
    page.get_by_label("Upper trapezius right").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Adverse event recorded.")).to_be_visible()

    # 6. Signing with the aftercare given; the sheet says so, and never records it twice.
    page.get_by_role("button", name="Sign · aftercare given").click()
    expect(
        page.get_by_text("Session signed (CPT 20561). Aftercare recorded as given.")
    ).to_be_visible()
    expect(page.get_by_role("button", name="Add muscle")).to_have_count(0)
    page.get_by_role("link", name="Aftercare sheet", exact=True).click()
    expect(page.get_by_role("heading", name="After your dry needling")).to_be_visible()
    expect(
        page.get_by_text("Muscles treated: Upper trapezius (right), Levator scapulae (right)")
    ).to_be_visible()
    expect(page.get_by_text("phone +353 1 555 0100")).to_be_visible()
    expect(page.get_by_text(re.compile("^Given "))).to_be_visible()
    expect(page.get_by_role("button", name="Mark as given to the patient")).to_have_count(0)

    # 7. An addendum on the signed session; the original stays.
    page.get_by_role("link", name="Back to the session").click()
    page.get_by_role("link", name="Add an addendum").click()
    page.get_by_label("Reason").fill("Clarification")
    page.get_by_label("Text").fill("Levator scapulae needled at the superior angle only.")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Levator scapulae needled at the superior angle only.")).to_be_visible()
    expect(page.get_by_text(re.compile("Signed .* by Paula Byrne"))).to_be_visible()

    session.refresh_from_db()
    assert session.is_signed and session.cpt_code == "20561"
    assert session.needles_opened == session.needles_removed == 3
    assert {(r.twitch_responses, r.familiar_pain, r.tolerance) for r in session.insertions.all()} \
        == {(2, True, "good")}  # fmt: skip
    assert AdverseEvent.objects.filter(session=session, event_type="bruising").count() == 1
    assert AftercareIssue.objects.filter(session=session).count() == 1
    assert Addendum.objects.filter(session=session).count() == 1
    assert (
        AuditEvent.objects.filter(
            action="sign", object_type="Encounter", object_id=str(session.pk)
        ).count()
        == 1
    )
    assert EpisodeOfCare.objects.get(pk=episode.pk).patient == Patient.objects.get(pk=patient.pk)
