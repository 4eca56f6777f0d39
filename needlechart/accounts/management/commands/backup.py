from pathlib import Path

from django.core.management.base import CommandError, CommandParser

from needlechart.accounts import backup
from needlechart.commands import Command as NeedlechartCommand


class Command(NeedlechartCommand):
    help = (
        "Back the database up to one file: the database (SQLite's online backup or pg_dump) "
        "with a manifest of its rows and audit chains, so that `restore` can check what it "
        "restored (docs/operations.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="the backup file to write")

    def handle(self, *args: object, **options: object) -> None:
        try:
            manifest = backup.backup(options["file"])
        except backup.BackupError as error:
            raise CommandError(str(error)) from None
        rows = sum(manifest["tables"].values())
        self.stdout.write(
            f"Backed up {rows:,} rows of {len(manifest['tables'])} tables to {options['file']}."
        )
