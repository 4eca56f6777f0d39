"""Plain rows for the builders of FHIR resources and of the chart export: the columns a
builder reads, named once, read either straight from SQL (a bulk export, no model instance
built) or from a record the read layer fetched as a model (a read or a search page, which
audits its records).

A builder of plain rows reads attributes of a named tuple: `Columns` says which attribute is
which column (an ORM path such as `episode__patient_id`), and which lists of another table's
rows come along (a session's needling rows). Building tens of thousands of model instances,
each with the related instances select_related brings, was most of a bulk export's time.
"""

from collections import namedtuple
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Model, Prefetch, QuerySet


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
        for key, *values in found.values_list(self.key, *self.columns.fields.values()):
            groups.setdefault(key, []).append(make(values))
        return groups


class Columns:
    """What a builder reads: the record's own columns, named as they are (space-separated, as
    namedtuple takes names; the first is the record's id), the columns of linked records
    (attribute: ORM path), and the lists of other rows that come with it."""

    def __init__(
        self,
        name: str,
        own: str,
        linked: dict[str, str] | None = None,
        lists: Iterable[Related] = (),
    ):
        self.fields = {column: column for column in own.split()} | (linked or {})
        self.lists = tuple(lists)
        names = [*self.fields, *(related.name for related in self.lists)]
        self.row = namedtuple(name, names)  # type: ignore[misc]
        self._steps = [path.split("__") for path in self.fields.values()]

    def of(self, record: Model) -> tuple:
        """A record fetched as a model as the builder's row (its lists from its prefetches)."""
        values = [_walk(record, steps) for steps in self._steps]
        return self.row(*values, *(related.of(record) for related in self.lists))

    def prefetches(self) -> list[Prefetch]:
        return [related.prefetch() for related in self.lists]

    def read(self, rows: QuerySet, *, by_subquery: bool = False) -> list[tuple]:
        """The rows of a queryset as the builder's rows, straight from SQL: one query, and
        one per list.

        `by_subquery`: each list is read with the rows' query as a subquery rather than with
        the ids read, for a deep export of many rows a chunk: Django prepares each value
        of an `IN` list in Python, some microseconds an id, which cost more than the
        database takes to run the subquery again."""
        found = list(rows.prefetch_related(None).values_list(*self.fields.values()))
        if not self.lists:
            return list(map(self.row._make, found))
        names = list(self.fields)
        parents = [names.index(related.parent) for related in self.lists]
        groups = [
            (
                at,
                related.grouped(rows.values(self.fields[related.parent]))
                if by_subquery
                else related.grouped([values[at] for values in found if values[at] is not None]),
            )
            for related, at in zip(self.lists, parents, strict=True)
        ]
        return [
            self.row(*values, *(group.get(values[at], []) for at, group in groups))
            for values in found
        ]
