"""The bulk writer of the imports (`services.imports._update`), which the demo, the chart
import and its signatures use: the values given, written to the records named, on either
database (on PostgreSQL one UPDATE from a list of typed values per batch)."""

import datetime as dt

from needlechart.charting.models import NeedlingSession
from needlechart.charting.services import imports
from tests import charts


def test_the_bulk_update_writes_each_records_own_values_nulls_included(world, monkeypatch):
    first = charts.build(world.practitioner, world.episode_a, signed=False).session
    second = charts.build(world.other_practitioner, world.episode_b, signed=False).session
    untouched = {
        s.pk: (s.needle_lot, s.screening_id)
        for s in NeedlingSession.objects.exclude(pk__in=[first.pk, second.pk])
    }
    # A batch of one row: each record is its own statement, as the last of a large import.
    monkeypatch.setattr(imports, "UPDATE_BATCH", 1)
    moment = dt.datetime(2026, 3, 1, 9, 30, 15, 250000, tzinfo=dt.UTC)
    first.cpt_code, first.needle_lot, first.performed_at = "20561", "LOT-7", moment
    second.cpt_code, second.needle_lot, second.screening_id = "", "", None
    imports._update(
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
