from django.core.management.base import CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from needlechart.commands import Command as NeedlechartCommand
from needlechart.db import roles


class Command(NeedlechartCommand):
    help = (
        "Give the application's PostgreSQL role its privileges: rows only, no table of its own, "
        "so it cannot lift the guards on signed records. Run as the tables' owner after "
        "each migrate (docs/deployment.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role", help="the role the application connects as")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args: object, **options: str) -> None:
        connection = connections[options["database"]]
        try:
            with transaction.atomic(using=connection.alias):
                roles.grant(connection, options["role"])
        except roles.RoleRefused as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Granted {options['role']} the application's privileges.")
