"""The episode form's condition: typed or chosen in words or as a code, from a searchable list;
anything else is refused with the codes the catalogue's search suggests."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from needlechart import knowledge
from needlechart.patients.forms import EpisodeForm
from needlechart.patients.models import EpisodeOfCare
from tests import factories
from tests.conftest import client_for


def _post(world, condition: str, **changes):
    data = {"condition_code": condition, "body_area": "", "onset_date": "",
            "referral_source": "self", "referral_detail": "",
            "care_manager": world.practitioner_a.pk, "status": "active",
            "period_start": timezone.localdate().isoformat()}  # fmt: skip
    data.update(changes)
    return client_for(world.practitioner).post(
        reverse("patients:episode_create", args=[world.patient_a.pk]), data
    )


def test_the_form_offers_every_current_code_in_words_in_a_searchable_list(world):
    page = client_for(world.practitioner).get(
        reverse("patients:episode_create", args=[world.patient_a.pk])
    )
    html = page.content.decode()
    field = re.search(r'<input[^>]*name="condition_code"[^>]*>', html).group()
    assert 'list="id_condition_code-conditions"' in field and 'autocomplete="off"' in field
    assert '<select name="condition_code"' not in html
    datalist = html.split('id="id_condition_code-conditions"')[1].split("</datalist>")[0]
    options = re.findall(r'<option value="([^"]*)"', datalist)
    current = knowledge.conditions_valid_on(timezone.localdate())
    assert [o.replace("&#x27;", "'") for o in options] == [e.option_label for e in current]
    assert "M54.2 Cervicalgia (neck pain)" in options and "M54.5 Low back pain" not in html
    # Other names are offered for the browser to match too.
    assert "whiplash" in html


@pytest.mark.parametrize(
    "typed",
    ["M77.11", "m7711", "M77.11 Lateral epicondylitis, right elbow (tennis elbow)",
     "Lateral epicondylitis, right elbow (tennis elbow)"],
)  # fmt: skip
def test_a_code_or_its_description_opens_the_episode_with_the_code_and_its_area(world, typed):
    response = _post(world, typed)
    assert response.status_code == 302, response.context["form"].errors
    episode = EpisodeOfCare.objects.filter(patient=world.patient_a).latest("pk")
    assert episode.condition_code == "M77.11"
    assert episode.body_area == "arm-elbow"  # defaulted from the condition


def test_the_area_defaults_from_the_new_codes_too(world):
    for code, area in (("M72.2", "leg-foot"), ("G44.86", "head-face"), ("S39.012D", "low-back")):
        assert _post(world, code).status_code == 302
        episode = EpisodeOfCare.objects.filter(patient=world.patient_a).latest("pk")
        assert (episode.condition_code, episode.body_area) == (code, area)


def test_words_that_are_not_a_description_are_refused_with_suggestions(world):
    before = EpisodeOfCare.objects.count()
    response = _post(world, "tennis elbow")
    assert response.status_code == 200
    [message] = response.context["form"].errors["condition_code"]
    assert message.startswith("tennis elbow is not a code or a description from the list.")
    assert "M77.11 Lateral epicondylitis, right elbow (tennis elbow)" in message
    assert "M77.12" in message
    assert EpisodeOfCare.objects.count() == before
    # What was typed stays in the field, for correction.
    assert 'value="tennis elbow"' in response.content.decode()


def test_text_matching_nothing_is_refused_as_not_in_the_catalogue(world):
    response = _post(world, "sunburn")
    assert response.context["form"].errors["condition_code"] == [
        "sunburn is not an ICD-10-CM code in the needlechart catalogue; choose one from the list."
    ]


def test_a_code_not_yet_valid_on_the_opening_date_is_refused_with_its_date(world):
    response = _post(world, "G44.86", period_start="2021-09-01", onset_date="2021-08-01")
    [message] = response.context["form"].errors["condition_code"]
    assert message == (
        "G44.86 Cervicogenic headache: not valid for an episode opened on 2021-09-01; it is "
        "valid only from 2021-10-01. Choose a current code from the list."
    )


def test_a_retired_code_is_accepted_for_an_episode_opened_while_it_was_valid(world):
    response = _post(world, "M54.5", period_start="2021-05-01", onset_date="2021-04-01")
    assert response.status_code == 302, response.context["form"].errors
    assert EpisodeOfCare.objects.filter(condition_code="M54.5").exists()


def test_the_edit_form_shows_the_stored_code_in_words(world):
    form = EpisodeForm(instance=world.episode_a, practitioners=world.clinic_a.users.none())
    assert form["condition_code"].value() == "M54.2 Cervicalgia (neck pain)"
    assert 'value="M54.2 Cervicalgia (neck pain)"' in str(form["condition_code"])


def test_an_old_episode_keeps_its_retired_code_when_edited(world):
    old = factories.episode(
        world.patient_a, world.practitioner_a, condition_code="M79.1", body_area="widespread",
        period_start=dt.date(2022, 3, 1),
    )  # fmt: skip
    form = EpisodeForm(instance=old, practitioners=world.clinic_a.users.none())
    assert knowledge.condition("M79.1") in form.fields["condition_code"].widget.entries
