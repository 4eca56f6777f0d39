import importlib
import json

import pytest

from needlechart import knowledge

module = importlib.import_module("needlechart.knowledge.instruments")


@pytest.mark.parametrize(
    ("baseline", "follow_up", "expected"),
    [(7, 4, "improved"), (7, 6, "unchanged"), (3, 6, "worse"), (4, 2, "improved"),
     (3, 1, "improved"), (0, 0, "unchanged"), (0, 3, "worse"),
     # Farrar 2001: "about two points or about 30%": either one is enough.
     (8, 6, "improved"),  # 2 points, only 25%
     (5, 3.5, "improved"),  # 30%, only 1.5 points
     (2, 1, "improved"),  # 50%, only 1 point
     (10, 8.5, "unchanged"),  # 1.5 points and 15%: neither
     (9, 7.5, "unchanged")],  # 1.5 points and 17%: neither
)  # fmt: skip
def test_nprs_change_needs_two_points_or_thirty_percent(baseline, follow_up, expected):
    result = knowledge.classify_change("nprs", baseline, follow_up)
    assert result.classification == expected
    assert result.threshold.startswith("at least 2 points or 30% of baseline")
    assert result.source == "Farrar 2001"


def test_worsening_by_the_farrar_threshold_is_marked_a_convention():
    # Farrar gives the threshold for improvement; applying it to worsening is ours.
    worse = knowledge.classify_change("nprs", 3, 6)
    assert worse.classification == "worse" and worse.confirmed is False
    assert "convention" in worse.threshold
    assert knowledge.classify_change("nprs", 6, 3).confirmed is True


def test_neck_pain_uses_its_own_smaller_nprs_threshold():
    # 1.3 points: neither 2 points nor 30% of 7, but Cleland's neck-pain threshold.
    assert knowledge.classify_change("nprs", 7, 5.7).classification == "unchanged"
    for code in ("M54.2", "M79.12"):
        neck = knowledge.classify_change("nprs", 7, 5.7, condition=code)
        assert neck.classification == "improved" and neck.source == "Cleland 2008"
    assert knowledge.classify_change("nprs", 7, 5.8, condition="M54.2").classification == (
        "unchanged"
    )


def test_the_rule_gives_the_smallest_change_that_counts():
    farrar = knowledge.change_rule("nprs")
    assert (farrar.absolute, farrar.relative, farrar.combine) == (2, 0.3, "either")
    assert knowledge.required_change(farrar, 8) == 2  # 30% of 8 is 2.4
    assert knowledge.required_change(farrar, 5) == pytest.approx(1.5)  # 30% of 5
    assert knowledge.change_rule("nprs", "M79.12").absolute == 1.3
    both = module.Threshold(absolute=2, relative=0.3, combine="both", source="convention")
    assert knowledge.required_change(both, 5) == 2 and knowledge.required_change(both, 8) == 2.4
    assert knowledge.classify_change("nprs", 5, 3.5, threshold=both).classification == ("unchanged")


def test_the_rules_list_the_condition_thresholds_first_and_the_default_last():
    rules = knowledge.change_rules("nprs")
    assert rules[-1] == ((), knowledge.instrument("nprs").important_change)
    assert rules[0][0] == ("M54.2", "M79.12") and rules[0][1].absolute == 1.3
    with pytest.raises(knowledge.InvalidInput, match="global rating"):
        knowledge.change_rules("groc")


def test_psfs_thresholds_are_labelled_detectable_change_not_important_change():
    # Stratford 1995: 2 points (mean) and 3 (one activity) are minimum detectable changes.
    for code, points in (("psfs", 2), ("psfs-activity", 3)):
        rule = knowledge.change_rule(code)
        assert (rule.absolute, rule.kind) == (points, "detectable")
        change = knowledge.classify_change(code, 3, 3 + points)
        assert change.kind == "detectable" and "detectable" in change.threshold
        assert change.as_json()["threshold_kind"] == "detectable"
    assert knowledge.classify_change("nprs", 7, 4).kind == "important"


@pytest.mark.parametrize(
    ("code", "baseline", "follow_up", "expected"),
    [("psfs", 3, 5, "improved"), ("psfs", 3, 4.5, "unchanged"), ("psfs-activity", 3, 5, "unchanged"),
     ("psfs-activity", 3, 6, "improved"), ("mmt", 3, 4, "improved"), ("mmt", 4, 3, "worse"),
     ("rom:shoulder-flexion", 120, 135, "improved"), ("rom:shoulder-flexion", 120, 125, "unchanged"),
     ("ppt", 300, 370, "improved"), ("ppt", 300, 320, "unchanged")],
)  # fmt: skip
def test_other_measures_use_their_thresholds(code, baseline, follow_up, expected):
    assert knowledge.classify_change(code, baseline, follow_up).classification == expected


def test_unconfirmed_thresholds_say_so():
    assert knowledge.classify_change("ppt", 300, 370).as_json()["threshold_confirmed"] is False
    rom = knowledge.classify_change("rom:shoulder-flexion", 120, 135)
    assert "reference 180 degrees" in rom.threshold


@pytest.mark.parametrize(
    ("code", "rating", "expected"),
    [("groc", 3, "improved"), ("groc", 2, "unchanged"), ("groc", -3, "worse"),
     ("pgic", 2, "improved"), ("pgic", 3, "unchanged"), ("pgic", 6, "worse")],
)  # fmt: skip
def test_global_ratings_classify_the_rating_itself(code, rating, expected):
    assert knowledge.classify_change(code, None, rating).classification == expected


def test_the_same_words_mean_the_same_on_both_global_ratings():
    """A label that GROC and PGIC share ("A little better", "Much worse" ...) is classified
    the same way on both scales."""
    meaning: dict[str, set[str]] = {}
    for code in ("groc", "pgic"):
        for level in knowledge.instrument(code).levels:
            result = knowledge.classify_change(code, None, level.value).classification
            meaning.setdefault(level.label.casefold(), set()).add(result)
    shared = {"a little better", "much better", "very much better", "a little worse",
              "much worse", "very much worse"}  # fmt: skip
    assert shared <= set(meaning)
    for label, results in meaning.items():
        assert len(results) == 1, (label, results)
    assert meaning["a little better"] == {"unchanged"}


def test_the_groc_cut_off_is_a_convention_and_pgic_follows_farrar():
    groc = knowledge.classify_change("groc", None, 3)
    assert groc.confirmed is False and "convention" in groc.threshold
    assert groc.source == "Clinic convention"
    pgic = knowledge.classify_change("pgic", None, 2)
    assert pgic.confirmed is True and pgic.source == "Farrar 2001"


def test_a_clinic_may_set_its_own_threshold():
    own = module.Threshold(absolute=1, source="convention", confirmed=False)
    assert knowledge.classify_change("nprs", 5, 4, threshold=own).classification == "improved"


@pytest.mark.parametrize(
    ("args", "message"),
    [(("nprs", 7, 11), "from 0 to 10"), (("nprs", None, 5), "needs a baseline"),
     (("nprs", -1, 5), "from 0 to 10"), (("shoe-size", 1, 2), "unknown instrument"),
     (("rom:tail-wag", 1, 2), "unknown range-of-motion movement")],
)  # fmt: skip
def test_values_off_the_scale_and_unknown_measures_are_refused(args, message):
    with pytest.raises((knowledge.InvalidInput, knowledge.UnknownCode), match=message):
        knowledge.classify_change(*args)


def questionnaire(**scoring) -> dict:
    """A made-up two-item questionnaire in FHIR form, as a clinic would add one."""
    weight = "http://hl7.org/fhir/StructureDefinition/itemWeight"

    def options(*pairs):
        return [{"valueCoding": {"code": c, "display": c}, "extension": [{"url": weight, "valueDecimal": w}]}
                for c, w in pairs]  # fmt: skip

    rule = {"code": "example-function", "method": "percent", "higherIs": "worse",
            "importantChange": 10, "source": "Example licence holder's scoring manual, 2024."}  # fmt: skip
    rule.update(scoring)
    return {
        "resourceType": "Questionnaire",
        "id": "example-function",
        "title": "Example function questionnaire",
        "status": "active",
        "extension": [{
            "url": module.SCORING_URL,
            "extension": [{"url": k, ("valueDecimal" if isinstance(v, int | float) else "valueString"): v}
                          for k, v in rule.items()],
        }],
        "item": [
            {"linkId": "1", "text": "Item one", "type": "choice", "answerOption": options(("a", 0), ("b", 1), ("c", 2))},
            {"linkId": "2", "text": "Item two", "type": "choice", "answerOption": options(("a", 0), ("b", 2))},
        ],
    }  # fmt: skip


@pytest.fixture
def clean_registry():
    yield
    module._questionnaires.clear()


def test_a_clinic_questionnaire_loads_scores_and_classifies_without_code_changes(
    tmp_path, clean_registry
):
    (tmp_path / "example.json").write_text(json.dumps(questionnaire()))
    [entry] = knowledge.load_questionnaires(tmp_path)
    assert entry.code == "example-function" and entry.unit == "%"
    assert knowledge.instrument("example-function") == entry
    assert knowledge.score_questionnaire("example-function", {"1": "c", "2": "b"}) == 100.0
    assert knowledge.score_questionnaire("example-function", {"1": "b", "2": "a"}) == 25.0
    change = knowledge.classify_change("example-function", 75, 25)
    assert change.classification == "improved"
    assert change.source == "Example function questionnaire"


@pytest.mark.parametrize(
    ("answers", "message"),
    [({"1": "a"}, "unanswered items 2"), ({"1": "z", "2": "a"}, "item 1 has no answer 'z'")],
)
def test_incomplete_or_unknown_answers_are_refused(answers, message, clean_registry):
    knowledge.load_questionnaire(questionnaire())
    with pytest.raises(knowledge.InvalidInput, match=message):
        knowledge.score_questionnaire("example-function", answers)


def test_a_questionnaire_without_scoring_or_weights_is_rejected_clearly(clean_registry):
    broken = questionnaire()
    broken["extension"] = []
    with pytest.raises(knowledge.KnowledgeDataError, match="scoring extension"):
        knowledge.load_questionnaire(broken)
    unweighted = questionnaire()
    unweighted["item"][0]["answerOption"][0]["extension"] = []
    with pytest.raises(knowledge.KnowledgeDataError, match="without a code and weight"):
        knowledge.load_questionnaire(unweighted)
    shadowing = questionnaire(code="nprs")
    with pytest.raises(knowledge.KnowledgeDataError, match="built-in"):
        knowledge.load_questionnaire(shadowing)
