"""Screen-first prompts: causes other than muscle to rule out, raised by the marked regions."""

import importlib
import json

import pytest

from needlechart import knowledge
from needlechart.knowledge.loader import data_text
from needlechart.knowledge.schema import ScreenFirstFile

# The package exports the function under the module's name; the module itself, for its loader.
module = importlib.import_module("needlechart.knowledge.screen_first")


def codes(regions) -> list[str]:
    return [w.code for w in knowledge.screen_first(regions)]


# Each prompt both ways: the regions that must raise it, and a neighbour that must not.
@pytest.mark.parametrize(
    ("code", "raising", "neighbours", "words", "source"),
    [
        ("headache", ["temple-left", "forehead-right", "vertex", "occiput-left", "eye-right"],
         ["jaw-left", "neck-posterior-right", "cheek-left"], ["thunderclap", "neurological", "fever"], "do-2019"),
        ("chest", ["chest-left", "chest-lateral-right"],
         ["shoulder-anterior-left", "interscapular-left"], ["heart", "lungs"], "gulati-2021"),
        ("abdomen", ["abdomen-right"], ["low-back-right", "chest-lateral-left"], ["organs", "hernia", "aneurysm"], "goodman-2018"),
        ("low-back", ["low-back-left", "sacral"], ["thoracic-left", "buttock-right"],
         ["cauda equina", "aortic aneurysm", "kidney"], "finucane-2020"),
        ("groin", ["groin-left"], ["thigh-medial-left", "hip-lateral-left"], ["hernia", "hip"], "weir-2015"),
        ("calf", ["calf-right", "knee-posterior-left"], ["leg-anterior-right", "heel-left", "thigh-posterior-right"],
         ["deep vein thrombosis", "do not needle"], "nice-ng158-2020"),
    ],
)  # fmt: skip
def test_each_prompt_is_raised_by_its_regions_and_not_by_their_neighbours(
    code, raising, neighbours, words, source
):
    for region_id in raising:
        assert code in codes([region_id]), region_id
    for region_id in neighbours:
        assert code not in codes([region_id]), region_id
    (prompt,) = [p for p in knowledge.screen_first_prompts() if p.code == code]
    text = " ".join([prompt.text, *prompt.signs]).lower()
    for word in words:
        assert word in text, word
    assert source in prompt.sources


def test_a_prompt_is_listed_once_with_every_region_that_raised_it():
    (chest,) = knowledge.screen_first(["chest-left", "chest-lateral-left", "chest-right"])
    assert chest.regions == ("chest-left", "chest-lateral-left", "chest-right")
    assert chest.as_json()["region_labels"] == [
        "Chest (left)", "Side of the chest (left)", "Chest (right)",
    ]  # fmt: skip


def test_prompts_come_head_to_foot_whatever_the_order_of_the_regions():
    assert codes(["calf-left", "groin-left", "low-back-left", "abdomen-left", "chest-left",
                  "temple-left"]) == ["headache", "chest", "abdomen", "low-back", "groin", "calf"]  # fmt: skip


def test_a_region_without_its_side_raises_the_prompt_and_says_so():
    (calf,) = knowledge.screen_first(["calf"])
    assert calf.as_json()["region_labels"] == ["Calf (side not stated)"]


def test_an_unknown_region_is_refused_by_name():
    with pytest.raises(knowledge.UnknownCode, match="'nose-left'"):
        knowledge.screen_first(["chest-left", "nose-left"])


def test_muscle_regions_without_a_red_flag_raise_nothing():
    assert codes(["elbow-lateral-right", "shoulder-top-left", "foot-plantar-right"]) == []


def test_every_prompt_cites_declared_sources_spelled_out_in_json():
    data = ScreenFirstFile.model_validate_json(data_text("screen_first.json"))
    assert data.version
    for prompt in data.prompts:
        assert prompt.signs and prompt.text
        for key in prompt.sources:
            assert data.sources[key].short, key
    (low_back,) = knowledge.screen_first(["low-back-left"])
    cited = low_back.as_json()["sources"]
    assert cited[0]["key"] == "finucane-2020"
    assert "J Orthop Sports Phys Ther 2020;50(7):350-372" in cited[0]["citation"]
    assert low_back.cited == "Finucane 2020; Goodman 2018"


def test_a_prompt_citing_an_undeclared_source_fails_to_load():
    data = json.loads(data_text("screen_first.json"))
    data["prompts"][0]["sources"] = ["made-up-2030"]
    with pytest.raises(ValueError, match="made-up-2030"):
        ScreenFirstFile.model_validate(data)


def test_a_prompt_naming_an_unknown_region_fails_to_load(monkeypatch):
    data = json.loads(data_text("screen_first.json"))
    data["prompts"][0]["regions"].append("nose")
    monkeypatch.setattr(module, "load", lambda *_: ScreenFirstFile.model_validate(data))
    module._file.cache_clear()
    try:
        with pytest.raises(knowledge.KnowledgeDataError, match="unknown region 'nose'"):
            knowledge.screen_first(["chest-left"])
    finally:
        module._file.cache_clear()
