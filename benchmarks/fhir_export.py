"""The FHIR bulk export, `needlechart fhir-export DIR`, on demo clinics of growing size, beside
a baseline measured in the same run.

    .venv/bin/python benchmarks/fhir_export.py [--patients 1000 5000] [--seed 1] [--keep DIR]

Each size runs in its own interpreter against its own SQLite demo database, built with
`needlechart demo --patients N --seed S` when absent (in a throw-away folder, or in
`--keep DIR` to reuse it next time). With DATABASE_URL set, the one database it names is
measured as it is (a demo of the first size is built in it when it holds no clinic), so give
one size.

Prints one table: measure, size, resources (rows for the baseline), time ms, base ms, ratio,
resources (or rows) per second, queries, peak MB.

- **fhir-export**: the command run in-process for the large demo clinic, every resource type,
  into a scratch directory; the audit rows it writes (one per patient) are part of it.
- **baseline**: a raw SQL fetch of every row of the tables the export reads (`SELECT *` of
  each, streamed by one cursor per table, no ORM), each row through `json.dumps` into a file
  line by line: the same rows serialised to JSON straight from SQL.

Goal (issue 14): at most 2x the baseline, with the same peak memory at each size.
"""

import io
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import sizes
from history import median_ms, peak_mb


def _tables() -> list[str]:
    from needlechart.accounts.models import Clinic, DryNeedlingCredential, Practitioner, User
    from needlechart.charting import models as charting
    from needlechart.outcomes.models import CarePlan, Observation, PlanGoal, PlanTherapy
    from needlechart.patients.models import EpisodeOfCare, Patient

    models = [
        Patient, Clinic, Practitioner, User, DryNeedlingCredential, EpisodeOfCare,
        charting.NeedlingSession, charting.Insertion, charting.NeedleSize, charting.Addendum,
        Observation, charting.TriggerPointFinding, charting.PainMark, charting.Assessment,
        charting.AdverseEvent,
        charting.AdverseEventFollowUp, charting.Consent, charting.DocumentTemplate,
        charting.ConsentWithdrawal, CarePlan, PlanGoal, PlanTherapy,
    ]  # fmt: skip
    return [model._meta.db_table for model in models]


def baseline(tables: list[str], directory: Path) -> int:
    """Every row of the tables as a JSON line in a file per table; the rows written."""
    from django.db import connection

    rows = 0
    directory.mkdir(parents=True, exist_ok=True)
    for table in tables:
        with connection.cursor() as cursor, (directory / f"{table}.ndjson").open("w") as out:
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - the models' own names
            for row in cursor:
                out.write(json.dumps(row, default=str, separators=(",", ":")) + "\n")
                rows += 1
    return rows


def measure(patients: int, seed: int, repeat: int) -> list[list[Any]]:
    """One size, in this interpreter, against the database the environment names."""
    sizes.open_demo(patients, seed)
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count
    from django.test.utils import CaptureQueriesContext

    from needlechart.accounts.models import Clinic

    clinic = Clinic.objects.annotate(size=Count("patients")).order_by("-size").first()
    assert clinic is not None
    size = f"{clinic.size} patients"
    scratch = Path(tempfile.mkdtemp(prefix="needlechart-fhir-export-"))

    def export() -> int:
        out = io.StringIO()
        call_command("fhir-export", str(scratch / "fhir"), "--clinic", str(clinic.pk),
                     stdout=out, stderr=io.StringIO())  # fmt: skip
        return sum(int(line.rsplit(": ", 1)[1].split()[0]) for line in out.getvalue().splitlines())

    tables = _tables()
    try:
        resources = export()
        rows = baseline(tables, scratch / "sql")
        ms = median_ms(export, repeat)
        base = median_ms(lambda: baseline(tables, scratch / "sql"), repeat)
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as queries:
            export()
        return [
            ["fhir-export", size, resources, ms, base, len(queries), peak_mb(export)],
            ["baseline: SQL rows as JSON", size, rows, base, None, len(tables),
             peak_mb(lambda: baseline(tables, scratch / "sql"))],
        ]  # fmt: skip
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def print_table(rows: list[list[Any]]) -> None:
    print(f"{'measure':<28}{'size':>16}{'resources':>11}{'time ms':>10}{'base ms':>10}"
          f"{'ratio':>8}{'per s':>9}{'queries':>9}{'peak MB':>9}")  # fmt: skip
    for name, size, count, ms, base, queries, mb in rows:
        ratio = f"{ms / base:.1f}x" if base else "-"
        print(
            f"{name:<28}{size:>16}{count:>11}{ms:>10.1f}{(f'{base:.1f}' if base else '-'):>10}"
            f"{ratio:>8}{count / ms * 1000:>9.0f}{queries:>9}{mb:>9.1f}"
        )


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
    rows = sizes.each_size(__file__, args)
    print(f"FHIR export benchmark ({sizes.engine()}), medians of {args.repeat} runs")
    print_table(rows)


if __name__ == "__main__":
    main()
