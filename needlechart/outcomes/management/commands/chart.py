from django.core.management.base import CommandError, CommandParser

from needlechart.accounts.models import Clinic
from needlechart.audit import services as audit
from needlechart.commands import Command as NeedlechartCommand
from needlechart.commands import record_id
from needlechart.outcomes.export import (
    chart_chunks,
    chart_text,
    patient_chart,
    summary_lines,
    with_chart,
)
from needlechart.patients.models import Patient
from needlechart.rows import no_cycle_collection


class Command(NeedlechartCommand):
    help = "Print a patient's whole chart (by record number), or every chart with --all."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("mrn", nargs="?", help="the patient's medical record number")
        parser.add_argument("--all", action="store_true", help="every patient, one JSON per line")
        parser.add_argument(
            "--clinic", type=record_id, help="the clinic id, when the number is not unique"
        )
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args: object, **options: object) -> None:
        if bool(options["all"]) == bool(options["mrn"]):
            raise CommandError("give one record number, or --all")
        patients = Patient.objects.all()
        if options["clinic"] is not None:
            if not Clinic.objects.filter(pk=options["clinic"]).exists():
                raise CommandError(f"no clinic {options['clinic']}")
            patients = patients.filter(clinic_id=options["clinic"])
        if options["all"]:
            self._all(patients, as_json=bool(options["json"]))
            return
        matches = list(with_chart(patients.filter(mrn=str(options["mrn"]).strip().upper())))
        if not matches:
            raise CommandError(f"no patient has record number {options['mrn']}")
        if len(matches) > 1:
            clinics = ", ".join(str(p.clinic_id) for p in matches)
            raise CommandError(
                f"record number {options['mrn']} is used in clinics {clinics}; add --clinic"
            )
        patient = matches[0]
        chart = patient_chart(patient)
        audit.record(actor=None, action=audit.Action.EXPORT, obj=patient, detail={"via": "command"})
        if options["json"]:
            self.stdout.write(chart_text(chart))
        else:
            self._summary(chart)

    def _all(self, patients, *, as_json: bool) -> None:
        # The collector paused for the whole export, not for each chunk only: a chunk's
        # records are freed by reference counting once printed, but re-enabled while they
        # are still alive, the collector scanned all of them (a tenth of the export).
        with no_cycle_collection():
            self._chunks(patients, as_json=as_json)

    def _chunks(self, patients, *, as_json: bool) -> None:
        for batch in chart_chunks(patients):
            # One audit row per patient, written for the whole chunk in one query before
            # any of its charts is printed.
            audit.record_each(
                actor=None,
                action=audit.Action.EXPORT,
                objects=[patient for patient, _ in batch],
                detail={"via": "command"},
            )
            for _, chart in batch:
                if as_json:
                    self.stdout.write(chart_text(chart, indent=False))
                else:
                    self._summary(chart)

    def _summary(self, chart: dict) -> None:
        for line in summary_lines(chart):
            self.stdout.write(line)
