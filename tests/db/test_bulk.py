"""`bulk.insert` writes the rows `bulk_create` writes: the same values read back, the
times an added row stamps, the keys of related records saved just before, and the new keys
on the records, in their order, after the rows already there."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.forms.models import model_to_dict

from needlechart.audit.models import AuditEvent
from needlechart.db import bulk
from needlechart.patients.models import EpisodeOfCare, Patient, Sex
from tests import factories

pytestmark = pytest.mark.django_db


def _patients(clinic, first: int) -> list[Patient]:
    return [
        Patient(
            clinic=clinic,
            mrn=f"B{first + n:05d}",
            given_name="Ana",
            family_name=f"Bulk{n}",
            birth_date=dt.date(1970 + n, 1, 2),
            sex=Sex.FEMALE if n % 2 else Sex.MALE,
            email="" if n % 2 else f"bulk{n}@example.org",
            address=f"{n} Quay Street\nDemo Town",
        )
        for n in range(5)
    ]


def _episode(patient: Patient, manager) -> EpisodeOfCare:
    return EpisodeOfCare(
        patient=patient,
        condition_code="M54.2",
        body_area="neck",
        referral_source="self",
        care_manager=manager,
        period_start=dt.date(2026, 1, 5),
    )


def _stored(model, records) -> list[dict]:
    """The rows as read back, without their keys and stamps."""
    rows = model.objects.filter(pk__in=[r.pk for r in records]).order_by("pk")
    return [
        model_to_dict(row, exclude=["id", "created_at", "updated_at", "patient"]) for row in rows
    ]


def test_the_rows_read_back_as_bulk_create_writes_them():
    clinic = factories.clinic()
    factories.patient(clinic)
    ours, django = _patients(clinic, 100), _patients(clinic, 200)
    with transaction.atomic():
        bulk.insert(Patient, ours)
    Patient.objects.bulk_create(django)
    mine, theirs = _stored(Patient, ours), _stored(Patient, django)
    assert [{**row, "mrn": ""} for row in mine] == [{**row, "mrn": ""} for row in theirs]
    assert [row["mrn"] for row in mine] == [f"B{100 + n:05d}" for n in range(5)]


def test_the_new_keys_follow_the_rows_already_there_in_the_records_order():
    clinic = factories.clinic()
    before = factories.patient(clinic)
    records = _patients(clinic, 300)
    bulk.insert(Patient, records)
    assert all(record.pk > before.pk for record in records)
    for record in records:
        assert Patient.objects.get(pk=record.pk).mrn == record.mrn
        assert not record._state.adding
    after = factories.patient(clinic)
    assert after.pk > max(record.pk for record in records)


def test_an_added_row_is_stamped_and_takes_the_key_of_a_record_saved_after_it_was_assigned():
    clinic = factories.clinic()
    manager = factories.practitioner(clinic, "bulk-manager")
    patients = _patients(clinic, 400)
    # Assigned while the patients had no key yet, as an import builds them.
    episodes = [_episode(patient, manager) for patient in patients]
    bulk.insert(Patient, patients)
    bulk.insert(EpisodeOfCare, episodes)
    for patient, episode in zip(patients, episodes, strict=True):
        stored = EpisodeOfCare.objects.get(pk=episode.pk)
        assert stored.patient_id == patient.pk
        assert stored.created_at is not None
        assert stored.created_at == episode.created_at


def test_a_record_whose_related_record_is_unsaved_is_refused():
    clinic = factories.clinic()
    manager = factories.practitioner(clinic, "bulk-manager-2")
    unsaved = _patients(clinic, 500)[0]
    episode = _episode(unsaved, manager)
    with pytest.raises(ValueError, match="unsaved related object"):
        bulk.insert(EpisodeOfCare, [episode])
    assert not EpisodeOfCare.objects.exists()


@pytest.mark.parametrize("zone", ["UTC", "Europe/Dublin", "America/St_Johns", "Asia/Kolkata"])
def test_a_time_is_stored_as_the_field_stores_it(zone):
    field = AuditEvent._meta.get_field("recorded_at")
    for moment in (dt.datetime(2026, 3, 29, 0, 30, 15, 123456), dt.datetime(2026, 10, 25, 1, 30)):
        aware = moment.replace(tzinfo=ZoneInfo(zone))
        expected = field.get_db_prep_save(aware, connection)
        assert bulk._prepared(field, aware, {}, connection) == expected


def test_more_rows_than_one_statement_takes_are_all_written_with_their_keys():
    clinic = factories.clinic()
    many = bulk.ROWS_PER_STATEMENT + 7
    records = [
        Patient(
            clinic=clinic,
            mrn=f"M{n:06d}",
            given_name="Ana",
            family_name="Many",
            birth_date=dt.date(1980, 1, 1),
            sex=Sex.FEMALE,
        )
        for n in range(many)
    ]
    bulk.insert(Patient, records)
    stored = dict(Patient.objects.filter(clinic=clinic).values_list("pk", "mrn"))
    assert len(stored) == many
    assert all(stored[record.pk] == record.mrn for record in records)
