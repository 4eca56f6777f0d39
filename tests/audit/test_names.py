"""The audit trail names records in words; the CSV keeps its machine columns beside them."""

import csv
import datetime as dt
import io
import re
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from needlechart.audit import names
from needlechart.audit.models import AuditEvent
from needlechart.audit.services import object_type_of
from needlechart.outcomes.models import CarePlan
from tests import charts, factories
from tests.conftest import client_for

PACKAGE = Path(names.__file__).resolve().parent.parent


def _seen(world, obj, action="view") -> AuditEvent:
    patient_id = world.patient_a.pk if hasattr(obj, "patient_id") else None
    return AuditEvent.objects.create(
        clinic=world.clinic_a, username="paula", action=action, patient_id=patient_id,
        object_type=object_type_of(obj), object_id=str(obj.pk),
    )  # fmt: skip


def _labels(response) -> dict[str, str]:
    return {
        f"{e.object_type}/{e.object_id}": e.record_label
        for e in response.context["page"].object_list
    }


def test_every_type_of_record_the_trail_records_has_a_name_in_words():
    recorded = set(names._models()) - {"AuditEvent"}
    # And every page or export recorded by name rather than as one record.
    for path in PACKAGE.rglob("*.py"):
        recorded |= set(re.findall(r'object_type="([A-Za-z/]+)"', path.read_text()))
    assert recorded - set(names.KINDS) == set()
    assert all(" " in kind.words or kind.words.istitle() for kind in names.KINDS.values())


@pytest.fixture
def charted(world):
    world.chart = charts.build(world.practitioner, world.episode_a, signed=True)
    return world


def test_the_audit_trail_names_each_record_in_words_not_by_its_internal_type(charted):
    world, chart = charted, charted.chart
    session = chart.signed_session
    plan = CarePlan.objects.create(episode=world.episode_a, version=2,
                                   review_on=dt.date(2027, 1, 4), created_by=world.practitioner)  # fmt: skip
    for obj in (world.patient_a, world.episode_a, session, chart.assessment, chart.insertion,
                chart.event, chart.observation, chart.consent, chart.finding, plan,
                world.practitioner_a, world.admin):  # fmt: skip
        _seen(world, obj)
    response = client_for(world.admin).get(reverse("audit:list"))
    labels = _labels(response)
    day = f"{session.performed_at:%Y-%m-%d}"
    assert labels[f"Encounter/{session.pk}"] == f"Needling session of {day}"
    assert labels[f"Patient/{world.patient_a.pk}"] == "Patient details of Ann Smith"
    assert labels[f"EpisodeOfCare/{world.episode_a.pk}"] == (
        "Episode of care for M54.2 Cervicalgia (neck pain)"
    )
    assert labels[f"ClinicalImpression/{chart.assessment.pk}"] == f"Initial assessment of {day}"
    assert labels[f"Procedure/{chart.insertion.pk}"] == "Needled muscle: Gastrocnemius (left)"
    assert labels[f"AdverseEvent/{chart.event.pk}"] == "Adverse event: Bruising (mild)"
    assert labels[f"Observation/{chart.observation.pk}"].startswith(
        "Measurement: Pain intensity (NPRS) 6, "
    )
    assert labels[f"Consent/{chart.consent.pk}"] == f"Consent signed on {day}"
    assert labels[f"Observation/TriggerPointFinding/{chart.finding.pk}"] == (
        "Trigger-point finding: Gastrocnemius (left)"
    )
    assert labels[f"CarePlan/{plan.pk}"] == "Treatment plan, version 2"
    assert labels[f"Practitioner/{world.practitioner_a.pk}"] == (
        "Practitioner profile of Paula Physio"
    )
    assert labels[f"User/{world.admin.pk}"] == "Staff account of Alice Admin"
    assert labels["AuditTrail/"] == "Audit trail"
    page = response.content.decode()
    assert f"Needling session of {day}" in page
    assert "Encounter" not in page and "#" + str(session.pk) not in page


def test_a_record_no_longer_there_is_named_by_its_kind_and_number(world):
    AuditEvent.objects.create(clinic=world.clinic_a, action="delete", object_type="Procedure",
                              object_id="756", patient=world.patient_a)  # fmt: skip
    labels = _labels(client_for(world.admin).get(reverse("audit:list"), {"action": "delete"}))
    assert labels["Procedure/756"] == "Needled muscle 756"


def test_a_patients_access_history_names_records_in_words_too(charted):
    _seen(charted, charted.chart.signed_session)
    response = client_for(charted.admin).get(reverse("audit:patient", args=[charted.patient_a.pk]))
    assert "Needling session of " in response.content.decode()


def _export(client, **filters) -> list[list[str]]:
    response = client.get(reverse("audit:export"), filters)
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_csv_keeps_its_machine_columns_and_adds_the_record_in_words(charted):
    session = charted.chart.signed_session
    _seen(charted, session)
    header, *rows = _export(client_for(charted.admin), action="view")
    assert header == [*names_free_header(), "record"]
    row = next(r for r in rows if r[6] == "Encounter")
    assert row[7] == str(session.pk)
    assert row[-1] == f"Needling session of {session.performed_at:%Y-%m-%d}, Ann Smith"


def names_free_header() -> list[str]:
    return ["recorded_at_utc", "username", "clinic_id", "patient_id", "patient_mrn", "action",
            "object_type", "object_id", "client_address", "detail"]  # fmt: skip


def test_naming_the_records_costs_one_query_per_type_however_many_events(
    world, django_assert_max_num_queries
):
    def add_events(count: int) -> None:
        for _ in range(count):
            patient = factories.patient(world.clinic_a)
            episode = factories.episode(patient, world.practitioner_a)
            for obj in (patient, episode):
                AuditEvent.objects.create(clinic=world.clinic_a, action="view", patient=patient,
                                          object_type=object_type_of(obj), object_id=str(obj.pk))  # fmt: skip

    client = client_for(world.admin)
    add_events(2)
    # Session, user, the audit row of the reading (its place in the chain, its seal, the
    # row), count, page, the patients and episodes named, the users for the filter, the
    # chain's last verification.
    with django_assert_max_num_queries(11):
        client.get(reverse("audit:list"))
    add_events(20)
    with django_assert_max_num_queries(11):
        response = client.get(reverse("audit:list"))
    assert sum("Episode of care for" in v for v in _labels(response).values()) == 22


def test_naming_the_records_joins_only_the_relations_their_names_use(charted):
    """Each type's rows are read alone, or with the relations its name is written from:
    `select_related()` with no names would join every foreign key, and theirs in turn."""
    world, chart = charted, charted.chart
    records = (world.episode_a, chart.signed_session, chart.insertion, chart.event,
               chart.observation, chart.consent, world.practitioner_a)  # fmt: skip
    events = [_seen(world, obj) for obj in records]
    with CaptureQueriesContext(connection) as context:
        loaded = names._loaded(events)
    assert len(loaded) == len(records)
    joins = {
        re.search(r'FROM "(\w+)"', q["sql"]).group(1): q["sql"].count(" JOIN ")
        for q in context.captured_queries
    }
    assert joins == {
        "patients_episodeofcare": 0, "charting_needlingsession": 0, "charting_insertion": 0,
        "charting_adverseevent": 0, "outcomes_observation": 0, "charting_consent": 0,
        # Its name is the practitioner's user's.
        "accounts_practitioner": 1,
    }  # fmt: skip
