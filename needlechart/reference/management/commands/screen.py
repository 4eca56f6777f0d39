from django.core.management.base import CommandError, CommandParser

from needlechart import knowledge
from needlechart.commands import Command as NeedlechartCommand
from needlechart.reference.cli import dump, read_json

# Input the command refuses (an unknown code, muscle or region, a value out of range, a file
# of the wrong shape) exits with 2, like a wrong argument; a file it cannot read, with 1.
REFUSED = 2


def _refused(message: str) -> CommandError:
    return CommandError(message, returncode=REFUSED)


def _read(path: str, what: str) -> object:
    try:
        return read_json(path, what)
    except CommandError as error:
        if str(error).startswith("cannot read"):
            raise
        raise _refused(str(error)) from None


def _list(data: object, key: str, what: str) -> list:
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise _refused(f'the {what} file must be a JSON object with a list "{key}"')
    for entry in data[key]:
        if not isinstance(entry, dict):
            raise _refused(f"every entry of {key} must be a JSON object, not {entry!r}")
    return data[key]


class Command(NeedlechartCommand):
    # The knowledge package only: no database, no pages, so none of the system checks.
    requires_system_checks: list[str] = []
    help = (
        "Screen a patient's factors against a needling plan: allowed, caution or contraindicated."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--factors",
            required=True,
            metavar="FILE",
            help='JSON {"factors": [{"code": "lymphedema", "limb": "arm", "side": "left"}, ...]}',
        )
        parser.add_argument(
            "--plan",
            metavar="FILE",
            help='JSON {"items": [{"muscle": "infraspinatus", "side": "left", '
            '"technique": "dry-needling"}, ...]}; an electrical-stimulation item may name its '
            'paired needle: "lead_to": {"muscle": "deltoid", "side": "left"}',
        )
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args: object, **options: object) -> None:
        if options["factors"] == "-" and options["plan"] == "-":
            raise CommandError(
                "standard input can hold only one of the files; give the other by name"
            )
        factors = _list(_read(options["factors"], "factors"), "factors", "factors")
        items = _list(_read(options["plan"], "plan"), "items", "plan") if options["plan"] else []
        try:
            result = knowledge.screen(factors, items)
        except (knowledge.UnknownCode, knowledge.InvalidInput) as error:
            raise _refused(str(error)) from None
        if options["json"]:
            self.stdout.write(dump(result.as_json()))
            return
        self.stdout.write(f"Patient: {result.patient.verdict}")
        for reason in result.patient.reasons:
            self.stdout.write(f"  - {reason.text} [{reason.source}]")
        for item in result.items:
            side = f" {item.item.side}" if item.item.side else ""
            lead = item.item.lead_to
            paired = ""
            if lead:
                paired = f" paired with {lead.muscle}{' ' + lead.side if lead.side else ''}"
            self.stdout.write(
                f"{item.item.muscle}{side}, {item.item.technique}{paired}: {item.verdict}"
            )
            for reason in item.reasons:
                self.stdout.write(f"  - {reason.text} [{reason.source}]")
            for note in item.notes:
                self.stdout.write(f"  note: {note.text} [{note.source}]")
