"""A progress report from issue to reader: the clinician issues it from the episode page,
emails it to the referrer from the patient page, finds it on the timeline, and the patient
downloads it from the portal."""

import re

from django.core import mail
from playwright.sync_api import Browser, Page, expect

from needlechart.documents.models import Document
from tests import factories
from tests.browser.flows import sign_in
from tests.browser.test_portal_progress import sign_in_to_the_portal
from tests.documents.conftest import signed  # noqa: F401  (the charted patient)

REFERRER = "byrne@example.org"


def test_a_progress_report_is_issued_sent_to_the_referrer_seen_on_the_timeline_and_in_the_portal(
    browser: Browser,
    live_server,
    transactional_db,
    signed,  # noqa: F811  (the fixture imported above)
    page: Page,
):
    signed.episode.referral_detail, signed.episode.referral_email = "Dr Byrne", REFERRER
    signed.episode.save()
    sign_in(page, "paula", factories.PASSWORD)

    page.goto(f"/episodes/{signed.episode.pk}/")
    page.get_by_role("button", name="Issue a progress report (PDF)").click()
    expect(page.get_by_text(re.compile(r"^Progress report.* issued"))).to_be_visible()
    document = Document.objects.get(kind="progress-report")
    assert mail.outbox == []  # issuing alone sends nothing

    page.goto(f"/patients/{signed.patient.pk}/")
    row = page.locator("#documents tr", has_text=document.title)
    row.get_by_label("Email to").select_option(label=f"the referrer, {REFERRER} (PDF attached)")
    row.get_by_role("button", name="Send").click()
    expect(page.get_by_text(f"{document.title} sent to {REFERRER}.")).to_be_visible()
    row = page.locator("#documents tr", has_text=document.title)
    expect(row.get_by_text(f"Referrer {REFERRER}: Sent")).to_be_visible()
    [message] = mail.outbox
    assert message.to == [REFERRER] and message.attachments[0][0] == document.filename

    page.goto(f"/patients/{signed.patient.pk}/timeline/")
    page.get_by_label("Show").select_option(label="Documents")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name=f"Document issued: {document.title}")).to_be_visible()
    expect(
        page.get_by_role("link", name=f"Document emailed to the referrer: {document.title}")
    ).to_be_visible()

    portal = sign_in_to_the_portal(browser, live_server, signed.world.patient_user.email)
    portal.get_by_role("link", name="My documents").first.click()
    link = portal.get_by_role("link", name=document.title)
    expect(link).to_be_visible()
    with portal.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == document.filename
