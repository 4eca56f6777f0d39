"""Many new rows of one table: on SQLite one prepared INSERT run once per row, on
PostgreSQL one COPY for up to 2,000 rows. And new values of many rows (`update`).

`bulk_create` compiles every value of every row through the ORM's SQL compiler, which is
most of the cost of an import of tens of thousands of records. `insert` writes the same
rows as `bulk_create` would: each field's `pre_save` (the times `auto_now_add` stamps) and
its own preparation for the database, the related records' keys copied in as `bulk_create`
copies them, and the new keys set on the records. Only values that go to the driver as
they are (text, whole numbers, booleans, NULL in plain columns) skip their field's
preparation, which would return them unchanged.
"""

import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction

NONE = type(None)
# Rows in one INSERT on PostgreSQL.
ROWS_PER_STATEMENT = 2000
# Rows per UPDATE of a list of values (PostgreSQL takes at most 65,535 parameters).
UPDATE_BATCH = 2000


def _plain_types(field: Any) -> tuple[type, ...]:
    """The types of value the field's preparation returns unchanged (of exactly these types,
    not subclasses such as a choice's enum)."""
    if isinstance(field, models.ForeignKey):
        return _plain_types(field.target_field)
    if isinstance(field, models.CharField | models.TextField):
        return (str, NONE)
    if isinstance(field, models.BooleanField):
        return (bool, NONE)
    if isinstance(field, models.IntegerField):
        return (int, NONE)
    return ()


def _stamped(field: models.Field) -> bool:
    """Whether the field sets its own value when a row is added (`auto_now_add`, say)."""
    return type(field).pre_save is not models.Field.pre_save


def insert(
    model: type[models.Model], records: Sequence[models.Model], *, keys: bool = True
) -> None:
    """Insert `records` (new, of `model`) as `model.objects.bulk_create(records)` would, in
    one transaction. With `keys` False the records get no primary key back (nothing reads
    them after)."""
    if not records:
        return
    meta = model._meta
    if meta.parents:
        raise ValueError("Rows of an inherited model are written with bulk_create.")
    pk = meta.pk
    fields = [field for field in meta.concrete_fields if field is not pk]
    for record in records:
        record._prepare_related_fields_for_save(operation_name="bulk_create")
    with_keys = [record for record in records if record.pk is not None]
    without = [record for record in records if record.pk is None]
    postgresql = connection.vendor == "postgresql"
    with transaction.atomic(savepoint=False):
        if keys and without and postgresql:
            for record, key in zip(without, _sequence_keys(model, len(without)), strict=True):
                record.pk = key
            with_keys, without = list(records), []
        _execute(model, with_keys, [pk, *fields])
        _execute(model, without, fields)
        if keys and without:
            # SQLite: the transaction holds the database's write lock from its first write,
            # so the rows just inserted took the keys after the largest one, in their order.
            with connection.cursor() as cursor:
                cursor.execute("SELECT last_insert_rowid()")
                (last,) = cursor.fetchone()
            for record, key in zip(without, range(last - len(without) + 1, last + 1), strict=True):
                record.pk = key
    for record in records:
        record._state.adding = False
        record._state.db = connection.alias


def _execute(model: type[models.Model], records: list[models.Model], fields: list[Any]) -> None:
    if not records:
        return
    quote = connection.ops.quote_name
    insert = (
        f"INSERT INTO {quote(model._meta.db_table)}"
        f" ({', '.join(quote(field.column) for field in fields)}) "
    )
    rows = rows_of(records, fields)
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql" or not unnestable(fields):
            cursor.executemany(insert + f"VALUES ({', '.join(['%s'] * len(fields))})", rows)
            return
        # PostgreSQL loads many rows fastest by COPY, which fires the same triggers and
        # checks the same constraints as INSERT (a text too long for its column is refused).
        # The driver writes the rows in C; an INSERT of one array a column spends more
        # than that turning the arrays into text in Python.
        copy_sql = insert.replace("INSERT INTO", "COPY", 1) + "FROM STDIN"
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            began = time.monotonic()
            with connection.wrap_database_errors, cursor.cursor.copy(copy_sql) as copy:
                for row in rows[start : start + ROWS_PER_STATEMENT]:
                    copy.write_row(row)
            if connection.queries_logged:
                # The driver's COPY bypasses Django's cursor: logged as it logs a statement,
                # so that DEBUG and the suite's query counts see it.
                connection.queries_log.append(
                    {"sql": copy_sql, "time": f"{time.monotonic() - began:.3f}"}
                )


def unnestable(fields: list[Any]) -> bool:
    """Whether every column's values go into an array of its type (see Django's PostgreSQL
    insert compiler, which applies the same test)."""
    return not any(
        hasattr(field, "get_placeholder")
        or (field.target_field if field.is_relation else field).get_internal_type()
        not in connection.data_types
        for field in fields
    )


def rows_of(records: Sequence[models.Model], fields: list[Any]) -> list[list[Any]]:
    """The values of `records` for `fields`, each as its field prepares it for the
    database (its `pre_save` first, where it stamps a value), in the order of `fields`."""
    stamped = [field for field in fields if _stamped(field)]
    plain = [_plain_types(field) for field in fields]
    names = [field.attname for field in fields]
    # A JSON value is often one object shared by every row (an import's detail): it is
    # prepared once, by the object (kept here, so its id is not reused meanwhile).
    shared: dict[int, tuple[Any, Any]] = {}
    # The connection itself: `connection` finds it anew at each use, a hundred thousand
    # times over for the values of an import.
    database = connections[DEFAULT_DB_ALIAS]
    rows = []
    for record in records:
        for field in stamped:
            field.pre_save(record, add=True)
        values = record.__dict__
        row = []
        for index, name in enumerate(names):
            value = values[name]
            if type(value) not in plain[index]:
                value = _prepared(fields[index], value, shared, database)
            row.append(value)
        rows.append(row)
    return rows


def _prepared(field: Any, value: Any, shared: dict[int, tuple[Any, Any]], database: Any) -> Any:
    if type(value) is dt.datetime and type(field) is models.DateTimeField:
        return _moment(value, field, database)
    if hasattr(value, "resolve_expression"):
        raise ValueError(f"{field.name}: an expression is written with bulk_create.")
    if not isinstance(field, models.JSONField):
        return field.get_db_prep_save(value, database)
    if id(value) not in shared:
        shared[id(value)] = (value, field.get_db_prep_save(value, database))
    return shared[id(value)][1]


def _moment(value: dt.datetime, field: Any, database: Any) -> Any:
    """An aware time as the field and backend prepare it (SQLite stores the text of the
    naive time in the connection's zone), without the round of calls that takes; a naive
    one, with its warning, by the field."""
    if not settings.USE_TZ or value.utcoffset() is None:
        return field.get_db_prep_save(value, database)
    if database.vendor == "sqlite":
        return str(value.astimezone(database.timezone).replace(tzinfo=None))
    return database.ops.adapt_datetimefield_value(value)


def _sequence_keys(model: type[models.Model], count: int) -> list[int]:
    """`count` new primary keys from the table's sequence (PostgreSQL), as inserts take them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, count],
        )
        return sorted(key for (key,) in cursor.fetchall())


def update(model: type[models.Model], records: Sequence[models.Model], names: list[str]) -> None:
    """Write the fields `names` of each record as it holds them, as `bulk_update` would:
    its CASE expressions are slow to build for tens of thousands of rows (an import's
    signatures or reviews). On PostgreSQL one UPDATE from a list of values per 2,000 rows:
    one statement per row fired the statement triggers (the dashboard's summary marks)
    once a row, a fifth of the demo's database time. On SQLite, whose triggers are per
    row anyway, one UPDATE per row in one call."""
    if not records:
        return
    fields = [model._meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    table, key = quote(model._meta.db_table), quote(model._meta.pk.column)
    rows = [
        [f.get_db_prep_save(getattr(r, f.attname), connection) for f in fields] + [r.pk]
        for r in records
    ]
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
            sql = f"UPDATE {table} SET {assignments} WHERE {key} = %s"  # noqa: S608 - names
            cursor.executemany(sql, rows)
            return
        # Each value cast to its column's type: a list of values has no column to infer it
        # from (a NULL would be text).
        casts = [f.cast_db_type(connection) for f in [*fields, model._meta.pk]]
        one = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
        columns = ", ".join([*(f"c{at}" for at in range(len(fields))), "pk"])
        assignments = ", ".join(f"{quote(f.column)} = v.c{at}" for at, f in enumerate(fields))
        for start in range(0, len(rows), UPDATE_BATCH):
            batch = rows[start : start + UPDATE_BATCH]
            values = ", ".join([one] * len(batch))
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v({columns}) "  # noqa: S608
                f"WHERE {table}.{key} = v.pk",
                [value for row in batch for value in row],
            )
