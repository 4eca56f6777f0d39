"""The planner's statistics that migrations take for the indexes they add."""

from types import SimpleNamespace

from django.db import connection

from needlechart.db.statistics import analysed_for


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
    if connection.vendor == "sqlite":
        # A database that keeps statistics, none of these two tables yet.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE accounts_clinic")
            cursor.execute("DELETE FROM sqlite_stat1")
    tables = ("portal_healthquestionnaire", "accounts_clinic")
    before = {table: _analysed(table) for table in tables}
    analysed_for(*tables)(None, SimpleNamespace(connection=connection))
    assert _analysed("portal_healthquestionnaire") == before["portal_healthquestionnaire"]
    assert _analysed("accounts_clinic") > before["accounts_clinic"]
