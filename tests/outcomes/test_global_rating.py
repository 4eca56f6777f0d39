"""The global rating of change on the episode page: its latest value in numbers and words."""

import datetime as dt

import pytest
from django.template import Context, Template
from django.urls import reverse

from needlechart.outcomes.models import Observation
from needlechart.outcomes.views import progress_context
from tests.conftest import client_for

# What episode_detail.html shows in the "Latest" cell of each global rating.
RATING_ROW = (
    "{% for series, change in progress.ratings %}[{{ series.label }}: {{ series|latest_rating }}]"
    "{% endfor %}"
)


@pytest.fixture
def rated(world):
    for days_ago, value in ((20, 2), (6, 4)):
        Observation.objects.create(
            episode=world.episode_a, code="groc", timing="reassessment", value=value,
            recorded_by=world.practitioner,
            recorded_at=dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC) - dt.timedelta(days=days_ago),
        )  # fmt: skip
    Observation.objects.create(
        episode=world.episode_a, code="pgic", timing="discharge", value=2,
        recorded_by=world.practitioner, recorded_at=dt.datetime(2026, 11, 29, 9, tzinfo=dt.UTC),
    )  # fmt: skip
    return world


def test_the_latest_global_rating_reads_as_a_number_in_words_with_its_date(rated):
    shown = Template(RATING_ROW).render(Context(progress_context(rated.episode_a)))
    assert "Point(" not in shown
    assert "[Global rating of change (GROC): +4 Moderately better (2026-11-24)]" in shown
    assert "[Patient global impression of change (PGIC): 2 Much better (2026-11-29)]" in shown


def test_a_rating_without_points_shows_nothing(rated):
    assert Template("{{ series|latest_rating }}").render(Context({"series": None})) == ""


def test_the_episode_page_shows_the_latest_global_rating_in_words(rated):
    page = client_for(rated.practitioner).get(
        reverse("patients:episode", args=[rated.episode_a.pk])
    )
    html = page.content.decode()
    assert "Point(" not in html
    assert "+4 Moderately better (2026-11-24)" in html
