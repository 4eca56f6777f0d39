import datetime as dt
import json

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from needlechart.commands import Command as NeedlechartCommand
from needlechart.commands import add_schedule_arguments
from needlechart.portal import reminders


class Command(NeedlechartCommand):
    help = (
        "Email the portal reminders that are due: check-ins after sessions, the health "
        "questions, the ratings before a plan review; and retry red-flag alerts that failed. "
        "Nothing is ever sent twice; run it from cron every 15 minutes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_schedule_arguments(parser)

    def handle(self, *args: object, **options: object) -> None:
        now = options["now"] or timezone.now()
        if options["dry_run"]:
            self._print(options["json"], now, reminders.due_reminders(now), None)
            return
        result = reminders.send_reminders(now)
        self._print(options["json"], now, result.sent, result)
        # What was sent is recorded; what failed is not, and goes on the next run. Cron (and
        # whoever reads its mail) learns of the failure from the exit status and this line.
        if problem := result.problem():
            raise CommandError(problem)

    def _print(
        self, as_json: bool, now: dt.datetime, due: list, result: reminders.Result | None
    ) -> None:
        """`due` is what was sent, or on a dry run (no `result`) what would be."""
        failed = result.failed if result is not None else []
        if as_json:
            data = {
                "now": now.isoformat(),
                "dry_run": result is None,
                "reminders": [d.as_json() for d in due],
                "failed": [{**f.item.as_json(), "reason": f.reason} for f in failed],
            }
            if result is not None:
                data["alerts_sent"] = result.alerts_sent
                data["alerts_failed"] = len(result.alerts_failed)
            self.stdout.write(json.dumps(data, indent=2))
            return
        verb = "due" if result is None else "sent"
        self.stdout.write(f"{len(due)} reminder(s) {verb} at {now:%Y-%m-%d %H:%M %Z}")
        for d in due:
            self.stdout.write(
                f"  {d.kind:<22} {d.patient.mrn:<10} {d.email}  (due {d.due_at:%Y-%m-%d %H:%M})"
            )
        for f in failed:
            self.stdout.write(f"  not sent, will retry: {f.item.kind} to {f.item.email}")
        if result is not None and result.alerts_sent:
            self.stdout.write(f"{result.alerts_sent} red-flag alert email(s) sent")
        if result is not None and result.alerts_failed:
            self.stdout.write(
                f"{len(result.alerts_failed)} red-flag alert email(s) not sent, will retry"
            )
