"""The dashboard page reuses its figures between views only while nothing they read has
changed. Each change below goes around the services (the ORM or raw SQL, as the shell or a
script would), so only the database's marks can tell the dashboard; after it, the page shows
what a fresh computation from the charts gives."""

import datetime as dt
from collections.abc import Callable

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from needlechart.accounts.models import Clinic, Practitioner, User
from needlechart.charting.models import (
    Addendum,
    AdverseEvent,
    AdverseEventFollowUp,
    NeedlingSession,
)
from needlechart.outcomes import dashboard
from needlechart.outcomes.models import Observation
from needlechart.patients.models import EpisodeOfCare, Patient
from tests.conftest import client_for
from tests.outcomes.conftest import TODAY
from tests.outcomes.test_dashboard import _compare, recompute
from tests.outcomes.test_episode_summary import _records


@pytest.fixture(autouse=True)
def on_the_demos_day():
    with time_machine.travel(dt.datetime.combine(TODAY, dt.time(12), tzinfo=dt.UTC), tick=False):
        yield


def _view(client, query: str = "") -> dict:
    response = client.get(reverse("outcomes:dashboard") + query)
    assert response.status_code == 200
    return response.context["figures"]


def _fresh(clinic: Clinic, practitioner: Practitioner | None = None) -> dict:
    clinic.refresh_from_db()
    return dashboard.figures(dashboard.Filters(clinic=clinic, practitioner=practitioner))


def _signed(clinic: Clinic) -> NeedlingSession:
    return (
        NeedlingSession.objects.filter(episode__patient__clinic=clinic, signed_at__isnull=False)
        .exclude(addenda__kind="entered-in-error")
        .latest("performed_at")
    )


def _reviewed_episode(figures: dict) -> EpisodeOfCare:
    return EpisodeOfCare.objects.get(pk=figures["review_due"][0]["episode"])


def add_adverse_event(clinic: Clinic, figures: dict) -> None:
    event = AdverseEvent.objects.filter(
        session__episode__patient__clinic=clinic, entered_in_error_reason=""
    ).first()
    event.pk, event.session = None, _signed(clinic)
    event.severity = "mild"
    event.save()


def enter_adverse_event_in_error(clinic: Clinic, figures: dict) -> None:
    event = AdverseEvent.objects.filter(
        session__episode__patient__clinic=clinic, entered_in_error_reason="", follow_ups=None
    ).first()
    AdverseEvent.objects.filter(pk=event.pk).update(entered_in_error_reason="Wrong patient.")


def grade_again_in_follow_up(clinic: Clinic, figures: dict) -> None:
    event = AdverseEvent.objects.filter(
        session__episode__patient__clinic=clinic, entered_in_error_reason="", severity="mild",
        follow_ups=None,
    ).first()  # fmt: skip
    AdverseEventFollowUp.objects.create(
        event=event, severity="moderate", action_taken=event.action_taken, outcome=event.outcome,
        recorded_by=User.objects.get(username="demo-practitioner"),
    )  # fmt: skip


def plan_review_passes(clinic: Clinic, figures: dict) -> None:
    listed = {row["episode"] for row in figures["review_due"]}
    episode = (
        EpisodeOfCare.objects.filter(
            patient__clinic=clinic, status="active", care_plans__isnull=False
        )
        .exclude(pk__in=listed)
        .first()
    )
    plan = episode.care_plans.order_by("-version").first()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO outcomes_careplan (episode_id, version, planned_sessions, frequency,"
            " review_on, note, created_by_id, created_at)"
            " SELECT episode_id, version + 1, planned_sessions, frequency, %s, note,"
            " created_by_id, created_at FROM outcomes_careplan WHERE id = %s",
            [TODAY - dt.timedelta(days=3), plan.pk],
        )


def discharge_a_listed_episode(clinic: Clinic, figures: dict) -> None:
    EpisodeOfCare.objects.filter(pk=_reviewed_episode(figures).pk).update(status="finished")


def rename_a_listed_patient(clinic: Clinic, figures: dict) -> None:
    Patient.objects.filter(pk=_reviewed_episode(figures).patient_id).update(family_name="Renamed")


def change_a_condition(clinic: Clinic, figures: dict) -> None:
    episode = EpisodeOfCare.objects.filter(patient__clinic=clinic, summary__responder=True).first()
    other = "M79.1" if episode.condition_code != "M79.1" else "M54.2"
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE patients_episodeofcare SET condition_code = %s WHERE id = %s",
            [other, episode.pk],
        )


def enter_a_session_in_error(clinic: Clinic, figures: dict) -> None:
    Addendum.objects.create(
        session=_signed(clinic), kind="entered-in-error", reason="Charted on the wrong patient.",
        author=User.objects.get(username="demo-practitioner"),
    )  # fmt: skip


def measure_pain(clinic: Clinic, figures: dict) -> None:
    episode = EpisodeOfCare.objects.filter(
        patient__clinic=clinic, summary__evaluable=True, summary__responder=False
    ).first()
    Observation.objects.create(
        episode=episode, code="nprs", value=0, timing="reassessment",
        recorded_by=User.objects.get(username="demo-practitioner"), recorded_at=timezone.now(),
    )  # fmt: skip


def move_the_clinic_to_another_zone(clinic: Clinic, figures: dict) -> None:
    # Eleven hours behind UTC: a Monday morning's sessions fall on the Sunday before.
    Clinic.objects.filter(pk=clinic.pk).update(timezone="Pacific/Pago_Pago")


CHANGES: list[Callable[[Clinic, dict], None]] = [
    move_the_clinic_to_another_zone,
    add_adverse_event,
    enter_adverse_event_in_error,
    grade_again_in_follow_up,
    plan_review_passes,
    discharge_a_listed_episode,
    rename_a_listed_patient,
    change_a_condition,
    enter_a_session_in_error,
    measure_pain,
]


@pytest.mark.parametrize("change", CHANGES, ids=[c.__name__ for c in CHANGES])
def test_after_any_change_the_page_shows_fresh_figures(demo, change):
    clinic, _ = demo
    client = client_for(User.objects.get(username="demo-practitioner"))
    before = _view(client)
    assert _view(client) is before  # nothing changed: the figures of the last view
    change(clinic, before)
    after = _view(client)
    assert after != before  # the change shows on the dashboard
    assert after == _fresh(clinic)
    # And equal to the figures worked out from the charts alone, none of the kept summaries.
    _compare(after, recompute(_records(clinic), dashboard.Filters(clinic=clinic),
                              clinic.review_after_sessions))  # fmt: skip


def test_a_new_care_manager_shows_in_the_practitioners_view(demo):
    clinic, _ = demo
    chiro = Practitioner.objects.get(user__username="demo-chiro")
    client = client_for(User.objects.get(username="demo-practitioner"))
    query = f"?practitioner={chiro.pk}"
    before = _view(client, query)
    listed = {row["episode"] for row in before["review_due"]}
    episode = (
        EpisodeOfCare.objects.filter(patient__clinic=clinic, status="active")
        .exclude(care_manager=chiro)
        .exclude(pk__in=listed)
        .filter(
            summary__signed_sessions__gte=clinic.review_after_sessions, summary__responder=False
        )
        .first()
    )
    EpisodeOfCare.objects.filter(pk=episode.pk).update(care_manager=chiro)
    after = _view(client, query)
    assert episode.pk in {row["episode"] for row in after["review_due"]}
    assert after == _fresh(clinic, chiro)


def test_the_clinics_settings_and_the_day_are_part_of_what_is_kept(demo):
    clinic, _ = demo
    client = client_for(User.objects.get(username="demo-practitioner"))
    before = _view(client)
    Clinic.objects.filter(pk=clinic.pk).update(review_after_sessions=50)
    more_sessions = _view(client)
    assert more_sessions != before and more_sessions == _fresh(clinic)
    with time_machine.travel(
        dt.datetime.combine(TODAY + dt.timedelta(days=400), dt.time(12), tzinfo=dt.UTC), tick=False
    ):
        # Signed in again: a session ends within the day.
        client = client_for(User.objects.get(username="demo-practitioner"))
        a_year_on = _view(client)
        assert a_year_on is not more_sessions
        assert a_year_on == dashboard.figures(dashboard.Filters(clinic=clinic))


def test_a_view_with_nothing_changed_reads_no_figure_again(demo):
    """The second view runs one query for the marks in place of the figures' queries."""
    client = client_for(User.objects.get(username="demo-practitioner"))
    with CaptureQueriesContext(connection) as first:
        _view(client)
    with CaptureQueriesContext(connection) as second:
        _view(client)
    # A fresh view reads the figures from the kept summaries (its weeks, muscles, pain
    # change); the second reads their marks only.
    figure_tables = ('"outcomes_episodesummary"."weeks"', '"outcomes_episodesummary"."needled"',
                     '"outcomes_episodesummary"."responder"')  # fmt: skip
    assert any(t in q["sql"] for q in first.captured_queries for t in figure_tables)
    assert not any(t in q["sql"] for q in second.captured_queries for t in figure_tables)
    assert len(second) < len(first)


def sign_the_first_session_of_an_episode(clinic: Clinic, figures: dict) -> None:
    """A new episode gets a signed session, written as a script would: it comes into
    scope."""
    import copy

    from needlechart.patients import services as patients

    practitioner = User.objects.get(username="demo-practitioner")
    outside = patients.episode_create(
        actor=practitioner, patient=Patient.objects.filter(clinic=clinic).first(),
        condition_code="M54.2", referral_source="self", care_manager=practitioner.practitioner,
    )  # fmt: skip
    signed = copy.copy(_signed(clinic))
    signed.pk, signed.episode = None, outside
    NeedlingSession.objects.bulk_create([signed])


SCOPE_CHANGES = [
    sign_the_first_session_of_an_episode, enter_a_session_in_error, discharge_a_listed_episode,
    change_a_condition, measure_pain,
]  # fmt: skip


@pytest.mark.parametrize("change", SCOPE_CHANGES, ids=[c.__name__ for c in SCOPE_CHANGES])
def test_a_drilldown_of_the_whole_history_lists_the_episodes_of_its_sessions(demo, change):
    """Over the whole history a figure's list reads an episode's scope from its kept summary;
    after a change made around the services it lists what the sessions themselves give (a
    period wider than the history reads them)."""
    clinic, _ = demo
    whole = dashboard.Filters(clinic=clinic)
    since_ever = dashboard.Filters(clinic=clinic, date_from=dt.date(1900, 1, 1))
    dashboard.drilldown(whole, "episodes", today=TODAY)  # the summaries are current
    change(clinic, _fresh(clinic))
    for figure in ("episodes", "active", "evaluated", "responders"):
        listed = list(dashboard.drilldown(whole, figure, today=TODAY).values_list("pk", flat=True))
        expected = dashboard.drilldown(since_ever, figure, today=TODAY)
        assert listed == list(expected.values_list("pk", flat=True)), figure
        assert listed or figure == "responders", figure
