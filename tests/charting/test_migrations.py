"""What the charting migrations do beyond the schema."""

import importlib
from types import SimpleNamespace

import pytest
from django.db import connection

from needlechart.portal import selectors as portal_selectors
from tests import charts
from tests.sql import captured

# The migration that added a practitioner's indexes of their visits (the home page).
HOME_PAGE_INDEXES = importlib.import_module(
    "needlechart.charting.migrations.0012_home_page_indexes"
)
TABLES = ("charting_needlingsession", "charting_assessment")


def _refresh() -> None:
    HOME_PAGE_INDEXES.refresh_statistics(None, SimpleNamespace(connection=connection))


def _sqlite_statistics() -> set[str] | None:
    """The indexes SQLite keeps statistics of for the two tables; None without statistics."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
        if cursor.fetchone() is None:
            return None
        cursor.execute("SELECT idx FROM sqlite_stat1 WHERE tbl IN (%s, %s)", TABLES)
        return {idx for (idx,) in cursor.fetchall()}


def test_the_new_indexes_get_the_planner_s_statistics_where_the_database_keeps_them(world):
    charts.build(world.practitioner, world.episode_a, signed=True)
    if connection.vendor == "sqlite":
        # A database that keeps statistics: its old ones, without the new indexes.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE patients_patient")
            cursor.execute("DELETE FROM sqlite_stat1 WHERE tbl IN (%s, %s)", TABLES)
        assert _sqlite_statistics() == set()
        _refresh()
        kept = _sqlite_statistics()
        assert {"session_practitioner_day", "session_drafts_in_time"} <= kept
        assert {"assessment_practitioner_day", "assessment_drafts_in_time"} <= kept
    else:
        _refresh()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT tablename FROM pg_stats WHERE tablename IN (%s, %s)"
                " AND attname = 'practitioner_id'",
                TABLES,
            )
            assert {name for (name,) in cursor.fetchall()} == set(TABLES)


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_a_sqlite_database_without_statistics_is_left_without(world):
    """Statistics of two tables alone would steer SQLite's plans of every other one."""
    charts.build(world.practitioner, world.episode_a, signed=True)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS sqlite_stat1")
    _refresh()
    assert _sqlite_statistics() is None


def test_a_clinic_s_effects_awaiting_review_are_counted_without_their_sessions(world):
    """The clinic's count joins each pending effect to its own patient (the column the
    database keeps, portal migration 0004), not through its session and episode: at 10,000
    patients on PostgreSQL, 3.8 ms against 17 ms through the index of a session's id and
    episode, and 36 ms through the sessions' wide rows before that index."""
    with captured() as statements:
        portal_selectors.clinic_attention(world.practitioner)
    sql = next(s for s, _ in statements if 'FROM "portal_reportedeffect"' in s)
    count = _parenthesised(sql, sql.index("(SELECT COUNT("))
    assert 'JOIN "patients_patient" U' in count
    assert "charting_needlingsession" not in count
    assert "patients_episodeofcare" not in count


def _parenthesised(sql: str, start: int) -> str:
    """The bracketed part of `sql` opening at `start` (a subquery)."""
    depth = 0
    for end, char in enumerate(sql[start:], start):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return sql[start : end + 1]
    raise AssertionError(f"unclosed bracket: {sql[start:]}")
