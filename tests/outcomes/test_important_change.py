"""The NPRS important change as Farrar 2001 states it (2 points or 30%), and Cleland 2008's 1.3
points for neck pain, applied the same way by the episode's progress, the dashboard's SQL and
the plots: one rule, from the knowledge package."""

import datetime as dt
from decimal import Decimal

import pytest

from needlechart import knowledge
from needlechart.outcomes import dashboard, plots
from needlechart.outcomes.models import Observation
from needlechart.outcomes.progress import Point, Series, progress
from needlechart.patients.models import EpisodeOfCare
from tests import factories

START = dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC)
# (condition, baseline, latest, classification by the source's rule)
CASES = [
    ("M54.50", 8, 6, "improved"),  # 2 points, 25%
    ("M54.50", 5, 3.5, "improved"),  # 30%, 1.5 points
    ("M54.50", 2, 1, "improved"),  # 50%, 1 point
    ("M54.50", 7, 4, "improved"),  # both
    ("M54.50", 10, 8.5, "unchanged"),  # neither
    ("M54.50", 7, 5.7, "unchanged"),  # 1.3 points is not enough for low back pain ...
    ("M54.2", 7, 5.7, "improved"),  # ... but is for neck pain (Cleland 2008)
    ("M79.12", 7, 5.7, "improved"),  # and myalgia of the neck muscles
    ("M79.12", 7, 5.8, "unchanged"),
    ("M54.50", 3, 6, "worse"),
    ("M54.50", 6, 6, "unchanged"),
]


def observation(value, timing: str, days: int, pk: int = 0, **fields) -> Observation:
    return Observation(
        pk=pk or None, code="nprs", component="", side="", timing=timing, value=Decimal(str(value)),
        recorded_at=START + dt.timedelta(days=days), **fields,
    )  # fmt: skip


@pytest.mark.parametrize(("condition", "baseline", "latest", "expected"), CASES)
def test_the_episode_progress_classifies_pain_by_the_source_rule(
    condition, baseline, latest, expected
):
    result = progress(
        condition=condition,
        observations=[
            observation(baseline, "baseline", 0, 1),
            observation(latest, "before", 14, 2),
        ],
        signed_sessions=3,
        review_after=3,
    )
    assert result.pain_change.classification == expected
    assert result.pain_change == knowledge.classify_change(
        "nprs", baseline, latest, condition=condition
    )
    # The review prompt follows the same rule.
    assert (result.review_prompt is None) == (expected == "improved")


def test_the_dashboard_sql_counts_the_same_responders_as_the_knowledge_rule(world):
    episodes = {}
    for number, (condition, baseline, latest, expected) in enumerate(CASES):
        patient = factories.patient(world.clinic_a)
        episode = factories.episode(patient, world.practitioner_a, condition_code=condition)
        for value, timing, days in ((baseline, "baseline", 0), (latest, "reassessment", 21)):
            Observation.objects.create(
                episode=episode, code="nprs", timing=timing, value=Decimal(str(value)),
                recorded_by=world.practitioner, recorded_at=START + dt.timedelta(days=days),
            )  # fmt: skip
        episodes[episode.pk] = (number, expected)
    change = dashboard.PainChange.of(EpisodeOfCare.objects.filter(pk__in=episodes))
    evaluable = set(
        EpisodeOfCare.objects.filter(pk__in=change.episode_ids("evaluable")).values_list(
            "pk", flat=True
        )
    )
    responders = set(
        EpisodeOfCare.objects.filter(pk__in=change.episode_ids("responder")).values_list(
            "pk", flat=True
        )
    )
    assert evaluable == set(episodes)
    for episode_id, (number, expected) in episodes.items():
        assert (episode_id in responders) == (expected == "improved"), CASES[number]


def test_the_dashboard_says_which_rule_a_responder_met():
    rule = dashboard.responder_rule()
    assert "at least 2 points or 30% of baseline (Farrar 2001)" in rule
    assert "1.3 points (Cleland 2008) for M54.2, M79.12" in rule


def test_the_dashboard_sets_boyces_published_rate_beside_the_clinics():
    boyce = dashboard.literature()["boyce-2020"]
    assert boyce["minor_per_100"] == 36.7  # as published, not 7,531 / 20,464
    assert boyce["minor_ci"][0] < 36.7 < boyce["minor_ci"][1]
    assert "20,494" in boyce["note"]


@pytest.mark.parametrize(
    ("baseline", "condition", "band_top"),
    [(8, "M54.50", 6), (5, "M54.50", 3.5), (10, "M54.50", 8), (2, "M54.50", 1.4),
     (7, "M54.2", 5.7), (7, "M79.12", 5.7), (7, "M54.50", 5)],
)  # fmt: skip
def test_the_pain_plot_band_starts_where_the_rule_is_met(baseline, condition, band_top):
    low, high = plots.improvement_band(baseline, "nprs", condition, higher_is_better=False)
    assert low == 0 and high == pytest.approx(band_top)
    # A value on the band's edge is an improvement, one just above it is not.
    assert knowledge.classify_change(
        "nprs", baseline, high, condition=condition
    ).classification == ("improved")
    assert (
        knowledge.classify_change("nprs", baseline, high + 0.05, condition=condition).classification
        != "improved"
    )


def _series(code: str, values: list[float]) -> Series:
    series = Series(code, "Lifting my child" if code.startswith("psfs") else "", "")
    for number, value in enumerate(values):
        timing = "baseline" if number == 0 else "reassessment"
        series.points.append(
            Point(START + dt.timedelta(days=7 * number), value, timing, number, None)
        )
    return series


def test_the_psfs_plot_calls_its_band_detectable_not_important():
    svg = plots.measure_plot(_series("psfs-activity", [3, 5, 7]), "M54.50")
    assert "Detectable improvement" in svg and "Important improvement" not in svg
    assert plots.band_label("psfs", None) == "Detectable improvement"
    assert plots.band_label("nprs", None) == "Important improvement"
    low, high = plots.improvement_band(3, "psfs-activity", None, higher_is_better=True)
    assert (low, high) == (6, 10)  # 3 points, Stratford's detectable change for one activity
