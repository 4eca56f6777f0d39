"""Read queries built and compiled to SQL once per process, then run with new values.

A page runs twenty to thirty queries whose shape never changes: the open red flags of a
patient, the current screening, the latest sessions of an episode. The ORM builds each
one's filters and compiles it to SQL on every request, and that costs more than running
it (about 1 ms of Python a query against well under 0.1 ms in the database).

`prepared(build)` takes a function that builds the queryset from whole numbers, text, days
and moments with their zone (the ids and codes it filters by, the dates of a window). Its
first call builds the queryset with stand-in values, compiles it and keeps the SQL, with
where each stand-in falls among the SQL's parameters. Every later call runs that SQL with
the caller's values in those places (a day or a moment as the database's field adapts it),
and turns the rows into records as the queryset would (`select_related`, annotations,
`values()`, and `prefetch_related`, whose own queries are built as usual). Plain records (a
model's, with related records joined and annotations) are built straight from the rows,
with what Django's iteration works out at every run (each model's columns, its converters,
a populator per related record) worked out once.

`build` must depend on its arguments only (the values, and the keywords that shape the
SQL): a queryset that reads the clock, a setting or
a record's state while it is built would be kept with the first call's value. With
`PREPARED_QUERIES_CHECK` on (the test suite) every call also builds and compiles the
queryset as usual and fails if the kept SQL and parameters differ from it, so a `build`
that breaks the rule fails its tests; and records built straight from the rows must equal,
field by field and related record by related record, those the queryset's own iteration
builds from the same rows.
"""

import copy
import datetime as dt
import functools
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable, get_related_populators
from django.db.models.sql.compiler import SQLCompiler

# Stand-ins for the arguments while the queryset is compiled: whole numbers no id reaches
# and text no field holds, each found again among the compiled parameters.
_STAND_IN = 7_391_000_000_000_001
# The whole numbers a database column holds (64-bit).
_INT64 = (-(2**63), 2**63 - 1)
# Days and moments stand in from a year no record has, a day or a microsecond apart.
_STAND_IN_DAY = dt.date(1001, 1, 1)
# How a day or a moment reaches the SQL: as its field adapts it, by the database's own
# operations (text on SQLite, the value itself on PostgreSQL).
_ADAPTERS = {dt.date: "adapt_datefield_value", dt.datetime: "adapt_datetimefield_value"}
# The shapes kept per prepared query, the oldest dropped first: a shape such as a page's
# offset has no bound of its own.
SHAPES_KEPT = 32


class PreparedQueryError(Exception):
    """A prepared query that cannot be kept: an argument its SQL does not carry as is."""


@dataclass(frozen=True)
class _Records:
    """How a row becomes its record, as Django's ModelIterable works it out at every run of
    a query (the columns of each model, a populator per related record), worked out once."""

    model: type[Model]
    start: int
    end: int
    attnames: list[str]
    populators: list[Any]
    annotations: list[tuple[str, int]]


@dataclass(frozen=True)
class _Compiled:
    queryset: QuerySet
    compiler: SQLCompiler
    sql: str
    # Each parameter of the SQL: the index of the argument it is (with the adapter of a day or
    # a moment), or the constant itself.
    params: tuple[tuple[bool, Any, str | None], ...]
    # Records built straight from the rows; None for what the queryset builds itself (values,
    # prefetched relations, a composite key).
    records: _Records | None
    # The value converters of each column, worked out once per connection (each thread has
    # its own): the ORM works them out again for every run of a query.
    converters: weakref.WeakKeyDictionary = field(default_factory=weakref.WeakKeyDictionary)


# A query that cannot be kept (see `_compile`): built as usual at each call.
UNPREPARED: Any = object()


class prepared:
    """A queryset shape compiled once per database connection alias; see the module."""

    def __init__(self, build: Callable[..., QuerySet]) -> None:
        self.build = build
        self._compiled: dict[tuple, _Compiled] = {}

    def __call__(self, *values: int | str | dt.date, **shape: Hashable) -> list[Any]:
        """The rows of `build(*values, **shape)`, as `list(build(...))` would give them.
        `values` become the SQL's parameters; `shape` (a number of rows shown, say) is
        written into the SQL, which is kept for each shape apart."""
        build = functools.partial(self.build, **shape)
        kinds = tuple(type(value) for value in values)
        if not all(
            (kind is int and _INT64[0] <= value <= _INT64[1])
            or kind is str
            or kind is dt.date
            # A moment without its zone is made aware by the field, with a warning: as usual.
            or (kind is dt.datetime and value.tzinfo is not None)
            for kind, value in zip(kinds, values, strict=True)
        ):
            # Other values may change the SQL's shape (None, above all), or may not reach a
            # database at all (a number no column holds, which Django answers without one):
            # built as usual.
            return list(build(*values))
        # needlechart reads one database; a second alias would be compiled apart.
        key = (DEFAULT_DB_ALIAS, kinds, tuple(sorted(shape.items())))
        compiled = self._compiled.get(key)
        if compiled is None:
            stand_ins = [_stand_in(kind, i) for i, kind in enumerate(kinds)]
            queryset = build(*stand_ins)
            if queryset.db != DEFAULT_DB_ALIAS:
                raise PreparedQueryError(f"{self.build.__qualname__} reads {queryset.db}")
            compiled = self._compiled[key] = _compile(queryset, stand_ins)
            while len(self._compiled) > SHAPES_KEPT:
                self._compiled.pop(next(iter(self._compiled)), None)
        if compiled is UNPREPARED:
            return list(build(*values))
        return _run(compiled, values, build, self.build.__qualname__)


def _run(
    compiled: "_Compiled", values: tuple[int | str | dt.date, ...], build: Callable, name: str
) -> list[Any]:
    alias = DEFAULT_DB_ALIAS
    operations = connections[alias].ops
    params = tuple(
        (getattr(operations, adapter)(values[v]) if adapter else values[v]) if is_argument else v
        for is_argument, v, adapter in compiled.params
    )
    checked = getattr(settings, "PREPARED_QUERIES_CHECK", False)
    if checked:
        expected = build(*values)
        sql, expected_params = expected.query.get_compiler(using=alias).as_sql()
        if sql != compiled.sql or not _same(tuple(expected_params), params):
            raise PreparedQueryError(
                f"{name}: the kept SQL differs from the queryset built "
                f"for {values}; its shape depends on more than its arguments"
            )
    connection = connections[alias]
    converters = compiled.converters.get(connection)
    if converters is None:
        kept = copy.copy(compiled.compiler)
        kept.connection = connection
        columns = [column for column, _, _ in kept.select[: kept.col_count]]
        converters = compiled.converters[connection] = kept.get_converters(columns)
    if compiled.records is None:
        return _through_queryset(compiled, connection, converters, as_sql=(compiled.sql, params))
    with connection.cursor() as cursor:
        cursor.execute(compiled.sql, params)
        rows = cursor.fetchall()
    found = _records(compiled.records, rows, connection, converters)
    # The suite holds each record to the one the queryset's own iteration builds from the
    # same rows.
    if checked and not _same_records(
        found, _through_queryset(compiled, connection, converters, rows=rows)
    ):
        raise PreparedQueryError(f"{name}: its records differ from the queryset's for {values}")
    return found


def _through_queryset(
    compiled: "_Compiled",
    connection: Any,
    converters: dict,
    as_sql: tuple[str, tuple] | None = None,
    rows: list[tuple] | None = None,
) -> list[Any]:
    """The queryset's own iteration, with the kept SQL and converters in place of compiling
    (for values(), prefetched relations and the like); or over rows already fetched."""
    queryset = compiled.queryset._chain()
    kept = copy.copy(compiled.compiler)
    kept.connection = connection
    kept.get_converters = lambda expressions: converters  # type: ignore[method-assign]
    if as_sql is not None:
        kept.as_sql = lambda *args, **kwargs: as_sql  # type: ignore[method-assign]
    if rows is not None:
        kept.execute_sql = lambda *args, **kwargs: [rows]  # type: ignore[method-assign]
    queryset.query.get_compiler = lambda *args, **kwargs: kept  # type: ignore[method-assign]
    return list(queryset)


def _records(how: _Records, rows: list[tuple], connection: Any, converters: dict) -> list[Any]:
    """Records built from their rows as ModelIterable builds them. Cloning the queryset,
    copying its compiler and working out its populators at each run cost more than running
    the SQL of most of a page's queries."""
    converting = list(converters.items())
    records = []
    for fetched in rows:
        row = list(fetched)
        for position, (functions, expression) in converting:
            value = row[position]
            for convert in functions:
                value = convert(value, expression, connection)
            row[position] = value
        record = how.model.from_db(DEFAULT_DB_ALIAS, how.attnames, row[how.start : how.end])
        for populator in how.populators:
            populator.populate(row, record)
        for attribute, position in how.annotations:
            setattr(record, attribute, row[position])
        records.append(record)
    return records


def _same_records(found: list[Any], expected: list[Any]) -> bool:
    """The same records, field by field, with the same related records cached on them."""
    seen: set[tuple[int, int]] = set()

    def same(a: Any, b: Any) -> bool:
        if not isinstance(a, Model) or not isinstance(b, Model):
            return a == b
        if type(a) is not type(b) or (id(a), id(b)) in seen:
            return type(a) is type(b)
        seen.add((id(a), id(b)))
        own_a = {k: v for k, v in vars(a).items() if k != "_state"}
        own_b = {k: v for k, v in vars(b).items() if k != "_state"}
        cached_a, cached_b = a._state.fields_cache, b._state.fields_cache
        return (
            own_a.keys() == own_b.keys()
            and all(same(own_a[k], own_b[k]) for k in own_a)
            and a._state.db == b._state.db
            and a._state.adding == b._state.adding
            and cached_a.keys() == cached_b.keys()
            and all(same(cached_a[k], cached_b[k]) for k in cached_a)
        )

    return len(found) == len(expected) and all(map(same, found, expected))


def _same(expected: tuple, kept: tuple) -> bool:
    """Equal parameters; a driver's adapter (PostgreSQL's JSON) by the value it wraps."""
    return len(expected) == len(kept) and all(
        a == b or (type(a) is type(b) and hasattr(a, "obj") and a.obj == b.obj)
        for a, b in zip(expected, kept, strict=True)
    )


def _stand_in(kind: type, index: int) -> int | str | dt.date:
    if kind is int:
        return _STAND_IN + index
    if kind is dt.date:
        return _STAND_IN_DAY + dt.timedelta(days=index)
    if kind is dt.datetime:
        return dt.datetime.combine(_STAND_IN_DAY, dt.time(microsecond=index + 1), tzinfo=dt.UTC)
    return f"needlechart-stand-in-{index}-{_STAND_IN}"


def _compile(queryset: QuerySet, stand_ins: list[int | str]) -> Any:
    compiler = queryset.query.get_compiler(using=queryset.db)
    try:
        sql, raw = compiler.as_sql()
    except (EmptyResultSet, FullResultSet) as error:
        # The ORM answers some filters without SQL: on PostgreSQL, a stand-in beyond a
        # 32-bit column's range (a whole number looked up on its own column rather than
        # through a foreign key). Such a query is built as usual; the suite says so.
        if getattr(settings, "PREPARED_QUERIES_CHECK", False):
            raise PreparedQueryError(
                "a stand-in value decides the query without SQL; filter through a foreign "
                "key or leave the query unprepared"
            ) from error
        return UNPREPARED
    # Each stand-in as it reaches the SQL's parameters, with the adapter that takes it there.
    operations = connections[queryset.db].ops
    where: dict[tuple[type, Any], tuple[int, str | None]] = {}
    for index, value in enumerate(stand_ins):
        adapter = _ADAPTERS.get(type(value))
        adapted = getattr(operations, adapter)(value) if adapter else value
        where[(type(adapted), adapted)] = (index, adapter)
    params: list[tuple[bool, Any, str | None]] = []
    found = set()
    for value in raw:
        kept = (
            where.get((type(value), value))
            if type(value) in (int, str, dt.date, dt.datetime)
            else None
        )
        if kept is not None:
            params.append((True, *kept))
            found.add(kept[0])
        else:
            params.append((False, value, None))
    if len(found) != len(stand_ins):
        raise PreparedQueryError(
            f"an argument of the prepared query does not reach its SQL as a parameter: {sql}"
        )
    return _Compiled(queryset, compiler, sql, tuple(params), _how(queryset, compiler))


def _how(queryset: QuerySet, compiler: SQLCompiler) -> _Records | None:
    """How ModelIterable turns this query's rows into records, when it is the plain case:
    records of a model, with related records joined and annotations, and nothing fetched
    after (prefetched relations) or put together from several columns (a composite key)."""
    info = compiler.klass_info
    columns = [column for column, _, _ in compiler.select[: compiler.col_count]]
    if (
        queryset._iterable_class is not ModelIterable
        # A queryset class of its own may read more as it fetches (outcomes/export.py).
        or type(queryset)._fetch_all is not QuerySet._fetch_all
        or type(queryset).__iter__ is not QuerySet.__iter__
        or queryset._prefetch_related_lookups
        or queryset._known_related_objects
        or info is None
        or compiler.has_composite_fields(columns)
    ):
        return None
    fields = info["select_fields"]
    start, end = fields[0], fields[-1] + 1
    return _Records(
        model=info["model"],
        start=start,
        end=end,
        attnames=[column[0].target.attname for column in compiler.select[start:end]],
        populators=get_related_populators(info, compiler.select, DEFAULT_DB_ALIAS),
        annotations=list(compiler.annotation_col_map.items()),
    )


def attach_related(record: Any, name: str, rows: list[Any]) -> None:
    """Give `record` its related rows `name` (a reverse foreign key) as `prefetch_related`
    gives them: `record.<name>.all()` answers from `rows` without a query, and each row's
    own link back to `record` is filled. For rows read by a prepared query of their own,
    which prefetch_related would build and compile again at every call."""
    manager = getattr(record, name)
    link = manager.field
    queryset = manager.get_queryset()
    queryset._result_cache = rows
    queryset._prefetch_done = True
    if not hasattr(record, "_prefetched_objects_cache"):
        record._prefetched_objects_cache = {}
    record._prefetched_objects_cache[link.remote_field.cache_name] = queryset
    for row in rows:
        link.set_cached_value(row, record)
