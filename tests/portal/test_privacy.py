"""Privacy requests: a clinic admin downloads everything held about a patient, and erases
what is not part of the clinical record; the clinical record and the audit trail stay."""

import json

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from needlechart.audit.models import AuditEvent
from needlechart.outcomes import measurements
from needlechart.outcomes.models import Observation
from needlechart.patients.models import Patient
from needlechart.portal import privacy, services
from needlechart.portal.models import PortalAccount
from tests import charts, factories
from tests.conftest import client_for


@pytest.fixture
def treated(world):
    world.chart = charts.build(world.practitioner, world.episode_a, signed=True)
    world.patient_a.phone = "+353 1 555 0142"
    world.patient_a.address = "1 Harbour Road"
    world.patient_a.save()
    for pain in (6, 5, 4):
        services.diary_add(actor=world.patient_user, pain=pain)
    return world


def test_everything_held_downloads_as_one_json_file_and_is_audited(treated):
    admin = client_for(treated.admin)
    response = admin.get(reverse("portal:privacy_export", args=[treated.patient_a.pk]))
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    document = json.loads(response.content)
    assert document["chart"]["patient"]["mrn"] == treated.patient_a.mrn
    assert document["portal"]["account"]["email"] == "ann@example.org"
    assert any(row["by"] == "paula" for row in document["access_history"])
    assert AuditEvent.objects.filter(
        action="export", patient=treated.patient_a, detail__via="right-of-access"
    ).exists()


def test_only_a_clinic_admin_answers_a_privacy_request(treated):
    url = reverse("portal:privacy", args=[treated.patient_a.pk])
    assert client_for(treated.practitioner).get(url).status_code == 403
    assert client_for(treated.admin).get(url).status_code == 200
    # Another clinic's patient is not found.
    other = reverse("portal:privacy", args=[treated.patient_b.pk])
    assert client_for(treated.admin).get(other).status_code == 404


def test_erasure_removes_the_portal_account_contact_details_and_diary_but_not_the_record(treated):
    patient = treated.patient_a
    sessions_before = patient.episodes.get().sessions.count()
    measured = Observation.objects.filter(episode__patient=patient).exclude(timing="home").count()
    assert measured > 0
    response = client_for(treated.admin).post(
        reverse("portal:privacy", args=[patient.pk]),
        {"parts": ["portal", "contact", "diary"], "reason": "Written request of 2 December"},
    )
    assert response.status_code == 302
    patient = Patient.objects.get(pk=patient.pk)
    assert (patient.phone, patient.email, patient.address) == ("", "", "")
    user = PortalAccount.objects.get(patient=patient).user
    assert not user.is_active and not user.has_usable_password() and user.email == ""
    assert not privacy._diary(patient).exists()
    # The clinical record stays: sessions, the clinician's measurements.
    assert patient.episodes.get().sessions.count() == sessions_before
    assert (
        Observation.objects.filter(episode__patient=patient).exclude(timing="home").count()
        == measured
    )
    event = AuditEvent.objects.get(detail__privacy_request="erasure")
    assert event.detail["reason"] == "Written request of 2 December"
    assert "555" not in json.dumps(event.detail)  # never the values
    # The erased portal account cannot sign in.
    client = client_for(None)
    client.post(
        reverse("portal:login"), {"username": "ann@example.org", "password": factories.PASSWORD}
    )
    assert "_auth_user_id" not in client.session


def test_an_erasure_needs_a_reason_and_a_choice(treated):
    url = reverse("portal:privacy", args=[treated.patient_a.pk])
    response = client_for(treated.admin).post(url, {"parts": [], "reason": ""})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "parts" in errors and "reason" in errors
    assert Patient.objects.get(pk=treated.patient_a.pk).phone == "+353 1 555 0142"


def test_the_page_says_how_long_the_clinical_record_is_kept(treated):
    treated.clinic_a.retention_years = 8
    treated.clinic_a.save()
    page = client_for(treated.admin).get(reverse("portal:privacy", args=[treated.patient_a.pk]))
    last = privacy.last_visit(Patient.objects.get(pk=treated.patient_a.pk))
    until = privacy.kept_until(Patient.objects.get(pk=treated.patient_a.pk))
    assert until.year == last.year + 8
    assert f"{until:%-d %B %Y}" in page.content.decode() and "8 years" in page.content.decode()


def test_the_database_lets_a_diary_entry_go_but_no_other_measurement(treated):
    # A standalone measurement by the clinician (a reassessment): part of the record.
    kept = measurements.observation_add(
        actor=treated.practitioner, episode=treated.episode_a, code="nprs", value=3,
        timing="reassessment",
    )  # fmt: skip
    diary = privacy._diary(treated.patient_a)
    first, second = diary[0], diary[1]
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM outcomes_observation WHERE id = %s", [first.pk])
    for statement, pk in (
        ("DELETE FROM outcomes_observation WHERE id = %s", kept.pk),
        ("UPDATE outcomes_observation SET value = 9 WHERE id = %s", second.pk),
    ):
        with (
            pytest.raises(DatabaseError, match="read-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [pk])
    assert Observation.objects.filter(pk=kept.pk).exists()
