"""Letters to the referrer: the clinic's wording in versions, a draft the clinician edits,
and a signed letter issued as the progress report or discharge letter, never changed after."""

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.urls import reverse

from needlechart.audit.models import AuditEvent
from needlechart.documents import letters
from needlechart.documents.models import Document, Letter, LetterTemplate
from tests.conftest import client_for
from tests.documents import pdf


@pytest.fixture
def referred(signed):
    signed.episode.referral_detail = "Dr Byrne"
    signed.episode.save()
    return signed


def _draft(client, episode, kind="progress-report", token="d" * 24):
    return client.post(
        reverse("documents:letter_new", args=[episode.pk]), {"kind": kind, "form_token": token}
    )


def test_a_clinician_drafts_edits_signs_and_issues_a_progress_report_letter(referred):
    client = client_for(referred.world.practitioner)
    page = client.get(reverse("patients:episode", args=[referred.episode.pk])).content.decode()
    assert "Draft a progress report letter" in page
    first, again = _draft(client, referred.episode), _draft(client, referred.episode)
    letter = Letter.objects.get()  # the double click drafted one
    assert first.url == again.url == reverse("documents:letter", args=[letter.pk])
    assert letter.salutation == "Dear Dr Byrne," and letter.template.version == 1
    assert "Thank you for referring" in letter.opening

    url = reverse("documents:letter", args=[letter.pk])
    form = client.get(url).context["form"]
    data = {name: form[name].value() for name in Letter.EDITABLE}
    data["body"] = "She is back to running three times a week without pain."
    assert client.post(url, data).status_code == 302
    letter.refresh_from_db()
    assert letter.body.startswith("She is back to running")

    token = {"form_token": "i" * 24}
    issue = reverse("documents:letter_issue", args=[letter.pk])
    assert client.post(issue, token).status_code == client.post(issue, token).status_code == 302
    letter.refresh_from_db()
    document = Document.objects.get()  # issued once
    assert letter.document == document and letter.signed_at is not None
    assert document.addressee == "Dr Byrne" and document.text_version == 1
    text = pdf.text(bytes(document.content))
    for words in ("Dear Dr Byrne,", "She is back to running", "Yours sincerely,",
                  "Measures against baseline"):  # fmt: skip
        assert words in " ".join(text.split()), words
    signed_row = AuditEvent.objects.filter(action="sign", object_type="Composition/Letter").get()
    assert signed_row.detail["document"] == document.pk

    # Signed: the page reads it, a change is refused, and the database refuses one too.
    shown = client.get(url).content.decode()
    assert "cannot be changed" in shown and "Save the draft" not in shown
    refused = client.post(url, {**data, "body": "Changed after signing."})
    assert refused.status_code == 200 and "signed and issued" in refused.content.decode()
    with pytest.raises(DatabaseError), transaction.atomic():
        Letter.objects.filter(pk=letter.pk).update(body="Changed in the database.")
    letter.refresh_from_db()
    assert letter.body.startswith("She is back to running")


def test_the_clinic_wording_is_versioned_and_new_drafts_use_the_newest(referred):
    w = referred.world
    old = letters.letter_start(actor=w.practitioner, episode=referred.episode,
                               kind="progress-report")  # fmt: skip
    admin = client_for(w.admin)
    url = reverse("documents:wording", args=["progress-report"])
    page = admin.get(url)
    assert page.status_code == 200 and "Save as a new version" in page.content.decode()
    wording = {"salutation": "Hello {recipient},", "opening": "An update on our patient.",
               "closing": "Best wishes,"}  # fmt: skip
    assert admin.post(url, wording).status_code == 302
    same = admin.post(url, wording)
    assert same.status_code == 200 and "same as the current version" in same.content.decode()
    assert list(LetterTemplate.objects.values_list("version", flat=True)) == [2, 1]
    new = letters.letter_start(actor=w.practitioner, episode=referred.episode,
                               kind="progress-report")  # fmt: skip
    assert (new.salutation, new.template.version) == ("Hello Dr Byrne,", 2)
    old.refresh_from_db()
    assert (old.salutation, old.template.version) == ("Dear Dr Byrne,", 1)
    # A version once saved is never changed in place.
    with pytest.raises(DatabaseError), transaction.atomic():
        LetterTemplate.objects.filter(version=1).update(opening="Rewritten.")
    assert client_for(w.practitioner).get(url).status_code == 403
    assert admin.get(reverse("documents:wording", args=["consent"])).status_code == 404


def test_a_discharge_letter_needs_a_discharged_episode(referred):
    w = referred.world
    with pytest.raises(ValidationError, match="discharged first"):
        letters.letter_start(actor=w.practitioner, episode=referred.episode,
                             kind="discharge-letter")  # fmt: skip
    discharged = referred.discharge.episode
    letter = letters.letter_start(actor=w.practitioner, episode=discharged,
                                  kind="discharge-letter")  # fmt: skip
    letter = letters.letter_update(actor=w.practitioner, letter=letter, body="Settled well.")
    issued = letters.letter_issue(actor=w.practitioner, letter=letter)
    assert "Settled well." in pdf.text(bytes(issued.document.content))
    with pytest.raises(ValidationError, match="signed and issued"):
        letters.letter_update(actor=w.practitioner, letter=issued, body="Later.")


def test_letters_are_the_clinics_own(referred):
    w = referred.world
    letter = letters.letter_start(actor=w.practitioner, episode=referred.episode,
                                  kind="progress-report")  # fmt: skip
    url = reverse("documents:letter", args=[letter.pk])
    assert client_for(w.other_practitioner).get(url).status_code == 404
    assert client_for(w.assistant).get(url).status_code == 200
    assert client_for(w.assistant).post(url, {"body": "x"}).status_code == 403
    assert _draft(client_for(w.other_practitioner), referred.episode).status_code == 404
