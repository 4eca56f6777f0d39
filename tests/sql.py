"""What SQL a test's code runs, and how the database plans it."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction

# What an audit write costs a page beyond its place in the clinic's chain and its rows: the
# chain's new seal, which SQLite writes in a statement of its own and PostgreSQL with the
# rows, to save a round trip to the server (audit/chain.py). Pinned query counts add it.
SEAL_APART = int(connection.vendor != "postgresql")


@contextmanager
def captured() -> Iterator[list[tuple[str, Any]]]:
    """Every statement run in the block, with its parameters, in order."""
    run: list[tuple[str, Any]] = []

    def keep(execute, sql, params, many, context):
        run.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(keep):
        yield run


def query_plan(sql: str, params: Any, *, unsorted: bool = False) -> str:
    """How the database would run `sql`, its steps joined by " | ". On PostgreSQL, as for a
    clinic's tables rather than a test's few rows: any way but reading a table whole, and
    with `unsorted`, any way but sorting rows an index could give in order (with a test's
    few rows, sorting them may cost the planner less than reading an index in order, and
    its choice then turns on the statistics earlier tests left)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            if unsorted:
                cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute(f"EXPLAIN {sql}", params)
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return " | ".join(str(row[-1]) for row in cursor.fetchall())


def trigger_names() -> set[str]:
    """The names of the database's triggers (the guards installed)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        return {name for (name,) in cursor.fetchall()}


class SchemaEditor:
    """What a migration's steps use of a schema editor, on the test's connection: to run a
    migration's own steps in a test."""

    connection = connection

    def execute(self, sql: str, params: Any = None) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def work(sql: str, params: Any) -> int:
    """How much the database does to run `sql`, counted rather than timed, so that the same
    statement at two sizes of data can be compared: on PostgreSQL the rows every step of its
    plan handled, on SQLite the steps of its virtual machine."""
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
            (plan,) = cursor.fetchone()
        plan = json.loads(plan) if isinstance(plan, str) else plan

        def rows(node: dict) -> int:
            own = node["Actual Rows"] * node["Actual Loops"]
            return own + sum(rows(child) for child in node.get("Plans", []))

        return rows(plan[0]["Plan"])
    steps = 0

    def step() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    connection.ensure_connection()
    connection.connection.set_progress_handler(step, 1)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            cursor.fetchall()
    finally:
        connection.connection.set_progress_handler(None, 1)
    return steps
