"""A base for needlechart's own commands: every refusal is one line on stderr."""

from argparse import ArgumentTypeError
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db.utils import OperationalError, ProgrammingError

# The largest id a PostgreSQL bigint holds has 19 digits; fewer keep every value in range.
ID_DIGITS = 18


def record_id(value: str) -> int:
    """An argparse type for a record id: a whole number of 1 or more that a database id can
    be, refused in one line otherwise (a larger number used to end in a traceback)."""
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 10**ID_DIGITS:
        raise ArgumentTypeError(f"must be a record id (a whole number of 1 or more), not {value!r}")
    return int(value)


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
