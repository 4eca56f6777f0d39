"""Issuing from the pages, the patient page's list, downloads, and the portal's copies."""

import datetime as dt

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from needlechart.audit.models import AuditEvent
from needlechart.documents import selectors, services
from needlechart.documents.models import Document
from tests.conftest import client_for
from tests.documents import pdf
from tests.sql import SEAL_APART


def _issue(client, patient, kind, record, **extra):
    return client.post(
        reverse("documents:issue", args=[patient.pk]),
        {"kind": kind, "record": record.pk, **extra},
    )


def test_a_clinician_issues_a_session_note_from_the_session_page(signed):
    client = client_for(signed.world.practitioner)
    page = client.get(reverse("charting:session", args=[signed.session.pk])).content.decode()
    assert "Issue the session note (PDF)" in page and 'name="form_token"' in page
    back = reverse("charting:session", args=[signed.session.pk])
    token = "t" * 24
    first = _issue(client, signed.patient, "session-note", signed.session, form_token=token,
                   next=back)  # fmt: skip
    again = _issue(client, signed.patient, "session-note", signed.session, form_token=token,
                   next=back)  # fmt: skip
    assert first.status_code == again.status_code == 302 and first.url == back
    assert Document.objects.filter(kind="session-note").count() == 1  # the double click
    # A draft's page offers no document, and posting one anyway is refused with the reason.
    draft_page = client.get(reverse("charting:session", args=[signed.draft.pk])).content.decode()
    assert "Issue the session note" not in draft_page
    refused = _issue(client, signed.patient, "session-note", signed.draft)
    assert refused.status_code == 302
    shown = client.get(refused.url).content.decode()
    assert "Only a signed session can be issued" in shown
    assert Document.objects.count() == 1


def test_the_episode_page_issues_a_progress_report_to_the_referrer(
    signed, django_capture_on_commit_callbacks
):
    signed.episode.referral_detail = "Dr Byrne"
    signed.episode.save()
    client = client_for(signed.world.practitioner)
    page = client.get(reverse("patients:episode", args=[signed.episode.pk])).content.decode()
    assert "Issue a progress report (PDF)" in page and 'value="Dr Byrne"' in page
    assert "Tell the patient it is in their portal" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = _issue(client, signed.patient, "progress-report", signed.episode,
                          addressee="Dr Byrne", notify="on")  # fmt: skip
    document = Document.objects.get()
    assert document.addressee == "Dr Byrne" and "To Dr Byrne" in pdf.text(bytes(document.content))
    shown = client.get(response.url).content.decode()
    assert "told by email" in shown
    assert [m.to for m in mail.outbox] == [["ann@example.org"]]


def test_the_patient_page_lists_documents_and_downloads_them_as_attachments(signed):
    w = signed.world
    document = services.document_issue(actor=w.practitioner, kind="record", record=signed.patient)
    client = client_for(w.assistant)
    page = client.get(reverse("patients:detail", args=[signed.patient.pk]))
    assert list(page.context["documents"]) == [document]
    download = reverse("documents:download", args=[document.pk])
    assert download in page.content.decode()
    since = AuditEvent.objects.order_by("-pk").first().pk
    response = client.get(download)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert response.content == bytes(document.content)
    read = AuditEvent.objects.filter(pk__gt=since).get()
    assert (read.action, read.object_type, read.object_id) == (
        "view", "DocumentReference", str(document.pk)
    )  # fmt: skip


def test_the_front_desk_sees_no_document(signed):
    w = signed.world
    document = services.document_issue(actor=w.practitioner, kind="record", record=signed.patient)
    client = client_for(w.front_desk)
    page = client.get(reverse("patients:detail", args=[signed.patient.pk]))
    assert page.context["documents"] == [] and "Health record" not in page.content.decode()
    assert client.get(reverse("documents:download", args=[document.pk])).status_code == 403
    assert _issue(client, signed.patient, "record", signed.patient).status_code == 403


def test_another_clinics_document_is_not_found(signed):
    w = signed.world
    document = services.document_issue(actor=w.practitioner, kind="record", record=signed.patient)
    client = client_for(w.other_practitioner)
    assert client.get(reverse("documents:download", args=[document.pk])).status_code == 404
    assert _issue(client, signed.patient, "record", signed.patient).status_code == 404
    # Nor can a record of another patient be slipped under this patient's address.
    own = client_for(w.practitioner)
    assert _issue(own, w.patient_b, "session-note", signed.session).status_code == 404
    theirs = signed.discharge.episode.sessions.filter(signed_at__isnull=False).get()
    assert _issue(own, signed.patient, "session-note", theirs).status_code == 404


def test_a_patient_downloads_their_own_documents_in_the_portal_and_no_one_elses(signed):
    w = signed.world
    own = services.document_issue(actor=w.practitioner, kind="consent", record=signed.consent)
    other = services.document_issue(
        actor=w.practitioner, kind="discharge-letter", record=signed.discharge
    )
    client = client_for(w.patient_user)
    page = client.get(reverse("portal:documents"))
    assert list(page.context["documents"]) == [own]
    assert reverse("portal:document", args=[own.pk]) in page.content.decode()
    response = client.get(reverse("portal:document", args=[own.pk]))
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    assert "Signed by Ann Smith" in pdf.text(response.content)
    assert client.get(reverse("portal:document", args=[other.pk])).status_code == 404
    # Staff reach the portal's copies through the staff pages only.
    assert client_for(w.practitioner).get(
        reverse("portal:document", args=[own.pk])
    ).status_code == 404  # fmt: skip


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context.captured_queries)


# The patient page's documents cost their count and one read (a page of them), their
# deliveries one, the patient's portal address one, the whole record's latest job one, and
# their `list` audit rows one write (two statements, three on SQLite: SEAL_APART) however
# many are shown and sent; the
# portal's list the same.
@pytest.mark.parametrize(
    ("who", "url_name"), [("practitioner", "patients:detail"), ("patient_user", "portal:documents")]
)
def test_the_document_lists_cost_the_same_queries_however_many_documents(signed, who, url_name):
    w = signed.world
    client = client_for(getattr(w, who))
    args = [signed.patient.pk] if url_name == "patients:detail" else []
    url = reverse(url_name, args=args)
    signed.episode.referral_email = "byrne@example.org"
    signed.episode.save()
    services.document_issue(actor=w.practitioner, kind="record", record=signed.patient)
    one = _queries(client, url)
    for kind, record in (("consent", signed.consent), ("session-note", signed.session),
                         ("aftercare", signed.second)):  # fmt: skip
        services.document_issue(
            actor=w.practitioner, kind=kind, record=record, notify_patient=True,
            send_to_referrer=kind != "consent",
        )  # fmt: skip
    assert _queries(client, url) == one
    assert (
        one
        == {"patients:detail": 29 + 3 * SEAL_APART, "portal:documents": 6 + SEAL_APART}[url_name]
    )


def _issued(patient, by, count: int) -> list[Document]:
    """`count` documents issued an hour apart, the newest last (made directly: issuing one
    renders its PDF, which other tests check)."""
    start = timezone.now() - dt.timedelta(hours=count)
    documents = []
    for n in range(count):
        documents.append(Document.objects.create(
            patient=patient, kind="record", source_type="Patient", source_id=patient.pk,
            title=f"Health record {n}", render_version=1, content=b"%PDF-1.7", sha256="0" * 64,
            size=8, issued_by=by, issued_at=start + dt.timedelta(hours=n),
        ))  # fmt: skip
    return documents


@pytest.mark.parametrize(
    ("who", "url_name", "param"),
    [
        ("practitioner", "patients:detail", "documents"),
        ("patient_user", "portal:documents", "page"),
    ],
)
def test_a_long_list_of_documents_is_paged_newest_first_and_only_the_page_is_audited(
    signed, monkeypatch, who, url_name, param
):
    """A patient treated for years has a report every few sessions: the patient's page and
    the portal's list show a page of documents at a time, and audit only those shown."""
    monkeypatch.setattr(selectors, "DOCUMENTS_PAGE", 3)
    w = signed.world
    issued = _issued(signed.patient, w.practitioner, 5)
    client = client_for(getattr(w, who))
    url = reverse(url_name, args=[signed.patient.pk] if url_name == "patients:detail" else [])
    since = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    first = client.get(url)
    assert list(first.context["documents"]) == issued[:1:-1]
    listed = AuditEvent.objects.filter(pk__gt=since, action="list", object_type="DocumentReference")
    assert sorted(int(e.object_id) for e in listed) == sorted(d.pk for d in issued[2:])
    page = first.content.decode()
    fragment = "#documents" if param == "documents" else ""
    assert f'href="?{param}=2{fragment}" rel="next"' in page and "Page 1 of 2" in page
    second = client.get(f"{url}?{param}=2")
    assert list(second.context["documents"]) == issued[1::-1]
    # A page past the end shows the last; anything else, the first.
    assert list(client.get(f"{url}?{param}=9").context["documents"]) == issued[1::-1]
    assert list(client.get(f"{url}?{param}=x").context["documents"]) == issued[:1:-1]


def test_the_document_pages_keep_the_patient_page_as_it_was_asked_for(
    signed, monkeypatch, django_capture_on_commit_callbacks
):
    """Paging the documents keeps the page's other lists as they were asked for (the whole
    history of episodes), and sending a document from the second page comes back to it."""
    monkeypatch.setattr(selectors, "DOCUMENTS_PAGE", 3)
    w = signed.world
    issued = _issued(signed.patient, w.practitioner, 5)
    client = client_for(w.practitioner)
    url = reverse("patients:detail", args=[signed.patient.pk])
    page = client.get(f"{url}?history=all").content.decode()
    assert 'href="?history=all&amp;documents=2#documents" rel="next"' in page
    second = client.get(f"{url}?history=all&documents=2").content.decode()
    assert 'href="?history=all&amp;documents=1#documents" rel="prev"' in second
    back = f"{url}?history=all&amp;documents=2#documents"
    assert f'name="next" value="{back}"' in second
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post(
            reverse("documents:send", args=[issued[0].pk]),
            {"recipient": "patient", "form_token": "p" * 24, "next": back.replace("&amp;", "&")},
        )
    assert sent.status_code == 302 and sent.url == f"{url}?history=all&documents=2#documents"
    [message] = mail.outbox
    assert message.to == ["ann@example.org"]
    # A `next` that leaves the site is not followed: the patient page's list instead.
    elsewhere = client.post(
        reverse("documents:send", args=[issued[1].pk]),
        {"recipient": "patient", "form_token": "q" * 24, "next": "https://example.com/"},
    )
    assert elsewhere.url == f"{url}#documents"
