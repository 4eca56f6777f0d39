"""The documents that grow with a patient's history, each beside a baseline measured in the
same run.

    .venv/bin/python benchmarks/documents.py [--sessions 20 100] [--repeat 3]

Builds a small demo clinic in a throw-away SQLite database (or the database DATABASE_URL
names), then a patient treated for N signed sessions through the charting services (as
benchmarks/history.py does), and times rendering, as `needlechart document` renders them:

- the progress report of that episode (its measures and the pain plot);
- the whole record of that patient (every session, measure and consent).

The baseline is WeasyPrint turning a one-page document of the same stylesheet into a PDF: the
least any document costs, so the ratio is what the record and its size add. Prints one
table: measure, size, median time, baseline, ratio, queries, peak memory (history.py's).
"""

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.history import Row, long_treated, median_ms, peak_mb, print_table, setup  # noqa: E402

KINDS = ("progress-report", "record")


def baseline_pdf() -> bytes:
    """One page with a heading and a paragraph, through the renderer's own PDF path."""
    from needlechart.documents import render

    return render._pdf(
        "<!doctype html><html><head><meta charset='utf-8'><title>Baseline</title></head>"
        "<body><h1>Baseline</h1><p>One paragraph of text on one page.</p></body></html>"
    )


def document_rows(repeat: int, sizes: list[int]) -> list[Row]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from needlechart.documents import render

    base = median_ms(baseline_pdf, repeat)
    rows: list[Row] = [("one-page PDF (baseline)", "1 page", base, None, 0, peak_mb(baseline_pdf))]
    for size in sizes:
        episode = long_treated(size)
        records: dict[str, Any] = {"progress-report": episode, "record": episode.patient}
        for kind in KINDS:
            record = records[kind]

            def make(kind: str = kind, record: Any = record) -> bytes:
                return render.render(kind, record, as_of=timezone.now().replace(microsecond=0)).pdf

            # Building the history filled DEBUG's query log; a full log counts nothing.
            connection.queries_log.clear()
            with CaptureQueriesContext(connection) as context:
                pdf = make()
            rows.append(
                (
                    f"{kind} ({len(pdf) // 1024} KB)",
                    f"{size} sessions",
                    median_ms(make, repeat),
                    base,
                    len(context.captured_queries),
                    peak_mb(make),
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    setup()
    from django.db import connection

    print(f"Document benchmarks ({connection.vendor}), medians of {args.repeat} runs")
    print_table(document_rows(args.repeat, sorted(args.sessions)))


if __name__ == "__main__":
    main()
