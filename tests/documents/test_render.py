"""Each kind of document, rendered for a charted patient and read back from the PDF."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from needlechart.documents import render
from tests.documents import pdf

# After every record the tests chart (a progress report reads what was known by its date).
AS_OF = dt.datetime(2099, 12, 1, 9, 30, tzinfo=dt.UTC)


def _render(kind, record):
    return render.render(kind, record, as_of=AS_OF)


def test_a_session_note_holds_the_whole_signed_session(signed):
    made = _render("session-note", signed.session)
    text = pdf.text(made.pdf)
    for expected in (
        "Clinic A", "4 Quay Street", "Galway", "+353 91 555 0100",  # the letterhead
        "Ann Smith", "T0", "Needling session note",
        "Health screening", "Consent", "confirmed before needling",
        "Gastrocnemius", "left", "pistoning",  # the muscle, its side, how it was needled
        "Pain before needling (NPRS 0-10) 6", "Pain after needling (NPRS 0-10) 3",
        "Bruising", "mild",  # the adverse event
        "Aftercare advice given",
        "Signed by Paula Physio",
        "Addendum", "Bruise settled by the next day.",
        "Page 1 of 1",
    ):  # fmt: skip
        assert expected in text, expected
    assert made.episode == signed.episode


def test_a_signed_record_renders_to_the_same_bytes_every_time(signed):
    first = _render("session-note", signed.session)
    later = render.render("session-note", signed.session, as_of=timezone.now())
    assert first.sha256 == later.sha256 and first.pdf == later.pdf
    # The PDF is dated by the signature, not by when it was rendered.
    signed_at = signed.session.signed_at.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")
    assert pdf.metadata(first.pdf)["/CreationDate"] == f"D:{signed_at}Z"
    assert pdf.metadata(first.pdf)["/Title"].startswith("Needling session note")


def test_a_draft_session_cannot_be_issued(signed):
    with pytest.raises(ValidationError, match="Only a signed session"):
        _render("session-note", signed.draft)
    with pytest.raises(ValidationError, match="Only a signed session"):
        _render("aftercare", signed.draft)


def test_a_record_of_another_kind_is_refused(signed):
    with pytest.raises(ValidationError, match="not made from this record"):
        _render("consent", signed.session)


def test_the_consent_is_the_text_the_patient_signed_with_their_signature(signed):
    made = _render("consent", signed.consent)
    text = pdf.text(made.pdf)
    assert "Consent to dry needling" in text and "What dry needling is" in text
    assert "Signed by Ann Smith" in text and "witnessed" in text
    assert made.text_version == signed.consent.template.version
    assert "Page 1 of 2" in text and "Page 2 of 2" in text


def test_the_aftercare_sheet_names_the_muscles_and_the_advice_given(signed):
    made = _render("aftercare", signed.session)
    text = pdf.text(made.pdf)
    assert "Aftercare after dry needling" in text
    assert "Muscles treated: Gastrocnemius (left)" in text
    assert "How to reach us" in text and "+353 91 555 0100" in text
    assert made.text_version == 1


def test_a_progress_report_shows_measures_against_baseline_and_the_pages_plots(signed):
    from needlechart.outcomes import plots, selectors

    made = _render("progress-report", signed.episode)
    text = pdf.text(made.pdf)
    assert "Progress report" in text and "Ann Smith" in text
    assert "Signed needling sessions 2" in text
    assert "Pain intensity (NPRS)" in text and "Measures against baseline" in text
    # The episode page's own plot, drawn by the same function, is in the PDF as text.
    current = selectors.episode_progress(signed.episode)
    [page_plot] = plots.progress_plots(current, signed.episode.condition_code)
    assert "Pain across sessions" in page_plot and "Pain across sessions" in text
    assert "Important improvement" in text and "Before needling" in text
    assert "Soleus (left)" in text and "6 → 3" in text and "4 → 2" in text


def test_a_discharge_letter_goes_to_the_referrer_with_the_outcomes(signed):
    made = _render("discharge-letter", signed.discharge)
    text = pdf.text(made.pdf)
    assert "Discharge letter" in text and "Dana Done" in text
    assert "To the referring clinician" in text
    assert "Pain settled; exercises continue." in text and "goals met" in text
    assert made.patient == signed.discharge.episode.patient


def test_the_whole_record_holds_every_signed_session_and_leaves_drafts_out(signed):
    made = _render("record", signed.patient)
    text = pdf.text(made.pdf)
    assert "Health record" in text and "Ann Smith" in text
    assert text.count("Session of ") == 2
    assert "1 session not yet signed is left out" in text
    assert "Gastrocnemius" in text and "Soleus" in text and "Signed by Paula Physio" in text
    assert "Signed 1 December 2099" not in text  # the consent's own date, not the as-of date
