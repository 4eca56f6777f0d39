from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from needlechart.accounts import services
from needlechart.commands import Command as NeedlechartCommand


class Command(NeedlechartCommand):
    help = "Create a clinic and its first clinic admin (who then sets a password)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="the clinic's name")
        parser.add_argument("--timezone", default="UTC", help="e.g. Europe/Dublin (default UTC)")
        parser.add_argument("--admin-username", required=True)
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--admin-first-name", default="")
        parser.add_argument("--admin-last-name", default="")

    def handle(self, *args: object, **options: str) -> None:
        try:
            clinic, admin = services.clinic_create(
                name=options["name"],
                timezone=options["timezone"],
                admin_username=options["admin_username"],
                admin_email=options["admin_email"],
                admin_first_name=options["admin_first_name"],
                admin_last_name=options["admin_last_name"],
            )
        except ValidationError as error:
            raise CommandError("; ".join(_messages(error))) from error
        self.stdout.write(f"Created clinic {clinic.name!r} (id {clinic.pk}) with admin {admin}.")
        self.stdout.write(
            f"Set the admin's password with: needlechart changepassword {admin.username}"
        )


def _messages(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [f"{field}: {' '.join(msgs)}" for field, msgs in error.message_dict.items()]
    return list(error.messages)
