"""Range of motion: every region clinicians measure, each norm sourced, found by its words."""

import importlib
import json
import re

import pytest
from pydantic import ValidationError

from needlechart import knowledge
from needlechart.knowledge import loader, schema

instruments = importlib.import_module("needlechart.knowledge.instruments")

# What clinicians measure at each region, by the words of the label.
EXPECTED = {
    "cervical spine": ["flexion", "extension", "lateral flexion", "rotation"],
    "thoracic spine": ["flexion", "extension", "lateral flexion", "rotation"],
    "lumbar spine": ["flexion", "extension", "lateral flexion", "rotation"],
    "shoulder": ["flexion", "extension", "abduction", "horizontal adduction",
                 "horizontal abduction", "lateral rotation", "medial rotation"],
    "elbow": ["flexion", "pronation", "supination"],
    "wrist": ["flexion", "extension", "radial deviation", "ulnar deviation"],
    "hip": ["flexion", "extension", "abduction", "adduction", "internal rotation",
            "external rotation"],
    "knee": ["flexion"],
    "ankle": ["dorsiflexion", "plantarflexion", "inversion", "eversion"],
}  # fmt: skip


def raw() -> dict:
    return json.loads(loader.data_text("instruments.json"))


def test_every_region_clinicians_measure_is_covered_head_to_foot():
    assert knowledge.rom_regions() == tuple(EXPECTED)
    movements = knowledge.rom_movements()
    assert [m.joint for m in movements] == sorted(
        (m.joint for m in movements), key=list(EXPECTED).index
    )
    for region, expected in EXPECTED.items():
        labels = [m.label.lower() for m in movements if m.joint == region]
        for movement in expected:
            assert any(label.endswith(" " + movement) for label in labels), (region, movement)


def test_each_movement_cites_a_declared_source_with_a_full_citation():
    data = raw()
    for entry in data["rom_movements"]:
        citation = data["sources"][entry["source"]]["citation"]
        assert re.search(r"\b(19|20)\d\d\b", citation) and len(citation) > 40, entry["code"]
        assert instruments.source(entry["source"]).citation == citation


def test_references_are_plausible_degrees_and_uncertain_norms_say_so():
    for movement in knowledge.rom_movements():
        assert 0 < movement.reference <= 180, movement.code
        if movement.reference_range:
            low, high = movement.reference_range
            assert low <= movement.reference <= high
    unconfirmed = {m.joint for m in knowledge.rom_movements() if not m.confirmed}
    # The spine, hip and knee norms were not checked against their sources.
    assert {"cervical spine", "thoracic spine", "lumbar spine", "hip", "knee"} <= unconfirmed
    assert knowledge.rom_movement("shoulder-flexion").confirmed


def test_the_reference_reads_in_words():
    rotation = knowledge.rom_movement("cervical-rotation")
    assert rotation.reference_text == "normal about 70° (60-80°)"
    assert rotation.option_label == "Cervical rotation — normal about 70° (60-80°)"
    assert knowledge.rom_movement("knee-flexion").reference_text == "normal about 135°"


@pytest.mark.parametrize(
    "text",
    ["Cervical rotation", "cervical rotation", "  CERVICAL   rotation \n", "cervical-rotation",
     "Neck rotation", "Cervical rotation — normal about 70° (60-80°)"],
)  # fmt: skip
def test_a_movement_is_found_by_its_words_or_its_code(text):
    assert knowledge.rom_movement_lookup(text) == knowledge.rom_movement("cervical-rotation")


def test_every_label_and_code_finds_its_own_movement():
    for movement in knowledge.rom_movements():
        assert knowledge.rom_movement_lookup(movement.label) is movement
        assert knowledge.rom_movement_lookup(movement.code.upper()) is movement
    assert knowledge.rom_movement_lookup("Shoulder external rotation").code == (
        "shoulder-lateral-rotation"
    )


@pytest.mark.parametrize("text", ["", "   ", "tail wag", "Cervical", "rom:cervical-rotation", None])
def test_anything_else_is_an_unknown_movement(text):
    with pytest.raises(knowledge.UnknownCode, match="unknown range-of-motion movement"):
        knowledge.rom_movement_lookup(text)


def _with(change) -> dict:
    data = raw()
    change(data["rom_movements"])
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda ms: ms[0].update(joint="tail"), "joint"),
        (lambda ms: ms[0].update(source="nobody-2020"), "cites unknown source"),
        (lambda ms: ms[0].update(reference=0), "greater than 0"),
        (lambda ms: ms[0].update(reference=90, reference_range=[60, 80]), "outside its"),
        (lambda ms: ms[0].update(reference_range=[80, 60]), "must rise"),
        (lambda ms: ms[1].update(label=ms[0]["label"].upper()), "names both"),
        (lambda ms: ms[1].update(aliases=[" neck  ROTATION"]), "names both"),
        (lambda ms: ms.append(ms.pop(0)), "by region, head to foot"),
        (lambda ms: ms[0].update(code="Cervical Flexion"), "code"),
        (lambda ms: ms[0].update(colour="red"), "colour"),
    ],
)
def test_the_loader_refuses_a_broken_movement_list(change, message):
    with pytest.raises(ValidationError, match=message):
        schema.InstrumentFile.model_validate(_with(change))


@pytest.mark.parametrize(
    ("code", "component", "words"),
    [("rom", "hip-flexion", "Hip flexion"), ("rom", "hip flexion", "Hip flexion"),
     ("mmt", "soleus", "Soleus"), ("ppt", "left calf, medial", "left calf, medial"),
     ("psfs-activity", "Running for 20 minutes", "Running for 20 minutes"), ("nprs", "", ""),
     ("rom", "retired-movement", "retired-movement")],
)  # fmt: skip
def test_what_a_measure_measured_reads_in_words(code, component, words):
    assert knowledge.component_label(code, component) == words
