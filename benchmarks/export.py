"""The clinic-wide export, `needlechart chart --all --json`, on demo clinics of growing size,
beside a baseline measured in the same run.

    .venv/bin/python benchmarks/export.py [--patients 1000 5000] [--seed 1] [--keep DIR]

Each size runs in its own interpreter against its own SQLite demo clinic, built with
`needlechart demo --patients N --seed S` when absent (in a throw-away folder, or in
`--keep DIR` to reuse it next time: a large demo takes minutes to build). With
DATABASE_URL set, the one database it names is measured as it is (a demo of the first
size is built in it when it holds no clinic), so give one size.

Prints one table: measure, size, time ms, base ms, ratio, queries, peak MB.

- **chart --all --json**: the command run in-process, its output counted and dropped; the
  audit rows it writes (one per patient) are part of it.
- **baseline**: a raw SQL fetch of every row the export reads (`SELECT *` of each table,
  streamed by one cursor per table, no ORM) with each row serialised by `json.dumps`.

Goal (issue 12): the export keeps the same peak memory at 1,000 and 5,000 patients, and
takes at most 3x the baseline.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import sizes
from history import Counted, Row, median_ms, peak_mb, print_table


def _tables() -> list[str]:
    from needlechart.accounts.models import Clinic, Practitioner, User
    from needlechart.charting import models as charting
    from needlechart.outcomes.models import CarePlan, Discharge, Observation, PlanGoal, PlanTherapy
    from needlechart.patients.models import EpisodeOfCare, Patient

    models = [
        Patient, Clinic, charting.Consent, charting.DocumentTemplate,
        charting.ConsentWithdrawal, EpisodeOfCare, charting.Screening, charting.Assessment,
        charting.PainMark, charting.TriggerPointFinding, charting.Addendum,
        charting.NeedlingSession, charting.Insertion, charting.NeedleSize,
        charting.AdverseEvent, charting.AftercareIssue, Observation, CarePlan, PlanGoal,
        PlanTherapy, Discharge, Practitioner, User,
    ]  # fmt: skip
    return [model._meta.db_table for model in models]


def baseline(tables: list[str]) -> int:
    from django.db import connection

    written = 0
    for table in tables:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - the models' own names
            for row in cursor:
                written += len(json.dumps(row, default=str, separators=(",", ":")))
    return written


def measure(patients: int, seed: int, repeat: int) -> list[Row]:
    """One size, in this interpreter, against the database the environment names."""
    sizes.open_demo(patients, seed)
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from needlechart.patients.models import Patient

    size = f"{Patient.objects.count()} patients"

    def export() -> int:
        sink = Counted()
        call_command("chart", "--all", "--json", stdout=sink)
        return sink.chars

    tables = _tables()
    ms = median_ms(export, repeat)
    base = median_ms(lambda: baseline(tables), repeat)
    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as queries:
        export()
    return [
        ("chart --all --json", size, ms, base, len(queries), peak_mb(export)),
        ("baseline: SQL rows as JSON", size, base, None, len(tables),
         peak_mb(lambda: baseline(tables))),
    ]  # fmt: skip


def main() -> None:
    args = sizes.arguments(__doc__.splitlines()[0])
    if args.one and args.build:
        # A child that builds the demo the next child measures (see sizes.each_size).
        sizes.open_demo(args.one, args.seed)
        return
    if args.one:
        # A child: print its rows for the parent.
        print(json.dumps(measure(args.one, args.seed, args.repeat)))
        return
    rows: list[Row] = [tuple(row) for row in sizes.each_size(__file__, args)]  # type: ignore[misc]
    print(f"Export benchmark ({sizes.engine()}), medians of {args.repeat} runs")
    print_table(rows)


if __name__ == "__main__":
    main()
