"""The newest rows of a record's history, for the page that lists them.

A screening is recorded again whenever a patient's health changes, a consent signed again
for each new version of its text, a plan saved as a new version at each review: over years
of care a page listing every one grows with each, and is read and rendered in full at each
view. A page lists the newest few and says how many more there are (counted in the same
query), and lists them all when the reader asks.

The count is part of the statement that reads the rows (`count_of`), each database's
fastest way where the rows are found by joins, as a patient's effects once were (6,000
effects a patient reported and nobody reviewed): PostgreSQL counts them over a window, in
the pass that finds them (14 ms, where a subquery per count walks them again: 29 ms);
SQLite carries every row through a window with all its columns and those of the rows
selected with it (26 ms), and counts faster by a subquery on an index while its sort keeps
only the first few (8 ms). Where an index of the rows' own columns gives them in the order
listed, a subquery counts them from the index alone on both databases (`count_apart`), and
the first few are read along it: PostgreSQL's window would join and number every row first
(the patient header's effects at 500 sessions: 2.2 to 2.7 ms a statement with the window,
0.3 to 0.4 ms counted apart).
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import connections
from django.db.models import Count, Expression, Func, IntegerField, Q, QuerySet, Subquery, Window

# Rows a history lists unless all of them are asked for.
LISTED = 20


@dataclass(frozen=True)
class Latest:
    """The rows listed, the newest first, and how many there are in all."""

    rows: list[Any]
    total: int

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def earlier(self) -> int:
        """The rows not listed."""
        return self.total - len(self.rows)


class _Count(Func):
    """COUNT as a plain function, not an aggregate: the subquery it is in counts its rows
    without a GROUP BY, and so gives 0 rather than no row when there are none."""

    function = "COUNT"
    output_field = IntegerField()


def count_of(rows: QuerySet, where: Q | None = None) -> Expression:
    """How many of `rows` there are (those matching `where`, if given), to annotate `rows`
    with: the query that takes the first few also says how many there are in all. `rows`
    must be the rows the annotated query reads, before any slice, and not grouped."""
    if connections[rows.db].vendor == "postgresql":
        return Window(Count("pk", filter=where))
    return count_apart(rows, where)


def count_apart(rows: QuerySet, where: Q | None = None) -> Expression:
    """How many of `rows` there are, by a subquery of its own on every database. For rows
    that an index gives in the order the annotated query takes its first few: those few are
    read along the index, and the count reads the index alone. (PostgreSQL's window count,
    `count_of`, joins and counts every row before it takes the first few.)"""
    counted = rows if where is None else rows.filter(where)
    return Subquery(counted.order_by().annotate(counted=_Count("pk")).values("counted"))


def latest(rows: QuerySet, *, every: bool = False, listed: int | None = None) -> Latest:
    """The first `listed` (LISTED unless told) of `rows` in their own order (the newest
    first), with the count of all of them, in one query; all of them when `every`."""
    if every:
        found = list(rows)
        return Latest(found, len(found))
    counted = rows.annotate(history_total=count_of(rows))
    found = list(counted[: LISTED if listed is None else listed])
    return Latest(found, found[0].history_total if found else 0)


# A page number no list reaches, and the most an address may ask for (a bigger one would
# overflow the database's integers in the offset).
LAST_ASKABLE = 1_000_000


def page_number(number: object) -> int:
    """The page an address asks for, from 1: anything but ASCII digits gives the first, and
    a number past LAST_ASKABLE that page (a list's page past its end gives its last)."""
    text = str(number)
    if not (text.isascii() and text.isdigit()):
        return 1
    # Beyond LAST_ASKABLE's digits the rest need not be read (a long one is past it).
    return max(1, min(int(text.lstrip("0")[:8] or "0"), LAST_ASKABLE))


def last_page(total: int, size: int) -> int:
    return max(1, math.ceil(total / size))


def counted_page(rows: QuerySet, number: object, size: int) -> Page:
    """Page `number` of `rows` (`size` a page) and how many there are in all, in one query;
    a page past the end (a list that shrank since its link was written) gives the last."""
    number = page_number(number)
    counted = rows.annotate(listed_total=count_of(rows))
    found = list(counted[(number - 1) * size : number * size])
    if not found and number > 1:
        number = last_page(rows.count(), size)
        found = list(counted[(number - 1) * size : number * size])
    return Page(found, number, Paginator(range(found[0].listed_total if found else 0), size))
