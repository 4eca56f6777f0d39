"""The query planner's statistics, refreshed after a bulk load."""

from collections.abc import Callable
from typing import Any

from django.db import connection


def refresh_statistics(*tables: str) -> None:
    """ANALYZE every table (or those named): after a bulk load (the demo, an import) the
    planner would otherwise plan the dashboard's queries for the empty tables it last saw.

    On PostgreSQL, outside a transaction, VACUUM them as well. A load that writes rows and
    then updates them (the demo's sessions are signed after their rows are written) leaves
    a dead copy of each, which every scan of the table and each of its indexes reads until a
    vacuum: the demo of 20,000 patients left 135,554 dead sessions beside 136,940 live ones,
    and the home page's read of a practitioner's drafts went through 45,138 index entries
    for 517 drafts. A server's autovacuum gets to them in its own time, or never where it
    is turned off; a vacuum inside a transaction is refused, so there it is left to it."""
    in_transaction = connection.in_atomic_block or not connection.get_autocommit()
    vacuum = connection.vendor == "postgresql" and not in_transaction
    command = "VACUUM (ANALYZE)" if vacuum else "ANALYZE"
    with connection.cursor() as cursor:
        if not tables:
            cursor.execute(command)
        for table in tables:
            cursor.execute(f"{command} {connection.ops.quote_name(table)}")


def analysed_for(*tables: str) -> Callable[[Any, Any], None]:
    """A migration's step that takes the planner's statistics of `tables` at once, for the
    indexes the migration adds, where the database keeps statistics: on SQLite only once a
    bulk load or ANALYZE has made its statistics table (without one it plans by rule), and
    only of tables with rows."""

    def analyse(apps: Any, schema_editor: Any) -> None:
        database = schema_editor.connection
        with database.cursor() as cursor:
            if database.vendor == "sqlite":
                cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
                if cursor.fetchone() is None:
                    return
            for table in tables:
                name = database.ops.quote_name(table)
                # An empty table (a new database) is left as it is: statistics taken now
                # would say it is empty until it is analysed again.
                cursor.execute(f"SELECT 1 FROM {name} LIMIT 1")  # noqa: S608 - a migration's table
                if cursor.fetchone() is not None:
                    cursor.execute(f"ANALYZE {name}")

    return analyse
