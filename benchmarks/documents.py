"""Documents rendered as PDF: the progress report (with its plots) and the whole record of a
long-treated patient, each beside the PDF engine alone on the same finished HTML.

    .venv/bin/python benchmarks/documents.py [--sessions 50 500] [--repeat 5]

Builds a small demo clinic in a throw-away SQLite database (or the empty or demo-only
database DATABASE_URL names) and gives one episode N signed sessions through the charting
services, as benchmarks/history.py does. Prints one table: measure, size, median time,
baseline, ratio, queries, peak memory.

- **progress report** / **whole record**: `documents.render.render`, what issuing a
  document costs before it is stored: reading the chart, the plots, the template, the PDF.
- **baseline**: WeasyPrint turning the very HTML that render produced into the PDF, with
  the same stylesheet: the least any PDF of that content costs. The ratio is what
  needlechart adds to the PDF engine.

The episode page and the PDF share one plotting path (outcomes.plots.progress_plots), so
benchmarks/history.py's plot rows apply to both.
"""

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from history import Row, long_treated, median_ms, peak_mb, print_table, setup


def rows_for(sessions: int, repeat: int) -> list[Row]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from needlechart.documents import render
    from needlechart.documents.models import Kind

    episode = long_treated(sessions)
    patient = episode.patient
    size = f"{sessions} sessions"
    rows: list[Row] = []
    for name, kind, record in (
        ("progress report", Kind.PROGRESS_REPORT, episode),
        ("whole record", Kind.RECORD, patient),
    ):
        as_of = timezone.now()
        # What render hands the PDF engine (the HTML, and the clinic's logo if it has one).
        given: list[tuple[Any, ...]] = []
        engine = render._pdf

        def keep(*args: Any, engine: Any = engine, given: list = given) -> bytes:
            given[:] = [args]
            return engine(*args)

        render._pdf = keep
        try:
            render.render(kind, record, as_of=as_of)
        finally:
            render._pdf = engine

        def document(kind: str = kind, record: Any = record, as_of: Any = as_of) -> Any:
            return render.render(kind, record, as_of=as_of)

        def pdf_only(args: tuple[Any, ...] = given[0]) -> bytes:
            return render._pdf(*args)

        ms = median_ms(document, repeat)
        base = median_ms(pdf_only, repeat)
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as queries:
            document()
        rows.append((name, size, ms, base, len(queries), peak_mb(document)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[50, 500])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    setup()
    from django.db import connection

    rows: list[Row] = []
    for sessions in sorted(args.sessions):
        rows += rows_for(sessions, args.repeat)
    print(f"Document benchmarks ({connection.vendor}), medians of {args.repeat} runs")
    print_table(rows)


if __name__ == "__main__":
    main()
