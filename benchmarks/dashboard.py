"""The clinic dashboard (its JSON and its page) beside DuckDB computing the same figures over
the same tables, at clinic sizes that show whether the cost grows faster than the data.

    .venv/bin/python benchmarks/dashboard.py [--patients 5000 20000] [--repeat 5]

Each size gets its own demo clinic (`needlechart demo --patients N --seed 1`), built once and
reused: on SQLite in `var/benchmarks/dashboard-sqlite-N/`, or, when DATABASE_URL names a
PostgreSQL database, in that database's name with `_N` added (created if absent). A demo
takes minutes at these sizes, so a database holding one is never rebuilt; delete it to start
again.

The baseline: DuckDB computing the same figures (sessions, episodes, sessions per week,
adverse-event counts, responders by condition, median sessions until improvement, the
most-needled muscles and the review list) with its own SQL over the same rows. DuckDB's
sqlite and postgres scanners are extensions it downloads on first use, which a machine
without a network cannot, so the rows the figures read are first copied into an in-memory
DuckDB database: that copy is timed apart (printed above the table) and is not part of the
baseline. The benchmark asserts DuckDB's figures equal needlechart's before it prints a time.

Measures, each a median of --repeat runs after a warm-up:
- dashboard JSON: `figures()` for the whole clinic, serialised as `needlechart dashboard
  --json` prints it;
- dashboard page: GET /dashboard/ through the Django test client, signed in as the demo
  clinic's practitioner (the figures, the portal's attention list, the plot, the audit),
  with nothing changed since the last view: the page reuses that view's figures
  (`kept_figures`, after one query for the clinic's marks);
- JSON, 1% of episodes changed: the JSON of a view that first recomputes the kept summaries
  of 1% of the clinic's episodes, marked changed (outcomes.EpisodeSummary), as after a
  day's charting;
- page, 1% of episodes changed: the page after the same marks, which computes its figures
  afresh.
  The marks are made before each of these views, outside the time measured.

Goal (issue 12): both within 3x of DuckDB, and growing no faster than the data.
"""

import argparse
import csv
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
from history import ROOT, Row, median_ms, peak_mb, print_table

SEED = "1"
CLINIC = "Riverside"  # the demo clinic the --patients go to
PRACTITIONER = "demo-practitioner"
NULL = r"\N"  # a missing value in the CSV copy, as "" is a value (no entered-in-error reason)
COURSE = ("baseline", "before", "reassessment", "discharge")

# The rows the figures read, table by table: the columns DuckDB gets, with their types.
TABLES: dict[str, list[tuple[str, str]]] = {
    "patients_patient": [("id", "BIGINT"), ("clinic_id", "BIGINT"), ("given_name", "VARCHAR"),
                         ("family_name", "VARCHAR")],
    "patients_episodeofcare": [("id", "BIGINT"), ("patient_id", "BIGINT"),
                               ("condition_code", "VARCHAR"), ("status", "VARCHAR"),
                               ("care_manager_id", "BIGINT")],
    "charting_needlingsession": [("id", "BIGINT"), ("episode_id", "BIGINT"),
                                 ("practitioner_id", "BIGINT"), ("signed_at", "TIMESTAMPTZ"),
                                 ("performed_at", "TIMESTAMPTZ")],
    "charting_addendum": [("session_id", "BIGINT"), ("assessment_id", "BIGINT"),
                          ("kind", "VARCHAR")],
    "charting_assessment": [("id", "BIGINT"), ("performed_at", "TIMESTAMPTZ")],
    "charting_adverseevent": [("session_id", "BIGINT"), ("severity", "VARCHAR"),
                              ("entered_in_error_reason", "VARCHAR")],
    "charting_insertion": [("session_id", "BIGINT"), ("muscle", "VARCHAR")],
    "outcomes_observation": [("id", "BIGINT"), ("episode_id", "BIGINT"),
                             ("session_id", "BIGINT"), ("assessment_id", "BIGINT"),
                             ("code", "VARCHAR"), ("timing", "VARCHAR"), ("value", "DOUBLE"),
                             ("recorded_at", "TIMESTAMPTZ"),
                             ("entered_in_error_reason", "VARCHAR")],
    "outcomes_careplan": [("episode_id", "BIGINT"), ("version", "BIGINT"),
                          ("review_on", "DATE")],
}  # fmt: skip


def _postgres_url(base: str, size: int) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"{parts.path}_{size}"))


def _environment(size: int) -> dict[str, str]:
    """The environment of the commands that build and read the clinic of `size` patients."""
    env = {**os.environ, "DEBUG": "1"}
    base = os.environ.get("DATABASE_URL", "")
    if base.startswith("postgres"):
        env["DATABASE_URL"] = _postgres_url(base, size)
        env.setdefault("NEEDLECHART_DATA_DIR", tempfile.mkdtemp(prefix="needlechart-bench-"))
    else:
        env.pop("DATABASE_URL", None)
        env["NEEDLECHART_DATA_DIR"] = str(ROOT / "var" / "benchmarks" / f"dashboard-sqlite-{size}")
    return env


def _create_postgres_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if found.fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')


def build(size: int) -> dict[str, str]:
    """Migrate the size's database and fill it with the demo, unless it holds one already
    (the demo is built in one transaction, so a database with a clinic holds all of it)."""
    env = _environment(size)
    if "DATABASE_URL" in env:
        _create_postgres_database(env["DATABASE_URL"])
    needlechart = str(Path(sys.executable).parent / "needlechart")
    subprocess.run([needlechart, "migrate", "-v0"], env=env, check=True)  # noqa: S603
    probe = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); "
         "from needlechart.accounts.models import Clinic; print(Clinic.objects.count())"],
        env={**env, "DJANGO_SETTINGS_MODULE": "needlechart.settings"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    if probe.stdout.strip() == "0":
        print(f"Building a demo clinic of {size} patients (once; this takes minutes)...")
        subprocess.run(  # noqa: S603
            [needlechart, "demo", "--patients", str(size), "--seed", SEED], env=env, check=True
        )
    return env


def _use(env: dict[str, str]) -> None:
    """Point Django's connection at the size's database."""
    import dj_database_url
    from django.db import connections

    connections.close_all()
    settings = connections["default"].settings_dict
    if "DATABASE_URL" in env:
        settings["NAME"] = dj_database_url.parse(env["DATABASE_URL"])["NAME"]
    else:
        settings["NAME"] = str(Path(env["NEEDLECHART_DATA_DIR"]) / "needlechart.sqlite3")


def copy_to_duckdb() -> Any:
    """An in-memory DuckDB database holding the rows the figures read, copied through CSV
    (DuckDB reads CSV natively; the scanners are downloads)."""
    import duckdb
    from django.db import connection

    duck = duckdb.connect()
    # Naive times (SQLite's) are UTC, as Django stores them.
    duck.execute("SET TimeZone = 'UTC'")
    with tempfile.TemporaryDirectory() as folder:
        for table, columns in TABLES.items():
            path = Path(folder) / f"{table}.csv"
            with connection.cursor() as cursor, path.open("w", newline="") as out:
                cursor.execute(f"SELECT {', '.join(c for c, _ in columns)} FROM {table}")  # noqa: S608
                writer = csv.writer(out)
                while batch := cursor.fetchmany(5000):
                    writer.writerows([NULL if v is None else v for v in row] for row in batch)
            types = ", ".join(f"'{c}': '{t}'" for c, t in columns)
            duck.execute(  # the module's own table and column names, no input
                f"CREATE TABLE {table} AS SELECT * FROM read_csv('{path}', header = false, "  # noqa: S608
                f"columns = {{{types}}}, nullstr = '{NULL}')"
            )
    return duck


def _needed_sql() -> str:
    """The drop from the baseline that counts as an important change, by condition, from the
    knowledge package's NPRS rules (2 points or 30% of the baseline, whichever is smaller;
    1.3 points for neck pain)."""
    from needlechart import knowledge

    rules = knowledge.change_rules("nprs")
    whens = []
    for codes, rule in rules:
        amounts = []
        if rule.absolute is not None:
            amounts.append(str(float(rule.absolute)))
        if rule.relative is not None:
            amounts.append(f"{float(rule.relative)} * abs(base_value)")
        pick = "least" if rule.combine == "either" else "greatest"
        needed = amounts[0] if len(amounts) == 1 else f"{pick}({', '.join(amounts)})"
        if codes:
            match = " OR ".join(f"starts_with(condition, '{code}')" for code in codes)
            whens.append(f"WHEN {match} THEN {needed}")
        else:
            whens.append(f"ELSE {needed}")
    return f"(CASE {' '.join(whens)} END)"


def duckdb_figures(duck: Any, clinic_id: int, tz: str, review_after: int, today: dt.date) -> dict:
    """The dashboard's figures for the whole clinic, in DuckDB's SQL (built from the
    module's constants, the clinic's id and the shipped thresholds, never from input)."""
    duck.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW clinic_episode AS
          SELECT e.* FROM patients_episodeofcare e JOIN patients_patient p ON p.id = e.patient_id
          WHERE p.clinic_id = {int(clinic_id)};
        CREATE OR REPLACE TEMP VIEW signed AS
          SELECT s.* FROM charting_needlingsession s JOIN clinic_episode e ON e.id = s.episode_id
          WHERE s.signed_at IS NOT NULL AND s.id NOT IN (
            SELECT session_id FROM charting_addendum
            WHERE kind = 'entered-in-error' AND session_id IS NOT NULL);
        """  # noqa: S608
    )
    sessions, episodes, active = duck.execute(
        "SELECT count(*), count(DISTINCT s.episode_id),"
        " count(DISTINCT s.episode_id) FILTER (WHERE e.status = 'active')"
        " FROM signed s JOIN clinic_episode e ON e.id = s.episode_id"
    ).fetchone()
    weeks = duck.execute(
        "SELECT date_trunc('week', timezone(?, performed_at))::DATE AS week, count(*)"
        " FROM signed GROUP BY week ORDER BY week",
        [tz],
    ).fetchall()
    minor, major = duck.execute(
        "SELECT count(*) FILTER (WHERE severity = 'mild'), count(*) FILTER (WHERE severity <>"
        " 'mild') FROM charting_adverseevent a JOIN signed s ON s.id = a.session_id"
        " WHERE a.entered_in_error_reason = ''"
    ).fetchone()
    muscles = duck.execute(
        "SELECT i.muscle, count(*) AS n, count(DISTINCT e.patient_id) FROM charting_insertion i"
        " JOIN signed s ON s.id = i.session_id JOIN clinic_episode e ON e.id = s.episode_id"
        " GROUP BY i.muscle ORDER BY n DESC, i.muscle LIMIT 10"
    ).fetchall()
    course = ", ".join(f"'{t}'" for t in COURSE)
    duck.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE change AS
        WITH course AS (
          SELECT o.id, o.episode_id, o.timing, o.value, e.condition_code AS condition,
                 coalesce(s.performed_at, a.performed_at, o.recorded_at) AS taken_at
          FROM outcomes_observation o
          JOIN clinic_episode e ON e.id = o.episode_id
          LEFT JOIN charting_needlingsession s ON s.id = o.session_id
          LEFT JOIN charting_assessment a ON a.id = o.assessment_id
          WHERE o.code = 'nprs' AND o.timing IN ({course}) AND o.entered_in_error_reason = ''
            AND NOT EXISTS (SELECT 1 FROM charting_addendum d WHERE d.kind = 'entered-in-error'
                            AND (d.session_id = o.session_id
                                 OR d.assessment_id = o.assessment_id))
        ), ranked AS (
          SELECT *,
            first_value(id) OVER w AS base_id, first_value(value) OVER w AS base_value,
            row_number() OVER (PARTITION BY episode_id ORDER BY taken_at DESC, id DESC)
              AS from_latest
          FROM course
          WINDOW w AS (PARTITION BY episode_id ORDER BY timing <> 'baseline', taken_at, id)
        ), judged AS (
          SELECT *, base_value - value > 0
                    AND base_value - value >= {_needed_sql()} - 0.000001 AS met
          FROM ranked
        )
        SELECT episode_id, condition,
          bool_or(from_latest = 1 AND id <> base_id) AS evaluable,
          bool_or(from_latest = 1 AND id <> base_id AND met) AS responder,
          min(taken_at) FILTER (WHERE timing <> 'baseline' AND id <> base_id AND met) AS improved_at
        FROM judged GROUP BY episode_id, condition
        """  # noqa: S608
    )
    responders = duck.execute(
        "SELECT condition, count(*) FILTER (WHERE evaluable), count(*) FILTER (WHERE responder)"
        " FROM change WHERE episode_id IN (SELECT episode_id FROM signed)"
        " GROUP BY condition HAVING count(*) FILTER (WHERE evaluable) > 0 ORDER BY condition"
    ).fetchall()
    (median,) = duck.execute(
        "SELECT median(n) FROM (SELECT c.episode_id, count(s.id) AS n FROM change c"
        " LEFT JOIN signed s ON s.episode_id = c.episode_id AND s.performed_at < c.improved_at"
        " WHERE c.responder AND c.episode_id IN (SELECT episode_id FROM signed)"
        " GROUP BY c.episode_id)"
    ).fetchone()
    review = duck.execute(
        "SELECT e.id FROM clinic_episode e JOIN patients_patient p ON p.id = e.patient_id"
        " LEFT JOIN (SELECT episode_id, count(*) AS n FROM signed GROUP BY episode_id) s"
        "   ON s.episode_id = e.id"
        " LEFT JOIN (SELECT episode_id, arg_max(review_on, version) AS review_on"
        "   FROM outcomes_careplan GROUP BY episode_id) plan ON plan.episode_id = e.id"
        " LEFT JOIN change c ON c.episode_id = e.id"
        " WHERE e.status = 'active' AND ((coalesce(s.n, 0) >= ? AND NOT coalesce(c.responder,"
        " false)) OR plan.review_on < ?)"
        " ORDER BY p.family_name, p.given_name, e.id",
        [review_after, today],
    ).fetchall()
    return {
        "sessions": sessions,
        "episodes": episodes,
        "active_episodes": active,
        "sessions_per_week": [(week.isoformat(), n) for week, n in weeks],
        "adverse_events": (minor, major),
        "responders_by_condition": {code: (n, r) for code, n, r in responders},
        "median_sessions_to_improvement": median,
        "most_needled_muscles": [tuple(row) for row in muscles],
        "review_due": [episode for (episode,) in review],
    }


def comparable(figures: dict) -> dict:
    """needlechart's figures in the shape duckdb_figures returns."""
    return {
        "sessions": figures["sessions"],
        "episodes": figures["episodes"],
        "active_episodes": figures["active_episodes"],
        "sessions_per_week": [(w["week"], w["sessions"]) for w in figures["sessions_per_week"]],
        "adverse_events": (figures["adverse_events"]["minor"], figures["adverse_events"]["major"]),
        "responders_by_condition": {
            code: (r["episodes"], r["responders"])
            for code, r in figures["responders_by_condition"].items()
        },
        "median_sessions_to_improvement": figures["median_sessions_to_improvement"],
        "most_needled_muscles": [
            (m["muscle"], m["rows"], m["patients"]) for m in figures["most_needled_muscles"]
        ],
        "review_due": [r["episode"] for r in figures["review_due"]],
    }


def measure(size: int, env: dict[str, str], repeat: int) -> tuple[list[Row], float]:
    from django.db import connection
    from django.db.models import F
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from needlechart.accounts.models import Clinic, User
    from needlechart.outcomes import dashboard
    from needlechart.outcomes.models import EpisodeSummary
    from needlechart.patients.models import Patient

    _use(env)
    clinic = Clinic.objects.get(name__startswith=CLINIC)
    patients = Patient.objects.filter(clinic=clinic).count()
    if patients != size:
        raise SystemExit(
            f"the database for {size} patients holds a clinic of {patients}: drop it to rebuild"
        )
    today = timezone.localdate()
    filters = dashboard.Filters(clinic=clinic)

    def as_json() -> str:
        return json.dumps(dashboard.figures(filters, today=today), indent=2, ensure_ascii=False)

    start = time.perf_counter()
    duck = copy_to_duckdb()
    copy_ms = (time.perf_counter() - start) * 1000

    def baseline() -> dict:
        return duckdb_figures(duck, clinic.pk, clinic.timezone, clinic.review_after_sessions, today)

    ours = comparable(dashboard.figures(filters, today=today))
    theirs = baseline()
    for key, value in ours.items():
        assert theirs[key] == value, (key, value, theirs[key])

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(username=PRACTITIONER, clinic=clinic))

    def page() -> None:
        response = client.get("/dashboard/")
        assert response.status_code == 200, response.status_code

    def mark_changes() -> None:
        # A busy day: 1% of the clinic's episodes changed since the last view (each marked as
        # the triggers mark it), recomputed by the next view before it reads the figures.
        changed = EpisodeSummary.objects.filter(episode__patient__clinic=clinic).order_by("?")[
            : max(1, size // 100)
        ]
        EpisodeSummary.objects.filter(pk__in=list(changed.values_list("pk", flat=True))).update(
            changes=F("changes") + 1
        )

    def unchanged() -> None:
        pass

    base = median_ms(baseline, repeat)
    rows: list[Row] = []
    # The changes are made before each timed view, untimed: the view's work is to recompute
    # the marked summaries and the figures, not to pick and mark the episodes.
    for name, call, setup in (
        ("dashboard JSON", as_json, unchanged),
        ("dashboard page", page, unchanged),
        ("JSON, 1% of episodes changed", as_json, mark_changes),
        ("page, 1% of episodes changed", page, mark_changes),
    ):
        # The log keeps the last 9,000 queries only: empty it, or a full log counts none.
        connection.queries_log.clear()
        setup()
        with CaptureQueriesContext(connection) as queries:
            call()
        # Counted now: a page's request empties the log these counts are read from.
        count = len(queries)
        ms = median_ms(call, repeat, setup)
        setup()
        rows.append((name, f"{size} patients", ms, base, count, peak_mb(call)))
    return rows, copy_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[5000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sizes = sorted(args.patients)
    envs = {size: build(size) for size in sizes}
    # Django reads its settings once: start it on the first size's database, then switch.
    os.environ.update({k: envs[sizes[0]][k] for k in ("DEBUG", "NEEDLECHART_DATA_DIR")})
    if "DATABASE_URL" in envs[sizes[0]]:
        os.environ["DATABASE_URL"] = envs[sizes[0]]["DATABASE_URL"]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "needlechart.settings")
    import django

    django.setup()
    from django.db import connection

    rows: list[Row] = []
    copies = []
    for size in sizes:
        measured, copy_ms = measure(size, envs[size], args.repeat)
        rows += measured
        copies.append(f"{size} patients {copy_ms:.0f} ms")
    print(f"Dashboard benchmarks ({connection.vendor}), medians of {args.repeat} runs;"
          f" base: DuckDB computing the same figures (asserted equal) from an in-memory copy"
          f" of the tables (the copy, not in the base: {', '.join(copies)})")  # fmt: skip
    print_table(rows)


if __name__ == "__main__":
    main()
