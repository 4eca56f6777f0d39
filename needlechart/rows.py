"""Plain rows for the builders of FHIR resources and of the chart export: the columns a
builder reads, named once, read either straight from SQL (a bulk export, no model instance
built) or from a record the read layer fetched as a model (a read or a search page, which
audits its records).

A builder of plain rows reads attributes of a named tuple: `Columns` says which attribute is
which column (an ORM path such as `episode__patient_id`), and which lists of another table's
rows come along (a session's needling rows). Building tens of thousands of model instances,
each with the related instances select_related brings, was most of a bulk export's time.

A bulk export reads its rows a page at a time (`Columns.pages`): each page's statement is
compiled once and run again for each page, its values converted column by column.
"""

import datetime as dt
import gc
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from django.core.exceptions import EmptyResultSet, FieldDoesNotExist, ObjectDoesNotExist
from django.db import connections
from django.db.models import Model, Prefetch, QuerySet, TextField
from django.db.models.functions import Cast


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector while a chunk of rows is read and built on. The
    chunk's tens of thousands of new records set it off again and again, each time scanning
    everything alive, for about a third of a chart export's time; the records are freed by
    reference counting when the chunk is done, and the collector runs again from then on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def fetched(record: Any, name: str) -> list[Any]:
    """A record's related rows `name`: the plain list reads.py prefetched as `{name}_fetched`
    (a prefetch into the manager instead builds a queryset per record, most of a bulk
    export's cost), else the manager's rows (a record fetched without them)."""
    rows = getattr(record, f"{name}_fetched", None)
    return rows if rows is not None else list(getattr(record, name).all())


def _walk(record: Any, steps: list[str]) -> Any:
    """The value at a path of a model record; None where a link on the way is empty (a
    staff member with no Practitioner, a measurement of no session)."""
    value = record
    for step in steps:
        try:
            value = getattr(value, step)
        except ObjectDoesNotExist:
            return None
        if value is None:
            return None
    return value


@dataclass(frozen=True)
class Related:
    """Rows of another table that a row lists (a session's needling rows): the rows of
    `rows()` whose `key` is the row's id, in their order, as `columns` make them.

    The rows may be a linked record's (an addendum lists its assessment's findings): then
    `holder` is the path to that record and `parent` the row's attribute with its id."""

    name: str
    key: str
    rows: Callable[[], QuerySet]
    columns: "Columns"
    holder: str = ""
    parent: str = "pk"

    def prefetch(self) -> Prefetch:
        """The same rows fetched with model records, as a plain list (`fetched` reads it),
        with the columns read only (their links select_related by `rows`)."""
        rows = self.rows().only(self.key, *self.columns.fields.values())
        path = f"{self.holder}__{self.name}" if self.holder else self.name
        return Prefetch(path, queryset=rows, to_attr=f"{self.name}_fetched")

    def of(self, record: Model) -> list[tuple]:
        """The rows a record fetched as a model lists (none where its holder is empty)."""
        holder = _walk(record, self.holder.split("__")) if self.holder else record
        if holder is None:
            return []
        return [self.columns.of(child) for child in fetched(holder, self.name)]

    def grouped(self, ids: list[int] | QuerySet) -> dict[int, list[tuple]]:
        """The rows of the records `ids`, by record: one query, and one per list the rows
        have themselves (then `key` is one of their columns, by which they are handed out).

        The ids may be a query of them (a subquery): then the lists of the rows are read by
        subqueries too (see `Columns.read`)."""
        groups: dict[int, list[tuple]] = {}
        make = self.columns.row._make
        found = self.rows().filter(**{f"{self.key}__in": ids})
        if self.columns.lists:
            at = list(self.columns.fields).index(self.key)
            for row in self.columns.read(found, by_subquery=isinstance(ids, QuerySet)):
                groups.setdefault(row[at], []).append(row)
            return groups
        paths = [self.key, *self.columns.fields.values()]
        for key, *row in values(found, paths, self.columns.moment):
            groups.setdefault(key, []).append(make(row))
        return groups


class Moment(Protocol):
    """How a builder takes a date and time (`Columns`' `moment`): of an aware datetime."""

    def __call__(self, value: dt.datetime) -> Any: ...

    def utc_text(self) -> Callable[[str], Any]:
        """The same, of the text of a UTC time as SQLite holds it ('YYYY-MM-DD HH:MM:SS',
        perhaps with '.ffffff'), for the rows read from now on."""
        ...


class Columns:
    """What a builder reads: the record's own columns, named as they are (space-separated, as
    namedtuple takes names; the first is the record's id), the columns of linked records
    (attribute: ORM path), and the lists of other rows that come with it.

    `moment`, where given, is how the builder takes a date and time: each such value of a
    row (an aware datetime) comes as `moment(value)`, None as None. A page (`pages`) makes
    each value once, however many of its rows hold it."""

    def __init__(
        self,
        name: str,
        own: str,
        linked: dict[str, str] | None = None,
        lists: Iterable[Related] = (),
        *,
        moment: Moment | None = None,
    ):
        self.fields = {column: column for column in own.split()} | (linked or {})
        self.lists = tuple(lists)
        self.moment = moment
        names = [*self.fields, *(related.name for related in self.lists)]
        self.row = namedtuple(name, names)  # type: ignore[misc]
        self._steps = [path.split("__") for path in self.fields.values()]

    def of(self, record: Model) -> tuple:
        """A record fetched as a model as the builder's row (its lists from its prefetches)."""
        values = [_walk(record, steps) for steps in self._steps]
        if self.moment is not None:
            moment = self.moment
            values = [moment(v) if isinstance(v, dt.datetime) else v for v in values]
        return self.row(*values, *(related.of(record) for related in self.lists))

    def pages(self, rows: QuerySet, size: int) -> Callable[[int], list[tuple]]:
        """The builder's rows of `rows` (ordered by id) a page at a time: given an id, the
        next `size` rows after it, each with its lists; one query a page, and one per list
        (a list's rows chosen by the page's query as a subquery, see `read`)."""
        return _Pages(self, lambda after: rows.filter(pk__gt=after)[:size]).page

    def prefetches(self) -> list[Prefetch]:
        return [related.prefetch() for related in self.lists]

    def read(self, rows: QuerySet, *, by_subquery: bool = False) -> list[tuple]:
        """The rows of a queryset as the builder's rows, straight from SQL: one query, and
        one per list, the date-times as `moment` makes them.

        `by_subquery`: each list is read with the rows' query as a subquery rather than with
        the ids read, for a deep export of many rows a chunk: Django prepares each value
        of an `IN` list in Python, some microseconds an id, which cost more than the
        database takes to run the subquery again."""
        found = values(rows.prefetch_related(None), list(self.fields.values()), self.moment)
        if not self.lists:
            return list(map(self.row._make, found))
        names = list(self.fields)
        parents = [names.index(related.parent) for related in self.lists]
        groups = [
            (
                at,
                related.grouped(rows.values(self.fields[related.parent]))
                if by_subquery
                else related.grouped([row[at] for row in found if row[at] is not None]),
            )
            for related, at in zip(self.lists, parents, strict=True)
        ]
        return [self.row(*row, *(group.get(row[at], []) for at, group in groups)) for row in found]


# --- pages -------------------------------------------------------------------------------------


# The id a page's statement is compiled with, to be found among its parameters: negative, as
# no id is, and far from any number a condition of the rows holds.
_AFTER = -(2**62) + 14


class _Compiled:
    """The SQL of a query of values at `paths` of `rows`, with how to convert its values
    column by column as Django would, the date-times as `moment` makes them.

    Django's converters value by value, and its compiling of the query, were a good part
    of a bulk export's time."""

    def __init__(self, rows: QuerySet, paths: list[str], moment: Moment | None):
        self.alias = rows.db
        connection = connections[self.alias]
        # SQLite holds a date-time as its text in the connection's zone (UTC unless the
        # database's TIME_ZONE says otherwise): read as that text, the instants are made
        # from it straight, not parsed into a datetime first by the driver (Django's
        # converter for the column's type) and made aware by Django's.
        utc_text = connection.vendor == "sqlite" and connection.timezone == dt.UTC
        texts = [
            moment is not None and utc_text and _is_datetime(rows.model, path) for path in paths
        ]
        chosen = [Cast(p, TextField()) if text else p for p, text in zip(paths, texts, strict=True)]
        compiler = rows.values_list(*chosen).query.get_compiler(using=self.alias)
        self.sql, params = compiler.as_sql()
        self.params = list(params)
        expressions = [selected[0] for selected in compiler.select[: compiler.col_count]]
        django = compiler.get_converters(expressions)
        self.converters: list[tuple[int, Callable[[Any], Any]]] = []
        for at, expression in enumerate(expressions):
            chain = [partial(_convert, converter, expression, connection)
                     for converter in django.get(at, ((), None))[0]]  # fmt: skip
            kind = expression.output_field.get_internal_type()
            if moment is not None and texts[at]:
                self.converters.append((at, _FromText(moment.utc_text())))
            elif moment is not None and kind == "DateTimeField":
                self.converters.append((at, _Remembered(_Chain([*chain, moment]))))
            elif chain:
                convert = chain[0] if len(chain) == 1 else _Chain(chain)
                # A value such as a decimal repeats in many rows (a pain score): made once.
                self.converters.append((at, _Remembered(convert) if kind in _SAME else convert))

    def columns(self, params: list[Any]) -> list[tuple]:
        """The values of the rows, column by column (none where no row is)."""
        with connections[self.alias].cursor() as cursor:
            cursor.execute(self.sql, params)
            found = cursor.fetchall()
        if not found:
            return []
        columns = list(zip(*found, strict=True))
        for at, convert in self.converters:
            columns[at] = tuple(map(convert, columns[at]))
        return columns


def values(rows: QuerySet, paths: list[str], moment: Moment | None = None) -> list[tuple]:
    """`rows.values_list(*paths)` as tuples, the date-times as `moment` makes them (as
    they are without it), converted column by column (see `_Compiled`)."""
    try:
        compiled = _Compiled(rows, paths, moment)
    except EmptyResultSet:
        return []  # a condition no row meets (an empty list of ids): no query, as Django
    return list(zip(*compiled.columns(compiled.params), strict=True))


class _Statement:
    """The SQL of a query of values made by `query(after)`, compiled once: `run(after)` runs
    it again with `after` in place. `after` may stand in several places (subqueries)."""

    def __init__(self, query: Callable[[int], QuerySet], paths: list[str], moment: Moment | None):
        self.compiled = _Compiled(query(_AFTER), paths, moment)
        self.params = list(self.compiled.params)
        self.marks = [at for at, value in enumerate(self.params) if value == _AFTER]
        assert self.marks, "the page's id is not a parameter of its query"

    def run(self, after: int) -> list[tuple]:
        """The values of the rows after `after`, column by column (none where no row is)."""
        params = self.params
        for at in self.marks:
            params[at] = after
        return self.compiled.columns(params)


def _convert(converter: Callable[..., Any], expression: Any, connection: Any, value: Any) -> Any:
    return converter(value, expression, connection)


@dataclass(frozen=True)
class _Chain:
    converters: list[Callable[[Any], Any]]

    def __call__(self, value: Any) -> Any:
        for convert in self.converters:
            value = convert(value)
        return value


@dataclass(frozen=True)
class _FromText:
    """A date-time column's values made by `made` from their text, None as None."""

    made: Callable[[str], Any]

    def __call__(self, value: str | None) -> Any:
        return None if value is None else self.made(value)


def _is_datetime(model: type[Model], path: str) -> bool:
    """Whether the ORM path from `model` leads to a date-time field (not an annotation)."""
    field: Any = None
    for step in path.split("__"):
        if model is None:
            return False
        try:
            field = model._meta.pk if step == "pk" else model._meta.get_field(step)
        except FieldDoesNotExist:
            return False
        model = field.related_model
    return field is not None and field.get_internal_type() == "DateTimeField"


# The fields whose values, as converted, are never changed (a decimal, a date), and so may be
# shared by the rows that hold the same (unlike a JSON list).
_SAME = {"BooleanField", "DateField", "DecimalField", "TimeField", "UUIDField"}


class _Remembered:
    """A column's values converted by `convert`, each distinct value once, however many rows
    hold it (the values it makes are shared); None stays None."""

    def __init__(self, convert: Callable[[Any], Any]):
        self.convert = convert
        self.made: dict[Any, Any] = {None: None}

    def __call__(self, value: Any) -> Any:
        try:
            return self.made[value]
        except KeyError:
            made = self.made[value] = self.convert(value)
            return made


class _Pages:
    """`Columns.pages`: the rows of `query(after)` as the columns' rows, with their lists;
    the rows of a list lead with `key`, the id of the row they are listed by."""

    def __init__(self, columns: Columns, query: Callable[[int], QuerySet], key: str = ""):
        self.make = partial(tuple.__new__, columns.row)
        paths = [*([key] if key else []), *columns.fields.values()]
        self.statement = _Statement(query, paths, columns.moment)
        names = list(columns.fields)
        self.lists = [
            (_Pages(related.columns, _listed(related, query, columns), related.key),
             names.index(related.parent))
            for related in columns.lists
        ]  # fmt: skip

    def page(self, after: int) -> list[tuple]:
        return self._rows(self.statement.run(after), after)

    def _rows(self, columns: list[tuple], after: int) -> list[tuple]:
        if not columns:
            return []  # and no query for the lists of no row
        for pages, at in self.lists:
            group = pages.grouped(after)
            columns.append(tuple(group.get(parent, []) for parent in columns[at]))
        return list(map(self.make, zip(*columns, strict=True)))

    def grouped(self, after: int) -> dict[Any, list[tuple]]:
        """A list's rows by the id they are listed by."""
        columns = self.statement.run(after)
        if not columns:
            return {}
        keys = columns.pop(0)
        groups: dict[Any, list[tuple]] = {}
        for key, row in zip(keys, self._rows(columns, after), strict=True):
            groups.setdefault(key, []).append(row)
        return groups


def _listed(
    related: Related, query: Callable[[int], QuerySet], columns: Columns
) -> Callable[[int], QuerySet]:
    """The query of a list's rows for a page of the rows `query(after)` makes: those whose
    key is among the page's, by the page's query as a subquery (see `Columns.read`)."""
    parent = columns.fields[related.parent]
    return lambda after: related.rows().filter(
        **{f"{related.key}__in": query(after).values(parent)}
    )
