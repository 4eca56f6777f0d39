import datetime as dt
import json

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from needlechart.commands import Command as NeedlechartCommand
from needlechart.commands import add_schedule_arguments
from needlechart.documents import deliveries
from needlechart.documents.models import DocumentDelivery


class Command(NeedlechartCommand):
    help = (
        "Email the documents waiting to be sent (to a referrer, or a notice to the patient) "
        "whose send failed and whose next try is due; each is given up after "
        f"{deliveries.MAX_ATTEMPTS} tries. Run it from cron every 15 minutes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_schedule_arguments(parser)

    def handle(self, *args: object, **options: object) -> None:
        now = options["now"] or timezone.now()
        if options["dry_run"]:
            self._print(bool(options["json"]), now, deliveries.due(now), None)
            return
        result = deliveries.send_due(now)
        self._print(bool(options["json"]), now, result.sent, result)
        # Cron (and whoever reads its mail) learns of a failure from the exit status.
        if problem := result.problem():
            raise CommandError(problem)

    def _print(
        self,
        as_json: bool,
        now: dt.datetime,
        done: list[DocumentDelivery],
        result: deliveries.Result | None,
    ) -> None:
        """`done` is what was sent, or on a dry run (no `result`) what would be tried."""
        failed = result.failed if result is not None else []
        if as_json:
            self.stdout.write(
                json.dumps(
                    {
                        "now": now.isoformat(),
                        "dry_run": result is None,
                        "sent" if result is not None else "due": [_json(d) for d in done],
                        "failed": [_json(d) for d in failed],
                    },
                    indent=2,
                )
            )
            return
        verb = "due" if result is None else "sent"
        self.stdout.write(f"{len(done)} document email(s) {verb} at {now:%Y-%m-%d %H:%M %Z}")
        for d in done:
            self.stdout.write(f"  document {d.document_id:<8} to the {d.recipient:<8} {d.address}")
        for d in failed:
            later = "given up" if d.status == DocumentDelivery.Status.FAILED else "will retry"
            self.stdout.write(f"  not sent, {later}: document {d.document_id} to {d.address}")


def _json(delivery: DocumentDelivery) -> dict:
    return {
        "delivery": delivery.pk,
        "document": delivery.document_id,
        "recipient": delivery.recipient,
        "to": delivery.address,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "error": delivery.last_error,
    }
