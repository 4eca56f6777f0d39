import json
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from needlechart.commands import Command as NeedlechartCommand

# An export's files the import reads from a directory: the rest it would skip anyway.
READ_FROM_DIRECTORY = ("Patient", "EpisodeOfCare", "Condition", "Observation")


def _resources(path: Path) -> Any:
    """A Bundle (a .json file), or the resources of NDJSON files: one file, or an export's
    directory."""
    if path.is_dir():
        files = [path / f"{name}.ndjson" for name in READ_FROM_DIRECTORY]
        return [r for file in files if file.is_file() for r in _lines(file)]
    if path.suffix == ".ndjson":
        return _lines(path)
    return json.loads(path.read_text(encoding="utf-8"))


def _lines(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


class Command(NeedlechartCommand):
    help = (
        "Import Patients with their Conditions and Observations from FILE: a FHIR "
        "transaction or collection Bundle (JSON), NDJSON files, or a directory written by "
        "fhir-export. Checked whole first: any invalid resource refuses it all."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
        parser.add_argument(
            "--as", dest="username", required=True,
            help="the clinic admin importing (the records go to their clinic, in their name)",
        )  # fmt: skip

    def handle(self, *args: object, **options: Any) -> None:
        from django.core.exceptions import PermissionDenied

        from needlechart.accounts import rules
        from needlechart.accounts.models import User
        from needlechart.fhir import imports

        actor = User.objects.filter(username=options["username"], is_active=True).first()
        if actor is None or not rules.has_role(actor, rules.ADMIN_ROLES):
            raise CommandError(f"{options['username']} is not an active clinic admin", returncode=2)
        files: list[Path] = options["files"]
        entries: list[imports.Entry] = []
        items: list[Any] = []
        try:
            for path in files:
                found = _resources(path)
                if isinstance(found, dict):
                    if len(files) > 1:
                        raise CommandError("give one Bundle, or NDJSON files", returncode=2)
                    entries = imports.bundle_entries(found)
                else:
                    items += found
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CommandError(f"could not read {path}: {error}", returncode=2) from None
        except imports.Refused as refused:
            self._refused(refused)
        if items:
            entries = imports.resource_entries(items)
        source = ", ".join(path.name for path in files)
        try:
            results = imports.resources_import(actor=actor, entries=entries, source=source)
        except imports.Refused as refused:
            self._refused(refused)
        except PermissionDenied as error:
            raise CommandError(str(error), returncode=2) from None
        counts: dict[tuple[str, str], int] = {}
        for entry, result in zip(entries, results, strict=True):
            key = (str(entry.resource.get("resourceType")), result.outcome)
            counts[key] = counts.get(key, 0) + 1
        for (kind, outcome), number in sorted(counts.items()):
            self.stdout.write(f"{kind}: {number} {outcome}")

    def _refused(self, refused: Any) -> None:
        for problem in refused.problems:
            self.stderr.write(str(problem))
        raise CommandError(
            f"refused: {len(refused.problems)} problem(s), listed above; nothing was imported"
        )
