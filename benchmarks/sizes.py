"""What the benchmarks that measure a whole demo clinic share: their arguments, a child
interpreter per clinic size, and the demo database each child opens.

A child is the same script run with `--one N`: each size gets a fresh interpreter, so that
peak memory and caches of one size do not flatter the next. A demo missing is built first by
a child of its own (`--one N --build`), so that the measures never run in the heap a build
leaves behind.
"""

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from history import ROOT


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--patients", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per size (median)")
    parser.add_argument("--keep", type=Path, help="keep the demo databases here for reuse")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def engine() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return "PostgreSQL" if url.startswith(("postgres", "pgsql")) else "SQLite"


def each_size(script: str, args: argparse.Namespace) -> list[Any]:
    """Run `script --one N` for each size and gather the rows the children print.

    Without DATABASE_URL each size has its own SQLite demo in `--keep` (or a throw-away
    folder), the same folder for every script, so that one demo built serves them all.
    With it, the one database it names is measured, at the first size given."""
    keep = args.keep or Path(tempfile.mkdtemp(prefix="needlechart-bench-"))
    sizes = args.patients[:1] if os.environ.get("DATABASE_URL") else sorted(args.patients)
    rows: list[Any] = []
    for patients in sizes:
        # A development configuration, as `make demo` runs it (a secret key made on the spot).
        env = {**os.environ, "DEBUG": os.environ.get("DEBUG", "1")}
        if not os.environ.get("DATABASE_URL"):
            env["NEEDLECHART_DATA_DIR"] = str(keep / f"demo-{patients}-seed{args.seed}")
        # The demo built first, by a process of its own: the measures run in a fresh one, as
        # a clinic runs a command on its records (not in the heap a build of them leaves).
        build = [sys.executable, script, "--one", str(patients), "--seed", str(args.seed),
                 "--build"]  # fmt: skip
        built = subprocess.run(build, env=env, cwd=ROOT, capture_output=True, text=True)  # noqa: S603
        if built.returncode:
            sys.exit(built.stderr)
        argv = [sys.executable, script, "--one", str(patients), "--seed", str(args.seed),
                "--repeat", str(args.repeat)]  # fmt: skip
        done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True)  # noqa: S603
        if done.returncode:
            sys.exit(done.stderr)
        rows += json.loads(done.stdout.splitlines()[-1])
    return rows


def open_demo(patients: int, seed: int) -> None:
    """Set Django up in this child, migrate, and build the demo if the database has none."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "needlechart.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from needlechart.accounts.models import Clinic

    call_command("migrate", verbosity=0)
    if not Clinic.objects.exists():
        quiet = io.StringIO()
        call_command("demo", "--patients", str(patients), "--seed", str(seed), stdout=quiet)
