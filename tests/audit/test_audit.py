import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client, override_settings
from django.urls import reverse

from needlechart.audit import chain
from needlechart.audit import services as audit
from needlechart.audit.models import AuditEvent
from needlechart.patients import services as patient_services
from needlechart.patients.models import Patient
from tests import factories


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
    def broken_save(*args, **kwargs):
        raise DatabaseError("audit storage unavailable")

    # Where a single audit row is written (audit.chain), whatever the database.
    monkeypatch.setattr(chain, "_save_with_seal", broken_save)
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
