import argparse
import datetime as dt
import json

from django.core.management.base import CommandError, CommandParser

from needlechart.accounts.models import Clinic, Practitioner
from needlechart.audit import services as audit
from needlechart.commands import Command as NeedlechartCommand
from needlechart.commands import record_id
from needlechart.outcomes import dashboard
from needlechart.rows import no_cycle_collection


def _date(value: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        day = None
    if day is None or not 1970 <= day.year <= 9000:
        raise argparse.ArgumentTypeError(f"must be a date YYYY-MM-DD, not {value!r}")
    return day


class Command(NeedlechartCommand):
    help = (
        "Print the clinic dashboard figures (outcomes and adverse events against the literature)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="date_from", type=_date, help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="date_to", type=_date, help="last day, YYYY-MM-DD")
        parser.add_argument(
            "--clinic", type=record_id, help="the clinic id (needed with several clinics)"
        )
        parser.add_argument("--practitioner", type=record_id, help="a practitioner id")
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args: object, **options: object) -> None:
        start, end = options["date_from"], options["date_to"]
        if start and end and end < start:
            raise CommandError("--to is before --from")
        clinic = self._clinic(options["clinic"])
        practitioner = None
        if options["practitioner"] is not None:
            practitioner = Practitioner.objects.filter(
                pk=options["practitioner"], user__clinic=clinic
            ).first()
            if practitioner is None:
                raise CommandError(
                    f"no practitioner {options['practitioner']} in clinic {clinic.pk}"
                )
        figures = dashboard.figures(
            dashboard.Filters(
                clinic=clinic,
                date_from=options["date_from"],
                date_to=options["date_to"],
                practitioner=practitioner,
            )
        )
        # The JSON names every episode due for review, with its patient: each one is recorded
        # as exported, as the review list's CSV records them.
        dashboard.record_read_out(
            actor=None, detail={"via": "command", "filters": figures["filters"]},
            named=figures["review_due"] if options["json"] else [], action=audit.Action.EXPORT,
            clinic=clinic,
        )  # fmt: skip
        if options["json"]:
            # A large clinic's review list is thousands of rows (see dashboard.figures).
            with no_cycle_collection():
                self.stdout.write(json.dumps(figures, indent=2, ensure_ascii=False))
            return
        events = figures["adverse_events"]
        self.stdout.write(
            f"{clinic.name}: {figures['sessions']} sessions, {figures['episodes']} episodes"
        )
        low, high = events["minor_ci"]
        self.stdout.write(
            f"Adverse events per 100 sessions: minor {events['minor_per_100']} "
            f"(95% CI {low}-{high}), major {events['major_per_100']}"
        )
        for code, row in figures["responders_by_condition"].items():
            self.stdout.write(f"  {code}: {row['responders']}/{row['episodes']} responders")
        self.stdout.write(f"Due for review: {len(figures['review_due'])}")

    def _clinic(self, clinic_id: int | None) -> Clinic:
        if clinic_id is not None:
            clinic = Clinic.objects.filter(pk=clinic_id).first()
            if clinic is None:
                raise CommandError(f"no clinic {clinic_id}")
            return clinic
        clinics = list(Clinic.objects.all()[:2])
        if len(clinics) != 1:
            raise CommandError("there are several clinics (or none); give --clinic ID")
        return clinics[0]
