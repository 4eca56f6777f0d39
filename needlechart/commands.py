"""A base for needlechart's own commands: every refusal is one line on stderr."""

import datetime as dt
from argparse import ArgumentTypeError
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db.utils import OperationalError, ProgrammingError
from django.utils import timezone

# The largest id a PostgreSQL bigint holds has 19 digits; fewer keep every value in range.
ID_DIGITS = 18


def record_id(value: str) -> int:
    """An argparse type for a record id: a whole number of 1 or more that a database id can
    be, refused in one line otherwise (a larger number used to end in a traceback)."""
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 10**ID_DIGITS:
        raise ArgumentTypeError(f"must be a record id (a whole number of 1 or more), not {value!r}")
    return int(value)


EARLIEST, LATEST = 2000, 2999


def moment(value: str) -> dt.datetime:
    """An argparse type for `--now`: an ISO date and time, UTC when it names no zone."""
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ArgumentTypeError(
            f"must be an ISO date and time like 2026-11-24T09:30, not {value!r}"
        ) from None
    # Commands reckon days from the moment; a year at the edge of the calendar would
    # overflow that arithmetic, and no clinic runs at such a time.
    if not EARLIEST <= when.year <= LATEST:
        raise ArgumentTypeError(
            f"must be a time between the years {EARLIEST} and {LATEST}, not {value!r}"
        )
    if when.tzinfo is None:
        when = timezone.make_aware(when, dt.UTC)
    return when


def add_schedule_arguments(parser: CommandParser) -> None:
    """`--now`, `--dry-run` and `--json`, as every command run from cron takes them."""
    parser.add_argument(
        "--now", type=moment, help="act as if it were this time (ISO 8601; UTC if no zone)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list what is due; send and record nothing"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


class OneLineParser(CommandParser):
    def error(self, message: str) -> NoReturn:
        if self.called_from_command_line:
            # argparse would print the whole usage first; one line saying why is enough,
            # `--help` has the rest.
            self.exit(2, f"{self.prog}: error: {message}\n")
        super().error(message)


class Command(BaseCommand):
    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except (OperationalError, ProgrammingError) as error:
            # An unmigrated or unreachable database: say so in one line, not a traceback.
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise CommandError(
                f"the database is not ready ({first}); run `needlechart migrate`"
            ) from None

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.__class__ = OneLineParser
        return parser


class Unterminated:
    """A command's stderr without the newline Django adds to every write (tqdm redraws)."""

    def __init__(self, wrapper: OutputWrapper) -> None:
        self.wrapper = wrapper

    def write(self, text: str) -> None:
        self.wrapper.write(text, ending="")

    def flush(self) -> None:
        self.wrapper.flush()
