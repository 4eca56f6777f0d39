"""The whole dry-needling visit in the browser, as a practitioner charts it."""

import datetime as dt
import re

from playwright.sync_api import Page, expect

from needlechart.audit.models import AuditEvent
from needlechart.charting.models import Addendum, AdverseEvent, AftercareIssue, NeedlingSession
from needlechart.patients.models import EpisodeOfCare, Patient
from tests import factories
from tests.browser.test_patient_flow import sign_in


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

    # 1. Screening with a caution: an anticoagulant.
    page.get_by_role("link", name="Record the screening").click()
    page.get_by_label("Anticoagulant or antiplatelet medicine").check()
    page.get_by_label("Medicine", exact=True).fill("apixaban")
    page.get_by_role("button", name="Save screening").click()
    banner = page.get_by_role("region", name="Safety screening")
    expect(banner).to_contain_text("Caution")
    expect(banner).to_contain_text("apixaban")
    expect(banner).to_contain_text("No current consent")

    # 2. Consent, typed and confirmed by the patient, witnessed by Paula.
    banner.get_by_role("link", name="Consent").click()
    expect(page.get_by_text("What dry needling is")).to_be_visible()
    page.get_by_label("Patient's full name, typed by the patient").fill("Maeve Doyle")
    page.get_by_label(re.compile("I have read the information above")).check()
    page.get_by_role("button", name="Sign consent").click()
    expect(page.get_by_text("Consent signed and witnessed.")).to_be_visible()

    # 3. Assessment on the body chart.
    page.goto(f"/episodes/{episode.pk}/")
    page.get_by_role("button", name="New assessment").click()
    page.locator("#neck-posterior-right").click()
    expect(page.get_by_label("Painful region")).to_have_value("neck-posterior-right")
    page.get_by_label("Intensity (0-10)").select_option("7")
    page.get_by_label("Quality").select_option("aching")
    page.get_by_role("button", name="Mark pain").click()
    expect(page.get_by_text("Back of the neck (right): 7/10, aching")).to_be_visible()
    expect(page.locator("#candidates")).to_contain_text("Upper trapezius (right)")
    page.get_by_text("Add a finding").click()
    page.locator("#id_muscle").select_option("upper-trapezius")
    page.locator("#id_side").select_option("right")
    page.get_by_label("Taut band").check()
    page.get_by_label("Hypersensitive spot").check()
    page.get_by_label("Referred sensation felt as").select_option("deep-ache")
    page.get_by_label("Recognised as the patient's own pain").check()
    page.get_by_role("button", name="Add finding").click()
    expect(
        page.get_by_role("cell", name=re.compile("Upper trapezius \\(right\\) Active"))
    ).to_be_visible()
    page.get_by_label("Pain now, NPRS 0-10").fill("7")
    page.get_by_role("button", name="Record").first.click()
    page.get_by_role("button", name="Sign assessment").click()
    expect(page.get_by_text("Assessment signed.")).to_be_visible()
    expect(page.get_by_role("button", name="Mark pain")).to_have_count(0)

    # 4. A session of three muscles, one with a caution (lung under the upper trapezius).
    page.goto(f"/episodes/{episode.pk}/")
    page.get_by_role("link", name="New session").click()
    page.get_by_label("Unchanged since the last screening").check()
    page.get_by_label(re.compile("Clean technique")).check()
    page.get_by_role("button", name="Start session").click()
    for muscle, side in [
        ("upper-trapezius", "right"),
        ("levator-scapulae", "right"),
        ("splenius-capitis", "right"),
    ]:
        page.locator("#id_muscle").select_option(muscle)
        page.locator("#id_side").select_option(side)
        page.locator("#id_needles").fill("1")
        page.locator("#id_technique").select_option("pistoning")
        page.get_by_label("Twitch responses elicited").fill("2")
        page.get_by_role("button", name="Add muscle").click()
    rows = page.locator("table.rows tbody tr")
    expect(rows).to_have_count(3)
    caution_row = rows.filter(has_text="Upper trapezius")
    expect(caution_row).to_contain_text("Caution")
    expect(caution_row).to_contain_text("pneumothorax")
    expect(page.get_by_text("CPT code suggested: 20561")).to_be_visible()

    # Signing refuses while the needle count does not match.
    page.get_by_label("Needles opened").fill("3")
    page.get_by_label("Needles removed and disposed of").fill("2")
    page.get_by_role("button", name="Save details").click()
    page.get_by_role("button", name="Sign session").click()
    expect(
        page.get_by_text("Needle count does not match: 3 opened, 2 removed and disposed of.").first
    ).to_be_visible()
    session = NeedlingSession.objects.get(episode=episode)
    assert not session.is_signed

    page.get_by_label("Needles removed and disposed of").fill("3")
    page.get_by_role("button", name="Save details").click()
    page.get_by_label("Pain now, NPRS 0-10 (before needling)").fill("7")
    page.get_by_role("button", name="Record").first.click()
    page.get_by_label("Pain after needling, NPRS 0-10").fill("4")
    page.get_by_role("button", name="Record").nth(1).click()
    expect(page.get_by_text("NPRS before: 7 · after: 4")).to_be_visible()

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

    # 6. Signing, then aftercare printed and marked as given.
    page.get_by_role("button", name="Sign session").click()
    expect(page.get_by_text("Session signed (CPT 20561).")).to_be_visible()
    expect(page.get_by_role("button", name="Add muscle")).to_have_count(0)
    page.get_by_role("link", name="Aftercare sheet", exact=True).click()
    expect(page.get_by_role("heading", name="After your dry needling")).to_be_visible()
    expect(
        page.get_by_text("Muscles treated: Upper trapezius (right), Levator scapulae (right)")
    ).to_be_visible()
    expect(page.get_by_text("phone +353 1 555 0100")).to_be_visible()
    page.get_by_role("button", name="Mark as given to the patient").click()
    expect(page.get_by_text(re.compile("^Given "))).to_be_visible()

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
