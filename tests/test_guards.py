"""The read-only triggers are all in place after migrating, on SQLite and PostgreSQL."""

from django.db import connection

from needlechart.db import guards
from tests.sql import trigger_names


def _installed() -> set[str]:
    return trigger_names()


def _expected() -> set[str]:
    names = set()
    for guard in guards.all_guards(connection):
        for statement in getattr(guard, connection.vendor):
            names.add(statement.split()[2])
    return names


def test_every_guard_is_installed_after_migrating(db):
    assert _expected() <= _installed()


def test_ensure_puts_back_a_guard_that_a_table_rebuild_dropped(db):
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("DROP TRIGGER charting_insertion_session_id_signed_insert")
        else:
            cursor.execute(
                "DROP TRIGGER charting_insertion_session_id_signed ON charting_insertion"
            )
    assert not _expected() <= _installed()
    guards.ensure(connection)
    assert _expected() <= _installed()
