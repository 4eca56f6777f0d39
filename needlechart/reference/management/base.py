"""The knowledge commands as Django management commands (see reference/terminal.py)."""

from typing import Any

from django.core.management.base import CommandError, CommandParser

from needlechart.commands import Command as NeedlechartCommand
from needlechart.reference.terminal import Knowledge, Refused


class KnowledgeCommand(NeedlechartCommand):
    """A management command that runs a `Knowledge` command: its help, options and work."""

    knowledge: Knowledge
    # The knowledge package only: no database, no pages, so none of the system checks.
    requires_system_checks: list[str] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.help = cls.knowledge.help

    def add_arguments(self, parser: CommandParser) -> None:
        self.knowledge.add_arguments(parser)

    def handle(self, *args: object, **options: Any) -> None:
        try:
            self.knowledge.handle(options, self.stdout.write)
        except Refused as error:
            raise CommandError(str(error), returncode=error.returncode) from None
