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


# A load of this many rows into one table moves its statistics enough to change plans: a
# clinic's first import from another system fills tables the planner last saw empty.
# PostgreSQL's autoanalyze would take them in its own time (a tenth of a table changed), or
# never where it is off; meanwhile the dashboard's figures took 18.6 s rather than 1.3 s.
BULK_LOAD_ROWS = 1000


def refresh_after_load(written: dict[str, int], threshold: int | None = None) -> list[str]:
    """Take the planner's statistics of each table a load wrote at least BULK_LOAD_ROWS rows
    to (`written`: rows by table), and return the tables analysed, in order.

    ANALYZE alone, without the vacuum `refresh_statistics` adds: a load that only inserts
    leaves no dead rows, and a vacuum reads the whole table. On PostgreSQL ANALYZE reads a
    sample of each table, so its cost does not grow with the clinic. SQLite plans a table
    without statistics as a large one: where it keeps none yet, every table is analysed at
    once, so that no table's statistics are read beside guesses for the others."""
    threshold = BULK_LOAD_ROWS if threshold is None else threshold
    tables = sorted(table for table, rows in written.items() if rows >= threshold)
    if not tables:
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
            if cursor.fetchone() is None:
                cursor.execute("ANALYZE")
                return tables
        for table in tables:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
    return tables


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
