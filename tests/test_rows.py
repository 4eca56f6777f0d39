"""`needlechart.rows.values`: what the chart export reads its records with."""

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext

from needlechart.charting.models import NeedlingSession
from needlechart.rows import values
from tests import charts


def test_values_are_those_the_orm_gives(world):
    charts.build(world.practitioner, world.episode_a, signed=True)
    rows = NeedlingSession.objects.order_by("pk")
    paths = ["pk", "performed_at", "signed_at", "sharps_disposed", "co_treatments"]
    assert values(rows, paths) == list(rows.values_list(*paths))


def test_the_times_come_as_the_moment_makes_them(world):
    charts.build(world.practitioner, world.episode_a, signed=True)
    rows = NeedlingSession.objects.order_by("pk")

    class Day:
        def __call__(self, moment: dt.datetime) -> str:
            return moment.astimezone(dt.UTC).date().isoformat()

        def utc_text(self):
            return lambda text: text[:10]

    expected = [(s.pk, s.performed_at.astimezone(dt.UTC).date().isoformat()) for s in rows]
    assert values(rows, ["pk", "performed_at"], Day()) == expected


def test_no_row_can_match_an_empty_list_of_ids(world):
    with CaptureQueriesContext(connection) as queries:
        assert values(NeedlingSession.objects.filter(pk__in=[]), ["pk"]) == []
    assert len(queries) == 0
