import datetime as dt

from playwright.sync_api import Page, expect

from needlechart.accounts.models import Role
from needlechart.patients.models import EpisodeOfCare, Patient
from tests import factories


def sign_in(page: Page, username: str) -> None:
    """Sign in on the way to the patient list (clinicians' own start page is their day)."""
    page.goto("/patients/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Patients")).to_be_visible()


def test_a_practitioner_registers_a_patient_opens_an_episode_and_finds_them(
    page: Page, transactional_db
):
    clinic = factories.clinic("Harbour Physio")
    paula = factories.practitioner(clinic, "paula", first_name="Paula", last_name="Byrne")
    factories.credential(paula, dt.date(2024, 3, 1), None)

    sign_in(page, "paula")

    page.get_by_role("link", name="New patient").click()
    page.get_by_label("Given name").fill("Maeve")
    page.get_by_label("Family name").fill("Doyle")
    page.get_by_label("Date of birth").fill("1984-07-09")
    page.get_by_label("Sex").select_option("female")
    page.get_by_label("Phone").fill("+353 1 555 0101")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_role("heading", name="Maeve Doyle")).to_be_visible()
    expect(page.get_by_text("Maeve Doyle was registered.")).to_be_visible()
    patient = Patient.objects.get(family_name="Doyle")
    assert patient.clinic == clinic and patient.mrn == "000001"

    page.get_by_role("link", name="New episode").click()
    page.get_by_label("Condition (ICD-10-CM)").fill("M54.2")
    page.get_by_label("Body area").select_option("neck")
    page.get_by_label("Onset date").fill("2026-09-01")
    page.get_by_label("Referral source").select_option("physician")
    expect(page.get_by_label("Practitioner in charge")).to_have_value(str(paula.pk))
    page.get_by_role("button", name="Save").click()

    # Opening an episode goes on to its first step: the health screening.
    expect(page.get_by_role("heading", name="Health screening")).to_be_visible()
    expect(page.get_by_role("link", name="M54.2 Cervicalgia (neck pain)")).to_be_visible()
    episode = EpisodeOfCare.objects.get(patient=patient)
    assert episode.care_manager == paula and episode.status == "active"

    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_label("Name").fill("doyle maeve")
    page.get_by_role("button", name="Search").click()
    row = page.get_by_role("row", name="Doyle, Maeve")
    expect(row).to_contain_text("1984-07-09")
    expect(row).to_contain_text("000001")
    row.get_by_role("link").click()
    expect(page.get_by_role("link", name="M54.2 Cervicalgia (neck pain)")).to_be_visible()


def test_a_form_with_bad_input_shows_errors_by_the_fields_and_saves_nothing(
    page: Page, transactional_db
):
    clinic = factories.clinic("Harbour Physio")
    factories.user(clinic, "fiona", Role.FRONT_DESK)
    factories.patient(clinic, mrn="A100")

    sign_in(page, "fiona")
    page.get_by_role("link", name="New patient").click()
    page.get_by_label("Given name").fill("Future")
    page.get_by_label("Family name").fill("Child")
    page.get_by_label("Date of birth").fill("2099-01-01")
    page.get_by_label("Sex").select_option("male")
    page.get_by_label("Medical record number").fill("a100")
    page.get_by_role("button", name="Save").click()

    birth = page.get_by_label("Date of birth")
    expect(birth).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_birth_date_errors")).to_have_text(
        "The date of birth cannot be in the future."
    )
    assert "id_birth_date_errors" in (birth.get_attribute("aria-describedby") or "")
    expect(page.get_by_role("alert")).to_contain_text("Date of birth")
    # Values typed are kept for correction.
    expect(page.get_by_label("Given name")).to_have_value("Future")
    assert not Patient.objects.filter(family_name="Child").exists()

    # Every error shows at once: the record number is taken too.
    expect(page.locator("#id_mrn_errors")).to_have_text(
        "Another patient in this clinic already has this record number."
    )
    birth.fill("2001-01-01")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#id_birth_date_errors")).to_have_count(0)
    expect(page.locator("#id_mrn_errors")).to_be_visible()
    assert not Patient.objects.filter(family_name="Child").exists()

    page.get_by_label("Medical record number").fill("")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Future Child")).to_be_visible()
    # The front desk sees no clinical section.
    expect(page.get_by_role("heading", name="Episodes of care")).to_have_count(0)
