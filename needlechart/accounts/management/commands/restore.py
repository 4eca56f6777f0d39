from pathlib import Path

from django.core.management.base import CommandError, CommandParser

from needlechart.accounts import backup
from needlechart.commands import Command as NeedlechartCommand


class Command(NeedlechartCommand):
    help = (
        "Restore a file made by `backup` into an empty database, then check it: the same rows "
        "in every table and every audit chain intact (docs/operations.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="the backup file to restore")

    def handle(self, *args: object, **options: object) -> None:
        try:
            manifest = backup.restore(options["file"])
        except backup.BackupError as error:
            raise CommandError(str(error)) from None
        rows = sum(manifest["tables"].values())
        self.stdout.write(
            f"Restored {rows:,} rows of {len(manifest['tables'])} tables from the backup of "
            f"{manifest['made_at']}; every table matches and every audit chain verifies."
        )
