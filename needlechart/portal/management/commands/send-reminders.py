import argparse
import datetime as dt
import json

from django.core.management.base import CommandParser
from django.utils import timezone

from needlechart.commands import Command as NeedlechartCommand
from needlechart.portal import reminders


def _moment(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be an ISO date and time like 2026-11-24T09:30, not {value!r}"
        ) from None
    if moment.tzinfo is None:
        moment = timezone.make_aware(moment, dt.UTC)
    return moment


class Command(NeedlechartCommand):
    help = (
        "Email the portal reminders that are due: check-ins after sessions, the health "
        "questions, the ratings before a plan review; and retry red-flag alerts that failed. "
        "Nothing is ever sent twice; run it from cron every 15 minutes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--now", type=_moment, help="act as if it were this time (ISO 8601; UTC if no zone)"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="list what is due; send and record nothing"
        )
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args: object, **options: object) -> None:
        now = options["now"] or timezone.now()
        if options["dry_run"]:
            due = reminders.due_reminders(now)
            self._print(options["json"], now, due, [], None)
            return
        result = reminders.send_reminders(now)
        self._print(options["json"], now, result.sent, result.failed, result.alerts_sent)

    def _print(self, as_json, now, sent, failed, alerts_sent) -> None:
        if as_json:
            data = {
                "now": now.isoformat(),
                "dry_run": alerts_sent is None,
                "reminders": [d.as_json() for d in sent],
                "failed": [d.as_json() for d in failed],
            }
            if alerts_sent is not None:
                data["alerts_sent"] = alerts_sent
            self.stdout.write(json.dumps(data, indent=2))
            return
        verb = "due" if alerts_sent is None else "sent"
        self.stdout.write(f"{len(sent)} reminder(s) {verb} at {now:%Y-%m-%d %H:%M %Z}")
        for d in sent:
            self.stdout.write(
                f"  {d.kind:<22} {d.patient.mrn:<10} {d.email}  (due {d.due_at:%Y-%m-%d %H:%M})"
            )
        for d in failed:
            self.stderr.write(f"  not sent, will retry: {d.kind} to {d.email}")
        if alerts_sent:
            self.stdout.write(f"{alerts_sent} red-flag alert email(s) sent")
