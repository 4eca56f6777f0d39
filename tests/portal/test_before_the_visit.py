"""Before the first visit: the health questions, the consent, and the education pages."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from needlechart import knowledge
from needlechart.charting import services as charting
from needlechart.charting.models import Consent, Screening
from needlechart.portal import services
from needlechart.portal.models import HealthQuestionnaire
from tests import factories
from tests.conftest import client_for


def send_answers(world, data: dict):
    return client_for(world.patient_user).post(reverse("portal:questionnaire"), data)


def test_the_questions_are_the_screening_factors_in_plain_language(world):
    page = client_for(world.patient_user).get(reverse("portal:questionnaire")).content.decode()
    for rule in knowledge.factor_rules():
        assert rule.question.replace("'", "&#x27;") in page, rule.code


def test_the_answers_wait_for_a_clinician_and_never_change_the_chart_alone(world):
    charting.screening_record(actor=world.practitioner, episode=world.episode_a, factors=[])
    response = send_answers(world, {"f_diabetes": "on", "f_pregnancy": "on",
                                    "pregnancy__trimester": "2", "note": "Due in spring"})  # fmt: skip
    assert response.status_code == 302
    answers = HealthQuestionnaire.objects.get()
    assert answers.status == "pending" and answers.episode == world.episode_a
    assert answers.factors == [{"code": "diabetes"}, {"code": "pregnancy", "trimester": 2}]
    assert charting.current_screening(world.episode_a).factors == []
    # The clinician sees that answers wait, on the patient page and the screening page.
    staff = client_for(world.practitioner)
    for url in [reverse("patients:detail", args=[world.patient_a.pk]),
                reverse("charting:screening", args=[world.episode_a.pk])]:  # fmt: skip
        assert (
            reverse("portal:questionnaire_review", args=[answers.pk])
            in staff.get(url).content.decode()
        )


def test_the_clinician_records_the_checked_answers_as_the_screening(world):
    send_answers(world, {"f_diabetes": "on"})
    answers = HealthQuestionnaire.objects.get()
    staff = client_for(world.practitioner)
    page = staff.get(reverse("portal:questionnaire_review", args=[answers.pk]))
    assert page.context["form"]["f_diabetes"].value() is True
    # Going through the answers with the patient, the clinician adds what was missed.
    response = staff.post(
        reverse("portal:questionnaire_review", args=[answers.pk]),
        {"episode": world.episode_a.pk, "f_diabetes": "on", "f_epilepsy": "on", "note": "Checked"},
    )
    assert response.url == reverse("patients:episode", args=[world.episode_a.pk])
    screening = charting.current_screening(world.episode_a)
    assert screening.source == Screening.Source.PATIENT
    assert screening.factors == [{"code": "diabetes"}, {"code": "epilepsy"}]
    answers.refresh_from_db()
    assert answers.status == "confirmed" and answers.screening == screening
    assert answers.reviewed_by == world.practitioner
    with pytest.raises(ValidationError, match="already been reviewed"):
        services.questionnaire_dismiss(actor=world.practitioner, questionnaire=answers, reason="x")


def test_newer_answers_replace_the_ones_still_waiting(world):
    send_answers(world, {"f_diabetes": "on"})
    send_answers(world, {"f_epilepsy": "on"})
    old, new = HealthQuestionnaire.objects.order_by("id")
    assert old.status == "dismissed" and "Replaced" in old.review_note
    assert new.status == "pending"


def test_answers_cannot_be_recorded_on_another_patients_episode(world):
    send_answers(world, {})
    answers = HealthQuestionnaire.objects.get()
    other = factories.episode(factories.patient(world.clinic_a), world.practitioner_a)
    with pytest.raises(ValidationError, match="another patient"):
        services.questionnaire_confirm(actor=world.practitioner, questionnaire=answers,
                                       episode=other, factors=[])  # fmt: skip
    # And the review form only offers the patient's own open episodes.
    form = (
        client_for(world.practitioner)
        .get(reverse("portal:questionnaire_review", args=[answers.pk]))
        .context["form"]
    )
    assert list(form.fields["episode"].queryset) == [world.episode_a]


def test_an_answer_missing_a_detail_is_refused_with_the_reason(world):
    response = send_answers(world, {"f_lymphedema": "on"})
    assert response.status_code == 200
    assert "needs limb" in response.content.decode()
    assert not HealthQuestionnaire.objects.exists()


def test_the_patient_reads_and_signs_the_consent_in_the_portal(world):
    client = client_for(world.patient_user)
    page = client.get(reverse("portal:consent"))
    template = page.context["template"]
    assert template.body.splitlines()[0] in page.content.decode().replace("&#x27;", "'")
    refused = client.post(reverse("portal:consent"),
                          {"template": template.pk, "signed_name": "Ann Smith"})  # fmt: skip
    assert refused.status_code == 200 and not Consent.objects.exists()
    client.post(reverse("portal:consent"),
                {"template": template.pk, "signed_name": "Ann Smith", "confirmed": "on"})  # fmt: skip
    consent = Consent.objects.get()
    assert consent.channel == "portal" and consent.witnessed_by is None
    current, _ = charting.consent_status(world.patient_a)
    assert current == consent
    # The clinic can needle on it; the clinic's consent page says how it was signed.
    staff_page = client_for(world.practitioner).get(
        reverse("charting:consent", args=[world.patient_a.pk])
    )
    assert "in the patient portal" in staff_page.content.decode()
    with pytest.raises(ValidationError, match="already signed"):
        services.consent_sign(actor=world.patient_user, template=template, signed_name="Ann Smith",
                              confirmed=True)  # fmt: skip


def test_a_consent_opened_before_the_text_changed_is_not_signed(world):
    client = client_for(world.patient_user)
    old = client.get(reverse("portal:consent")).context["template"]
    charting.template_new_version(actor=world.admin, kind="consent", title=old.title,
                                  body=old.body + "\n\nA new paragraph.")  # fmt: skip
    response = client.post(reverse("portal:consent"),
                           {"template": old.pk, "signed_name": "Ann Smith", "confirmed": "on"})  # fmt: skip
    assert "has changed since this page was opened" in response.content.decode()
    assert not Consent.objects.exists()


@pytest.mark.parametrize("slug", [p.slug for p in knowledge.education_pages()])
def test_each_education_page_reads_with_its_sources(world, slug):
    page = client_for(world.patient_user).get(reverse("portal:learn_page", args=[slug]))
    article = knowledge.education_page(slug)
    html = page.content.decode()
    assert page.status_code == 200 and article.title in html.replace("&#x27;", "'")
    assert "Sources:" in html and "[" not in html.split("Sources:")[1].split("</p>")[0]


def test_an_unknown_education_page_is_not_found(world):
    response = client_for(world.patient_user).get(reverse("portal:learn_page", args=["nope"]))
    assert response.status_code == 404
