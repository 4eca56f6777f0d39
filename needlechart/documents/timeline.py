"""Issued documents, their emails and the addenda of signed letters on the patient's
timeline. Charting lists this module in settings.TIMELINE_PROVIDERS rather than importing
it: documents sit above charting."""

from django.urls import reverse

from needlechart.charting.selectors import Entry, Source
from needlechart.documents.models import Document, DocumentDelivery, LetterAddendum

KIND = "document"
KINDS = [(KIND, "Documents")]


def _document_entry(d: Document) -> Entry:
    addressed = f", to {d.addressee}" if d.addressee else ""
    return Entry(
        d.issued_at, KIND, f"Document issued: {d.title}", f"by {d.issued_by}{addressed}",
        reverse("documents:download", args=[d.pk]),
    )  # fmt: skip


def _delivery_entry(d: DocumentDelivery) -> Entry:
    standing = d.get_status_display()
    if d.status == DocumentDelivery.Status.SENT:
        standing += f" {d.sent_at:%Y-%m-%d %H:%M}"
    elif d.last_error:
        standing += f" ({d.last_error})"
    return Entry(
        d.created_at, KIND,
        f"Document emailed to the {d.get_recipient_display().lower()}: {d.document.title}",
        f"{d.address}: {standing}", reverse("patients:detail", args=[d.document.patient_id]),
    )  # fmt: skip


def _letter_addendum_entry(a: LetterAddendum) -> Entry:
    return Entry(
        a.written_at, KIND, f"Addendum to the {a.letter.get_kind_display().lower()}",
        f"by {a.author}: {a.reason}", reverse("documents:letter", args=[a.letter_id]),
    )  # fmt: skip


# The PDF itself is never read for the timeline.
SOURCES = (
    Source(KIND, lambda p: Document.objects.filter(patient=p), "issued_at", _document_entry,
           lambda rows: rows.select_related("issued_by").defer("content")),
    Source(KIND, lambda p: DocumentDelivery.objects.filter(document__patient=p), "created_at",
           _delivery_entry, lambda rows: rows.select_related("document")
           .defer("document__content")),
    Source(KIND, lambda p: LetterAddendum.objects.filter(letter__episode__patient=p),
           "written_at", _letter_addendum_entry,
           lambda rows: rows.select_related("letter", "author")),
)  # fmt: skip
