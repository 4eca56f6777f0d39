import csv
import datetime as dt
import io

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from needlechart.charting import services as chart_services
from needlechart.outcomes import measurements, selectors, services
from needlechart.outcomes import views as outcome_views
from needlechart.outcomes.models import CarePlan
from needlechart.outcomes.plots import improvement_band
from tests import charts
from tests.charts import row
from tests.conftest import client_for
from tests.sql import captured, query_plan

TOMORROW = timezone.localdate() + dt.timedelta(days=1)


def goal(**changes) -> dict:
    values = {"description": "Less pain", "code": "nprs", "component": "", "target": 3,
              "target_date": TOMORROW + dt.timedelta(days=30)}  # fmt: skip
    values.update(changes)
    return values


def plan(world, **changes):
    values = {"planned_sessions": 4, "frequency": "weekly", "review_on": TOMORROW + dt.timedelta(days=20),
              "goals": [goal()], "therapies": []}  # fmt: skip
    values.update(changes)
    return services.plan_create(actor=world.practitioner, episode=world.episode_a, **values)


def session_with_pain(world, needle, before: int, after: int, days_ago: int):
    session, _ = chart_services.session_start(
        actor=world.practitioner, episode=world.episode_a, screening_status="unchanged", consent_confirmed=True,
        clean_technique=True, performed_at=timezone.now() - dt.timedelta(days=days_ago),
    )  # fmt: skip
    chart_services.insertion_add(actor=world.practitioner, session=session, **row(needle))
    for timing, value in (("before", before), ("after", after)):
        measurements.observation_add(actor=world.practitioner, episode=world.episode_a,
                                       session=session, code="nprs", value=value, timing=timing)  # fmt: skip
    chart_services.session_update(
        actor=world.practitioner,
        session=session,
        needles_opened=1,
        needles_removed=1,
        sharps_disposed=True,
    )
    return chart_services.session_sign(actor=world.practitioner, session=session)


# --- plan --------------------------------------------------------------------------------


def test_a_plan_change_is_a_new_version_and_the_old_one_stays(world):
    first = plan(
        world, therapies=[{"kind": "physical-therapy", "provider": "Paula", "frequency": "weekly"}]
    )
    second = plan(world, planned_sessions=6, therapies=[
        {"kind": "home-exercise", "provider": "Patient at home", "frequency": "daily",
         "exercises": [{"name": "Chin tucks", "dose": "3 x 10"}]},
        {"kind": "massage", "provider": "Clinic massage therapist", "frequency": "fortnightly"},
    ])  # fmt: skip
    assert (first.version, second.version) == (1, 2)
    first.refresh_from_db()
    assert first.planned_sessions == 4 and first.therapies.count() == 1
    assert [t.kind for t in second.therapies.all()] == ["home-exercise", "massage"]
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE outcomes_careplan SET planned_sessions = 9 WHERE id = %s", [first.pk]
        )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"goals": []}, "Give at least one goal"),
        ({"goals": [goal(code="psfs-activity")]}, "name the activity"),
        ({"goals": [goal(target=12)]}, "runs from 0 to 10"),
        ({"goals": [goal(code="rom", component="tail")]}, "choose the movement"),
        ({"review_on": timezone.localdate() - dt.timedelta(days=1)}, "cannot be in the past"),
        ({"therapies": [{"kind": "home-exercise", "provider": "x", "frequency": "daily"}]}, "list the exercises"),
    ],
)  # fmt: skip
def test_a_bad_plan_is_refused_with_the_reason_and_nothing_saved(world, changes, message):
    with pytest.raises(ValidationError, match=message):
        plan(world, **changes)
    assert not CarePlan.objects.exists()


def test_the_plan_page_saves_goals_and_two_co_therapies(world):
    client = client_for(world.practitioner)
    data = {
        "planned_sessions": 5, "frequency": "weekly", "review_on": TOMORROW.isoformat(), "note": "",
        "goal-TOTAL_FORMS": 2, "goal-INITIAL_FORMS": 0,
        "goal-0-description": "Drive without neck pain", "goal-0-code": "psfs-activity",
        "goal-0-component": "Checking blind spot", "goal-0-target": 8, "goal-0-target_date": TOMORROW.isoformat(),
        "goal-1-description": "", "goal-1-code": "", "goal-1-target": "", "goal-1-target_date": "",
        "therapy-TOTAL_FORMS": 2, "therapy-INITIAL_FORMS": 0,
        "therapy-0-kind": "physical-therapy", "therapy-0-provider": "Paula", "therapy-0-frequency": "weekly",
        "therapy-1-kind": "home-exercise", "therapy-1-provider": "Patient", "therapy-1-frequency": "daily",
        "therapy-1-exercises": "Chin tucks: 3 x 10\\nScapular setting: 2 x 15",
    }  # fmt: skip
    data["therapy-1-exercises"] = "Chin tucks: 3 x 10\nScapular setting: 2 x 15"
    response = client.post(reverse("outcomes:plan", args=[world.episode_a.pk]), data)
    assert response.status_code == 302
    saved = CarePlan.objects.get(episode=world.episode_a)
    assert saved.goals.get().component == "Checking blind spot"
    assert saved.therapies.get(kind="home-exercise").exercises == [
        {"name": "Chin tucks", "dose": "3 x 10"},
        {"name": "Scapular setting", "dose": "2 x 15"},
    ]
    page = client.get(reverse("patients:episode", args=[world.episode_a.pk])).content.decode()
    assert "Drive without neck pain" in page and "Home exercise programme" in page


def test_a_half_filled_goal_is_an_error_by_its_fields(world):
    response = client_for(world.practitioner).post(
        reverse("outcomes:plan", args=[world.episode_a.pk]),
        {"planned_sessions": 5, "frequency": "weekly", "review_on": TOMORROW.isoformat(),
         "goal-TOTAL_FORMS": 1, "goal-INITIAL_FORMS": 0, "goal-0-description": "Walk further",
         "therapy-TOTAL_FORMS": 0, "therapy-INITIAL_FORMS": 0},
    )  # fmt: skip
    assert response.status_code == 400
    assert response.context["goal_forms"][0].errors["target"] == ["Needed for a goal."]
    assert not CarePlan.objects.exists()


# --- progress, review prompt, plan status ------------------------------------------------


def test_three_sessions_without_improvement_raise_a_review_prompt(consented_long_ago, needle):
    world = consented_long_ago
    plan(world)
    for days_ago, (before, after) in zip((21, 14, 7), ((7, 5), (7, 5), (6, 5)), strict=True):
        session_with_pain(world, needle, before, after, days_ago)
    progress = selectors.episode_progress(world.episode_a)
    assert progress.signed_sessions == 3
    assert progress.pain_change.classification == "unchanged"
    assert progress.immediate_mean == pytest.approx(-1.7, abs=0.05)
    assert progress.review_prompt.startswith("No important improvement in pain after 3 sessions")
    assert selectors.plan_status(world.episode_a, progress).status == "review-due"
    page = client_for(world.practitioner).get(
        reverse("patients:episode", args=[world.episode_a.pk])
    )
    assert "Review prompt" in page.content.decode()


def test_an_important_improvement_clears_the_prompt(consented_long_ago, needle):
    world = consented_long_ago
    for days_ago, (before, after) in zip((21, 14, 7), ((8, 6), (6, 4), (4, 3)), strict=True):
        session_with_pain(world, needle, before, after, days_ago)
    progress = selectors.episode_progress(world.episode_a)
    assert progress.pain_change.classification == "improved"
    assert progress.review_prompt is None


def test_the_clinic_sets_how_many_sessions_before_the_prompt(consented_long_ago, needle):
    world = consented_long_ago
    world.clinic_a.review_after_sessions = 5
    world.clinic_a.save()
    for days_ago in (21, 14, 7):
        session_with_pain(world, needle, 7, 6, days_ago)
    assert selectors.episode_progress(world.episode_a).review_prompt is None


def test_a_measurement_entered_in_error_leaves_the_figures(consented_long_ago, needle):
    world = consented_long_ago
    measurements.observation_add(actor=world.practitioner, episode=world.episode_a, code="nprs",
                                   value=8, timing="baseline")  # fmt: skip
    late = measurements.observation_add(actor=world.practitioner, episode=world.episode_a, code="nprs",
                                          value=2, timing="reassessment")  # fmt: skip
    assert selectors.episode_progress(world.episode_a).pain_change.classification == "improved"
    response = client_for(world.practitioner).post(
        reverse("outcomes:measurement_error", args=[late.pk]), {"reason": "Wrong patient"}
    )
    assert response.status_code == 302
    late.refresh_from_db()
    assert late.entered_in_error_reason == "Wrong patient"
    assert selectors.episode_progress(world.episode_a).pain_change is None


def test_the_measurements_page_lists_the_newest_a_page_at_a_time(consented_long_ago, needle):
    """A long course keeps the page the same size and the same queries: the newest
    measurements a page at a time, the older ones a page further, none left out."""
    world = consented_long_ago
    session_with_pain(world, needle, 7, 5, days_ago=7)
    client = client_for(world.practitioner)
    url = reverse("outcomes:measurements", args=[world.episode_a.pk])
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    added = [
        measurements.observation_add(actor=world.practitioner, episode=world.episode_a,
                                     code="nprs", value=n % 10, timing="reassessment")
        for n in range(outcome_views.MEASUREMENTS_PAGE + 5)
    ]  # fmt: skip
    with CaptureQueriesContext(connection) as many:
        first = client.get(url)
    assert len(many) == len(few)
    listed = list(first.context["page"].object_list)
    assert len(listed) == outcome_views.MEASUREMENTS_PAGE
    assert listed[0] == added[-1] and listed == sorted(listed, key=lambda o: -o.pk)
    total = world.episode_a.observations.count()
    assert f"Newest first, {total} in all." in first.content.decode()
    second = client.get(url, {"page": 2})
    rest = list(second.context["page"].object_list)
    assert len(rest) == total - outcome_views.MEASUREMENTS_PAGE
    assert {o.pk for o in listed + rest} == set(
        world.episode_a.observations.values_list("pk", flat=True)
    )
    # Marked entered in error on the second page, the clinician is back on it.
    response = client.post(
        reverse("outcomes:measurement_error", args=[added[0].pk]),
        {"reason": "Wrong patient", "page": "2"},
    )
    assert response.status_code == 302 and response["Location"] == f"{url}?page=2"
    assert "entered in error: Wrong patient" in client.get(url, {"page": 2}).content.decode()


def test_the_measurements_page_reads_its_page_in_index_order(consented_long_ago, needle):
    """The page's rows come from the episode's index in time: before, both databases sorted
    every measurement of the episode to show fifty (7 ms at 6,000 on SQLite)."""
    world = consented_long_ago
    session_with_pain(world, needle, 7, 5, days_ago=7)
    url = reverse("outcomes:measurements", args=[world.episode_a.pk])
    with captured() as statements:
        assert client_for(world.practitioner).get(url).status_code == 200
    sql, params = next(
        (sql, params) for sql, params in statements
        if sql.startswith('SELECT "outcomes_observation"')
        and 'ORDER BY "outcomes_observation"."recorded_at" DESC, "outcomes_observation"."id" DESC'
        ' LIMIT' in sql
    )  # fmt: skip
    steps = query_plan(sql, params)
    assert "observation_episode_time" in steps, steps
    assert "TEMP B-TREE" not in steps and "Sort" not in steps, steps


def test_the_improvement_band_follows_the_thresholds():
    # Farrar 2001: 2 points or 30% (2.4 from 8), whichever is reached first.
    assert improvement_band(8, "nprs", None, higher_is_better=False) == (0, 6)
    assert improvement_band(8, "nprs", "M54.2", higher_is_better=False) == (0, 6.7)
    assert improvement_band(4, "psfs", None, higher_is_better=True) == (6, 10)


# --- discharge ---------------------------------------------------------------------------


def test_discharge_summarises_and_makes_the_episode_read_only(consented_long_ago, needle):
    world = consented_long_ago
    for days_ago, (before, after) in zip((14, 7), ((8, 6), (5, 4)), strict=True):
        session_with_pain(world, needle, before, after, days_ago)
    record = services.discharge(actor=world.practitioner, episode=world.episode_a,
                                reason="goals-met", summary="Pain settled.")  # fmt: skip
    world.episode_a.refresh_from_db()
    assert world.episode_a.status == "finished" and world.episode_a.period_end
    assert record.snapshot["sessions"] == 2
    assert record.snapshot["measures"][0]["classification"] == "improved"
    refused = [
        lambda: chart_services.session_start(actor=world.practitioner, episode=world.episode_a,
                                             screening_status="unchanged", consent_confirmed=True),
        lambda: chart_services.assessment_start(actor=world.practitioner, episode=world.episode_a),
        lambda: measurements.observation_add(actor=world.practitioner, episode=world.episode_a,
                                               code="nprs", value=1, timing="reassessment"),
        lambda: plan(world),
        lambda: services.discharge(actor=world.practitioner, episode=world.episode_a,
                                   reason="other", summary="again"),
    ]  # fmt: skip
    for call in refused:
        with pytest.raises(ValidationError):
            call()
    edit = client_for(world.practitioner).post(
        reverse("patients:episode_edit", args=[world.episode_a.pk]),
        {"condition_code": "M54.2", "body_area": "neck", "referral_source": "self",
         "care_manager": world.practitioner_a.pk, "status": "active",
         "period_start": world.episode_a.period_start.isoformat()},
    )  # fmt: skip
    assert "discharged and read-only" in edit.content.decode()
    addendum = chart_services.addendum_add(actor=world.practitioner, record=record,
                                           reason="Follow-up call", text="Still well at 4 weeks.")  # fmt: skip
    assert addendum.discharge == record


@pytest.mark.django_db(transaction=True)
def test_the_discharge_page_shows_what_the_discharge_then_stores(consented_long_ago, needle):
    """The page's summary before discharge (the course as the episode page keeps it, read
    outside a transaction as a request reads it) is the one the discharge stores, and the
    one a bulk import's discharges compute."""
    world = consented_long_ago
    for days_ago, (before, after) in zip((21, 14, 7), ((8, 6), (6, 4), (4, 3)), strict=True):
        session_with_pain(world, needle, before, after, days_ago)
    measurements.observation_add(actor=world.practitioner, episode=world.episode_a,
                                 code="psfs", value=4, timing="baseline", component="walking")  # fmt: skip
    client = client_for(world.practitioner)
    url = reverse("outcomes:discharge", args=[world.episode_a.pk])
    shown = client.get(url).context["snapshot"]
    # A measure marked entered in error since the last view leaves the summary at once.
    wrong = measurements.observation_add(actor=world.practitioner, episode=world.episode_a,
                                         code="nprs", value=9, timing="reassessment")  # fmt: skip
    assert client.get(url).context["snapshot"]["measures"] != shown["measures"]
    services.observation_enter_in_error(actor=world.practitioner, observation=wrong,
                                        reason="Other patient")  # fmt: skip
    shown = client.get(url).context["snapshot"]
    bulk = selectors.discharge_snapshots([world.episode_a])[world.episode_a.pk]
    record = services.discharge(actor=world.practitioner, episode=world.episode_a,
                                reason="goals-met", summary="Pain settled.")  # fmt: skip

    def without_time(snapshot: dict) -> dict:
        return {k: v for k, v in snapshot.items() if k != "taken_at"}

    assert without_time(shown) == without_time(bulk) == without_time(record.snapshot)
    assert shown["sessions"] == 3 and len(shown["measures"]) == 2


def test_the_discharge_names_each_kind_of_adverse_event_once_with_its_count(
    consented_long_ago, needle
):
    """A long course's summary stays a summary: the same bruise after many sessions is one
    entry with its count, the most serious kind first, on the page and in the letter."""
    world = consented_long_ago
    signed = [session_with_pain(world, needle, 6, 4, days_ago) for days_ago in (21, 14, 7)]
    events = [*(("bruising", "mild", s) for s in signed), ("pain-after", "moderate", signed[1])]
    for kind, severity, session in events:
        chart_services.adverse_event_record(
            actor=world.practitioner, session=session, event_type=kind, onset="within-24h",
            severity=severity, action_taken="self-care", outcome="resolved",
            muscles=["gastrocnemius:left"],
        )  # fmt: skip
    client = client_for(world.practitioner)
    url = reverse("outcomes:discharge", args=[world.episode_a.pk])
    summary = "Pain after needling (moderate), Bruising (mild, 3 times)"
    assert summary in client.get(url).content.decode()
    record = services.discharge(actor=world.practitioner, episode=world.episode_a,
                                reason="goals-met", summary="Pain settled.")  # fmt: skip
    # The stored snapshot keeps every event; the page and the letter sum them up.
    assert len(record.snapshot["adverse_events"]) == 4
    assert summary in client.get(url).content.decode()
    letter = render_to_string(
        "documents/pdf/discharge-letter.html",
        {"snapshot": record.snapshot, "episode": world.episode_a, "discharge": record},
    )
    assert f"Adverse events: {summary}." in letter


def test_discharge_waits_for_draft_sessions(session, world):
    with pytest.raises(ValidationError, match="Sign the draft sessions"):
        services.discharge(actor=world.practitioner, episode=world.episode_a, reason="goals-met",
                           summary="Done.")  # fmt: skip


def test_the_discharge_page_records_reason_and_summary(world):
    response = client_for(world.practitioner).post(
        reverse("outcomes:discharge", args=[world.episode_a.pk]),
        {"reason": "patient-choice", "summary": "Moving away; exercise sheet given."},
        follow=True,
    )
    html = response.content.decode()
    assert "Discharged" in html and "Moving away; exercise sheet given." in html
    assert world.episode_a.__class__.objects.get(pk=world.episode_a.pk).status == "finished"


# --- dashboard pages ---------------------------------------------------------------------


@pytest.fixture
def charted(world):
    charts.build(world.practitioner, world.episode_a, signed=True)
    return world


def test_the_dashboard_page_shows_the_figures_and_links_to_patients(charted):
    client = client_for(charted.admin)
    page = client.get(reverse("outcomes:dashboard"))
    assert page.context["figures"]["sessions"] == 1
    html = page.content.decode()
    assert "Brady 2014" in html and "Boyce 2020" in html and 'class="plot"' in html
    drill = client.get(reverse("outcomes:dashboard_patients"), {"figure": "sessions"})
    assert [e.patient for e in drill.context["episodes"]] == [charted.patient_a]


def test_each_dashboard_table_downloads_as_csv(charted):
    client = client_for(charted.practitioner)
    response = client.get(reverse("outcomes:dashboard_csv", args=["muscles"]))
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [["muscle", "name", "rows", "patients"], ["soleus", "Soleus", "1", "1"]]
    for table in ("responders", "adverse-events", "sessions-per-week", "review-due"):
        assert client.get(reverse("outcomes:dashboard_csv", args=[table])).status_code == 200
    assert client.get(reverse("outcomes:dashboard_csv", args=["secrets"])).status_code == 404


def test_dashboard_filters_that_make_no_sense_are_refused(charted):
    response = client_for(charted.admin).get(
        reverse("outcomes:dashboard"), {"date_from": "2026-05-01", "date_to": "2026-01-01"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["date_to"] == ["The end date is before the start date."]


def test_the_progress_plots_are_legible_svg(consented_long_ago, needle):
    world = consented_long_ago
    measurements.observation_add(actor=world.practitioner, episode=world.episode_a, code="nprs",
                                   value=8, timing="baseline")  # fmt: skip
    for days_ago, (before, after) in zip((14, 7), ((7, 5), (5, 3)), strict=True):
        session_with_pain(world, needle, before, after, days_ago)
    html = (
        client_for(world.practitioner)
        .get(reverse("patients:episode", args=[world.episode_a.pk]))
        .content.decode()
    )
    svg = html[html.index('<svg class="plot"') :]
    svg = svg[: svg.index("</svg>")]
    assert 'aria-label="Pain before and after each needling session' in svg
    assert "viewBox" in svg and ' width="' not in svg.split(">")[0]  # scales to tablet width
    for text in ("Pain, NPRS (0-10 points)", "Session (date)", "Important improvement", "Baseline 8",
                 "Before needling", "After needling"):  # fmt: skip
        assert text in svg, text


def test_the_episode_page_draws_a_history_once_and_again_as_soon_as_a_row_changes(
    consented_long_ago, needle
):
    """The progress and its plots are kept by the rows they are drawn from: a second view
    of the same history draws nothing, and a measure corrected in place, added or entered in
    error shows on the very next view."""
    world = consented_long_ago
    for days_ago, before in ((9, 8), (2, 6)):
        session_with_pain(world, needle, before=before, after=before - 1, days_ago=days_ago)
    url = reverse("patients:episode", args=[world.episode_a.pk])
    client = client_for(world.practitioner)

    def shown_pain() -> list[float]:
        page = client.get(url)
        assert page.status_code == 200
        return [p.value for p in page.context["progress"].pain.points]

    outcome_views._drawn.cache_clear()
    assert shown_pain() == [8, 7, 6, 5]
    assert shown_pain() == [8, 7, 6, 5]
    assert outcome_views._drawn.cache_info().hits == 1
    draft, _ = chart_services.session_start(
        actor=world.practitioner, episode=world.episode_a, screening_status="unchanged",
        consent_confirmed=True, clean_technique=True,
    )  # fmt: skip

    def measure(value: int):
        return measurements.observation_add(actor=world.practitioner, episode=world.episode_a,
                                            session=draft, code="nprs", value=value,
                                            timing="before")  # fmt: skip

    today = measure(9)
    assert shown_pain() == [8, 7, 6, 5, 9]
    measure(4)  # measured again: corrected in place
    assert shown_pain() == [8, 7, 6, 5, 4]
    measurements.observation_remove(actor=world.practitioner, observation=today)
    assert shown_pain() == [8, 7, 6, 5]
    # Removed, the history is again the one first drawn: that drawing is used again.
    info = outcome_views._drawn.cache_info()
    assert (info.hits, info.misses) == (2, 3)
