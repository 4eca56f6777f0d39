from django.urls import reverse

from needlechart import knowledge
from needlechart.audit.models import AuditEvent
from tests.conftest import client_for


def test_the_body_chart_page_draws_every_region_as_a_keyboard_toggle(world):
    page = client_for(world.front_desk).get(reverse("reference:body_chart")).content.decode()
    for region in knowledge.regions():
        assert (
            f'<path id="{region.id}" class="region" tabindex="0" role="button" aria-pressed="false"'
            in page
        )
        assert f'value="{region.id}"' in page  # the list alternative to the chart


def test_choosing_regions_ranks_muscles_on_the_page_and_marks_the_chart(world):
    response = client_for(world.practitioner).get(
        reverse("reference:body_chart"), {"region": ["temple-right", "shoulder-top-right"]}
    )
    assert response.status_code == 200
    assert response.context["candidates"][0]["muscle"] == "upper-trapezius"
    page = response.content.decode()
    assert '<path id="temple-right" class="region is-selected"' in page
    assert 'value="temple-right" checked' in page
    assert not AuditEvent.objects.exclude(action="login").exists()  # no patient data read


def test_the_referral_endpoint_answers_json_and_refuses_unknown_regions(world):
    client = client_for(world.assistant)
    data = client.get(reverse("reference:referral_json"), {"region": "heel-left"}).json()
    assert data["candidates"] and all(c["side"] == "left" for c in data["candidates"])
    bad = client.get(reverse("reference:referral_json"), {"region": "nose-left"})
    assert bad.status_code == 400 and bad.json() == {"error": "unknown region: nose-left"}
    page = client.get(reverse("reference:body_chart"), {"region": "nose-left"})
    assert page.status_code == 400 and "Unknown region: nose-left" in page.content.decode()


def test_a_muscle_page_highlights_its_zones_on_the_chosen_side(world):
    client = client_for(world.practitioner)
    page = client.get(reverse("reference:muscle", args=["gluteus-minimus"]), {"side": "left"})
    html = page.content.decode()
    assert '<path id="buttock-left" class="region is-local"' in html
    assert '<path id="thigh-posterior-left" class="region is-primary"' in html
    assert '<path id="calf-left" class="region is-spillover"' in html
    assert '<path id="calf-right" class="region"' in html
    assert "Sciatic" in html or "sciatic" in html
    assert "Donnelly" in html


def test_an_unknown_muscle_is_not_found(world):
    response = client_for(world.practitioner).get(reverse("reference:muscle", args=["wing"]))
    assert response.status_code == 404


def test_the_muscle_list_groups_the_catalogue_by_area(world):
    response = client_for(world.front_desk).get(reverse("reference:muscles"))
    labels = [label for label, _ in response.context["areas"]]
    assert labels[0] == "Head and neck" and len(labels) == 8
    assert sum(len(muscles) for _, muscles in response.context["areas"]) == len(knowledge.muscles())
