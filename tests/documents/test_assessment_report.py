"""The assessment report: a signed assessment as a PDF, from its page (the command's own
tests are with the command's, in test_command.py)."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from needlechart.documents import render
from needlechart.documents.models import Document
from tests.conftest import client_for
from tests.documents import pdf
from tests.documents.test_views import _issue

AS_OF = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)


def test_the_report_holds_the_signed_assessment(assessed):
    made = render.render("assessment-report", assessed.assessment, as_of=AS_OF)
    text = pdf.text(made.pdf)
    for expected in (
        "Clinic A", "Ann Smith", "T0", "Initial assessment report",
        "Calf left 6 Aching", "Back of the thigh right 3 Sharp",  # the pain marks as rows
        "Gastrocnemius left latent", "Soleus right active",  # the findings
        "Deep ache", "Pain intensity (NPRS) 7",  # the baseline measure taken with it
        "Worse on stairs; calf tight in the morning.",
        "Signed by Paula Physio", "Addendum", "Runs twice a week.",
    ):  # fmt: skip
        assert expected in text, expected
    # A baseline recorded after the assessment is not part of it.
    assert "Quality of life" not in text
    assert made.episode == assessed.episode and made.patient == assessed.patient


def test_the_chart_is_the_pages_chart_with_the_same_marked_regions(assessed):
    from needlechart.reference.chart import chart, pain_shades

    context, *_ = render._BUILDERS["assessment-report"](
        assessed.assessment, _chart(assessed), dt.UTC, AS_OF
    )
    shades = pain_shades({"calf-left": 6, "thigh-posterior-right": 3})
    assert shades == {"calf-left": "is-pain-3", "thigh-posterior-right": "is-pain-2"}
    assert context["chart"] == chart(shades)
    assert 'id="calf-left" class="region is-pain-3"' in context["chart"]
    page = client_for(assessed.world.practitioner).get(
        reverse("charting:assessment", args=[assessed.assessment.pk])
    )
    assert 'id="calf-left" class="region is-pain-3"' in page.content.decode()


def _chart(assessed):
    from needlechart.outcomes.export import patient_chart, with_chart
    from needlechart.patients.models import Patient

    return patient_chart(with_chart(Patient.objects.filter(pk=assessed.patient.pk)).get())


def test_a_signed_assessment_renders_to_the_same_bytes_every_time(assessed):
    first = render.render("assessment-report", assessed.assessment, as_of=AS_OF)
    later = render.render("assessment-report", assessed.assessment, as_of=timezone.now())
    assert first.sha256 == later.sha256
    signed_at = assessed.assessment.signed_at.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")
    assert pdf.metadata(first.pdf)["/CreationDate"] == f"D:{signed_at}Z"


def test_a_draft_assessment_is_refused(assessed):
    with pytest.raises(ValidationError, match="sign the assessment first"):
        render.render("assessment-report", assessed.draft_assessment, as_of=AS_OF)


def test_a_clinician_issues_it_from_the_assessment_page(assessed):
    client = client_for(assessed.world.practitioner)
    back = reverse("charting:assessment", args=[assessed.assessment.pk])
    assert "Issue the assessment report (PDF)" in client.get(back).content.decode()
    issued = _issue(client, assessed.patient, "assessment-report", assessed.assessment, next=back)
    assert issued.status_code == 302 and issued.url == back
    document = Document.objects.get(kind="assessment-report")
    assert document.source_type == "ClinicalImpression"
    assert document.source_id == assessed.assessment.pk
    assert "Soleus" in pdf.text(bytes(document.content))
    # A draft's page offers none, and posting one anyway is refused with the reason.
    draft = reverse("charting:assessment", args=[assessed.draft_assessment.pk])
    assert "Issue the assessment report" not in client.get(draft).content.decode()
    refused = _issue(client, assessed.patient, "assessment-report", assessed.draft_assessment)
    assert "Only a signed assessment can be issued" in client.get(refused.url).content.decode()
    assert Document.objects.count() == 1


def test_another_clinics_assessment_is_not_found(assessed):
    other = client_for(assessed.world.other_practitioner)
    page = reverse("charting:assessment", args=[assessed.assessment.pk])
    assert other.get(page).status_code == 404
    refused = _issue(other, assessed.patient, "assessment-report", assessed.assessment)
    assert refused.status_code == 404
    # Nor under another patient's address in one's own clinic.
    own = client_for(assessed.world.practitioner)
    moved = _issue(own, assessed.world.patient_b, "assessment-report", assessed.assessment)
    assert moved.status_code == 404
    assert not Document.objects.exists()
