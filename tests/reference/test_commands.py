"""The knowledge commands, run as a user runs them: `.venv/bin/needlechart ...`."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

NEEDLECHART = Path(sys.executable).parent / "needlechart"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(NEEDLECHART), *args], input=stdin, capture_output=True, text=True, check=False,
        env={"DEBUG": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def test_regions_json_lists_every_region_with_view_and_side():
    result = run("regions", "--json")
    assert result.returncode == 0, result.stderr
    regions = json.loads(result.stdout)
    assert {"id": "temple-left", "label": "Temple", "view": "front", "side": "left"} in regions
    assert {"id": "sacral", "label": "Sacrum", "view": "back", "side": None} in regions
    assert all(set(r) == {"id", "label", "view", "side"} for r in regions)


def test_muscles_json_lists_the_catalogue_with_sources_spelled_out():
    muscles = json.loads(run("muscles", "--json").stdout)
    trapezius = next(m for m in muscles if m["slug"] == "upper-trapezius")
    assert trapezius["sided"] is True and trapezius["area"] == "head-neck"
    assert "shoulder-top" in trapezius["needling_regions"]
    assert "temple" in trapezius["referral"]["primary"]
    assert trapezius["structures_at_risk"][0]["structure"] == "lung-pleura"
    assert trapezius["sources"][0]["citation"].startswith("Donnelly")


def test_referral_json_ranks_candidates_best_first():
    result = run("referral", "temple-right", "shoulder-top-right", "--top", "5", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    candidates = data["candidates"]
    assert len(candidates) == 5
    assert candidates[0] == {
        **candidates[0],
        "muscle": "upper-trapezius",
        "side": "right",
        "matched": ["temple-right", "shoulder-top-right"],
    }
    assert [c["score"] for c in candidates] == sorted(
        (c["score"] for c in candidates), reverse=True
    )
    assert "not a diagnosis" in data["note"]


def test_referral_takes_intensities_and_prints_a_readable_list_without_json():
    result = run("referral", "heel-right:8", "calf-right:2")
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].startswith(" 1. ")
    assert "not a diagnosis" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["referral", "temple-left", "nose-left"], "CommandError: unknown region: 'nose-left'"),
        (["referral", "temple-left:loud"], "CommandError: pain intensity for temple-left must be a number 0-10, not 'loud'"),
        (["referral", "temple-left:12"], "CommandError: pain intensity for temple-left must be 0-10, not 12.0"),
        (["referral", "temple-left", "--top", "0"], "CommandError: top must be at least 1"),
    ],
)  # fmt: skip
def test_referral_errors_are_one_line_naming_the_problem(args, message):
    result = run(*args)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [message]


def write(tmp_path: Path, name: str, data: object) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def test_screen_json_gives_the_patient_and_each_item_a_verdict_with_reasons(tmp_path):
    factors = write(tmp_path, "factors.json", {"factors": [
        {"code": "lymphedema", "limb": "arm", "side": "left"}, {"code": "anticoagulant"},
    ]})  # fmt: skip
    plan = write(tmp_path, "plan.json", {"items": [
        {"muscle": "infraspinatus", "side": "left", "technique": "dry-needling"},
        {"muscle": "extensor-digitorum", "side": "left", "technique": "dry-needling"},
        {"muscle": "gastrocnemius", "side": "right", "technique": "electrical-stimulation"},
    ]})  # fmt: skip
    result = run("screen", "--factors", factors, "--plan", plan, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["patient"]["verdict"] == "caution"
    assert {r["code"] for r in data["patient"]["reasons"]} == {"lymphedema", "anticoagulant"}
    assert [(i["muscle"], i["verdict"]) for i in data["items"]] == [
        ("infraspinatus", "caution"),
        ("extensor-digitorum", "contraindicated"),
        ("gastrocnemius", "caution"),
    ]
    for entry in data["items"]:
        assert set(entry) >= {"muscle", "side", "technique", "verdict", "reasons"}
        assert all(set(r) == {"code", "text", "source", "level"} for r in entry["reasons"])


@pytest.mark.parametrize(
    ("factors", "plan", "message"),
    [
        ({"factors": [{"code": "gout"}]}, {"items": []}, "CommandError: unknown screening factor: 'gout'"),
        ({"factors": []}, {"items": [{"muscle": "wing"}]}, "CommandError: unknown muscle: 'wing'"),
        ({"factors": "none"}, {"items": []}, 'CommandError: the factors file must be a JSON object with a list "factors"'),
        ("{not json", {"items": []}, "CommandError: the factors file"),
    ],
)  # fmt: skip
def test_screen_errors_are_one_line_naming_the_problem(tmp_path, factors, plan, message):
    result = run(
        "screen", "--factors", write(tmp_path, "f.json", factors),
        "--plan", write(tmp_path, "p.json", plan), "--json",
    )  # fmt: skip
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(message)


def test_screen_reports_a_missing_file_in_one_line(tmp_path):
    result = run("screen", "--factors", str(tmp_path / "absent.json"), "--json")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"CommandError: cannot read the factors file {tmp_path / 'absent.json'}: No such file or directory"
    ]
