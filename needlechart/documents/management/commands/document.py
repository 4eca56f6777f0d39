from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from needlechart.audit import services as audit
from needlechart.commands import Command as NeedlechartCommand
from needlechart.commands import record_id
from needlechart.documents import render
from needlechart.documents.models import Kind

# A record the command refuses (none with that id, not signed) exits with 2, as a refused
# argument does; a file it cannot write, with 1.
REFUSED = 2
MADE_FROM = {
    Kind.SESSION_NOTE: "needling session",
    Kind.ASSESSMENT_REPORT: "assessment",
    Kind.AFTERCARE: "needling session",
    Kind.CONSENT: "consent",
    Kind.PROGRESS_REPORT: "episode of care",
    Kind.DISCHARGE_LETTER: "discharge",
    Kind.RECORD: "patient",
}


class Command(NeedlechartCommand):
    help = (
        "Write a document as a PDF: KIND is one of "
        + ", ".join(Kind.values)
        + "; ID the id of the record it is made from (a session, assessment, consent, episode, "
        "discharge or patient)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=Kind.values, help="the kind of document")
        parser.add_argument("id", type=record_id, help="the id of the record it is made from")
        parser.add_argument("-o", "--output", required=True, help="the PDF file to write")

    def handle(self, *args: object, **options: object) -> None:
        kind, pk, output = str(options["kind"]), int(options["id"]), Path(str(options["output"]))
        # Checked before rendering, so that a mistyped path costs nothing.
        if output.is_dir() or not output.parent.is_dir():
            raise CommandError(f"cannot write {output}: no such folder, or it is a folder")
        model = render.SOURCES[kind]
        record = model.objects.filter(pk=pk).first()
        if record is None:
            raise CommandError(f"no {MADE_FROM[kind]} has id {pk}", returncode=REFUSED)
        try:
            made = render.render(kind, record, as_of=timezone.now().replace(microsecond=0))
        except ValidationError as error:
            raise CommandError(" ".join(error.messages), returncode=REFUSED) from None
        try:
            output.write_bytes(made.pdf)
        except OSError as error:
            raise CommandError(f"cannot write {output}: {error.strerror}") from None
        audit.record(
            actor=None,
            action=audit.Action.EXPORT,
            obj=record,
            patient=made.patient,
            detail={"via": "command", "document": kind, "sha256": made.sha256},
        )
        self.stdout.write(f"{made.title}: {output} ({len(made.pdf)} bytes, SHA-256 {made.sha256})")
