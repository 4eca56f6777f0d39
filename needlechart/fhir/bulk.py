"""FHIR Bulk Data export: a clinic's records as NDJSON files, one per resource type, built by
the read layer's own sources and resource functions (reads.py, resources.py).

Rows are read in chunks by primary key, each chunk with its own select_related and
prefetches (or, for the plain rows most types read, by statements compiled once an export:
`rows.Columns.pages`), and written line by line: memory holds one chunk whatever the
clinic's size, and the queries grow with the number of chunks only. `needlechart
fhir-export` and the $export jobs (jobs.py) both write through `export`.
"""

import contextlib
import datetime as dt
import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from django.db.models import QuerySet

from needlechart.accounts.models import Clinic, User
from needlechart.audit import services as audit
from needlechart.fhir import reads, resources
from needlechart.patients.models import Patient
from needlechart.rows import no_cycle_collection

# Rows per query. A chunk of sessions brings its needling rows along, so a few hundred keep
# memory small and the number of queries low.
CHUNK = 500
# Every type the read layer serves, in the order written; a patient-level export leaves out
# the clinic's directory (its practitioners, their roles and caseloads, the clinic itself).
SYSTEM_TYPES = list(reads.TYPES)
DIRECTORY_TYPES = ("Practitioner", "PractitionerRole", "Organization", "Group")
PATIENT_TYPES = [name for name in SYSTEM_TYPES if name not in DIRECTORY_TYPES]
WRITE_BUFFER = 1 << 18
# Types whose resources are built from the same rows, each a single source: where they are
# written one after the other, the rows are read once for both, by the second's source
# (whose columns serve the first's builder too). A session is an Encounter and a Procedure,
# an episode of care an EpisodeOfCare and a Condition, a practitioner a Practitioner and a
# PractitionerRole.
TOGETHER = {
    ("EpisodeOfCare", "Condition"),
    ("Encounter", "Procedure"),
    ("Practitioner", "PractitionerRole"),
}
# One line per resource, encoded by orjson: the same compact UTF-8 JSON as the standard
# encoder with `ensure_ascii=False, separators=(",", ":")` for these trees of dicts, lists,
# text, whole numbers and short decimals, at a fraction of its cost (encoding was a quarter
# of an export's time), each ended by its newline (no copy of the line to add it).
_line = functools.partial(orjson.dumps, option=orjson.OPT_APPEND_NEWLINE)


class Cancelled(Exception):
    """The export was cancelled while it ran: its files are removed."""


@dataclass(frozen=True)
class Reader:
    """What the read layer's sources scope their rows by: a clinic. A command has no staff
    member to read as; the sources need only the clinic's id."""

    clinic_id: int


@dataclass(frozen=True)
class Output:
    type: str
    path: Path
    count: int


def unknown_types(names: list[str], allowed: list[str]) -> list[str]:
    return [name for name in names if name not in allowed]


INSTANT_FORM = "a date, time and offset, such as 2024-03-01T00:00:00Z"


def instant(text: str) -> dt.datetime | None:
    """A FHIR instant (`_since`): with its offset, for a time without one is ambiguous."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


@dataclass(frozen=True)
class Selection:
    """Which of the clinic's records an export writes: those changed since an instant
    (`_since`; every one when None), of the patients of a group (every one when None)."""

    clinic_id: int
    since: dt.datetime | None = None
    patients: QuerySet | None = None

    def rows(self, source: reads.Source) -> QuerySet:
        rows = source.rows(Reader(self.clinic_id))  # type: ignore[arg-type]
        if source.search_excludes is not None:
            # What a search leaves out (an adverse event entered in error) is not exported.
            rows = rows.exclude(source.search_excludes)
        if self.since is not None and source.changed_since is not None:
            rows = rows.filter(source.changed_since(self.since))
        if self.patients is not None:
            rows = rows.filter(source.about(self.patients))
        return rows


def chunks(source: reads.Source, selection: Selection, size: int = CHUNK) -> Iterator[list[Any]]:
    """The source's rows chosen, as its builder takes them, `size` at a time, in id order
    (keyset paging: each chunk a query from the last id on, so a late chunk costs what the
    first did). A chunk short of `size` is the last."""
    page = source.pages(selection.rows(source).order_by("pk"), size)
    last = 0
    while True:
        batch = page(last)
        if batch:
            yield batch
        if len(batch) < size:
            return  # the last chunk: no query to find there is no more
        last = batch[-1].pk


def count(types: list[str], selection: Selection) -> int:
    """How many resources an export of `types` writes (for a progress bar)."""
    return sum(
        selection.rows(source).count() for name in types for source in reads.TYPES[name].sources
    )


def audit_patients(
    clinic: Clinic,
    user: User | None,
    detail: dict[str, Any],
    size: int = CHUNK,
    among: QuerySet | None = None,
) -> None:
    """One `export` row per patient of the clinic (of `among` when given, ids), a chunk of
    patients per write, before any of their records is written out (a read, by `user`, or
    by the system when None)."""
    patients = Patient.objects.filter(clinic=clinic).only("pk", "clinic_id").order_by("pk")
    if among is not None:
        patients = patients.filter(pk__in=among)
    last = 0
    while batch := list(patients.filter(pk__gt=last)[:size]):
        audit.record_each(actor=user, action=audit.Action.EXPORT, objects=batch, detail=detail)
        last = batch[-1].pk


def export(
    clinic: Clinic,
    directory: Path,
    types: list[str],
    *,
    progress: Callable[[str, int], None] = lambda name, done: None,
    cancelled: Callable[[], bool] = lambda: False,
    size: int = CHUNK,
    since: dt.datetime | None = None,
    patients: QuerySet | None = None,
) -> list[Output]:
    """Write `{Type}.ndjson` for each type into `directory`, one resource a line; a type
    with no resource gets no file (as the Bulk Data manifest lists none). Each file is
    written under a temporary name and renamed when whole. `progress` hears of each chunk;
    `cancelled` is asked after each and stops the export (its files are removed); `since`
    keeps the resources changed since that instant, `patients` those about them (ids)."""
    directory.mkdir(parents=True, exist_ok=True)
    outputs: list[Output] = []
    try:
        # Dates in the resources are the clinic's days.
        with resources.in_clinic_time(clinic.timezone):
            for names in _passes(types):
                selection = Selection(clinic.pk, since, patients)
                outputs += _write(selection, directory, names, progress, cancelled, size)
    except BaseException:
        for output in outputs:
            output.path.unlink(missing_ok=True)
        raise
    return outputs


def _passes(types: list[str]) -> list[list[str]]:
    """The types in their order, each in a pass of its own but for those built from the same
    rows (`TOGETHER`) that follow each other, which are written in one pass."""
    passes: list[list[str]] = []
    for name in types:
        if passes and (passes[-1][-1], name) in TOGETHER:
            passes[-1].append(name)
        else:
            passes.append([name])
    return passes


def _write(
    selection: Selection,
    directory: Path,
    names: list[str],
    progress: Callable[[str, int], None],
    cancelled: Callable[[], bool],
    size: int,
) -> list[Output]:
    """Write the files of the types `names` in one pass over their rows: each source of a
    type, or the rows that several types are built from (read by the last one's source)."""
    if len(names) == 1:
        reading = [(source, [(names[0], source.build)]) for source in reads.TYPES[names[0]].sources]
    else:
        (source,) = reads.TYPES[names[-1]].sources
        reading = [(source, [(name, _sole_source(name).build) for name in names])]
    paths = {name: directory / f"{name}.ndjson" for name in names}
    partials = {name: directory / f".{name}.ndjson.part" for name in names}
    written = dict.fromkeys(names, 0)
    try:
        with contextlib.ExitStack() as files:
            # Written 256 KiB at a time: at the default 8 KiB, the system calls to write were
            # a tenth of a large export (and a larger buffer gains no more).
            out = {
                name: files.enter_context(partial.open("wb", buffering=WRITE_BUFFER))
                for name, partial in partials.items()
            }
            # The collector paused: each chunk's rows and resources are freed as it is
            # written.
            files.enter_context(no_cycle_collection())
            for source, builds in reading:
                for batch in chunks(source, selection, size):
                    for name, build in builds:
                        out[name].writelines(map(_line, map(build, batch)))
                        written[name] += len(batch)
                        progress(name, len(batch))
                    if cancelled():
                        raise Cancelled
    except BaseException:
        for partial in partials.values():
            partial.unlink(missing_ok=True)
        raise
    outputs = []
    for name in names:
        if written[name]:
            os.replace(partials[name], paths[name])
            outputs.append(Output(name, paths[name], written[name]))
        else:
            partials[name].unlink()
            paths[name].unlink(missing_ok=True)
    return outputs


def _sole_source(name: str) -> reads.Source:
    (source,) = reads.TYPES[name].sources
    return source
