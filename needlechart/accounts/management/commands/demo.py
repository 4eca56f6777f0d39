import argparse
import datetime as dt

from django.core.management.base import CommandError, CommandParser, OutputWrapper
from django.utils import timezone
from tqdm import tqdm

from needlechart import demo
from needlechart.commands import Command as NeedlechartCommand

# Above this many patients the command shows a progress bar.
PROGRESS_FROM = 500


def positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, not {value!r}")
    return int(value)


def demo_date(value: str) -> dt.date:
    """A YYYY-MM-DD date with room for the demo's birth dates and credential expiries."""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        day = None
    if day is None or not 1950 <= day.year <= 2900:
        raise argparse.ArgumentTypeError(
            f"must be a date YYYY-MM-DD from 1950 to 2900, not {value!r}"
        )
    return day


class _Unterminated:
    """The command's stderr without the newline Django adds to every write (tqdm redraws)."""

    def __init__(self, wrapper: OutputWrapper) -> None:
        self.wrapper = wrapper

    def write(self, text: str) -> None:
        self.wrapper.write(text, ending="")

    def flush(self) -> None:
        self.wrapper.flush()


class Command(NeedlechartCommand):
    help = "Fill the database with a generated demo clinic (refuses if real clinics exist)."

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
        if options["if_empty"] and demo.Clinic.objects.exists():
            self._print_logins(demo.demo_logins())
            return
        real = demo.real_clinics()
        if real:
            raise CommandError(
                f"refusing to run: the database holds real clinic data ({real[0].name!r}); "
                "the demo only fills an empty or demo-only database"
            )
        count = options["patients"]
        today = options["today"] or timezone.localdate()
        with tqdm(
            total=count + demo.SECOND_CLINIC_PATIENTS,
            unit="patient",
            disable=count < PROGRESS_FROM,
            file=_Unterminated(self.stderr),
        ) as bar:
            result = demo.build_demo(
                patients=count, seed=options["seed"], today=today, progress=bar.update
            )
        self.stdout.write(
            f"Demo ready: {len(result.clinics)} clinics, {result.patients} patients, "
            f"{result.episodes} episodes of care, {result.sessions} needling sessions, "
            f"{result.portal_accounts} patient portal accounts (seed {options['seed']}, {today})."
        )
        self._print_logins(result.logins)

    def _print_logins(self, logins: list[tuple[str, str]]) -> None:
        if not logins:
            return
        self.stdout.write(f"Demo logins (password: {demo.DEMO_PASSWORD}):")
        width = max(22, *(len(username) for username, _ in logins))
        for username, description in logins:
            self.stdout.write(f"  {username:<{width}} {description}")
