"""A bulk export makes its instants from the text of the UTC times SQLite holds, an hour of
UTC at a time (`resources.Instants.utc_text`): the same text as `resources.instant` makes of
the aware time, in any zone, across its changes of offset, whole hours or not."""

import datetime as dt

import pytest
from django.utils import timezone

from needlechart.fhir import resources

ZONES = [
    "UTC",
    "Europe/London",  # whole hours, changing at 01:00 UTC
    "America/New_York",  # behind UTC: its local day starts in the UTC afternoon
    "Pacific/Auckland",  # ahead by 12 or 13 hours: the local date is the next day
    "America/St_Johns",  # half hours, changing at 02:00 local, not on a UTC hour
    "Asia/Kolkata",  # half an hour
    "Asia/Kathmandu",  # three quarters of an hour
    "Australia/Lord_Howe",  # a change of offset by half an hour
    "Europe/Amsterdam",  # seconds in its offset before 1937
]


def _times(year: int) -> list[dt.datetime]:
    """Naive UTC times every 20 minutes and 7 seconds through the year, some with
    microseconds: each hour of the year, at varied minutes and seconds."""
    start = dt.datetime(year, 1, 1)
    step = dt.timedelta(minutes=20, seconds=7, microseconds=1_001)
    count = int((dt.datetime(year + 1, 1, 1) - start) / step)
    return [start + step * n for n in range(count)]


@pytest.mark.parametrize("zone_name", ZONES)
@pytest.mark.parametrize("year", [1930, 2026])
def test_instants_from_utc_times_are_those_of_the_aware_times(zone_name: str, year: int) -> None:
    with resources.in_clinic_time(zone_name):
        made = resources.Instants().utc_text()
        for moment in _times(year):
            expected = resources.instant(moment.replace(tzinfo=dt.UTC))
            # The text SQLite holds: 'YYYY-MM-DD HH:MM:SS', perhaps with '.ffffff'.
            assert made(str(moment)) == expected, moment


def test_instants_are_of_the_zone_they_were_asked_in() -> None:
    """An hour made in one export's zone is not used in another's."""
    moment = dt.datetime(2026, 7, 1, 12, 30, 5)
    with resources.in_clinic_time("Europe/London"):
        assert resources.Instants().utc_text()(str(moment)) == "2026-07-01T13:30:05+01:00"
    with resources.in_clinic_time("America/New_York"):
        assert resources.Instants().utc_text()(str(moment)) == "2026-07-01T08:30:05-04:00"


class _HalfPastChange(dt.tzinfo):
    """Whole hours either side of a change at half past an hour of UTC, as no zone of tzdata
    has lately: +01:00, then +02:00 from 2026-03-29 01:30 UTC (02:30 local)."""

    def utcoffset(self, moment: dt.datetime | None) -> dt.timedelta:
        return dt.timedelta(hours=1) + self.dst(moment)

    def dst(self, moment: dt.datetime | None) -> dt.timedelta:
        changed = moment is not None and moment.replace(tzinfo=None) >= dt.datetime(
            2026, 3, 29, 2, 30
        )
        return dt.timedelta(hours=1 if changed else 0)

    def tzname(self, moment: dt.datetime | None) -> str:
        return "HPC"


def test_an_hour_of_utc_in_which_the_offset_changes_is_made_time_by_time() -> None:
    with timezone.override(_HalfPastChange()):
        made = resources.Instants().utc_text()
        assert made("2026-03-29 01:29:59") == "2026-03-29T02:29:59+01:00"
        assert made("2026-03-29 01:30:00") == "2026-03-29T03:30:00+02:00"
        for moment in _times(2026):
            assert made(str(moment)) == resources.instant(moment.replace(tzinfo=dt.UTC)), moment


def test_text_of_another_form_is_read_in_full() -> None:
    """A time not in the form Django writes (written by hand, say) is still made right."""
    with resources.in_clinic_time("Europe/London"):
        made = resources.Instants().utc_text()
        assert made("2026-07-01T12:30:05") == "2026-07-01T13:30:05+01:00"
        assert made("2026-07-01 12:30:05+02:00") == "2026-07-01T11:30:05+01:00"
        assert made("2026-07-01 12:30") == "2026-07-01T13:30:00+01:00"
