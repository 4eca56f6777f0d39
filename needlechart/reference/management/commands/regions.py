from django.core.management.base import CommandParser

from needlechart import knowledge
from needlechart.commands import Command as NeedlechartCommand
from needlechart.reference.cli import dump


class Command(NeedlechartCommand):
    # The knowledge package only: no database, no pages, so none of the system checks.
    requires_system_checks: list[str] = []
    help = "List the body-chart regions (ids for the referral and screening commands)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args: object, **options: object) -> None:
        regions = knowledge.regions()
        if options["json"]:
            self.stdout.write(dump([r.as_json() for r in regions]))
            return
        for region in regions:
            self.stdout.write(f"{region.id:<26} {region.view:<5} {region.display}")
