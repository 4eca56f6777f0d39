"""Measures in words, counted where they belong: range of motion is named, never coded, and a
measure taken at the start of a session counts in the course while one taken right after
needling shows as the change within that session."""

import datetime as dt
import importlib
import io
import json

import pytest
from django.core.management import call_command
from django.db import connection
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from needlechart import knowledge
from needlechart.charting import services as chart_services
from needlechart.charting.views import episode_page
from needlechart.db import guards
from needlechart.outcomes import measurements, selectors, services
from needlechart.outcomes.forms import GoalForm, MeasurementForm
from needlechart.outcomes.models import CarePlan, Observation, PlanGoal
from needlechart.ui import measure_what, rom_name
from tests.conftest import client_for
from tests.knowledge.test_instruments import questionnaire

TOMORROW = timezone.localdate() + dt.timedelta(days=1)


def measure(world, code, value, timing, *, session=None, component="", side=""):
    return measurements.observation_add(
        actor=world.practitioner, episode=world.episode_a, session=session, code=code,
        value=value, timing=timing, component=component, side=side,
    )  # fmt: skip


def draft_session(world, days_ago: int):
    session, _ = chart_services.session_start(
        actor=world.practitioner, episode=world.episode_a, screening_status="unchanged", consent_confirmed=True,
        clean_technique=True, performed_at=timezone.now() - dt.timedelta(days=days_ago),
    )  # fmt: skip
    return session


@pytest.fixture
def neck_course(consented_long_ago):
    """Cervical rotation at the assessment, then before and right after needling in two
    sessions, with pain before and after in both."""
    world = consented_long_ago
    rotation = {"component": "cervical-rotation", "side": "left"}
    assessed = measure(world, "rom", 40, "baseline", **rotation)
    # Backdated as setup: a recorded measurement refuses any change but the in-error mark.
    with guards.lifted(connection):
        Observation.objects.filter(pk=assessed.pk).update(
            recorded_at=timezone.now() - dt.timedelta(days=20)
        )
    for days_ago, (rom_before, rom_after, pain_before, pain_after) in (
        (14, (45, 60, 7, 4)), (7, (55, 62, 5, 4)),
    ):  # fmt: skip
        session = draft_session(world, days_ago)
        measure(world, "rom", rom_before, "before", session=session, **rotation)
        measure(world, "rom", rom_after, "after", session=session, **rotation)
        measure(world, "nprs", pain_before, "before", session=session)
        measure(world, "nprs", pain_after, "after", session=session)
    return world


# --- progress ----------------------------------------------------------------------------


def test_the_measure_at_the_start_of_a_session_counts_in_the_course(neck_course):
    progress = selectors.episode_progress(neck_course.episode_a)
    [(series, change)] = [(s, c) for s, c in progress.measures if s.code == "rom"]
    assert series.label == "Cervical rotation (left)"
    assert [p.value for p in series.course] == [40, 45, 55]  # the values after needling are not
    assert (series.baseline.value, series.latest.value) == (40, 55)
    assert change.classification == "improved" and change.change == 15
    # Pain has no assessment value: its first value before needling is its baseline.
    assert (progress.pain.baseline.value, progress.pain.latest.value) == (7, 5)


def test_every_measure_taken_before_and_after_needling_shows_its_change_within_sessions(
    neck_course,
):
    progress = selectors.episode_progress(neck_course.episode_a)
    pain, rotation = progress.within_session
    assert pain.label == "Pain intensity (NPRS)" and rotation.label == "Cervical rotation (left)"
    assert [(r.before, r.after, r.immediate) for r, _ in rotation.rows] == [
        (45, 60, 15), (55, 62, 7),
    ]  # fmt: skip
    assert [c.classification for _, c in rotation.rows] == ["improved", "unchanged"]
    assert rotation.mean == 11 and rotation.unit == "degrees"
    assert [r.immediate for r, _ in pain.rows] == [-3, -1] and pain.mean == -2
    # Pain's own list (the pain plot) is the same data.
    assert [(s.before, s.after) for s in progress.sessions] == [(7, 4), (5, 4)]
    assert progress.immediate_mean == -2


def test_a_measure_taken_only_at_the_start_of_sessions_has_no_within_session_change(
    consented_long_ago,
):
    world = consented_long_ago
    for days_ago, value in ((14, 30), (7, 45)):
        measure(world, "rom", value, "before", session=draft_session(world, days_ago),
                component="hip-flexion", side="right")  # fmt: skip
    progress = selectors.episode_progress(world.episode_a)
    [(_, change)] = progress.measures
    assert change.classification == "improved"
    assert progress.within_session == []


# --- forms and pages ---------------------------------------------------------------------


def test_the_measurement_form_takes_the_movement_in_words(world):
    client = client_for(world.practitioner)
    url = reverse("outcomes:measurements", args=[world.episode_a.pk])
    response = client.post(url, {"code": "rom", "component": "  shoulder EXTERNAL rotation ",
                                 "side": "right", "value": 70, "timing": "reassessment"})  # fmt: skip
    assert response.status_code == 302
    saved = Observation.objects.get(episode=world.episode_a)
    assert (saved.component, saved.side) == ("shoulder-lateral-rotation", "right")
    page = client.get(url).content.decode()
    assert "Shoulder lateral rotation (right)" in page
    assert "shoulder-lateral-rotation" not in page  # no code anywhere on the page
    assert (
        '<option value="Cervical rotation" label="Cervical rotation — normal about 70° (60-80°)">'
        in page
    )


def test_a_movement_the_list_does_not_know_is_refused_by_its_field(world):
    response = client_for(world.practitioner).post(
        reverse("outcomes:measurements", args=[world.episode_a.pk]),
        {"code": "rom", "component": "tail wag", "value": 70, "timing": "reassessment"},
    )
    assert response.context["form"].errors["component"] == [
        "Choose the movement from the list, e.g. Cervical rotation."
    ]
    assert not Observation.objects.exists()


def test_other_measures_keep_their_own_words(world):
    client_for(world.practitioner).post(
        reverse("outcomes:measurements", args=[world.episode_a.pk]),
        {"code": "psfs-activity", "component": "Neck rotation while driving", "value": 4,
         "timing": "reassessment"},
    )  # fmt: skip
    assert Observation.objects.get().component == "Neck rotation while driving"


def plan_data(**goal) -> dict:
    data = {
        "planned_sessions": 4, "frequency": "weekly", "review_on": TOMORROW.isoformat(),
        "goal-TOTAL_FORMS": 1, "goal-INITIAL_FORMS": 0,
        "goal-0-description": "Check the blind spot", "goal-0-code": "rom",
        "goal-0-target": 70, "goal-0-target_date": TOMORROW.isoformat(),
        "therapy-TOTAL_FORMS": 0, "therapy-INITIAL_FORMS": 0,
    }  # fmt: skip
    data.update({f"goal-0-{k}": v for k, v in goal.items()})
    return data


def test_a_plan_goal_takes_the_movement_in_words_and_shows_it_in_words(world):
    client = client_for(world.practitioner)
    url = reverse("outcomes:plan", args=[world.episode_a.pk])
    assert client.post(url, plan_data(component="cervical rotation")).status_code == 302
    goal = CarePlan.objects.get(episode=world.episode_a).goals.get()
    assert goal.component == "cervical-rotation"
    page = client.get(url).content.decode()
    assert 'value="Cervical rotation"' in page and "cervical-rotation" not in page
    assert 'list="id_goal-0-component-movements"' in page
    assert '<datalist id="id_goal-0-component-movements">' in page
    refused = client.post(url, plan_data(component="elbow wag"))
    assert refused.status_code == 400
    assert "Choose the movement from the list" in refused.content.decode()


def test_the_plan_service_takes_the_movement_in_words_or_as_a_code(world):
    goal = {"description": "Turn the head", "code": "rom", "target": 70,
            "target_date": TOMORROW + dt.timedelta(days=30)}  # fmt: skip
    for component in ("Neck rotation", "cervical-rotation"):
        plan = services.plan_create(
            actor=world.practitioner, episode=world.episode_a, planned_sessions=4,
            frequency="weekly", review_on=TOMORROW, goals=[{**goal, "component": component}],
            therapies=[],
        )  # fmt: skip
        assert plan.goals.get().component == "cervical-rotation"


def test_a_goal_form_shows_a_stored_movement_in_words():
    form = GoalForm(initial={"code": "rom", "component": "hip-internal-rotation"})
    assert form["component"].value() == "Hip internal rotation"
    assert (
        GoalForm(initial={"code": "psfs-activity", "component": "Running"})["component"].value()
        == "Running"
    )


def test_the_measurements_page_shows_the_change_within_sessions(neck_course):
    # As the measurements view renders it once it passes the episode's progress.
    world = neck_course
    request = RequestFactory().get("/")
    request.user = world.practitioner
    html = episode_page(
        request, "outcomes/measurements.html", world.episode_a, form=MeasurementForm(),
        observations=list(world.episode_a.observations.all()),
        progress=selectors.episode_progress(world.episode_a),
    ).content.decode()  # fmt: skip
    section = html[html.index("Change within sessions") :]
    assert "Cervical rotation (left)" in section and "mean +11 degrees" in section
    assert "+15 degrees" in section and "Improved" in section
    assert "cervical-rotation" not in html


# --- filters, the include, the export ----------------------------------------------------


def test_the_filters_name_what_was_measured_in_words():
    assert rom_name("ankle-dorsiflexion") == "Ankle dorsiflexion"
    assert measure_what({"code": "rom", "component": "hip-flexion", "side": "left"}) == (
        "Hip flexion (left)"
    )
    assert measure_what(Observation(code="mmt", component="soleus", side="")) == "Soleus"
    assert measure_what(Observation(code="nprs", component="", side="right")) == "Right"


def test_the_movement_field_is_labelled_and_lists_every_movement_in_words():
    html = render_to_string(
        "includes/rom_field.html", {"prefix": "s1-before", "movement": "knee-flexion",
                                    "side": "left"},
    )  # fmt: skip
    assert '<label for="s1-before-component">Range of motion' in html
    assert (
        'id="s1-before-component" name="component" type="text" list="s1-before-movements" value="Knee flexion"'
        in html
    )
    assert '<option value="Knee flexion" label="Knee flexion — normal about 135°">' in html
    assert html.count("<option value=") == 37 + 3  # every movement, and the three sides
    assert '<label for="s1-before-side">Side</label>' in html
    assert '<option value="left" selected>Left</option>' in html
    assert "knee-flexion" not in html


def test_the_chart_export_carries_each_measure_in_words(neck_course):
    world = neck_course
    services.plan_create(
        actor=world.practitioner, episode=world.episode_a, planned_sessions=4, frequency="weekly",
        review_on=TOMORROW, therapies=[],
        goals=[{"description": "Check the blind spot", "code": "rom", "component": "Cervical rotation",
                "target": 70, "target_date": TOMORROW}],
    )  # fmt: skip
    out = io.StringIO()
    call_command("chart", world.patient_a.mrn, "--json", stdout=out)
    [episode] = json.loads(out.getvalue())["episodes"]
    rotation = [m for m in episode["measurements"] if m["code"] == "rom"]
    assert {m["label"] for m in rotation} == {"Cervical rotation (left)"}
    assert rotation[0]["component"] == "cervical-rotation"  # the code stays for machines
    assert episode["plan"]["goals"][0]["label"] == "Cervical rotation"
    assert episode["sessions"][0]["measurements"][0]["label"] == "Cervical rotation (left)"
    text = io.StringIO()
    call_command("chart", world.patient_a.mrn, stdout=text)
    lines = text.getvalue().splitlines()
    assert (
        "    Goal: Check the blind spot (Cervical rotation, 70 by " + TOMORROW.isoformat() + ")"
        in lines
    )
    assert "    Cervical rotation (left): 40 -> 55 degrees (improved)" in lines
    assert "    Pain intensity (NPRS): 7 -> 5 points (improved)" in lines  # neck pain: 1.3
    assert "cervical-rotation" not in text.getvalue()


def test_a_measure_is_named_by_its_instrument_and_a_questionnaire_loaded_later_too():
    # The name is looked up at each call, not kept: a clinic's questionnaire loaded while
    # the process runs is named at once, on measurements and on plan goals alike.
    # Every shipped measure named as Django names it through the field's choices.
    shipped = dict(Observation._meta.get_field("code").flatchoices)
    assert "nprs" in shipped
    for code, name in shipped.items():
        assert Observation(code=code).get_code_display() == name, code
        assert PlanGoal(code=code).get_code_display() == name, code
    assert Observation(code="nprs", timing="after").get_timing_display() == "After needling"
    later = Observation(code="example-function", timing="home")
    assert later.get_code_display() == "example-function"  # not loaded: the code, as Django
    try:
        knowledge.load_questionnaire(questionnaire())
        assert later.get_code_display() == knowledge.instrument("example-function").name
        assert PlanGoal(code="example-function").get_code_display() == (later.get_code_display())
        # The same name as Django's own lookup through the field's choices.
        choices = dict(Observation._meta.get_field("code").flatchoices)
        assert choices["example-function"] == later.get_code_display()
    finally:
        importlib.import_module("needlechart.knowledge.instruments")._questionnaires.clear()
    assert later.get_code_display() == "example-function"
