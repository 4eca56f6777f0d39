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


def test_muscles_json_lists_the_new_muscles_with_their_data():
    muscles = {m["slug"]: m for m in json.loads(run("muscles", "--json").stdout)}
    for slug in ("sternalis", "subclavius", "fibularis-tertius", "extensor-pollicis-longus",
                 "abductor-pollicis-longus", "plantaris", "longus-colli"):  # fmt: skip
        entry = muscles[slug]
        assert entry["needling_regions"] and entry["referral"]["primary"]
        assert entry["structures_at_risk"] and entry["sources"]
    sternalis = muscles["sternalis"]
    assert sternalis["referral"]["common_source_for"] == ["chest"]
    assert any(s["key"] == "yekeler-2006" and "AJR" in s["citation"] for s in sternalis["sources"])
    assert muscles["longus-colli"]["referral"]["well_described"] is False


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
    result = run("referral", "heel-right:8", "foot-plantar-right:2")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith(" 1. ")
    assert "[refers pain there" in lines[0] or "[lies under the pain]" in lines[0]
    assert "not a diagnosis" in result.stdout


def test_referral_json_carries_the_screen_first_warnings_with_their_sources():
    result = run("referral", "chest-left", "calf-right:4", "--top", "3", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"candidates", "warnings", "note"}
    chest, calf = data["warnings"]
    assert chest["code"] == "chest" and chest["regions"] == ["chest-left"]
    assert "heart" in chest["text"] and chest["signs"]
    assert calf["code"] == "calf" and "deep vein thrombosis" in calf["text"]
    assert calf["sources"][0]["key"] == "nice-ng158-2020"
    assert calf["sources"][0]["citation"].startswith("National Institute for Health")
    assert all(c["why"] in ("refers", "lies", "refers-and-lies") for c in data["candidates"])
    quiet = json.loads(run("referral", "elbow-lateral-left", "--json").stdout)
    assert quiet["warnings"] == []


def test_referral_prints_the_warnings_before_the_muscles():
    lines = run("referral", "low-back-left", "--top", "2").stdout.splitlines()
    assert lines[0].startswith("SCREEN FIRST (Low back pain): ")
    assert any("cauda equina" in line for line in lines)
    assert any(line.startswith("  Source: Finucane 2020") for line in lines)
    first = next(i for i, line in enumerate(lines) if line.startswith(" 1. "))
    assert all(not line.startswith(" 1. ") for line in lines[:first])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["referral", "temple-left", "nose-left"], "CommandError: unknown region: 'nose-left'"),
        (["referral", "nose-left", "--json"], "CommandError: unknown region: 'nose-left'"),
        (["referral", "temple-left:loud"], "CommandError: pain intensity for temple-left must be a number 0-10, not 'loud'"),
        (["referral", "temple-left:12"], "CommandError: pain intensity for temple-left must be 0-10, not 12.0"),
        (["referral", "chest-left:-1", "--json"], "CommandError: pain intensity for chest-left must be 0-10, not -1.0"),
        (["referral", "temple-left", "--top", "0"], "needlechart referral: error: argument --top: must be a whole number from 1 to 1000, not '0'"),
        (["referral", "calf-left", "calf-left"], "CommandError: region calf-left is given more than once"),
        (["referral", "temple", "temple-right"], "CommandError: temple (either side) overlaps a region of the same name with a side; give each region once"),
    ],
)  # fmt: skip
def test_referral_refuses_bad_input_by_name_with_exit_code_2_and_prints_nothing(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [message]
    assert result.stdout == ""


def write(tmp_path: Path, name: str, data: object) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def test_screen_json_gives_the_patient_and_each_item_a_verdict_with_reasons(tmp_path):
    factors = write(tmp_path, "factors.json", {"factors": [
        {"code": "lymphedema", "limb": "arm", "side": "left"},
        {"code": "anticoagulant", "drug": "apixaban"},
    ]})  # fmt: skip
    plan = write(tmp_path, "plan.json", {"items": [
        {"muscle": "infraspinatus", "side": "right", "technique": "dry-needling"},
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
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(message)
    assert result.stdout == ""


def test_screen_reports_a_missing_file_in_one_line(tmp_path):
    result = run("screen", "--factors", str(tmp_path / "absent.json"), "--json")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"CommandError: cannot read the factors file {tmp_path / 'absent.json'}: No such file or directory"
    ]


def test_the_knowledge_commands_stay_django_commands_for_call_command():
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("referral", "temple-left", "--top", "2", "--json", stdout=out)
    assert len(json.loads(out.getvalue())["candidates"]) == 2
    with pytest.raises(CommandError, match="unknown region: 'nose-left'") as refused:
        call_command("referral", "nose-left", stdout=out)
    assert refused.value.returncode == 2
    with pytest.raises(CommandError, match="cannot read the factors file") as unread:
        call_command("screen", factors="absent.json")
    assert unread.value.returncode == 1
