"""Pages that must not grow with a patient's history, the progress plots and the command line's
start-up, each beside a baseline measured in the same run.

    .venv/bin/python benchmarks/history.py [--sessions 500 2000] [--repeat 15]

Builds a small demo clinic in a throw-away SQLite database (or the empty or demo-only
database DATABASE_URL names), then gives one episode N signed sessions through the charting
services, as a clinician would chart them. Prints one table: measure, size, median time,
baseline, ratio, queries, peak memory. The baselines:

- a page: a raw SQL fetch of the rows the page shows (no ORM, no template). The pages are
  timed with DEBUG off, as production serves them (the queries are counted with it on);
  the draft session page is today's visit started from the last one, the form of the
  next row on it. Then the patient page and the session page again, once a check-in after
  every session reports a red flag, soreness and a bruise that no clinician has reviewed
  (the patient header, on every page of the patient, names the newest and counts the rest);
- `chart MRN --json` of that patient: the command's own reads run on a raw cursor, each row
  serialised by `json.dumps`;
- a plot: serialising the same points as JSON;
- a command: `python -c "import django"`, the least any command can cost.

Goals (issue 12): the pages at most 3x their baseline and under 100 ms; plots of 50 points
under 20 ms and of 500 under 50 ms; the knowledge commands and `--help` under 0.5 s.
"""

import argparse
import datetime as dt
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

Row = tuple[str, str, float, float | None, int | None, float | None]


def median_ms(
    call: Callable[[], Any], repeat: int, setup: Callable[[], Any] = lambda: None
) -> float:
    """The median of `repeat` timed calls after a warm-up; `setup` runs before each call,
    untimed (what the measure starts from, such as the changes a view then reads)."""
    setup()
    call()  # warm caches, as a running server has them
    timings = []
    for _ in range(repeat):
        setup()
        start = time.perf_counter()
        call()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1000


def peak_mb(call: Callable[[], Any]) -> float:
    tracemalloc.start()
    call()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def print_table(rows: list[Row]) -> None:
    print(f"{'measure':<34}{'size':>16}{'time ms':>10}{'base ms':>10}{'ratio':>8}"
          f"{'queries':>9}{'peak MB':>9}")  # fmt: skip
    for name, size, ms, base, queries, mb in rows:
        ratio = f"{ms / base:.1f}x" if base else "-"
        print(
            f"{name:<34}{size:>16}{ms:>10.1f}{(f'{base:.1f}' if base else '-'):>10}{ratio:>8}"
            f"{(queries if queries is not None else '-'):>9}{(f'{mb:.1f}' if mb else '-'):>9}"
        )


class Counted(io.TextIOBase):
    """Where a command writes: counts what it is given and keeps none of it."""

    def __init__(self) -> None:
        self.chars = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        return len(text)


def setup() -> None:
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("NEEDLECHART_DATA_DIR", tempfile.mkdtemp(prefix="needlechart-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "needlechart.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    quiet = io.StringIO()
    call_command("demo", "--patients", "8", "--seed", "1", stdout=quiet, stderr=quiet)


def long_treated(sessions: int) -> Any:
    """A new patient with one episode of `sessions` signed sessions, charted through the
    services as a clinician would, each on its own day (the clock travels, as the rules
    refuse records in the future)."""
    import time_machine
    from django.utils import timezone

    from needlechart.accounts.models import User
    from needlechart.charting import services
    from needlechart.charting.models import NeedleSize
    from needlechart.outcomes import measurements
    from needlechart.patients import services as patients

    actor = User.objects.get(username="demo-practitioner")
    # Twice a day, closer for a long history: all of it within the year the practitioner's
    # credential has covered (the rules refuse needling without a current one).
    step = dt.timedelta(hours=min(12, 365 * 24 // (sessions + 4)))
    start = timezone.now() - step * sessions - dt.timedelta(days=2)
    with time_machine.travel(start, tick=False):
        patient = patients.patient_create(
            actor=actor, given_name="Long", family_name=f"History{sessions}",
            birth_date=dt.date(1970, 5, 1), sex="female",
        )  # fmt: skip
        episode = patients.episode_create(
            actor=actor, patient=patient, condition_code="M54.2", referral_source="self",
            care_manager=actor.practitioner,
        )  # fmt: skip
        services.screening_record(actor=actor, episode=episode, factors=[])
        services.consent_sign(
            actor=actor, patient=patient, signed_name=patient.full_name, confirmed=True,
            template=services.current_template(clinic=patient.clinic, kind="consent"),
        )  # fmt: skip
        measurements.observation_add(
            actor=actor, episode=episode, code="nprs", value=7, timing="baseline"
        )
    needle = NeedleSize.objects.filter(clinic=patient.clinic).first()
    for number in range(sessions):
        with time_machine.travel(start + dt.timedelta(hours=1) + step * number, tick=False):
            session, _ = services.session_start(
                actor=actor, episode=episode, screening_status="unchanged",
                consent_confirmed=True, clean_technique=True, from_last=number > 0,
            )  # fmt: skip
            if number == 0:
                services.insertion_add(
                    actor=actor, session=session, muscle="upper-trapezius", side="left",
                    needles=2, needle_size=needle, depth="deep", technique="pistoning",
                )  # fmt: skip
            for row in session.insertions.all():
                services.insertion_update(
                    actor=actor, insertion=row, twitch_responses=1, familiar_pain=True,
                    tolerance="good",
                )  # fmt: skip
            for timing, value in (("before", 6 + number % 3), ("after", 3 + number % 2)):
                measurements.observation_add(
                    actor=actor, episode=episode, session=session, code="nprs", value=value,
                    timing=timing,
                )  # fmt: skip
            opened = sum(r.needles for r in session.insertions.all())
            services.session_update(
                actor=actor, session=session, needles_opened=opened, needles_removed=opened,
                sharps_disposed=True,
            )  # fmt: skip
            services.session_sign(actor=actor, session=session)
    return episode


def raw(sql: str, params: list[Any]) -> Callable[[], Any]:
    from django.db import connection

    def fetch() -> Any:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    return fetch


def page_rows(repeat: int, sizes: list[int]) -> list[Row]:
    from django.test import Client

    from needlechart.charting import services
    from needlechart.charting.models import NeedlingSession
    from needlechart.charting.selectors import timeline

    rows: list[Row] = []
    from needlechart.db.statistics import refresh_statistics

    for size in sizes:
        episode = long_treated(size)
        # As a server's autovacuum and autoanalyze leave the tables (this machine's
        # PostgreSQL runs none): the history's updates leave a dead copy of each row changed.
        refresh_statistics()
        client = Client(HTTP_HOST="127.0.0.1")
        client_user = episode.care_manager.user
        client.force_login(client_user)
        last = NeedlingSession.objects.filter(episode=episode).latest("performed_at")
        # Today's visit, started from the last one: the page a clinician charts on.
        draft, _ = services.session_start(
            actor=episode.care_manager.user, episode=episode, screening_status="unchanged",
            consent_confirmed=True, clean_technique=True, from_last=True,
        )  # fmt: skip
        middle = (timeline(user=client_user, patient=episode.patient).pages + 1) // 2
        pages = {
            "episode page": (
                f"/episodes/{episode.pk}/",
                # Its rows: the latest sessions and every measurement of the progress.
                [raw("SELECT * FROM charting_needlingsession WHERE episode_id = %s "
                     "ORDER BY performed_at DESC LIMIT 20", [episode.pk]),
                 raw("SELECT * FROM outcomes_observation WHERE episode_id = %s",
                     [episode.pk])],
            ),
            "measurements page": (
                f"/episodes/{episode.pk}/measurements/",
                # Its rows: a page of the newest measurements.
                [raw("SELECT * FROM outcomes_observation WHERE episode_id = %s "
                     "ORDER BY recorded_at DESC, id DESC LIMIT 50", [episode.pk])],
            ),
            "timeline page": (
                f"/patients/{episode.patient_id}/timeline/",
                [raw("SELECT s.* FROM charting_needlingsession s JOIN patients_episodeofcare e "
                     "ON e.id = s.episode_id WHERE e.patient_id = %s "
                     "ORDER BY s.performed_at DESC LIMIT 50", [episode.patient_id])],
            ),
            # A page in the middle of the history: the one that reads the most keys, from
            # either end (charting.selectors.timeline).
            "timeline, middle page": (
                f"/patients/{episode.patient_id}/timeline/?page={middle}",
                [raw("SELECT s.* FROM charting_needlingsession s JOIN patients_episodeofcare e "
                     "ON e.id = s.episode_id WHERE e.patient_id = %s "
                     "ORDER BY s.performed_at DESC LIMIT 50 OFFSET %s",
                     [episode.patient_id, (middle - 1) * 50])],
            ),
            # The oldest records, past every page before (a page past the last is the last).
            "timeline, last page": (
                f"/patients/{episode.patient_id}/timeline/?page=1000000",
                [raw("SELECT s.* FROM charting_needlingsession s JOIN patients_episodeofcare e "
                     "ON e.id = s.episode_id WHERE e.patient_id = %s "
                     "ORDER BY s.performed_at LIMIT 50", [episode.patient_id])],
            ),
            "session page": (
                f"/sessions/{last.pk}/",
                [raw("SELECT * FROM charting_needlingsession WHERE id = %s", [last.pk]),
                 raw("SELECT * FROM charting_insertion WHERE session_id = %s", [last.pk]),
                 raw("SELECT * FROM outcomes_observation WHERE session_id = %s", [last.pk])],
            ),
            "draft session page": (
                f"/sessions/{draft.pk}/",
                [raw("SELECT * FROM charting_needlingsession WHERE id = %s", [draft.pk]),
                 raw("SELECT * FROM charting_insertion WHERE session_id = %s", [draft.pk]),
                 raw("SELECT * FROM outcomes_observation WHERE session_id = %s", [draft.pk])],
            ),
        }  # fmt: skip
        FRAME[f"{size} sessions"] = frame(client, repeat)
        rows += _measured(client, pages, f"{size} sessions", repeat)
        rows.append(chart_row(episode.patient.mrn, size, repeat))
        # The same patient's pages once the portal's reports wait unreviewed: a check-in
        # after every session, each with a red flag, soreness and a bruise. The header, on
        # every page of the patient, names the newest few and counts the rest.
        reported(episode)
        refresh_statistics()  # as the server's autoanalyze would, after so many new rows
        newest = (
            "SELECT * FROM portal_reportedeffect WHERE session_id IN (SELECT id FROM "
            "charting_needlingsession WHERE episode_id = %s) AND status = 'pending' "
            "ORDER BY red_flag DESC, first_reported_at DESC LIMIT 4"
        )
        unreviewed = {
            "patient page, reports unreviewed": (
                f"/patients/{episode.patient_id}/",
                [raw("SELECT * FROM patients_patient WHERE id = %s", [episode.patient_id]),
                 raw("SELECT * FROM patients_episodeofcare WHERE patient_id = %s",
                     [episode.patient_id]),
                 raw(newest, [episode.pk])],
            ),
            "session page, reports unreviewed": (
                f"/sessions/{last.pk}/",
                [*pages["session page"][1], raw(newest, [episode.pk])],
            ),
        }  # fmt: skip
        rows += _measured(client, unreviewed, f"{size} sessions", repeat)
    return rows


def frame(client: Any, repeat: int) -> tuple[float, float]:
    """What every signed-in page costs before it reads a record: a request through the
    whole middleware (the session, the user, the second factor, the audit context, the
    security headers) to a page that shows the app's layout and nothing else, and that
    request's own reads replayed on a raw cursor. The page is the benchmark's own, served
    only here; the app has no page that reads nothing."""
    import types

    from django.db import connection
    from django.shortcuts import render
    from django.test.utils import override_settings
    from django.urls import path

    from needlechart import urls as app_urls

    # The app's own routes and, last, the frame: found as the app's pages are found.
    urls = types.ModuleType("needlechart_bench_frame")
    urls.urlpatterns = [  # type: ignore[attr-defined]
        *app_urls.urlpatterns,
        path("frame/", lambda request: render(request, "base.html", {"title": "Frame"})),
    ]
    sys.modules[urls.__name__] = urls
    reads: list[tuple[str, Any]] = []
    with override_settings(ROOT_URLCONF=urls.__name__):
        with connection.execute_wrapper(_reads_into(reads)):
            response = client.get("/frame/")
        assert response.status_code == 200, response.status_code
        with override_settings(DEBUG=False):
            ms = median_ms(lambda: client.get("/frame/"), repeat)
            own = median_ms(lambda: _replay(reads), repeat)
    return ms, own


def _measured(client: Any, pages: dict[str, Any], size: str, repeat: int) -> list[Row]:
    """Each page's row: its time beside the raw fetch of its rows, queries and peak memory;
    and its time beside its own reads (OWN_SQL)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings

    rows: list[Row] = []
    for name, (url, fetches) in pages.items():
        # The log keeps the last 9,000 queries only: empty it, or a full log counts none.
        connection.queries_log.clear()
        reads: list[tuple[str, Any]] = []
        with (
            CaptureQueriesContext(connection) as queries,
            connection.execute_wrapper(_reads_into(reads)),
        ):
            response = client.get(url)
        # Counted now: every request empties the log these counts are read from.
        count = len(queries)
        assert response.status_code == 200, (name, response.status_code)
        # Timed as production serves them: DEBUG off, so no query log (on PostgreSQL the
        # log renders each statement's SQL with its values, a millisecond a page).
        with override_settings(DEBUG=False):
            ms = median_ms(lambda url=url, client=client: client.get(url), repeat)
            base = median_ms(lambda fetches=fetches: [f() for f in fetches], repeat)
            mb = peak_mb(lambda url=url, client=client: client.get(url))
            own = median_ms(lambda reads=reads: _replay(reads), repeat)
        rows.append((name, size, ms, base, count, mb))
        OWN_SQL.append((name, size, ms, own, len(reads)))
    return rows


def reported(episode: Any) -> None:
    """A 24-hour check-in after each of the episode's signed sessions with a red flag,
    soreness and a bruise, and the three effects it reports waiting for a clinician: written
    as the portal writes them (portal.services.checkin_answer), in one go."""
    from needlechart.charting.models import NeedlingSession
    from needlechart.db import bulk
    from needlechart.portal.models import CheckIn, ReportedEffect

    sessions = NeedlingSession.objects.filter(episode=episode, signed_at__isnull=False)
    check_ins = [
        CheckIn(session=s, hours=24, answered_at=s.performed_at + dt.timedelta(hours=25),
                soreness=4, symptoms=["bruising", "breathlessness-chest-pain"],
                red_flags=["breathlessness-chest-pain"])
        for s in sessions
    ]  # fmt: skip
    bulk.insert(CheckIn, check_ins)
    bulk.insert(ReportedEffect, [
        ReportedEffect(session_id=c.session_id, check_in=c, event_type=kind, red_flag=red,
                       first_reported_at=c.answered_at, last_reported_at=c.answered_at)
        for c in check_ins
        for kind, red in (("pain", False), ("bruising", False), ("pneumothorax", True))
    ])  # fmt: skip


def chart_row(mrn: str, size: int, repeat: int) -> Row:
    """`needlechart chart MRN --json` for the patient of the long history, in-process, its
    output counted and dropped (its audit row is part of it), beside its own reads run on a
    raw cursor with each row serialised by `json.dumps`."""
    from django.core.management import call_command
    from django.db import connection

    def chart() -> int:
        sink = Counted()
        call_command("chart", mrn, "--json", stdout=sink)
        return sink.chars

    def as_json(reads: list[tuple[str, Any]]) -> int:
        written = 0
        with connection.cursor() as cursor:
            for sql, params in reads:
                cursor.execute(sql, params)
                for row in cursor:
                    written += len(json.dumps(row, default=str, separators=(",", ":")))
        return written

    reads: list[tuple[str, Any]] = []
    with connection.execute_wrapper(_reads_into(reads)):
        chart()
    ms = median_ms(chart, repeat)
    base = median_ms(lambda: as_json(reads), repeat)
    return ("chart MRN --json", f"{size} sessions", ms, base, len(reads), peak_mb(chart))


# Each page's own reads (every SELECT its request ran), replayed on a raw cursor: what the
# page would cost with no Python around its SQL. Printed apart from the table, after it.
OWN_SQL: list[tuple[str, str, float, float, int]] = []
# The frame of every signed-in page, by history size: its time and its own reads (`frame`).
FRAME: dict[str, tuple[float, float]] = {}


# A statement that writes, though it may begin with WITH (the audit row with its chain's seal).
WRITES = re.compile(r"\bINSERT\s+INTO\b|\bUPDATE\s+\S+\s+SET\b|\bDELETE\s+FROM\b")


def _reads_into(reads: list[tuple[str, Any]]) -> Callable[..., Any]:
    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any):
        text = sql.lstrip().upper()
        if not many and (
            text.startswith("SELECT") or (text.startswith("WITH") and not WRITES.search(text))
        ):
            reads.append((sql, params))
        return execute(sql, params, many, context)

    return record


def _replay(reads: list[tuple[str, Any]]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for sql, params in reads:
            cursor.execute(sql, params)
            cursor.fetchall()


def print_own_sql() -> None:
    """Each page beside its own reads; then what is left of both once the frame every
    signed-in page pays is taken away (the page's own work against its own SQL)."""
    print("\nA page beside its own reads (every SELECT of its request) run on a raw cursor;")
    print("then both less the frame of any signed-in page (the layout alone, its reads)")
    print(f"{'page':<34}{'size':>16}{'page ms':>10}{'SQL ms':>10}{'ratio':>8}{'reads':>9}"
          f"{'less frame':>12}{'its SQL':>9}{'ratio':>8}")  # fmt: skip
    for size, (ms, own) in FRAME.items():
        print(f"{'frame: a page that reads nothing':<34}{size:>16}{ms:>10.1f}{own:>10.1f}"
              f"{ms / own:>7.1f}x")  # fmt: skip
    for name, size, ms, own, count in OWN_SQL:
        beyond = f"{ms - FRAME[size][0]:>12.1f}{own - FRAME[size][1]:>9.1f}"
        ratio = (ms - FRAME[size][0]) / max(own - FRAME[size][1], 0.01)
        print(f"{name:<34}{size:>16}{ms:>10.1f}{own:>10.1f}{ms / own:>7.1f}x{count:>9}"
              f"{beyond}{ratio:>7.1f}x")  # fmt: skip


def plot_rows(repeat: int) -> list[Row]:
    from needlechart.outcomes import plots
    from needlechart.outcomes.progress import Point, Series, SessionChange

    start = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
    rows: list[Row] = []
    for size in (50, 500):
        pain = Series("nprs", "", "", [Point(start, 8, "baseline", 0, None)])
        sessions = [
            SessionChange(i, start + dt.timedelta(days=3 * i), 6 + i % 3, 3 + i % 2)
            for i in range(1, size + 1)
        ]

        def draw(pain: Series = pain, sessions: list = sessions) -> str | None:
            return plots.pain_plot(pain, sessions, "M54.50")

        ms = median_ms(draw, repeat)
        points = [[s.when.isoformat(), s.before, s.after] for s in sessions]
        base = median_ms(lambda points=points: json.dumps(points), repeat)
        mb = peak_mb(draw)
        rows.append(("pain plot", f"{size} points", ms, base, None, mb))
    return rows


def command_rows(repeat: int) -> list[Row]:
    """Each command in a fresh interpreter, as a clinician runs it."""
    env = {**os.environ}
    needlechart = str(Path(sys.executable).parent / "needlechart")

    def run(argv: list[str]) -> Callable[[], Any]:
        return lambda: subprocess.run(argv, env=env, capture_output=True, check=False)  # noqa: S603

    base = median_ms(run([sys.executable, "-c", "import django"]), repeat)
    folder = Path(tempfile.mkdtemp(prefix="needlechart-bench-screen-"))
    factors, plan = folder / "factors.json", folder / "plan.json"
    factors.write_text(json.dumps({"factors": [{"code": "anticoagulant", "drug": "apixaban"}]}))
    plan.write_text(json.dumps({"items": [
        {"muscle": "upper-trapezius", "side": "left", "technique": "dry-needling"},
    ]}))  # fmt: skip
    rows: list[Row] = []
    for argv in (
        ["--help"], ["regions"], ["muscles"], ["referral", "temple-left"],
        ["screen", "--factors", str(factors), "--plan", str(plan)],
    ):  # fmt: skip
        ms = median_ms(run([needlechart, *argv]), repeat)
        shown = " ".join(argv[:1] if argv[0] == "screen" else argv)
        rows.append((f"needlechart {shown}", "start-up", ms, base, None, None))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[50, 500])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    setup()
    from django.db import connection

    print(f"History benchmarks ({connection.vendor}), medians of {args.repeat} runs")
    rows = page_rows(args.repeat, sorted(args.sessions))
    rows += plot_rows(args.repeat)
    rows += command_rows(max(3, args.repeat // 3))
    print_table(rows)
    print_own_sql()


if __name__ == "__main__":
    main()
