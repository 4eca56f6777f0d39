"""Issued documents and their emails on the patient's timeline, at a constant cost."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from needlechart.documents import letters, services
from tests.charting.test_views import TIMELINE_QUERIES
from tests.conftest import client_for


def _timeline(client, patient, **query):
    url = reverse("charting:timeline", args=[patient.pk])
    with CaptureQueriesContext(connection) as context:
        page = client.get(url, query)
    assert page.status_code == 200
    return page, context.captured_queries


def test_each_document_and_its_email_is_on_the_timeline_at_the_same_cost(
    signed, django_capture_on_commit_callbacks
):
    w = signed.world
    signed.episode.referral_email = "byrne@example.org"
    signed.episode.save()
    with django_capture_on_commit_callbacks(execute=True):
        report = services.document_issue(
            actor=w.practitioner, kind="progress-report", record=signed.episode,
            addressee="Dr Byrne", send_to_referrer=True,
        )  # fmt: skip
    client = client_for(w.assistant)
    page, queries = _timeline(client, signed.patient)
    first = len(queries)
    assert first <= TIMELINE_QUERIES
    html = page.content.decode()
    assert f"Document issued: {report.title}" in html and "to Dr Byrne" in html
    assert reverse("documents:download", args=[report.pk]) in html
    assert f"Document emailed to the referrer: {report.title}" in html
    assert "byrne@example.org: Sent" in html
    # The PDFs are not read to list them.
    documents_read = [q["sql"] for q in queries if 'FROM "documents_document"' in q["sql"]]
    assert documents_read and all('"content"' not in sql for sql in documents_read)

    for kind, record in (("consent", signed.consent), ("session-note", signed.session),
                         ("aftercare", signed.second), ("record", signed.patient)):  # fmt: skip
        with django_capture_on_commit_callbacks(execute=True):
            services.document_issue(
                actor=w.practitioner, kind=kind, record=record, notify_patient=True
            )
    page, queries = _timeline(client, signed.patient)
    assert len(queries) == first

    only, _ = _timeline(client, signed.patient, kind="document")
    entries = only.context["entries"]
    assert {e.kind for e in entries} == {"document"}
    # Five documents, the referrer's email and four notices to the patient.
    assert len(entries) == 10
    assert sum(e.title.startswith("Document emailed to the patient") for e in entries) == 4
    assert 'value="document"' in only.content.decode()  # the filter offers it


def test_the_timeline_of_a_patient_without_documents_shows_none(signed):
    page, _ = _timeline(client_for(signed.world.assistant), signed.patient, kind="document")
    assert page.context["entries"] == [] and page.context["page"].total == 0


def test_an_addendum_to_a_signed_letter_is_on_the_timeline(signed):
    w = signed.world
    letter = letters.letter_start(actor=w.practitioner, episode=signed.episode,
                                  kind="progress-report")  # fmt: skip
    letter = letters.letter_issue(actor=w.practitioner, letter=letter)
    letters.letter_addendum_add(
        actor=w.practitioner, letter=letter, reason="Phone call", text="Back at work."
    )
    page, _ = _timeline(client_for(w.assistant), signed.patient, kind="document")
    [entry] = [e for e in page.context["entries"] if e.title.startswith("Addendum")]
    assert entry.title == "Addendum to the progress report"
    assert entry.detail == f"by {w.practitioner}: Phone call"
    assert entry.url == reverse("documents:letter", args=[letter.pk])
