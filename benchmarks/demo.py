"""How long `needlechart demo` takes and how much memory it needs as the patients grow.

    .venv/bin/python benchmarks/demo.py [--patients 1000 5000]

For each size, makes a fresh throw-away database (a SQLite file by default; with
DATABASE_URL set, a scratch database beside the one it names, on the same server, dropped
afterwards), migrates it and runs `needlechart demo --patients N --seed 1` in a subprocess.
Prints one table: measure, size, time, baseline, ratio, queries ('-': not counted here), and
the peak resident memory of the demo's process (its own rusage, so it is one number per run).

The baseline: the same number of rows the demo wrote (counted over every table afterwards,
audit rows included), inserted with plain `executemany` in chunks of 5,000 into a scratch
table of ten columns (a key, three integers, three short texts, two timestamps and a longer
text), in one transaction, through the same database connection settings. It is what the
rows cost without models, checks, rules or audit: the floor for writing them at all.

Goal (issue 12): 5,000 patients under 2 minutes, with peak memory that does not grow with
the patients.
"""

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).parent))
from history import ROOT, Row, print_table

COMMAND = [sys.executable, "-m", "needlechart.cli"]
SCRATCH_CHUNK = 5000


def _env(database_url: str | None, data_dir: str) -> dict[str, str]:
    env = dict(os.environ, NEEDLECHART_DATA_DIR=data_dir, PYTHONPATH=str(ROOT))
    env.setdefault("DJANGO_SETTINGS_MODULE", "needlechart.settings")
    # A development configuration, as `make demo` runs it (a secret key made on the spot).
    env.setdefault("DEBUG", "1")
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def _scratch_database(url: str, name: str, create: bool) -> str:
    """Create (or drop) the database `name` on the server of `url`; returns its URL."""
    import psycopg

    # The server's own maintenance database: the one `url` names need not exist yet.
    server = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        if create:
            connection.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _run_demo(env: dict[str, str], patients: int) -> tuple[float, float]:
    """Seconds and peak resident MB of one demo build, in its own process."""
    subprocess.run([*COMMAND, "migrate", "-v0"], env=env, check=True, cwd=ROOT)  # noqa: S603
    start = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603
        [*COMMAND, "demo", "--patients", str(patients), "--seed", "1"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # wait4 gives this child's own rusage (RUSAGE_CHILDREN would mix in the migrations).
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the demo of {patients} patients failed")
    return seconds, usage.ru_maxrss / 1024  # Linux reports KiB


def baseline() -> None:
    """In the benchmark's database: count the rows the demo wrote, then time inserting as
    many plain rows; prints {"rows": n, "seconds": s}."""
    import django

    django.setup()
    from django.db import connection, transaction

    tables = connection.introspection.table_names()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        rows = 0
        for table in tables:
            if table.startswith(("django_", "auth_", "sqlite_")):
                continue
            cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")  # noqa: S608 - table names
            rows += cursor.fetchone()[0]
        key = "INTEGER PRIMARY KEY" if connection.vendor == "sqlite" else "BIGSERIAL PRIMARY KEY"
        cursor.execute("DROP TABLE IF EXISTS bench_scratch")
        cursor.execute(
            f"CREATE TABLE bench_scratch (id {key}, a INTEGER, b INTEGER, c INTEGER, "
            "d VARCHAR(40), e VARCHAR(40), f VARCHAR(40), g TIMESTAMP, h TIMESTAMP, i TEXT)"
        )
    now = dt.datetime(2026, 1, 1, 9, 0)
    sql = "INSERT INTO bench_scratch (a, b, c, d, e, f, g, h, i) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"  # noqa: E501
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for first in range(0, rows, SCRATCH_CHUNK):
            cursor.executemany(
                sql,
                [
                    (n, n % 7, n % 11, f"code-{n % 50}", "left", "demo", now, now, f"note {n}")
                    for n in range(first, min(rows, first + SCRATCH_CHUNK))
                ],
            )
    seconds = time.perf_counter() - start
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_scratch")
    print(json.dumps({"rows": rows, "seconds": seconds}))


def _baseline(env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603
        [sys.executable, __file__, "--baseline"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(patients: int) -> Row:
    url = os.environ.get("DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="needlechart-demo-bench-") as data_dir:
        scratch = None
        if url:
            name = f"{urlsplit(url).path.lstrip('/') or 'needlechart'}_demo_bench"
            scratch = _scratch_database(url, name, create=True)
        env = _env(scratch, data_dir)
        try:
            seconds, peak = _run_demo(env, patients)
            base = _baseline(env)
        finally:
            if url:
                _scratch_database(url, name, create=False)
    engine = "postgresql" if url else "sqlite"
    return (
        f"demo ({engine}, {base['rows']:,} rows)",
        f"{patients} patients",
        seconds * 1000,
        base["seconds"] * 1000,
        None,
        peak,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        baseline()
        return
    print_table([measure(count) for count in args.patients])


if __name__ == "__main__":
    main()
