from django.core.management.base import CommandError, CommandParser

from needlechart import knowledge
from needlechart.commands import Command as NeedlechartCommand
from needlechart.reference.cli import dump, knowledge_errors, read_json


def _list(data: object, key: str, what: str) -> list:
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise CommandError(f'the {what} file must be a JSON object with a list "{key}"')
    for entry in data[key]:
        if not isinstance(entry, dict):
            raise CommandError(f"every entry of {key} must be a JSON object, not {entry!r}")
    return data[key]


class Command(NeedlechartCommand):
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
            '"technique": "dry-needling"}, ...]}',
        )
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args: object, **options: object) -> None:
        if options["factors"] == "-" and options["plan"] == "-":
            raise CommandError(
                "standard input can hold only one of the files; give the other by name"
            )
        factors = _list(read_json(options["factors"], "factors"), "factors", "factors")
        items = (
            _list(read_json(options["plan"], "plan"), "items", "plan") if options["plan"] else []
        )
        try:
            result = knowledge.screen(factors, items)
        except Exception as error:
            raise knowledge_errors(error) from None
        if options["json"]:
            self.stdout.write(dump(result.as_json()))
            return
        self.stdout.write(f"Patient: {result.patient.verdict}")
        for reason in result.patient.reasons:
            self.stdout.write(f"  - {reason.text} [{reason.source}]")
        for item in result.items:
            side = f" {item.item.side}" if item.item.side else ""
            self.stdout.write(f"{item.item.muscle}{side}, {item.item.technique}: {item.verdict}")
            for reason in item.reasons:
                self.stdout.write(f"  - {reason.text} [{reason.source}]")
            for note in item.notes:
                self.stdout.write(f"  note: {note.text} [{note.source}]")
