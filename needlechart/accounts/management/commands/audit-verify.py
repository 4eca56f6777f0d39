from django.core.management.base import CommandError, CommandParser

from needlechart.accounts.models import Clinic
from needlechart.audit import chain
from needlechart.commands import Command as NeedlechartCommand
from needlechart.commands import record_id


class Command(NeedlechartCommand):
    help = (
        "Walk the audit trail's tamper-evident chains (every clinic's, or one) and say whether "
        "each is intact; exit 1 naming the first row changed, removed or inserted out of "
        "order. Run it from cron, e.g. nightly (docs/operations.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clinic", type=record_id, help="only this clinic's chain")

    def handle(self, *args: object, **options: object) -> None:
        if options["clinic"] is not None:
            if not Clinic.objects.filter(pk=options["clinic"]).exists():
                raise CommandError(f"no clinic {options['clinic']}")
            chains = [options["clinic"]]
        else:
            chains = chain.chains()
        names = dict(Clinic.objects.filter(pk__in=chains).values_list("pk", "name"))
        broken = []
        for number in chains:
            verdict = chain.verify(number)
            label = f"clinic {number} ({names[number]})" if number in names else "no clinic"
            if verdict.intact:
                self.stdout.write(f"{label}: {verdict.rows:,} rows, intact")
            else:
                broken.append(f"{label}: {verdict.problem}")
        if broken:
            raise CommandError("audit chain broken: " + "; ".join(broken))
