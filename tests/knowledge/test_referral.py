import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from needlechart import knowledge
from needlechart.knowledge.referral import _zones

REGION_IDS = sorted(r.id for r in knowledge.regions())


def names(candidates, top=None) -> list[str]:
    return [c.muscle for c in candidates[:top]]


# Vignettes: typical patterns from the trigger-point literature.
@pytest.mark.parametrize(
    ("pain", "expected"),
    [
        (["elbow-lateral-right"], {"extensor-carpi-radialis-longus", "supinator", "brachioradialis", "triceps-brachii"}),
        (["temple-left"], {"upper-trapezius", "temporalis", "suboccipitals"}),
        (["heel-right"], {"soleus", "quadratus-plantae", "abductor-hallucis"}),
        (["buttock-left", "thigh-posterior-left"], {"gluteus-minimus", "piriformis"}),
        (["hip-lateral-right", "thigh-lateral-right"], {"gluteus-minimus", "tensor-fasciae-latae", "vastus-lateralis"}),
        (["shoulder-anterior-left"], {"infraspinatus", "biceps-brachii", "pectoralis-major", "deltoid"}),
        (["low-back-right", "buttock-right"], {"quadratus-lumborum", "iliocostalis-lumborum", "gluteus-medius"}),
    ],
)  # fmt: skip
def test_vignettes_bring_up_the_muscles_the_literature_points_to(pain, expected):
    ranked = knowledge.rank_muscles(pain, top=12)
    assert expected <= set(names(ranked))


def test_pain_on_one_side_points_to_muscles_of_that_side():
    ranked = knowledge.rank_muscles(["temple-right"])
    assert {c.side for c in ranked} == {"right"}


def test_midline_pain_lists_a_muscle_once_for_either_side():
    ranked = knowledge.rank_muscles(["sacral"], top=None)
    assert ranked and all(c.side is None for c in ranked)
    assert len(names(ranked)) == len(set(names(ranked)))


def test_a_region_without_its_side_matches_either_side_once():
    ranked = knowledge.rank_muscles(["temple"], top=None)
    assert all(c.side is None for c in ranked)
    assert "upper-trapezius" in names(ranked)


def test_main_zone_matches_outrank_spillover_matches():
    ranked = knowledge.rank_muscles(["temple-right"], top=None)
    scores = {c.muscle: c.score for c in ranked}
    assert scores["upper-trapezius"] > scores["sternocleidomastoid"]  # SCM: temple is spillover


def test_more_intense_pain_weighs_more():
    heel = {
        c.muscle: c.score
        for c in knowledge.rank_muscles({"heel-right": 9, "calf-right": 1}, top=None)
    }
    calf = {
        c.muscle: c.score
        for c in knowledge.rank_muscles({"heel-right": 1, "calf-right": 9}, top=None)
    }
    # Abductor hallucis covers the heel only, gastrocnemius the calf only.
    assert heel["abductor-hallucis"] > heel["gastrocnemius"]
    assert calf["gastrocnemius"] > calf["abductor-hallucis"]


def test_the_reasons_say_which_zone_matched_and_which_side():
    top = knowledge.rank_muscles(["temple-right"], top=None)
    trapezius = next(c for c in top if c.muscle == "upper-trapezius")
    assert trapezius.reasons == (
        "Temple (right) lies in the typical main referral zone of the right upper trapezius.",
    )
    assert trapezius.as_json()["matched"] == ["temple-right"]


def test_an_unknown_region_is_an_error_naming_it():
    with pytest.raises(knowledge.UnknownCode, match="'nose-left'"):
        knowledge.rank_muscles(["temple-left", "nose-left"])


@pytest.mark.parametrize("bad", [{"temple-left": 11}, {"temple-left": -1}])
def test_an_intensity_outside_0_to_10_is_refused(bad):
    with pytest.raises(knowledge.InvalidInput, match="0-10"):
        knowledge.rank_muscles(bad)


def test_no_regions_give_no_candidates():
    assert knowledge.rank_muscles([]) == []
    assert knowledge.rank_muscles({"temple-left": 0}) == []


pains = st.dictionaries(
    st.sampled_from(REGION_IDS), st.one_of(st.none(), st.integers(1, 10)), max_size=6
)


@settings(max_examples=150, deadline=None)
@given(pains, st.one_of(st.none(), st.integers(1, 30)))
def test_ranking_is_deterministic_sorted_and_never_lists_an_unmatched_muscle(pain, top):
    regions = {k: v for k, v in pain.items() if v is not None} if any(pain.values()) else list(pain)
    first = knowledge.rank_muscles(regions, top=top)
    assert first == knowledge.rank_muscles(regions, top=top)
    assert top is None or len(first) <= top
    scores = [c.score for c in first]
    assert scores == sorted(scores, reverse=True)
    for candidate in first:
        assert candidate.matched, candidate
        assert 0 < candidate.score <= 1
        zones = _zones(candidate.muscle)
        for name in candidate.matched:
            assert name in pain
            assert knowledge.region(name).base in zones
            side = knowledge.region(name).side
            entry = knowledge.muscle(candidate.muscle)
            kind = zones[knowledge.region(name).base]
            bilateral = entry.referral.bilateral and kind != "local"
            if side and candidate.side and not bilateral:
                assert side == candidate.side


def test_the_same_pain_on_both_sides_lists_each_muscle_once_for_both_sides():
    ranked = knowledge.rank_muscles(["low-back-left", "low-back-right"], top=None)
    assert len(names(ranked)) == len(set(names(ranked)))
    quadratus = next(c for c in ranked if c.muscle == "quadratus-lumborum")
    assert quadratus.side is None and quadratus.score == 1.0
    assert any("left quadratus" in r for r in quadratus.reasons)
    assert any("right quadratus" in r for r in quadratus.reasons)


def test_at_equal_scores_muscles_lying_under_the_pain_come_first():
    ranked = knowledge.rank_muscles(["low-back-left"], top=4)
    assert all("low-back" in knowledge.muscle(c.muscle).needling_regions for c in ranked)
    assert "quadratus-lumborum" in names(ranked)


def test_a_region_given_with_and_without_its_side_is_refused_as_overlapping():
    with pytest.raises(knowledge.InvalidInput, match="overlaps"):
        knowledge.rank_muscles(["temple", "temple-right"])


def test_chest_pain_carries_a_warning_to_rule_out_other_causes_first():
    from needlechart.knowledge.referral import warnings_for

    assert warnings_for(["chest-left"]) == [
        "Chest pain can come from the heart, lungs or other organs: rule these out before "
        "treating it as muscular."
    ]
    assert warnings_for(["calf-left"]) == []
