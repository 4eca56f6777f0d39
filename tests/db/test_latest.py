"""A record's history on its page: the newest rows listed, how many more there are, and all
of them when asked (needlechart/db/latest.py)."""

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from needlechart.charting.models import Consent, Screening
from needlechart.db import latest
from needlechart.outcomes.models import CarePlan
from tests import charts
from tests.conftest import client_for

# Each page, what its history lists (the newest first) and what a row is called.
HISTORIES = {
    "charting:screening": (lambda w: Screening.objects.filter(episode=w.episode_a), "screening"),
    "charting:consent": (lambda w: Consent.objects.filter(patient=w.patient_a), "consent"),
    "outcomes:plan": (lambda w: CarePlan.objects.filter(episode=w.episode_a), "version"),
}


@pytest.mark.parametrize("name", sorted(HISTORIES))
def test_a_history_lists_its_newest_rows_and_every_row_when_asked(world, monkeypatch, name):
    monkeypatch.setattr(latest, "LISTED", 2)
    for _ in range(4):
        charts.grow(world.practitioner, world.episode_a)
    rows, noun = HISTORIES[name]
    every = list(rows(world))
    assert len(every) >= 4
    record = world.patient_a if name == "charting:consent" else world.episode_a
    url = reverse(name, args=[record.pk])
    client = client_for(world.practitioner)
    page = client.get(url)
    assert list(page.context["history"]) == every[:2]
    more = len(every) - 2
    assert (
        f'{more} earlier {noun}s not listed. <a href="?history=all">List all {len(every)}</a>'
        in page.content.decode()
    )
    asked = client.get(f"{url}?history=all")
    assert list(asked.context["history"]) == every
    assert "not listed" not in asked.content.decode()


def test_the_newest_and_their_count_are_one_query_and_an_empty_history_none_past_it(world):
    for _ in range(4):
        charts.grow(world.practitioner, world.episode_a)
    rows = Screening.objects.filter(episode=world.episode_a)
    with CaptureQueriesContext(connection) as queries:
        shown = latest.latest(rows, listed=2)
    assert len(queries) == 1
    assert (list(shown), shown.total, shown.earlier) == (list(rows[:2]), 4, 2)
    none = latest.latest(Screening.objects.filter(episode=world.episode_b))
    assert (list(none), none.total, none.earlier) == ([], 0, 0)


def test_a_count_of_the_rows_and_of_those_matching_rides_on_the_first_few(world):
    """`count_of` counts every row of the query that takes the first few, and those
    matching a condition, the same whichever way the database counts them."""
    for _ in range(4):
        charts.grow(world.practitioner, world.episode_a)
    rows = Screening.objects.filter(episode=world.episode_a)
    oldest = sorted(rows.values_list("pk", flat=True))[:2]
    with CaptureQueriesContext(connection) as queries:
        first = list(
            rows.annotate(
                total=latest.count_of(rows),
                older=latest.count_of(rows, Q(pk__lte=oldest[-1])),
                none=latest.count_of(rows, Q(pk__lt=0)),
            )[:2]
        )
    assert len(queries) == 1 and len(first) == 2
    assert {(row.total, row.older, row.none) for row in first} == {(4, 2, 0)}


def test_listing_every_row_keeps_where_the_page_goes_next(world, monkeypatch):
    """The first visit passes through the consent page on its way back to the episode
    (`next`): asking for the whole history there keeps the way back."""
    monkeypatch.setattr(latest, "LISTED", 2)
    for _ in range(3):
        charts.grow(world.practitioner, world.episode_a)
    episode = reverse("patients:episode", args=[world.episode_a.pk])
    url = f"{reverse('charting:consent', args=[world.patient_a.pk])}?next={episode}"
    page = client_for(world.practitioner).get(url).content.decode()
    assert f'href="?next={episode.replace("/", "%2F")}&amp;history=all"' in page


@pytest.mark.parametrize(
    ("asked", "page"),
    [
        ("3", 3), ("0005", 5), (7, 7), (None, 1), ("", 1), ("x", 1), ("0", 1), ("-3", 1),
        ("+3", 1), (" 3", 1), ("²", 1), ("٣", 1), ("1_0", 1), ("3.5", 1),
        ("1000001", latest.LAST_ASKABLE), ("9" * 5000, latest.LAST_ASKABLE),
    ],
)  # fmt: skip
def test_a_page_number_from_an_address_is_a_whole_number_within_reach(asked, page):
    """Digits only (Python's int() also reads "+3", " 3", "1_0" and other scripts' digits),
    and a number too long for the database's offset (or for int() itself) is past the end:
    the list then shows its last page."""
    assert latest.page_number(asked) == page
