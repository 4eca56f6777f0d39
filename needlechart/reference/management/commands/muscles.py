from django.core.management.base import CommandParser

from needlechart import knowledge
from needlechart.commands import Command as NeedlechartCommand
from needlechart.reference.cli import dump


class Command(NeedlechartCommand):
    # The knowledge package only: no database, no pages, so none of the system checks.
    requires_system_checks: list[str] = []
    help = "List the muscle catalogue: needling sites, referral zones, structures at risk."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args: object, **options: object) -> None:
        muscles = knowledge.muscles()
        if options["json"]:
            self.stdout.write(dump([knowledge.muscle_json(m) for m in muscles]))
            return
        for muscle in muscles:
            risks = ", ".join(s.structure for s in muscle.structures_at_risk) or "-"
            self.stdout.write(f"{muscle.slug:<34} {muscle.area:<16} at risk: {risks}")
