"""SQLite reads Django's `%s` placeholders as `?`: each statement is rewritten once per
process, and gives what Django's own rewriting gives."""

import pytest
from django.db import connection

from needlechart.db.sqlite3 import base

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's placeholders"),
]


def _one(sql: str, params: list) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def test_a_statement_is_rewritten_once_and_runs_with_each_call_s_values():
    base._qmark.cache_clear()
    sql = "SELECT %s || '%%s', %s * 2, '100%%'"
    assert _one(sql, ["a", 2]) == ("a%s", 4, "100%")
    assert _one(sql, ["b", 5]) == ("b%s", 10, "100%")
    info = base._qmark.cache_info()
    assert (info.misses, info.hits) == (1, 1)


def test_a_long_statement_is_rewritten_at_each_run_and_not_kept():
    base._qmark.cache_clear()
    values = list(range(6000))
    sql = "SELECT 5999 IN (" + ", ".join(["%s"] * len(values)) + ")"
    assert len(sql) > base.KEPT_UP_TO
    assert _one(sql, values) == (1,)
    assert base._qmark.cache_info().currsize == 0


def test_named_placeholders_are_rewritten_as_django_rewrites_them():
    assert _one("SELECT %(a)s + %(b)s", {"a": 2, "b": 3}) == (5,)
