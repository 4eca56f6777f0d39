import datetime as dt
from argparse import ArgumentTypeError, BooleanOptionalAction
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from needlechart.commands import Command as NeedlechartCommand
from needlechart.commands import Unterminated, record_id

# Below this many resources the export is over before a progress bar would say anything
# (unless --progress asks for one).
PROGRESS_FROM = 1000


def instant(value: str) -> dt.datetime:
    # Imported here: listing or starting the other commands need none of the FHIR layer.
    from needlechart.fhir import bulk

    moment = bulk.instant(value)
    if moment is None:
        raise ArgumentTypeError(f"give {bulk.INSTANT_FORM}")
    return moment


def type_list(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


class Command(NeedlechartCommand):
    help = (
        "Write a clinic's records as FHIR R4 NDJSON files into DIR, one per resource type "
        "(Patient.ndjson, Condition.ndjson ...), as the Bulk Data $export does; or, with "
        "--clean, remove the expired $export jobs and their files."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "directory", type=Path, metavar="DIR", nargs="?", help="where the files go"
        )
        parser.add_argument(
            "--clean", action="store_true",
            help="instead of exporting, remove the $export jobs past FHIR_EXPORT_HOURS and "
            "their files",
        )  # fmt: skip
        parser.add_argument(
            "--clinic", type=record_id, help="the clinic id (needed when there are several)"
        )
        parser.add_argument(
            "--type", type=type_list, default=None,
            help="only these resource types, comma-separated (e.g. Patient,Observation)",
        )  # fmt: skip
        parser.add_argument(
            "--since", type=instant, default=None, metavar="INSTANT",
            help="only the resources changed since then (e.g. 2024-03-01T00:00:00Z), as _since",
        )  # fmt: skip
        parser.add_argument(
            "--progress", action=BooleanOptionalAction, default=None,
            help="show a progress bar on stderr (by default, when stderr is a terminal and "
            "the export is large)",
        )  # fmt: skip

    def handle(self, *args: object, **options: object) -> None:
        # Imported here: listing or starting the other commands need none of it.
        from tqdm import tqdm

        from needlechart.accounts.models import Clinic
        from needlechart.audit import services as audit
        from needlechart.fhir import bulk, jobs

        if options["clean"]:
            if options["directory"] is not None:
                raise CommandError("--clean takes no DIR", returncode=2)
            removed = jobs.jobs_clean()
            self.stdout.write(f"{removed} expired export{'s' if removed != 1 else ''} removed")
            return
        if options["directory"] is None:
            raise CommandError("give DIR, where the files go (or --clean)", returncode=2)
        types = options["type"] or bulk.SYSTEM_TYPES
        assert isinstance(types, list)
        unknown = bulk.unknown_types(types, bulk.SYSTEM_TYPES)
        if unknown or not types:
            raise CommandError(
                f"--type takes resource types from: {', '.join(bulk.SYSTEM_TYPES)}"
                + (f" (not {', '.join(unknown)})" if unknown else ""),
                returncode=2,
            )
        directory = options["directory"]
        assert isinstance(directory, Path)
        if directory.exists() and not directory.is_dir():
            raise CommandError(f"{directory} is a file, not a directory", returncode=2)
        clinic = self._clinic(Clinic, options["clinic"])
        since = options["since"]
        assert since is None or isinstance(since, dt.datetime)
        # Counting every type's resources for the bar costs queries of its own (a tenth of
        # a small clinic's export): only when a bar may be shown.
        shown = options["progress"]
        if shown is None:
            shown = self.stderr.isatty()
        total = bulk.count(types, bulk.Selection(clinic.pk, since)) if shown else 0
        if shown and options["progress"] is None and total < PROGRESS_FROM:
            shown = False
        detail: dict[str, Any] = {"via": "fhir-export", "types": types}
        if since is not None:
            detail["since"] = since.isoformat()
        # Not one transaction: on SQLite it would hold the write lock, and the clinic's
        # work would wait for the whole export. Each patient is audited before any of
        # their records is written out.
        bulk.audit_patients(clinic, None, detail)
        with tqdm(
            total=total, unit="resource", disable=not shown,
            file=Unterminated(self.stderr),
        ) as bar:  # fmt: skip
            try:
                outputs = bulk.export(
                    clinic, directory, types, since=since,
                    progress=lambda name, done: bar.update(done),
                )  # fmt: skip
            except OSError as error:
                raise CommandError(f"could not write the files: {error}") from None
            audit.record(
                actor=None, action=audit.Action.EXPORT, object_type="Clinic", clinic=clinic,
                detail={**detail, "resources": sum(o.count for o in outputs)},
            )  # fmt: skip
        for output in outputs:
            self.stdout.write(f"{output.path}: {output.count} {output.type}")

    def _clinic(self, model: type, wanted: object) -> object:
        if wanted is not None:
            found = model.objects.filter(pk=wanted).first()
            if found is None:
                raise CommandError(f"no clinic {wanted}", returncode=2)
            return found
        clinics = list(model.objects.order_by("pk")[:2])
        if not clinics:
            raise CommandError("there is no clinic to export")
        if len(clinics) > 1:
            raise CommandError("there are several clinics: give --clinic ID", returncode=2)
        return clinics[0]
