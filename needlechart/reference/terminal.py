"""The knowledge commands without Django's management machinery, for a prompt start.

`needlechart referral ...` answers a clinician's question: importing Django's management
package for it (settings, the database layer, asyncio) would cost more than the answer.
A knowledge command is therefore written once as plain functions (`Knowledge`); Django
runs it as an ordinary management command (`call_command`, `needlechart help referral`),
and `run` below runs it from the command line with what Django would print: the same
help, the same options, `CommandError: ...` on one line and the same exit codes.
"""

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TextIO

Write = Callable[[str], None]


class Refused(Exception):
    """Input a knowledge command does not accept; Django's CommandError carries it."""

    def __init__(self, message: str, returncode: int = 1) -> None:
        super().__init__(message)
        self.returncode = returncode


@dataclass(frozen=True)
class Knowledge:
    """A command that reads the knowledge package only: its options and its work."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handle: Callable[[dict[str, Any], Write], None]


# The options Django gives every command (BaseCommand.create_parser), in its order, so that
# scripts passing them keep working and `--help` reads as Django's. The commands read none
# of them; --settings and --pythonpath are applied as Django applies them. No --skip-checks:
# Django offers it only to commands that run system checks, and these run none.
STANDARD_OPTIONS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (
        ("-v", "--verbosity"),
        {
            "default": 1,
            "type": int,
            "choices": [0, 1, 2, 3],
            "help": "Verbosity level; 0=minimal output, 1=normal output, 2=verbose output, "
            "3=very verbose output",
        },
    ),
    (
        ("--settings",),
        {
            "help": 'The Python path to a settings module, e.g. "myproject.settings.main". '
            "If this isn't provided, the DJANGO_SETTINGS_MODULE environment variable will "
            "be used."
        },
    ),
    (
        ("--pythonpath",),
        {"help": 'A directory to add to the Python path, e.g. "/home/djangoprojects/myproject".'},
    ),
    (
        ("--traceback",),
        {"action": "store_true", "help": "Display a full stack trace on CommandError exceptions."},
    ),
    (("--no-color",), {"action": "store_true", "help": "Don't colorize the command output."}),
    (
        ("--force-color",),
        {"action": "store_true", "help": "Force colorization of the command output."},
    ),
)
_LAST = {"--version"} | {flag for flags, _ in STANDARD_OPTIONS for flag in flags}


class _HelpFormatter(argparse.HelpFormatter):
    """The command's own options first, the standard ones after (Django's order)."""

    def _own_first(self, actions: Any) -> list[argparse.Action]:
        return sorted(actions, key=lambda action: bool(_LAST.intersection(action.option_strings)))

    def add_usage(self, usage: Any, actions: Any, *args: Any, **kwargs: Any) -> None:
        super().add_usage(usage, self._own_first(actions), *args, **kwargs)

    def add_arguments(self, actions: Any) -> None:
        super().add_arguments(self._own_first(actions))


class _Version(argparse.Action):
    """Django's --version, with Django imported only when it is asked for."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        import django

        sys.stdout.write(f"{django.get_version()}\n")
        parser.exit()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line saying why, as needlechart's Django commands print (OneLineParser).
        self.exit(2, f"{self.prog}: error: {message}\n")


def parser(knowledge: Knowledge, prog: str) -> argparse.ArgumentParser:
    """The parser Django builds for the command, as plain argparse."""
    extra: dict[str, Any] = {}
    if sys.version_info >= (3, 14) and (
        os.environ.get("DJANGO_COLORS") == "nocolor" or "--no-color" in sys.argv
    ):
        extra["color"] = False  # as Django's CommandParser does where argparse colours
    built = _Parser(
        prog=prog, description=knowledge.help or None, formatter_class=_HelpFormatter, **extra
    )
    built.add_argument("--version", action=_Version, help="Show program's version number and exit.")
    for flags, options in STANDARD_OPTIONS:
        built.add_argument(*flags, **options)
    knowledge.add_arguments(built)
    return built


def _error_style(stream: TextIO, no_color: bool) -> Callable[[str], str]:
    """Django's ERROR style where Django would colour stderr (both streams a terminal)."""
    from django.utils import termcolors

    coloured = sys.platform != "win32" and sys.stdout.isatty() and stream.isatty()
    palette = termcolors.parse_color_setting(os.environ.get("DJANGO_COLORS", ""))
    if no_color or not coloured or not palette:
        return lambda text: text
    return termcolors.make_style(**palette.get("ERROR", {}))


def _lines(stream: TextIO) -> Write:
    """Write a line as Django's OutputWrapper does: a newline added where missing."""
    return lambda text: stream.write(text if text.endswith("\n") else f"{text}\n")


def run(knowledge: Knowledge, argv: list[str]) -> None:
    """Run a knowledge command from `[program, command, *arguments]`, as Django's
    `run_from_argv` would."""
    options = vars(parser(knowledge, f"{os.path.basename(argv[0])} {argv[1]}").parse_args(argv[2:]))
    if options["settings"]:
        os.environ["DJANGO_SETTINGS_MODULE"] = options["settings"]
    if options["pythonpath"]:
        sys.path.insert(0, options["pythonpath"])
    try:
        if options["force_color"] and options["no_color"]:
            raise Refused("The --no-color and --force-color options can't be used together.")
        knowledge.handle(options, _lines(sys.stdout))
    except Refused as error:
        if options["traceback"]:
            raise
        # Django leaves stderr coloured when it refuses --no-color with --force-color.
        style = _error_style(sys.stderr, options["no_color"] and not options["force_color"])
        sys.stderr.write(style(f"CommandError: {error}\n"))
        sys.exit(error.returncode)
