"""The planner's statistics that migrations take for the indexes they add, and that a bulk
load takes of the tables it filled."""

from types import SimpleNamespace

import pytest
from django.db import connection

from needlechart.db.statistics import analysed_for, refresh_after_load


def _analysed(table: str) -> int:
    """How many times `table`'s statistics were taken (PostgreSQL), or its rows of
    statistics (SQLite)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = %s", [table]
            )
        else:
            cursor.execute("SELECT count(*) FROM sqlite_stat1 WHERE tbl = %s", [table])
        return cursor.fetchone()[0]


def test_a_migration_analyses_the_tables_with_rows_and_leaves_an_empty_one(world):
    """Statistics of an empty table (a new database's) say it is empty until it is analysed
    again: PostgreSQL would plan every read of it as of no rows once a clinic fills it.
    (SQLite's ANALYZE keeps no row of statistics of an empty table either way.)"""
    _keeping_statistics()
    tables = ("portal_healthquestionnaire", "accounts_clinic")
    before = {table: _analysed(table) for table in tables}
    analysed_for(*tables)(None, SimpleNamespace(connection=connection))
    assert _analysed("portal_healthquestionnaire") == before["portal_healthquestionnaire"]
    assert _analysed("accounts_clinic") > before["accounts_clinic"]


def _keeping_statistics() -> None:
    """On SQLite, a database that keeps statistics, of no table yet."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE accounts_clinic")
            cursor.execute("DELETE FROM sqlite_stat1")


def test_a_load_takes_the_statistics_of_the_tables_it_filled_and_of_no_other(world):
    _keeping_statistics()
    tables = ("patients_patient", "patients_episodeofcare", "accounts_clinic")
    before = {table: _analysed(table) for table in tables}
    # The patients reached the threshold; the episodes did not, and the clinics were not
    # loaded at all.
    analysed = refresh_after_load({"patients_patient": 3, "patients_episodeofcare": 2}, threshold=3)
    assert analysed == ["patients_patient"]
    assert _analysed("patients_patient") > before["patients_patient"]
    assert _analysed("patients_episodeofcare") == before["patients_episodeofcare"]
    assert _analysed("accounts_clinic") == before["accounts_clinic"]
    assert refresh_after_load({"patients_patient": 2}, threshold=3) == []


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_sqlite_without_statistics_takes_those_of_every_table_at_once(world):
    """SQLite plans a table without statistics as a large one: statistics of the loaded
    table alone, beside guesses for the others, would skew every join with it."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_clinic")
        cursor.execute("DROP TABLE sqlite_stat1")
    assert refresh_after_load({"patients_patient": 5}, threshold=3) == ["patients_patient"]
    assert _analysed("patients_patient") > 0
    assert _analysed("accounts_clinic") > 0
