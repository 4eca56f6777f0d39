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


def test_the_body_chart_shows_the_screen_first_warnings_of_the_marked_regions(world):
    client = client_for(world.practitioner)
    page = client.get(reverse("reference:body_chart"), {"region": ["chest-left", "calf-right"]})
    html = page.content.decode()
    assert [w["code"] for w in page.context["screen_first"]] == ["chest", "calf"]
    assert "Screen first: Chest pain" in html and "Screen first: Calf pain" in html
    assert "rule these out before treating it as muscular" in html
    assert "Source: Gulati 2021; Goodman 2018; APTA 2013" in html
    assert html.index('id="screen-first"') < html.index('id="candidates"')
    quiet = client.get(reverse("reference:body_chart"), {"region": "elbow-lateral-left"})
    assert quiet.context["screen_first"] == []
    assert "Screen first:" not in quiet.content.decode()


def test_the_body_chart_says_why_each_muscle_is_listed(world):
    page = client_for(world.practitioner).get(
        reverse("reference:body_chart"), {"region": "shoulder-anterior-right"}
    )
    html = page.content.decode()
    first = page.context["candidates"][0]
    assert first["muscle"] == "infraspinatus" and first["why"] == "refers"
    assert '<span class="why why--refers">Refers pain there</span>' in html
    assert "Refers pain there and lies under it" in html  # deltoid, among others


def test_the_referral_endpoint_carries_the_warnings_the_page_shows(world):
    client = client_for(world.assistant)
    data = client.get(
        reverse("reference:referral_json"), {"region": ["low-back-left", "groin-left"]}
    ).json()
    assert set(data) == {"candidates", "warnings", "note"}
    assert [w["code"] for w in data["warnings"]] == ["low-back", "groin"]
    low_back = data["warnings"][0]
    assert low_back["region_labels"] == ["Low back (left)"]
    assert any("cauda equina" in sign for sign in low_back["signs"])
    assert low_back["sources"][0]["short"] == "Finucane 2020"
    assert all("why_label" in c for c in data["candidates"])
    assert client.get(reverse("reference:referral_json")).json()["warnings"] == []


def test_the_assessment_shows_the_warnings_with_its_muscles_to_examine(world):
    from needlechart.charting import services

    assessment = services.assessment_start(actor=world.practitioner, episode=world.episode_a)
    for region_id in ("temple-right", "calf-left"):
        services.pain_mark_set(actor=world.practitioner, assessment=assessment,
                               region=region_id, intensity=6, quality="")  # fmt: skip
    html = (
        client_for(world.practitioner)
        .get(reverse("charting:assessment", args=[assessment.pk]))
        .content.decode()
    )
    examine = html[html.index('id="examine"') :]
    assert "Screen first: Headache" in examine and "Screen first: Calf pain" in examine
    assert "Temple (right)" in examine and "thunderclap" in examine
    assert examine.index('id="screen-first"') < examine.index('id="candidates"')
    # The examine links still fill the finding form for each muscle.
    assert 'class="examine" data-examine-muscle="' in examine
    assert "?muscle=upper-trapezius&amp;side=right#add-finding" in examine


def test_an_assessment_without_red_flag_regions_shows_no_warning(world):
    from needlechart.charting import services

    assessment = services.assessment_start(actor=world.practitioner, episode=world.episode_a)
    services.pain_mark_set(actor=world.practitioner, assessment=assessment,
                           region="elbow-lateral-right", intensity=5, quality="")  # fmt: skip
    html = (
        client_for(world.practitioner)
        .get(reverse("charting:assessment", args=[assessment.pk]))
        .content.decode()
    )
    assert 'id="screen-first"' in html and "Screen first:" not in html
    assert 'data-examine-muscle="supinator"' in html


def test_every_new_muscle_has_a_page(world):
    client = client_for(world.front_desk)
    for slug in ("sternalis", "subclavius", "fibularis-tertius", "extensor-pollicis-longus",
                 "abductor-pollicis-longus", "extensor-pollicis-brevis", "plantaris",
                 "longus-colli", "gemelli", "thoracic-multifidus"):  # fmt: skip
        page = client.get(reverse("reference:muscle", args=[slug]), {"side": "left"})
        assert page.status_code == 200, slug
        assert "Dommerholt" in page.content.decode()


def test_a_muscle_page_says_where_it_is_a_frequent_source_and_when_its_pattern_is_sparse(world):
    client = client_for(world.practitioner)
    infraspinatus = client.get(reverse("reference:muscle", args=["infraspinatus"])).content
    assert "A frequent source of pain in" in infraspinatus.decode()
    assert "described only briefly" not in infraspinatus.decode()
    gemelli = client.get(reverse("reference:muscle", args=["gemelli"])).content.decode()
    assert "described only briefly, or by analogy with a neighbouring muscle" in gemelli
