"""A signed letter takes addenda like any signed record: written by a clinician of the clinic
on the letter page, kept by the database as written, and printed when the letter is issued
again, while the PDF issued before stays byte for byte as it was. The letter page also shows
where each of its documents was emailed."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.urls import reverse
from django.utils import timezone

from needlechart.audit.models import AuditEvent
from needlechart.documents import letters, services
from needlechart.documents.models import Document, DocumentDelivery, Letter, LetterAddendum
from tests.conftest import client_for
from tests.documents import pdf
from tests.sql import SEAL_APART


@pytest.fixture
def discharge_letter(signed) -> Letter:
    """A discharge letter, signed and issued."""
    w = signed.world
    episode = signed.discharge.episode
    episode.referral_detail = "Dr Byrne"
    episode.save()
    letter = letters.letter_start(actor=w.practitioner, episode=episode, kind="discharge-letter")
    letter = letters.letter_update(actor=w.practitioner, letter=letter, body="Settled well.")
    return letters.letter_issue(actor=w.practitioner, letter=letter)


def _add(client, letter, token="a" * 24, **values):
    data = {"reason": "Phone call", "text": "Back at work full time.", "form_token": token}
    return client.post(reverse("documents:letter_addendum", args=[letter.pk]), data | values)


def test_an_addendum_on_a_signed_letter_is_shown_audited_and_printed_when_issued_again(
    signed, discharge_letter
):
    letter, w = discharge_letter, signed.world
    first = letter.document
    first_bytes, first_sha = bytes(first.content), first.sha256
    client = client_for(w.practitioner)

    # A double click adds one addendum.
    assert _add(client, letter).status_code == _add(client, letter).status_code == 302
    addendum = LetterAddendum.objects.get()
    assert (addendum.letter, addendum.author, addendum.reason) == (
        letter, w.practitioner, "Phone call",
    )  # fmt: skip
    page = client.get(reverse("documents:letter", args=[letter.pk])).content.decode()
    assert "Back at work full time." in page and "Phone call" in page
    assert str(w.practitioner) in page
    assert timezone.localtime(addendum.written_at).strftime("%Y-%m-%d %H:%M") in page
    row = AuditEvent.objects.get(action="create", object_type="Addendum/Letter")
    assert row.object_id == str(addendum.pk) and row.patient_id == letter.episode.patient_id
    assert row.detail["on"] == f"Composition/Letter/{letter.pk}"

    token = {"form_token": "r" * 24}
    reissue = reverse("documents:letter_reissue", args=[letter.pk])
    assert client.post(reissue, token).status_code == client.post(reissue, token).status_code
    again = Document.objects.exclude(pk=first.pk).get()  # the double click issued once
    assert again.from_letter == letter and again.title == first.title
    text = pdf.text(bytes(again.content))
    for words in ("Settled well.", "Addenda since the letter was signed", "Phone call",
                  "Back at work full time."):  # fmt: skip
        assert words in text, words
    assert "Back at work full time." not in pdf.text(first_bytes)
    first.refresh_from_db()
    assert bytes(first.content) == first_bytes and first.sha256 == first_sha
    # The letter page lists both documents it was issued as.
    page = client.get(reverse("documents:letter", args=[letter.pk])).content.decode()
    for document in (first, again):
        assert reverse("documents:download", args=[document.pk]) in page


def test_a_draft_letter_refuses_an_addendum_and_is_edited_instead(signed):
    w = signed.world
    draft = letters.letter_start(actor=w.practitioner, episode=signed.episode,
                                 kind="progress-report")  # fmt: skip
    refused = _add(client_for(w.practitioner), draft)
    assert refused.status_code == 200
    assert "still a draft: change its text instead" in refused.content.decode()
    assert not LetterAddendum.objects.exists()
    with pytest.raises(ValidationError, match="sign and issue it first"):
        letters.letter_reissue(actor=w.practitioner, letter=draft)


def test_an_addendum_needs_its_reason_and_text(signed, discharge_letter):
    client = client_for(signed.world.practitioner)
    response = _add(client, discharge_letter, reason=" ", text="")
    assert response.status_code == 200
    assert set(response.context["addendum_form"].errors) == {"reason", "text"}
    assert not LetterAddendum.objects.exists()


def test_an_addendum_is_never_changed_or_removed(signed, discharge_letter):
    addendum = letters.letter_addendum_add(
        actor=signed.world.practitioner, letter=discharge_letter, reason="Call", text="Fine."
    )
    with pytest.raises(DatabaseError), transaction.atomic():
        LetterAddendum.objects.filter(pk=addendum.pk).update(text="Rewritten.")
    with pytest.raises(DatabaseError), transaction.atomic():
        LetterAddendum.objects.filter(pk=addendum.pk).delete()
    addendum.refresh_from_db()
    assert addendum.text == "Fine."


def test_only_clinicians_of_the_clinic_add_addenda(signed, discharge_letter):
    w = signed.world
    assert _add(client_for(w.other_practitioner), discharge_letter).status_code == 404
    assert _add(client_for(w.front_desk), discharge_letter).status_code == 403
    assert _add(client_for(w.assistant), discharge_letter).status_code == 403
    reissue = reverse("documents:letter_reissue", args=[discharge_letter.pk])
    assert client_for(w.other_practitioner).post(reissue).status_code == 404
    assert client_for(w.assistant).post(reissue).status_code == 403
    assert not LetterAddendum.objects.exists()
    assert Document.objects.count() == 1
    # The assistant reads the signed letter but is offered no addendum form.
    page = client_for(w.assistant).get(reverse("documents:letter", args=[discharge_letter.pk]))
    assert page.status_code == 200 and "Add the addendum" not in page.content.decode()
    # An addendum bears its writer's name: a service account, which may write clinical
    # records through the API, writes none (the database refuses it too).
    from needlechart.accounts.models import Role, User

    account = User.objects.create(clinic=w.clinic_a, role=Role.SERVICE, username="svc@a")
    with pytest.raises(ValidationError, match="Your role may not add addenda"):
        letters.letter_addendum_add(actor=account, letter=discharge_letter, reason="Late",
                                    text="More.")  # fmt: skip
    assert not LetterAddendum.objects.exists()


# --- the letter's emails ---------------------------------------------------------------------


def _issued(letter: Letter, user, n: int) -> list[Document]:
    """`n` documents of the letter, made directly (laying out PDFs is not what is tested)."""
    made = []
    for i in range(n):
        content = f"%PDF-1.7 letter {i}".encode()
        made.append(Document.objects.create(
            patient=letter.episode.patient, episode=letter.episode, kind=letter.kind,
            source_type="EpisodeOfCare", source_id=letter.episode_id, title="Progress report",
            render_version=1, content=content, sha256=f"{i:064d}", size=len(content),
            from_letter=letter, issued_by=user,
        ))  # fmt: skip
    return made


@pytest.fixture
def signed_letter(signed) -> Letter:
    w = signed.world
    letter = letters.letter_start(actor=w.practitioner, episode=signed.episode,
                                  kind="progress-report")  # fmt: skip
    Letter.objects.filter(pk=letter.pk).update(signed_at=timezone.now())
    letter.refresh_from_db()
    return letter


def _deliveries(document: Document, user, n: int) -> None:
    now = timezone.now()
    for i in range(n):
        status = ("sent", "pending", "failed")[i % 3]
        DocumentDelivery.objects.create(
            document=document, recipient="referrer" if i % 2 else "patient",
            address=f"to{document.pk}-{i}@example.org", status=status, attempts=i % 3 + 1,
            last_error="" if status == "sent" else f"refused {i}",
            sent_at=now if status == "sent" else None,
            next_attempt_at=now + dt.timedelta(minutes=5), created_by=user,
        )  # fmt: skip


def test_the_letter_page_shows_each_email_of_its_documents(signed, signed_letter):
    user = signed.world.practitioner
    document, other = _issued(signed_letter, user, 2)
    _deliveries(document, user, 3)
    page = client_for(user).get(reverse("documents:letter", args=[signed_letter.pk]))
    html = page.content.decode()
    assert f"Patient to{document.pk}-0@example.org: Sent" in html
    assert f"Referrer to{document.pk}-1@example.org: Waiting to be sent" in html
    assert "refused 1" in html
    assert f"Patient to{document.pk}-2@example.org: Not sent: gave up" in html
    assert "refused 2" in html
    assert "Not emailed" in html  # the other document went nowhere
    listed = AuditEvent.objects.filter(action="list", object_type="DocumentReference")
    assert set(listed.values_list("object_id", flat=True)) == {str(document.pk), str(other.pk)}


@pytest.mark.parametrize("size", [1, 4])
def test_the_letter_page_reads_in_as_many_queries_however_many_documents_and_emails(
    signed, signed_letter, size, django_assert_num_queries
):
    user = signed.world.practitioner
    for document in _issued(signed_letter, user, size):
        _deliveries(document, user, size)
    LetterAddendum.objects.bulk_create(
        LetterAddendum(letter=signed_letter, reason=f"r{i}", text="t", author=user)
        for i in range(size)
    )
    client = client_for(user)
    url = reverse("documents:letter", args=[signed_letter.pk])
    client.get(url)  # the session's first read
    with django_assert_num_queries(QUERIES):
        assert client.get(url).status_code == 200


# With its two audit writes, each sealing its chain apart on SQLite (SEAL_APART).
QUERIES = 17 + 2 * SEAL_APART


def test_a_progress_report_issued_again_reads_as_it_was_first_issued(signed):
    """Sessions signed and measures taken after the letter was issued stay out of it when it
    is issued again: the letter says what was known when it was signed."""
    from needlechart.charting import services as chart_services
    from tests import charts
    from tests.documents.conftest import _sign

    w = signed.world
    letter = letters.letter_start(actor=w.practitioner, episode=signed.episode,
                                  kind="progress-report")  # fmt: skip
    letter = letters.letter_update(actor=w.practitioner, letter=letter, body="Going well.")
    letter = letters.letter_issue(actor=w.practitioner, letter=letter)
    first_text = pdf.text(bytes(letter.document.content))
    with time_machine.travel(timezone.now() + dt.timedelta(hours=2), tick=False):
        signed.draft.refresh_from_db()
        chart_services.insertion_add(
            actor=w.practitioner,
            session=signed.draft,
            **charts.row(signed.session.insertions.first().needle_size, "soleus"),
        )
        _sign(w.practitioner, signed.draft, before=8, after=1)
        again = letters.letter_reissue(actor=w.practitioner, letter=letter)
        issued_now = services.document_issue(
            actor=w.practitioner, kind="progress-report", record=signed.episode,
            as_of=timezone.now(),
        )  # fmt: skip
    assert pdf.text(bytes(again.content)) == first_text
    # The report issued now shows the new session: the two differ by what came after.
    assert pdf.text(bytes(issued_now.content)) != first_text
