"""Database triggers that keep clinical records read-only once written or signed.

The services already refuse such changes; the triggers make the database refuse them too,
so no code path (a forgotten service, a raw query, an admin shell) can rewrite a signed
note. Only UPDATE and INSERT are guarded: DELETE is left to the application (which never
deletes clinical records) so that test databases can be flushed and demo clinics rebuilt.
"""

from dataclasses import dataclass
from typing import Any

READ_ONLY = "signed or recorded clinical records are read-only; write an addendum instead"


@dataclass(frozen=True)
class Guard:
    name: str
    sqlite: list[str]
    postgresql: list[str]


POSTGRES_FUNCTIONS = [
    f"""CREATE OR REPLACE FUNCTION needlechart_refuse() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION '{READ_ONLY}'; END; $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE FUNCTION needlechart_refuse_signed() RETURNS trigger AS $$
    BEGIN
      IF OLD.signed_at IS NOT NULL THEN RAISE EXCEPTION '{READ_ONLY}'; END IF;
      RETURN NEW;
    END; $$ LANGUAGE plpgsql""",
    # TG_ARGV: the parent table and the foreign-key column that points at it.
    f"""CREATE OR REPLACE FUNCTION needlechart_refuse_signed_parent() RETURNS trigger AS $$
    DECLARE parent bigint; signed timestamptz;
    BEGIN
      FOR parent IN SELECT (to_jsonb(r) ->> TG_ARGV[1])::bigint
                    FROM (SELECT NEW AS r UNION ALL SELECT OLD WHERE TG_OP = 'UPDATE') AS rows
      LOOP
        IF parent IS NOT NULL THEN
          EXECUTE format('SELECT signed_at FROM %I WHERE id = $1', TG_ARGV[0])
            INTO signed USING parent;
          IF signed IS NOT NULL THEN RAISE EXCEPTION '{READ_ONLY}'; END IF;
        END IF;
      END LOOP;
      RETURN NEW;
    END; $$ LANGUAGE plpgsql""",
]


def append_only(table: str) -> Guard:
    """No row of `table` is ever updated."""
    name = f"{table}_no_update"
    return Guard(
        name,
        [
            f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{READ_ONLY}'); END"
        ],
        [
            f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION needlechart_refuse()"
        ],
    )


def frozen_when_signed(table: str) -> Guard:
    """A row of `table` is not updated once its signed_at is set."""
    name = f"{table}_signed_no_update"
    return Guard(
        name,
        [
            f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} WHEN OLD.signed_at IS NOT NULL "
            f"BEGIN SELECT RAISE(ABORT, '{READ_ONLY}'); END"
        ],
        [
            f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION needlechart_refuse_signed()"
        ],
    )


def child_of_signed(table: str, column: str, parent: str) -> Guard:
    """Rows of `table` are not added or changed under a signed row of `parent`."""
    name = f"{table}_{column}_signed"
    signed = lambda row: f"(SELECT signed_at FROM {parent} WHERE id = {row}.{column}) IS NOT NULL"  # noqa: E731
    return Guard(
        name,
        [
            f"CREATE TRIGGER {name}_insert BEFORE INSERT ON {table} WHEN {signed('NEW')} "
            f"BEGIN SELECT RAISE(ABORT, '{READ_ONLY}'); END",
            f"CREATE TRIGGER {name}_update BEFORE UPDATE ON {table} "
            f"WHEN {signed('NEW')} OR {signed('OLD')} "
            f"BEGIN SELECT RAISE(ABORT, '{READ_ONLY}'); END",
        ],
        [
            f"CREATE TRIGGER {name} BEFORE INSERT OR UPDATE ON {table} FOR EACH ROW "
            f"EXECUTE FUNCTION needlechart_refuse_signed_parent('{parent}', '{column}')"
        ],
    )


def install(schema_editor, guards: list[Guard]) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for statement in POSTGRES_FUNCTIONS:
            schema_editor.execute(statement, params=None)
    for guard in guards:
        for statement in getattr(guard, vendor, []):
            schema_editor.execute(statement, params=None)


def uninstall(schema_editor, guards: list[Guard]) -> None:
    vendor = schema_editor.connection.vendor
    for guard in guards:
        for statement in getattr(guard, vendor, []):
            schema_editor.execute(_drop_statement(statement, vendor), params=None)


def all_guards() -> list[Guard]:
    """Every trigger of the project, installed again after each migration (see `ensure`)."""
    return [
        append_only("audit_auditevent"),
        append_only("charting_screening"),
        append_only("charting_documenttemplate"),
        append_only("charting_consent"),
        append_only("charting_consentwithdrawal"),
        append_only("charting_addendum"),
        append_only("charting_aftercareissue"),
        frozen_when_signed("charting_assessment"),
        frozen_when_signed("charting_needlingsession"),
        child_of_signed("charting_painmark", "assessment_id", "charting_assessment"),
        child_of_signed("charting_triggerpointfinding", "assessment_id", "charting_assessment"),
        child_of_signed("charting_insertion", "session_id", "charting_needlingsession"),
        child_of_signed("outcomes_observation", "assessment_id", "charting_assessment"),
        child_of_signed("outcomes_observation", "session_id", "charting_needlingsession"),
        append_only("outcomes_careplan"),
        append_only("outcomes_plangoal"),
        append_only("outcomes_plantherapy"),
        append_only("outcomes_discharge"),
    ]


def _drop_statement(statement: str, vendor: str) -> str:
    trigger, table = statement.split()[2], statement.split(" ON ")[1].split()[0]
    if vendor == "postgresql":
        return f"DROP TRIGGER IF EXISTS {trigger} ON {table}"
    return f"DROP TRIGGER IF EXISTS {trigger}"


def ensure(connection: Any) -> None:
    """(Re)install every trigger whose table exists.

    SQLite rebuilds a table for many schema changes and drops its triggers with it, so a
    later migration could silently remove a guard; running this after every migrate puts
    them all back. Plain DDL through a cursor, so it also runs inside a transaction.
    """
    tables = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for statement in POSTGRES_FUNCTIONS:
                cursor.execute(statement)
        for guard in all_guards():
            statements = getattr(guard, connection.vendor, [])
            if not statements or statements[0].split(" ON ")[1].split()[0] not in tables:
                continue
            for statement in statements:
                cursor.execute(_drop_statement(statement, connection.vendor))
                cursor.execute(statement)


def touching(tables: set[str]) -> list[Guard]:
    """The guards on, or naming, any of `tables`."""
    return [
        guard
        for guard in all_guards()
        if any(table in statement for statement in guard.sqlite for table in tables)
    ]


def rebuilding(*tables: str) -> tuple[Any, Any]:
    """Two migration steps around a change that SQLite makes by rebuilding `tables`: drop the
    guards that name them (a trigger naming a table breaks its rebuild), then put them back.
    """
    chosen = set(tables)

    def drop(apps: Any, schema_editor: Any) -> None:
        uninstall(schema_editor, touching(chosen))

    def restore(apps: Any, schema_editor: Any) -> None:
        install(schema_editor, touching(chosen))

    return drop, restore
