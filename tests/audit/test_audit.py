import csv
import datetime as dt
import io

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client, override_settings
from django.urls import reverse

from needlechart.audit import services as audit
from needlechart.audit.models import AuditEvent
from needlechart.patients import services as patient_services
from needlechart.patients.models import Patient
from tests import factories
from tests.conftest import client_for


def test_an_audit_row_cannot_be_changed_or_deleted_through_the_application(world):
    event = audit.record(actor=world.admin, action=audit.Action.VIEW, obj=world.patient_a)
    event.action = "update"
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(pk=event.pk).update(action="update")
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_the_database_itself_refuses_to_change_an_audit_row(world):
    event = audit.record(actor=world.admin, action=audit.Action.VIEW, obj=world.patient_a)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET action = 'update' WHERE id = %s", [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "view"


def test_a_row_records_time_user_clinic_patient_action_object_and_address(world):
    client = Client(REMOTE_ADDR="203.0.113.7")
    client.force_login(world.practitioner)
    client.get(reverse("patients:detail", args=[world.patient_a.pk]))
    event = AuditEvent.objects.filter(action="view").get()
    assert event.user == world.practitioner and event.username == "paula"
    assert event.clinic == world.clinic_a and event.patient == world.patient_a
    assert (event.object_type, event.object_id) == ("Patient", str(world.patient_a.pk))
    assert event.client_address == "203.0.113.7"
    assert event.recorded_at.utcoffset() == dt.timedelta(0)


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_a_trusted_proxy_the_forwarded_client_address_is_recorded(world):
    client = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.9, 192.0.2.44")
    client.force_login(world.practitioner)
    client.get(reverse("patients:detail", args=[world.patient_a.pk]))
    assert AuditEvent.objects.get(action="view").client_address == "192.0.2.44"


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_a_forwarded_value_that_is_not_an_address_falls_back_to_the_peer(world):
    client = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="unknown")
    client.force_login(world.practitioner)
    assert client.get(reverse("patients:detail", args=[world.patient_a.pk])).status_code == 200
    assert AuditEvent.objects.get(action="view").client_address == "10.0.0.1"


def test_without_a_trusted_proxy_a_forged_forwarded_header_is_ignored(world):
    client = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.9")
    client.force_login(world.practitioner)
    client.get(reverse("patients:detail", args=[world.patient_a.pk]))
    assert AuditEvent.objects.get(action="view").client_address == "10.0.0.1"


def test_the_write_and_its_audit_row_commit_or_fail_together(world, monkeypatch):
    def broken_save(self, *args, **kwargs):
        raise DatabaseError("audit storage unavailable")

    monkeypatch.setattr(AuditEvent, "save", broken_save)
    with pytest.raises(DatabaseError):
        patient_services.patient_create(
            actor=world.front_desk,
            given_name="Lost",
            family_name="Write",
            birth_date=dt.date(1990, 1, 1),
            sex="male",
        )
    assert not Patient.objects.filter(family_name="Write").exists()


def test_sign_in_and_sign_out_are_recorded(world):
    client = Client(REMOTE_ADDR="192.0.2.1")
    client.post(reverse("login"), {"username": "paula", "password": factories.PASSWORD})
    client.post(reverse("logout"))
    actions = list(
        AuditEvent.objects.filter(user=world.practitioner).values_list("action", flat=True)
    )
    assert actions == ["logout", "login"]


def _export(client: Client, **filters) -> list[list[str]]:
    response = client.get(reverse("audit:export"), filters)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_audit_page_lists_only_this_clinics_events_with_filters(world):
    client_for(world.practitioner).get(reverse("patients:detail", args=[world.patient_a.pk]))
    client_for(world.assistant).get(reverse("patients:episode", args=[world.episode_a.pk]))
    client_for(world.other_practitioner).get(reverse("patients:detail", args=[world.patient_b.pk]))
    admin = client_for(world.admin)

    page = admin.get(reverse("audit:list"), {"action": "view"})
    events = list(page.context["page"].object_list)
    assert {e.username for e in events} == {"paula", "andy", "alice"}  # alice: this page
    assert all(e.clinic_id == world.clinic_a.pk for e in events)

    by_user = admin.get(reverse("audit:list"), {"user": world.assistant.pk, "action": "view"})
    assert [e.object_type for e in by_user.context["page"].object_list] == ["EpisodeOfCare"]

    by_patient = admin.get(reverse("audit:list"), {"patient_mrn": world.patient_b.mrn})
    assert list(by_patient.context["page"].object_list) == []


def test_the_date_filter_uses_whole_days_in_the_clinic_time_zone(world):
    world.clinic_a.timezone = "America/New_York"
    world.clinic_a.save()
    # 03:30 UTC on 2026-03-10 is still 9 March in New York.
    AuditEvent.objects.create(
        clinic=world.clinic_a,
        action="view",
        object_type="Patient",
        recorded_at=dt.datetime(2026, 3, 10, 3, 30, tzinfo=dt.UTC),
    )
    admin = client_for(world.admin)
    march_9 = admin.get(reverse("audit:list"), {"date_from": "2026-03-09", "date_to": "2026-03-09"})
    march_10 = admin.get(
        reverse("audit:list"), {"date_from": "2026-03-10", "date_to": "2026-03-10"}
    )
    assert march_9.context["page"].paginator.count == 1
    assert march_10.context["page"].paginator.count == 0


def test_an_end_date_before_the_start_date_is_an_error_on_the_field(world):
    response = client_for(world.admin).get(
        reverse("audit:list"), {"date_from": "2026-03-10", "date_to": "2026-03-01"}
    )
    assert response.context["form"].errors["date_to"] == ["The end date is before the start date."]
    bad_export = client_for(world.admin).get(
        reverse("audit:export"), {"date_from": "2026-03-10", "date_to": "2026-03-01"}
    )
    assert bad_export.status_code == 400


def test_the_csv_download_gives_utc_times_while_the_page_shows_clinic_time(world):
    world.clinic_a.timezone = "America/New_York"
    world.clinic_a.save()
    AuditEvent.objects.create(
        clinic=world.clinic_a,
        patient=world.patient_a,
        username="paula",
        action="view",
        object_type="Patient",
        object_id=str(world.patient_a.pk),
        recorded_at=dt.datetime(2026, 3, 10, 3, 30, tzinfo=dt.UTC),
    )
    admin = client_for(world.admin)
    rows = _export(admin, patient_mrn=world.patient_a.mrn)
    header, *body = rows
    assert header[:6] == [
        "recorded_at_utc",
        "username",
        "clinic_id",
        "patient_id",
        "patient_mrn",
        "action",
    ]
    assert [(r[0], r[1], r[5], r[6]) for r in body] == [
        ("2026-03-10T03:30:00+00:00", "paula", "view", "Patient")
    ]
    page = admin.get(reverse("audit:list"), {"patient_mrn": world.patient_a.mrn}).content.decode()
    assert "2026-03-09 23:30:00" in page  # 03:30 UTC is 23:30 the evening before in New York
    assert AuditEvent.objects.filter(action="export", user=world.admin).count() == 1


@pytest.mark.parametrize(
    "query",
    [
        {"date_to": "9999-12-31"},
        {"date_from": "0001-01-01"},
        {"action": "\x00"},
        {"patient_mrn": "\x00"},
        {"user": "999999999999999999999"},
        {"user": "abc"},
    ],
)
def test_impossible_filters_are_refused_with_a_message_and_show_nothing(world, query):
    world.clinic_a.timezone = "Asia/Tokyo"
    world.clinic_a.save()
    admin = client_for(world.admin)
    since = max(AuditEvent.objects.values_list("pk", flat=True), default=0)
    page = admin.get(reverse("audit:list"), query)
    assert page.status_code == 400
    assert page.context["form"].errors
    assert page.context["page"] is None
    assert admin.get(reverse("audit:export"), query).status_code == 400
    # A refused search reads nothing, so it is not recorded either.
    assert not AuditEvent.objects.filter(pk__gt=since).exists()


def test_the_recorded_filters_are_the_understood_ones_not_the_raw_query(world):
    client_for(world.admin).get(reverse("audit:list"), {"action": "view", "junk": "x" * 5000})
    event = AuditEvent.objects.get(action="view", object_type="AuditTrail")
    assert event.detail == {"filters": {"action": "view"}}


def test_the_csv_cannot_smuggle_a_spreadsheet_formula(world):
    world.practitioner.username = "=HYPERLINK(1)"
    world.practitioner.save()
    client_for(world.practitioner).get(reverse("patients:detail", args=[world.patient_a.pk]))
    rows = _export(client_for(world.admin), action="view")
    assert [r[1] for r in rows[1:] if "HYPERLINK" in r[1]] == ["'=HYPERLINK(1)"]


def test_a_patients_access_history_shows_who_saw_the_record(world):
    client_for(world.front_desk).get(reverse("patients:detail", args=[world.patient_a.pk]))
    page = client_for(world.admin).get(reverse("audit:patient", args=[world.patient_a.pk]))
    usernames = [e.username for e in page.context["page"].object_list]
    assert "fiona" in usernames
    assert all(e.patient_id == world.patient_a.pk for e in page.context["page"].object_list)
