"""`needlechart screen` with the factors, details and electrical-stimulation pairs of the
second edition, run as a user runs it."""

import json
from pathlib import Path

import pytest

from tests.reference.test_commands import run, write

NEW_FACTORS = [
    {"code": "lymphedema-risk", "limb": "arm", "side": "right"},
    {"code": "malignancy", "regions": ["thigh-anterior-left"], "detail": "sarcoma"},
    {"code": "anticoagulant", "drug": "warfarin", "drug_class": "vitamin-k-antagonist",
     "inr": 3.6, "inr_target": [2.0, 3.0]},
    {"code": "bleeding-disorder", "severity": "severe", "platelets": 40},
    {"code": "impaired-sensation", "regions": ["foot-plantar-left"]},
    {"code": "dvt", "limb": "leg", "side": "right", "status": "treated"},
    {"code": "pregnancy", "trimester": 2},
    {"code": "latex-or-antiseptic-allergy", "detail": "chlorhexidine"},
    {"code": "pacemaker", "side": "left"},
    {"code": "breast-implant", "side": "left"},
    {"code": "low-body-mass"},
    {"code": "fainting-history"},
    {"code": "psychological"},
]  # fmt: skip
PLAN = [
    {"muscle": "pectoralis-major", "side": "left", "technique": "dry-needling"},
    {"muscle": "lumbar-multifidus", "side": "left", "technique": "electrical-stimulation",
     "lead_to": {"muscle": "lumbar-multifidus", "side": "right"}},
    {"muscle": "gastrocnemius", "side": "left", "technique": "electrical-stimulation"},
]  # fmt: skip


def test_screen_json_answers_every_new_factor_and_the_lead_path(tmp_path):
    result = run(
        "screen", "--factors", write(tmp_path, "f.json", {"factors": NEW_FACTORS}),
        "--plan", write(tmp_path, "p.json", {"items": PLAN}), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    patient = {r["code"] for r in data["patient"]["reasons"]}
    assert {f["code"] for f in NEW_FACTORS} <= patient
    assert {"anticoagulant-inr-above", "bleeding-disorder-severe"} <= patient
    chest, spine, calf = data["items"]
    assert {"breast-implant-area", "pacemaker-area", "low-body-mass"} <= {
        r["code"] for r in chest["reasons"]
    }
    assert spine["lead_to"] == {"muscle": "lumbar-multifidus", "side": "right"}
    assert spine["verdict"] == "contraindicated"
    assert "estim-path-spinal-cord" in {r["code"] for r in spine["reasons"]}
    # A pacemaker bars every electrical stimulation; no pair recorded is a note.
    assert calf["verdict"] == "contraindicated"
    assert "estim-path-no-lead" in {n["code"] for n in calf["notes"]}


def test_screen_without_json_names_the_pair(tmp_path):
    plan = [PLAN[1]]
    result = run(
        "screen", "--factors", write(tmp_path, "f.json", {"factors": []}),
        "--plan", write(tmp_path, "p.json", {"items": plan}),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (
        "lumbar-multifidus left, electrical-stimulation paired with lumbar-multifidus right: "
        "contraindicated"
    ) in result.stdout
    assert "Current across the spine" in result.stdout


@pytest.mark.parametrize(
    ("factors", "items", "message"),
    [
        ([{"code": "shingles"}], [], "unknown screening factor: 'shingles'"),
        ([], [{"muscle": "pectoralis-major", "technique": "electrical-stimulation",
               "lead_to": {"muscle": "heart", "side": "left"}}], "unknown muscle: 'heart'"),
        ([{"code": "anticoagulant", "inr": 25}], [], "factor anticoagulant: INR must be a number from 0.5 to 15, not 25"),
        ([{"code": "anticoagulant", "inr_target": [3.5, 2.5]}], [], "factor anticoagulant: INR target range must be"),
        ([{"code": "bleeding-disorder", "platelets": 2000}], [], "factor bleeding-disorder: platelet count must be a number from 0 to 1500"),
        ([{"code": "pregnancy", "trimester": 4}], [], "factor pregnancy: trimester must be 1, 2 or 3, not 4"),
        ([], [{"muscle": "deltoid", "lead_to": {"muscle": "deltoid"}}], "lead_to names the paired needle"),
    ],
)  # fmt: skip
def test_screen_refuses_unknown_codes_and_values_out_of_range_by_name_with_exit_2(
    tmp_path: Path, factors, items, message
):
    result = run(
        "screen", "--factors", write(tmp_path, "f.json", {"factors": factors}),
        "--plan", write(tmp_path, "p.json", {"items": items}), "--json",
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"CommandError: {message}")
