"""The portal end to end, on a phone for the patient and a tablet for the practitioner:
invitation, registration from the email link, health questions, consent, a signed session,
a check-in reporting breathlessness, the urgent advice, the alert on the dashboard and in
the outbox, and the pending adverse event confirmed."""

import datetime as dt
import re

import time_machine
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from needlechart import knowledge
from needlechart.charting import services as charting
from needlechart.charting.models import AdverseEvent, NeedleSize, Screening
from needlechart.portal.models import CheckIn
from tests import factories
from tests.browser.test_patient_flow import sign_in
from tests.charts import row

PASSWORD = "my-own-long-passphrase"


def link_in(message: mail.EmailMessage, path: str) -> str:
    found = re.search(rf"https?://[^/\s]+({path}\S*)", message.body)
    assert found, message.body
    return found.group(1)


def phone(browser: Browser, live_server) -> Page:
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    context.set_default_timeout(10_000)
    return context.new_page()


def sign_the_session(world) -> None:
    """The practitioner charts and signs a session (the charting flow has its own test)."""
    session, _ = charting.session_start(
        actor=world.user, episode=world.episode, screening_status="unchanged", consent_confirmed=True,
        clean_technique=True,
    )  # fmt: skip
    needle = NeedleSize.objects.filter(clinic=world.clinic).first()
    charting.insertion_add(
        actor=world.user, session=session, **row(needle, "upper-trapezius", "right")
    )
    charting.session_update(
        actor=world.user, session=session, needles_opened=1, needles_removed=1, sharps_disposed=True
    )
    world.session = charting.session_sign(actor=world.user, session=session)


class World:
    pass


def test_invite_register_answer_sign_check_in_with_a_red_flag_and_the_alert_is_handled(
    page: Page, browser: Browser, live_server, transactional_db, settings
):
    settings.SITE_URL = live_server.url
    world = World()
    world.clinic = factories.clinic("Harbour Physio", email="desk@harbour.example")
    paula = factories.practitioner(world.clinic, "paula", first_name="Paula", last_name="Physio")
    factories.credential(paula, dt.date(2025, 1, 1), dt.date(2029, 1, 1))
    world.user = paula.user
    charting.needle_sizes(world.clinic)
    nora = factories.patient(world.clinic, given_name="Nora", family_name="Quinn",
                             email="nora@example.org")  # fmt: skip
    world.episode = factories.episode(nora, paula, period_start=timezone.localdate())

    # The practitioner invites Nora from her patient page.
    sign_in(page, "paula")
    page.goto(f"/patients/{nora.pk}/")
    page.get_by_role("button", name="Invite to the portal").click()
    expect(page.get_by_text("Invitation sent to nora@example.org")).to_be_visible()

    # Nora opens the link on her phone and chooses a password.
    patient = phone(browser, live_server)
    patient.goto(link_in(mail.outbox[-1], "/portal/invite/"))
    patient.get_by_label("Choose a password").fill(PASSWORD)
    patient.get_by_label("Type the password again").fill(PASSWORD)
    patient.get_by_role("button", name="Open my account").click()
    expect(patient.get_by_role("heading", name="Hello, Nora")).to_be_visible()

    # Health questions, then the consent.
    patient.get_by_role("link", name="Answer the health questions").click()
    patient.get_by_label(knowledge.factor_rule("diabetes").question).check()
    patient.get_by_role("button", name="Send my answers").click()
    expect(patient.get_by_text("Your answers will be checked with you")).to_be_visible()
    patient.get_by_role("link", name="Read and sign the consent to dry needling").click()
    patient.get_by_label("Type your full name to sign").fill("Nora Quinn")
    patient.get_by_label("I have read this and I agree to dry needling").check()
    patient.get_by_role("button", name="Sign the consent").click()
    expect(patient.get_by_text("Your consent is recorded")).to_be_visible()

    # The practitioner goes through the answers and records them as the screening.
    page.goto(f"/patients/{nora.pk}/")
    page.get_by_role("link", name="review them").click()
    expect(page.get_by_label("Diabetes")).to_be_checked()
    page.get_by_role("button", name="Record as the screening").click()
    expect(page.get_by_text("recorded as the screening")).to_be_visible()
    assert Screening.objects.get(episode=world.episode).source == "patient"
    sign_the_session(world)

    # A day later the reminder goes out; Nora follows it and reports breathlessness.
    with time_machine.travel(timezone.now() + dt.timedelta(hours=25), tick=True):
        call_command("send-reminders")
        reminder = mail.outbox[-1]
        assert reminder.to == ["nora@example.org"]
        patient.goto(link_in(reminder, "/portal/sessions/"))
        # A day on, her sign-in has lapsed: she signs in and lands on the check-in.
        patient.get_by_label("Email address").fill("nora@example.org")
        patient.get_by_label("Password").fill(PASSWORD)
        patient.get_by_role("button", name="Sign in").click()
        expect(patient.get_by_role("heading", name=re.compile("24 hours after"))).to_be_visible()
        patient.locator("label[for=id_soreness_3]").click()
        patient.get_by_label(knowledge.symptom("breathlessness-chest-pain").label).check()
        patient.get_by_role("button", name="Send my answers").click()
        urgent = patient.get_by_role("alert")
        expect(urgent).to_contain_text("Get urgent care now")
        expect(urgent).to_contain_text(knowledge.urgent_advice()[:40])

        # The alert is in the outbox at once, and on the practitioner's dashboard.
        alert = next(m for m in mail.outbox if m.subject.startswith("Urgent"))
        assert "paula@example.org" in alert.to and "desk@harbour.example" in alert.to
        sign_in(page, "paula")
        page.goto("/dashboard/")
        alerts = page.get_by_role("alert")
        expect(alerts).to_contain_text("Red flags reported by patients")
        alerts.get_by_role("link", name="Nora Quinn").click()

        # On the session page the practitioner confirms the reported effect.
        expect(page.get_by_role("heading", name="Reported by the patient")).to_be_visible()
        page.get_by_role("link", name="Confirm as an adverse event").first.click()
        expect(page.get_by_label("Severity")).to_have_value("severe")
        page.get_by_label("Action taken").select_option("emergency-department")
        page.get_by_role("button", name="Record the adverse event").click()
        expect(page.get_by_text("Recorded as an adverse event of the session.")).to_be_visible()
        page.get_by_role("button", name="Acknowledge: I have acted on this").click()
        expect(page.get_by_text("Alert acknowledged.")).to_be_visible()

    event = AdverseEvent.objects.get(session=world.session)
    assert (event.event_type, event.severity) == ("pneumothorax", "severe")
    assert CheckIn.objects.get().alert_acknowledged_by == paula.user
    patient.context.close()
