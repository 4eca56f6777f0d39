import argparse
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser
from django.db import connection
from django.utils import timezone
from tqdm import tqdm

from needlechart.commands import Command as NeedlechartCommand
from needlechart.commands import Unterminated
from needlechart.db.statistics import refresh_statistics
from needlechart.demo import clinics, generate
from needlechart.outcomes.dashboard import refresh_summaries
from needlechart.outcomes.models import EpisodeSummary

# Above this many patients the command shows a progress bar.
PROGRESS_FROM = 500
EARLIEST = dt.date(1950, 1, 1)


# A demo is for trying and measuring needlechart: a clinic larger than this is a mistyped number.
MOST_PATIENTS = 100_000


def positive(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, not {value!r}")
    if int(value) > MOST_PATIENTS:
        raise argparse.ArgumentTypeError(f"must be at most {MOST_PATIENTS:,}, not {value!r}")
    return int(value)


def demo_date(value: str) -> dt.date:
    """A YYYY-MM-DD date from 1950 to today: the clinic's rules refuse records in the future."""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        day = None
    if day is None or not EARLIEST <= day <= timezone.localdate():
        raise argparse.ArgumentTypeError(
            f"must be a date YYYY-MM-DD from 1950 to today, not {value!r}"
        )
    return day


def _batch_done(bar: tqdm, done: int) -> None:
    """Count a batch on the bar and forget its queries: with DEBUG on, Django keeps the last
    9,000 queries with their parameters, and a batch's bulk inserts carry thousands of rows
    each, so the log, not the demo, would grow with the patients. (Left alone while a test
    counts the queries: it reads them from the same log.)"""
    if not connection.force_debug_cursor:
        connection.queries_log.clear()
    bar.update(done)


@contextmanager
def _unlogged() -> Iterator[None]:
    """The build's statements run on plain cursors even with DEBUG on. Django's debug
    cursor writes out every statement with its values for the log (on PostgreSQL by asking
    the driver to render them), a few per cent of the build, for a log emptied after each
    batch anyway. (Left alone while a test counts the queries.)"""
    if connection.force_debug_cursor:
        yield
        return
    connection.make_debug_cursor = connection.make_cursor  # type: ignore[method-assign]
    try:
        yield
    finally:
        del connection.make_debug_cursor


class Command(NeedlechartCommand):
    help = "Fill the database with two generated demo clinics (refuses if real clinics exist)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patients", type=positive, default=40, help="patients (default 40)")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument(
            "--today",
            type=demo_date,
            default=None,
            help="the date the demo is built around, YYYY-MM-DD (default today)",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="only build if the database has no clinic; print the demo logins either way",
        )

    def handle(self, *args: object, **options: object) -> None:
        if options["if_empty"] and clinics.Clinic.objects.exists():
            self._print_logins(clinics.demo_logins())
            return
        real = clinics.real_clinics()
        if real:
            raise CommandError(
                f"refusing to run: the database holds real clinic data ({real[0].name!r}); "
                "the demo only fills an empty or demo-only database"
            )
        count = options["patients"]
        today = options["today"] or timezone.localdate()
        with (
            _unlogged(),
            tqdm(
                total=count + clinics.SECOND_CLINIC_PATIENTS,
                unit="patient",
                disable=count < PROGRESS_FROM,
                file=Unterminated(self.stderr),
            ) as bar,
        ):
            try:
                result = generate.build_demo(
                    patients=count,
                    seed=options["seed"],
                    today=today,
                    progress=lambda done: _batch_done(bar, done),
                )
            except ValidationError as error:
                # A generated record the clinic's rules refuse: a bug in the demo, said in a line.
                raise CommandError(f"the demo broke a rule: {' '.join(error.messages)}") from error
        refresh_statistics()
        # Computed now rather than at the first dashboard view; then the summaries' statistics
        # again, or the planner takes every episode for one with no signed session (as they
        # were when first analysed) and joins the dashboard's reads row by row.
        refresh_summaries()
        refresh_statistics(EpisodeSummary._meta.db_table)
        self.stdout.write(
            f"Demo ready: {len(result.clinics)} clinics, {result.patients} patients, "
            f"{result.episodes} episodes of care, {result.sessions} needling sessions, "
            f"{result.portal_accounts} patient portal accounts (seed {options['seed']}, {today})."
        )
        self._print_logins(result.logins)

    def _print_logins(self, logins: list[tuple[str, str]]) -> None:
        if not logins:
            return
        self.stdout.write(f"Demo logins (password: {clinics.DEMO_PASSWORD}):")
        width = max(22, *(len(username) for username, _ in logins))
        for username, description in logins:
            self.stdout.write(f"  {username:<{width}} {description}")
