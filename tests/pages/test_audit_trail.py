"""The audit trail pages: the clinic's trail with its filters and CSV, and one patient's
access history."""

import csv
import datetime as dt
import io

import pytest
from django.test import Client
from django.urls import reverse

from needlechart.audit.models import AuditEvent
from tests.conftest import client_for


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


def test_a_trail_longer_than_is_counted_says_so_and_pages_through_the_newest(world, monkeypatch):
    """The trail is counted up to a limit (it grows with every page read): past it the page
    says how far it counted, pages through the newest events, and the filters still count
    exactly what they match."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from needlechart.pages import audit_views

    monkeypatch.setattr(audit_views, "COUNTED", 6)
    monkeypatch.setattr(audit_views, "PAGE_SIZE", 3)
    reader = client_for(world.practitioner)
    for _ in range(8):
        reader.get(reverse("patients:detail", args=[world.patient_a.pk]))
    admin = client_for(world.admin)
    assert AuditEvent.objects.filter(clinic_id=world.clinic_a.pk).count() > 6

    with CaptureQueriesContext(connection) as queries:
        first = admin.get(reverse("audit:list"))
    text = first.content.decode()
    assert "More than 6 events. The newest 6 are paged here" in text
    assert "Page 1 of 2" in text
    [count] = [q["sql"] for q in queries if "COUNT(" in q["sql"] and "audit_auditevent" in q["sql"]]
    assert "LIMIT 7" in count  # the count stops past the limit
    # The last page counted holds the 4th to 6th newest (the views of the trail itself are
    # among them), and offers no page after it.
    last = admin.get(reverse("audit:list"), {"page": 2})
    shown = [e.pk for e in last.context["page"].object_list]
    expected = [
        e.pk
        for e in AuditEvent.objects.filter(clinic_id=world.clinic_a.pk).order_by(
            "-recorded_at", "-id"
        )[3:6]
    ]
    assert shown == expected
    assert 'rel="next"' not in last.content.decode()
    assert admin.get(reverse("audit:list"), {"page": 9}).context["page"].number == 2
    # A filter that matches fewer than the limit is counted exactly.
    by_admin = admin.get(reverse("audit:list"), {"user": world.admin.pk})
    matched = AuditEvent.objects.filter(clinic_id=world.clinic_a.pk, user=world.admin).count()
    assert matched <= 6
    assert f"{matched} event" in by_admin.content.decode()
    assert "More than" not in by_admin.content.decode()
    # One patient's access history pages the same way; it has the CSV, not the filters.
    history = admin.get(reverse("audit:patient", args=[world.patient_a.pk]))
    assert "More than 6 events. The newest 6 are paged here; the CSV has them all." in (
        history.content.decode()
    )
