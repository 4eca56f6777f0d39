"""Dashboard links carry exactly the filters they mean, whatever page they were followed from."""

import csv
import datetime as dt
import html
import io
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from tests.conftest import client_for

FILTERS = {"date_from": "2026-01-01", "date_to": "2026-12-31"}


def _links(response, name: str) -> list[tuple[str, dict[str, list[str]]]]:
    """The links on the page to the named view, as (path, query with every value kept)."""
    target = reverse(name)
    links = []
    for href in re.findall(r'href="([^"]*)"', response.content.decode()):
        url = urlsplit(html.unescape(href))
        if url.path == target:
            links.append((url.path, parse_qs(url.query)))
    return links


def _drilldown(response, figure: str) -> str:
    for href in re.findall(r'href="([^"]*)"', response.content.decode()):
        url = urlsplit(html.unescape(href))
        if url.path == reverse("outcomes:dashboard_patients") and parse_qs(url.query).get(
            "figure"
        ) == [figure]:
            return html.unescape(href)
    raise AssertionError(f"no link to the {figure} list")


def test_every_drilldown_link_carries_one_figure_and_exactly_the_dashboard_filters(world):
    client = client_for(world.practitioner)
    # Arriving with a drill-down's own parameters left in the address, as the back link did.
    response = client.get(
        reverse("outcomes:dashboard"), {**FILTERS, "figure": "responders", "condition": "M54.2"}
    )
    links = _links(response, "outcomes:dashboard_patients")
    assert len(links) >= 5
    for _, query in links:
        assert len(query["figure"]) == 1, query
        assert "condition" not in query or query["figure"] in (["evaluated"], ["responders"])
        assert {k: v for k, v in query.items() if k in FILTERS} == {
            k: [v] for k, v in FILTERS.items()
        }
        assert all(len(values) == 1 for values in query.values()), query


def test_going_back_to_the_dashboard_and_down_again_opens_the_list_clicked(world):
    client = client_for(world.practitioner)
    dashboard = client.get(reverse("outcomes:dashboard"), FILTERS)
    sessions = client.get(_drilldown(dashboard, "sessions"))
    assert sessions.context["title"] == "Patients with a signed session in the period"
    back = re.search(r'href="([^"]*)">Back to the dashboard', sessions.content.decode()).group(1)
    assert parse_qs(urlsplit(html.unescape(back)).query) == {k: [v] for k, v in FILTERS.items()}
    again = client.get(html.unescape(back))
    active = client.get(_drilldown(again, "active"))
    assert active.context["title"] == "Active episodes with a signed session in the period"
    review = client.get(_drilldown(client.get(html.unescape(back)), "review"))
    assert review.context["title"] == "Episodes due for review"


def test_csv_links_carry_the_filters_alone(world):
    response = client_for(world.practitioner).get(
        reverse("outcomes:dashboard"), {**FILTERS, "figure": "muscle", "muscle": "soleus"}
    )
    csv_links = re.findall(r'href="(/dashboard/[a-z-]+\.csv[^"]*)"', response.content.decode())
    assert len(csv_links) == 5
    for href in csv_links:
        assert parse_qs(urlsplit(html.unescape(href)).query) == {k: [v] for k, v in FILTERS.items()}


def test_without_filters_the_links_have_no_stray_separator(world):
    response = client_for(world.practitioner).get(reverse("outcomes:dashboard"))
    page = response.content.decode()
    assert '&amp;"' not in page and '?"' not in page


def test_the_review_list_shows_and_records_a_few_and_the_drilldown_pages_the_rest(
    world, monkeypatch
):
    from needlechart.audit.models import AuditEvent
    from needlechart.outcomes.models import CarePlan
    from needlechart.pages import dashboard_views
    from tests import factories

    CarePlan.objects.create(
        episode=world.episode_a, version=1, planned_sessions=4, frequency="weekly",
        review_on=dt.date.today() - dt.timedelta(days=3), created_by=world.practitioner,
    )  # fmt: skip
    episodes = [world.episode_a, *factories.overdue_reviews(
        world.clinic_a, world.practitioner_a, 4, by=world.practitioner
    )]  # fmt: skip
    monkeypatch.setattr(dashboard_views, "REVIEW_SHOWN", 2)
    monkeypatch.setattr(dashboard_views, "DRILLDOWN_PAGE", 3)
    client = client_for(world.practitioner)

    def listed() -> set[str]:
        rows = AuditEvent.objects.filter(action="list", object_type="EpisodeOfCare")
        return set(rows.values_list("object_id", flat=True))

    page = client.get(reverse("outcomes:dashboard"))
    assert len(page.context["review_shown"]) == 2
    assert "The first 2 of 5" in page.content.decode()
    assert len(listed()) == 2  # only the episodes shown are recorded as listed
    seen = []
    for number in (1, 2):
        drill = client.get(f"{_drilldown(page, 'review')}&page={number}")
        seen += drill.context["episodes"]
        assert drill.context["page"].paginator.count == 5
    assert sorted(e.pk for e in seen) == sorted(e.pk for e in episodes)
    assert listed() == {str(e.pk) for e in episodes}


def test_the_review_list_as_csv_names_every_episode_due_and_records_each_as_exported(world):
    from needlechart.audit.models import AuditEvent
    from tests import factories

    due = factories.overdue_reviews(world.clinic_a, world.practitioner_a, 3, by=world.practitioner)
    factories.overdue_reviews(world.clinic_b, world.practitioner_b, 1, by=world.other_practitioner)
    client = client_for(world.practitioner)
    response = client.get(reverse("outcomes:dashboard_csv", args=["review-due"]))
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert sorted(r[0] for r in rows[1:]) == sorted(e.patient.mrn for e in due)
    exported = AuditEvent.objects.filter(action="export", object_type="EpisodeOfCare")
    assert sorted(exported.values_list("patient_id", flat=True)) == sorted(
        e.patient_id for e in due
    )
    assert all(e.detail["table"] == "review-due" for e in exported)
    # A table that names no patient records the export alone.
    client.get(reverse("outcomes:dashboard_csv", args=["muscles"]))
    assert exported.count() == len(due)


# Committed as a request's writes are: the audit trail's own transaction is the outermost.
@pytest.mark.django_db(transaction=True)
def test_an_export_whose_patients_cannot_be_recorded_records_nothing(world, monkeypatch):
    from needlechart.audit import chain
    from needlechart.audit.models import AuditEvent
    from tests import factories

    factories.overdue_reviews(world.clinic_a, world.practitioner_a, 2, by=world.practitioner)
    values_of = chain.bulk.rows_of

    def fails(records, fields):
        # The patients' rows cannot be written (after the chain has taken their places),
        # however many there are: both ways of writing them take their values here.
        if any(getattr(record, "object_type", "") == "EpisodeOfCare" for record in records):
            raise RuntimeError("the audit trail refused the rows")
        return values_of(records, fields)

    monkeypatch.setattr(chain.bulk, "rows_of", fails)
    client = client_for(world.practitioner)  # signing in is recorded
    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError):
        client.get(reverse("outcomes:dashboard_csv", args=["review-due"]))
    assert AuditEvent.objects.count() == before  # not the export without its patients


@pytest.mark.parametrize("as_json", [True, False])
def test_the_command_records_each_episode_its_json_names_as_exported(world, as_json):
    """`needlechart dashboard --json` prints the whole review list, each patient's name and
    record number: each episode in it is recorded as exported, in the clinic's trail. The
    text names no patient (the number due only) and records the export alone."""
    from django.core.management import call_command

    from needlechart.audit.models import AuditEvent
    from tests import factories

    due = factories.overdue_reviews(world.clinic_a, world.practitioner_a, 3, by=world.practitioner)
    factories.overdue_reviews(world.clinic_b, world.practitioner_b, 1, by=world.other_practitioner)
    out = io.StringIO()
    call_command("dashboard", "--clinic", str(world.clinic_a.pk),
                 *(["--json"] if as_json else []), stdout=out)  # fmt: skip
    exported = AuditEvent.objects.filter(action="export", object_type="EpisodeOfCare")
    export = AuditEvent.objects.get(action="export", object_type="Dashboard")
    assert export.clinic_id == world.clinic_a.pk and export.detail["via"] == "command"
    if not as_json:
        assert "Due for review: 3" in out.getvalue()
        assert not exported.exists()
        return
    printed = json.loads(out.getvalue())
    assert sorted(row["patient"] for row in printed["review_due"]) == sorted(
        e.patient_id for e in due
    )
    assert sorted(exported.values_list("object_id", "patient_id", "clinic_id")) == sorted(
        (str(e.pk), e.patient_id, world.clinic_a.pk) for e in due
    )
    assert all(e.detail == export.detail for e in exported)
