from django.core.management.base import CommandError, CommandParser

from needlechart import knowledge
from needlechart.commands import Command as NeedlechartCommand
from needlechart.knowledge.referral import NOTE
from needlechart.reference.cli import dump

# Refused input (an unknown region, a bad intensity) is a usage error: exit code 2, as for
# options argparse refuses, and nothing is printed on standard output.
REFUSED = 2


def _refuse(message: str) -> CommandError:
    return CommandError(message, returncode=REFUSED)


def _pain(argument: str) -> tuple[str, float | None]:
    """'temple-left' or 'temple-left:7' (a region with its pain intensity 0-10)."""
    name, _, intensity = argument.partition(":")
    if not intensity:
        return name, None
    try:
        return name, float(intensity)
    except ValueError:
        raise _refuse(
            f"pain intensity for {name} must be a number 0-10, not {intensity!r}"
        ) from None


class Command(NeedlechartCommand):
    # The knowledge package only: no database, no pages, so none of the system checks.
    requires_system_checks: list[str] = []
    help = (
        "Rank the muscles whose typical referral or local zones cover the painful regions, "
        "with the causes to rule out first (screen-first warnings). Typical patterns suggest "
        "where to examine; they are not a diagnosis."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "regions",
            nargs="+",
            metavar="REGION",
            help="a region id (see `needlechart regions`), optionally with :INTENSITY 0-10",
        )
        parser.add_argument("--top", type=int, default=10, help="how many muscles (default 10)")
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args: object, **options: object) -> None:
        pains = [_pain(argument) for argument in options["regions"]]
        names = [name for name, _ in pains]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise _refuse(f"region {twice[0]} is given more than once")
        weighted = any(intensity is not None for _, intensity in pains)
        regions = (
            {name: (10.0 if i is None else i) for name, i in pains}
            if weighted
            else [name for name, _ in pains]
        )
        try:
            ranking = knowledge.rank_muscles(regions, top=options["top"])
        except (knowledge.UnknownCode, knowledge.InvalidInput) as error:
            raise _refuse(str(error)) from None
        if options["json"]:
            self.stdout.write(dump(ranking.as_json()))
            return
        for warning in ranking.warnings:
            self.stdout.write(f"SCREEN FIRST ({warning.label}): {warning.text}")
            for sign in warning.signs:
                self.stdout.write(f"  - {sign}")
            self.stdout.write(f"  Source: {warning.cited}")
        if not ranking:
            self.stdout.write("No muscle in the catalogue typically refers to these regions.")
        for rank, candidate in enumerate(ranking, start=1):
            side = f" ({candidate.side})" if candidate.side else ""
            self.stdout.write(
                f"{rank:>2}. {candidate.name}{side}  score {candidate.score:.2f}"
                f"  [{candidate.as_json()['why_label'].lower()}]"
            )
            for reason in candidate.reasons:
                self.stdout.write(f"      {reason}")
        self.stdout.write(NOTE)
