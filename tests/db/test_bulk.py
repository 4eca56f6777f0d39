"""`bulk.insert` writes the rows `bulk_create` writes: the same values read back, the
times an added row stamps, the keys of related records saved just before, and the new keys
on the records, in their order, after the rows already there. `bulk.update`, which the
imports' signatures and reviews use, writes the values given, on either database (on
PostgreSQL one UPDATE from a list of typed values per batch)."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.forms.models import model_to_dict

from needlechart.audit.models import AuditEvent
from needlechart.charting.models import NeedlingSession
from needlechart.db import bulk
from needlechart.patients.models import EpisodeOfCare, Patient, Sex
from tests import charts, factories

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


def test_update_writes_each_record_s_values_as_bulk_update_does(monkeypatch):
    """New values of many rows, more than one statement takes: text, a date or none, a
    link, each row its own, and the rows not asked for left as they were."""
    monkeypatch.setattr(bulk, "UPDATE_BATCH", 2)
    clinic = factories.clinic("Bulk clinic")
    manager = factories.practitioner(clinic, "bulk-manager")
    other = factories.practitioner(clinic, "bulk-other")
    patients = _patients(clinic, 200)
    bulk.insert(Patient, patients)
    episodes = [_episode(p, manager) for p in patients]
    bulk.insert(EpisodeOfCare, episodes)
    mirror = [EpisodeOfCare.objects.get(pk=e.pk) for e in episodes]
    for n, (episode, twin) in enumerate(zip(episodes[:4], mirror[:4], strict=True)):
        for record in (episode, twin):
            record.body_area = f"area {n} 'quoted'"
            record.period_end = dt.date(2026, 3, 1 + n) if n % 2 else None
            record.care_manager = other if n == 2 else manager
    untouched = {e.pk: model_to_dict(EpisodeOfCare.objects.get(pk=e.pk)) for e in episodes[4:]}
    names = ["body_area", "period_end", "care_manager"]
    bulk.update(EpisodeOfCare, episodes[:4], names)
    written = {e.pk: model_to_dict(EpisodeOfCare.objects.get(pk=e.pk)) for e in episodes}
    with transaction.atomic():
        EpisodeOfCare.objects.bulk_update(mirror[:4], names)
    expected = {e.pk: model_to_dict(EpisodeOfCare.objects.get(pk=e.pk)) for e in episodes}
    assert written == expected
    assert [written[e.pk]["body_area"] for e in episodes[:4]] == [
        f"area {n} 'quoted'" for n in range(4)
    ]
    assert {pk: written[pk] for pk in untouched} == untouched


def test_the_bulk_update_writes_each_records_own_values_nulls_included(world, monkeypatch):
    """The import's signatures: the values given, nulls included, on the records named."""
    first = charts.build(world.practitioner, world.episode_a, signed=False).session
    second = charts.build(world.other_practitioner, world.episode_b, signed=False).session
    untouched = {
        s.pk: (s.needle_lot, s.screening_id)
        for s in NeedlingSession.objects.exclude(pk__in=[first.pk, second.pk])
    }
    # A batch of one row: each record is its own statement, as the last of a large import.
    monkeypatch.setattr(bulk, "UPDATE_BATCH", 1)
    moment = dt.datetime(2026, 3, 1, 9, 30, 15, 250000, tzinfo=dt.UTC)
    first.cpt_code, first.needle_lot, first.performed_at = "20561", "LOT-7", moment
    second.cpt_code, second.needle_lot, second.screening_id = "", "", None
    bulk.update(
        NeedlingSession, [first, second], ["cpt_code", "needle_lot", "performed_at", "screening"]
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.cpt_code, first.needle_lot, first.performed_at) == ("20561", "LOT-7", moment)
    assert first.screening_id is not None
    assert (second.cpt_code, second.needle_lot, second.screening_id) == ("", "", None)
    assert {
        s.pk: (s.needle_lot, s.screening_id)
        for s in NeedlingSession.objects.exclude(pk__in=[first.pk, second.pk])
    } == untouched
