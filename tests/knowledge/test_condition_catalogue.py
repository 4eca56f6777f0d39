"""The ICD-10-CM catalogue a musculoskeletal clinic needs, and its search by words and codes."""

import datetime as dt
import importlib
import re

import pytest

from needlechart import knowledge

module = importlib.import_module("needlechart.knowledge.conditions")
TODAY = dt.date(2026, 12, 2)
# A billable code: three characters, a dot and one to four more; injury codes (S) carry the
# 7th character A (initial encounter) or D (subsequent encounter), with X placeholders.
CODE = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")
INJURY = re.compile(r"^S[0-9]{2}\.[0-9X]{3}[AD]$")
RELEASE_START = {
    "icd10cm-2016": dt.date(2015, 10, 1),
    "icd10cm-fy2017": dt.date(2016, 10, 1),
    "icd10cm-fy2021": dt.date(2020, 10, 1),
    "icd10cm-fy2022": dt.date(2021, 10, 1),
    "icd10cm-fy2023": dt.date(2022, 10, 1),
}
RETIRED = {"M54.5": dt.date(2021, 9, 30), "M79.1": dt.date(2022, 9, 30)}


def current() -> list:
    return list(knowledge.conditions_valid_on(TODAY))


def search(text: str, **kwargs) -> list[str]:
    return [e.code for e in knowledge.condition_search(text, on=TODAY, **kwargs)]


# --- the catalogue ---------------------------------------------------------------------------


def test_the_catalogue_grew_to_the_codes_musculoskeletal_clinics_use():
    assert len(current()) >= 150


def test_every_code_has_a_valid_format_an_area_a_meaning_and_its_release():
    areas = {a.slug for a in knowledge.body_areas()}
    for entry in knowledge.conditions():
        assert CODE.match(entry.code), entry.code
        if entry.code.startswith("S"):
            assert INJURY.match(entry.code), entry.code
        assert entry.body_area in areas, entry.code
        assert len(entry.display) >= 3 and entry.display == entry.display.strip(), entry.code
        assert entry.source in RELEASE_START, entry.code
        assert entry.valid_from is not None, entry.code


def test_every_source_is_an_icd_10_cm_release_with_its_date():
    from needlechart.knowledge.loader import load
    from needlechart.knowledge.schema import ConditionFile

    data = load("conditions.json", ConditionFile)
    assert set(data.sources) == set(RELEASE_START)
    for key, source in data.sources.items():
        assert "ICD-10-CM" in source.citation and source.url, key
        assert RELEASE_START[key].isoformat() in source.citation, key


def test_validity_dates_follow_the_release_that_introduced_or_retired_each_code():
    for entry in knowledge.conditions():
        if entry.code in RETIRED:
            assert entry.valid_to == RETIRED[entry.code]
            continue
        assert entry.valid_to is None, entry.code
        assert entry.valid_from == RELEASE_START[entry.source], entry.code
    # The codes introduced later than ICD-10-CM itself:
    later = {"G44.86": "2021-10-01", "M54.50": "2021-10-01", "M79.12": "2022-10-01",
             "M26.601": "2016-10-01", "R51.9": "2020-10-01"}  # fmt: skip
    for code, start in later.items():
        entry = knowledge.condition(code)
        assert entry.valid_from == dt.date.fromisoformat(start)
        assert not entry.valid_on(entry.valid_from - dt.timedelta(days=1))


def test_laterality_matches_the_codes_meaning():
    for entry in knowledge.conditions():
        words = set(re.findall(r"[a-z]+", entry.display.casefold()))
        if entry.laterality == "right":
            assert "right" in words and "left" not in words, entry.code
        elif entry.laterality == "left":
            assert "left" in words and "right" not in words, entry.code
        elif entry.laterality == "bilateral":
            assert "both" in words, entry.code
        else:
            assert not {"right", "left"} & words, entry.code


def test_each_sided_code_has_its_other_side():
    for entry in knowledge.conditions():
        if entry.laterality in ("right", "left"):
            other = "left" if entry.laterality == "right" else "right"
            twin = entry.display.replace(entry.laterality, other)
            assert any(e.display == twin for e in knowledge.conditions()), entry.code


def test_injury_codes_come_as_initial_and_subsequent_encounters():
    codes = {e.code for e in knowledge.conditions()}
    for code in codes:
        if code.startswith("S"):
            other = code[:-1] + ("D" if code.endswith("A") else "A")
            assert other in codes, code
    assert knowledge.condition("S13.4XXA").display.endswith("initial encounter")
    assert knowledge.condition("S13.4XXD").display.endswith("subsequent encounter")


@pytest.mark.parametrize(
    ("group", "codes"),
    [
        ("neck", {"M54.2", "M54.12", "M47.812", "S13.4XXA", "S16.1XXA"}),
        ("thoracic and low back", {"M54.6", "M54.50", "M54.51", "M54.59", "M54.16", "M54.41",
                                   "M54.42", "M62.830", "S39.012A", "S33.5XXA", "M53.3"}),
        ("shoulder", {"M25.511", "M25.512", "M75.01", "M75.41", "M75.101", "M75.21", "S46.011A"}),
        ("elbow and epicondylitis", {"M25.521", "M77.11", "M77.12", "M77.01", "M77.02"}),
        ("wrist and hand", {"M25.531", "M79.641", "M65.4", "G56.01", "S63.501A"}),
        ("hip", {"M25.551", "M70.61", "M76.01", "M16.11", "G57.01", "S76.011A", "S76.211A"}),
        ("knee", {"M25.561", "M22.2X1", "M76.51", "M17.11", "M76.31", "S83.91XA", "S76.311A"}),
        ("ankle and foot", {"M25.571", "M79.671", "M72.2", "M76.61", "M76.821", "S93.401A",
                            "S86.011A"}),
        ("myalgia and myofascial pain", {"M79.10", "M79.11", "M79.12", "M79.18", "M62.838"}),
        ("headache", {"G44.209", "G44.219", "G44.229", "G44.86", "M54.81"}),
        ("jaw", {"M26.601", "M26.602", "M26.621", "M26.631", "M79.11"}),
        ("chronic pain", {"G89.29", "G89.4"}),
    ],
)  # fmt: skip
def test_the_catalogue_covers_each_group_clinics_asked_for(group, codes):
    offered = {e.code for e in current()}
    assert codes <= offered, codes - offered


@pytest.mark.parametrize(
    ("code", "area", "side"),
    [("M77.11", "arm-elbow", "right"), ("M72.2", "leg-foot", None), ("G44.86", "head-face", None),
     ("S39.012D", "low-back", None), ("M26.603", "head-face", "bilateral"),
     ("S76.211A", "hip-buttock", "right"), ("M54.6", "upper-back", None)],
)  # fmt: skip
def test_a_code_gives_its_area_and_side(code, area, side):
    entry = knowledge.condition(code)
    assert (entry.body_area, entry.laterality) == (area, side)


def test_a_description_names_one_code_only():
    names = [e.display.casefold() for e in knowledge.conditions()]
    assert len(names) == len(set(names))


def test_a_catalogue_where_two_codes_share_a_description_does_not_load(monkeypatch):
    real = module.load

    def doubled(filename, schema):
        data = real(filename, schema)
        if filename != "conditions.json":
            return data
        first = data.conditions[0]
        copy = first.model_copy(update={"code": "M99.99"})
        return data.model_copy(update={"conditions": [*data.conditions, copy]})

    monkeypatch.setattr(module, "load", doubled)
    module.conditions.cache_clear()
    try:
        with pytest.raises(knowledge.KnowledgeDataError, match="names both"):
            module.conditions()
    finally:
        module.conditions.cache_clear()


# --- search ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("tennis elbow", ["M77.11", "M77.12"]),
        ("golfer's elbow", ["M77.01", "M77.02"]),
        ("golfers", ["M77.01", "M77.02"]),
        ("plantar fasciitis", ["M72.2"]),
        ("whiplash", ["S13.4XXA", "S13.4XXD"]),
        ("frozen shoulder", ["M75.01", "M75.02"]),
        ("piriformis", ["G57.01", "G57.02"]),
        ("de quervain", ["M65.4"]),
        ("cervicogenic", ["G44.86"]),
        ("hamstring strain", ["S76.311A", "S76.311D", "S76.312A", "S76.312D"]),
    ],
)
def test_search_finds_codes_by_the_words_clinicians_use(query, expected):
    assert sorted(search(query)) == sorted(expected)


def test_search_words_match_in_any_order_and_at_the_start_of_a_word():
    assert search("right shoulder pain")[0] == "M25.511"
    assert search("pain shoulder right")[0] == "M25.511"
    assert search("knee pain left")[0] == "M25.562"
    assert "M77.11" in search("later epicond right")
    # "arm" begins no word of "Pain in right forearm".
    assert "M79.631" not in search("arm")


def test_the_description_outranks_another_name():
    found = search("neck")
    assert found[0] == "M54.2"
    assert found.index("M54.2") < found.index("G44.86")  # G44.86 only by another name


def test_search_finds_codes_by_their_beginning_with_or_without_the_dot():
    assert search("M77.1") == ["M77.11", "M77.12"]
    assert search("m771") == ["M77.11", "M77.12"]
    assert search("M77.11")[0] == "M77.11"
    assert set(search("S93.40")) == {"S93.401A", "S93.401D", "S93.402A", "S93.402D"}
    assert search("G44.2", limit=None) == [
        "G44.209", "G44.201", "G44.219", "G44.211", "G44.229", "G44.221",
    ]  # fmt: skip


def test_search_keeps_to_the_codes_valid_on_a_date():
    assert "M54.5" not in search("low back pain", limit=None)
    old = [e.code for e in knowledge.condition_search("low back", on=dt.date(2021, 5, 1))]
    assert "M54.5" in old and "M54.50" not in old
    every = [e.code for e in knowledge.condition_search("low back", limit=None)]
    assert {"M54.5", "M54.50"} <= set(every)


def test_search_gives_nothing_for_nothing_and_respects_the_limit():
    assert search("") == [] and search("   ") == [] and search("zzz") == []
    assert knowledge.condition_search(None) == []
    assert len(search("pain", limit=5)) == 5
    assert len(search("pain", limit=None)) > 20


# --- lookup (what the episode form accepts) --------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["M77.11", "m77.11", " M7711 ", "M77.11 Lateral epicondylitis, right elbow (tennis elbow)",
     "lateral epicondylitis, right elbow (tennis elbow)", "M77.11  lateral EPICONDYLITIS, right "
     "elbow (tennis elbow)"],
)  # fmt: skip
def test_lookup_accepts_the_code_the_option_or_the_description(typed):
    assert knowledge.condition_lookup(typed).code == "M77.11"


@pytest.mark.parametrize("typed", ["tennis elbow", "M77", "elbow", "Z99.9", "", None, "M77.11 x"])
def test_lookup_refuses_anything_else(typed):
    with pytest.raises(knowledge.UnknownCode, match="ICD-10-CM code"):
        knowledge.condition_lookup(typed)


def test_the_search_is_fast_enough_to_run_on_every_keystroke():
    import time

    knowledge.condition_search("warm up")
    start = time.perf_counter()
    for _ in range(100):
        knowledge.condition_search("right shoulder pain", on=TODAY)
    assert (time.perf_counter() - start) / 100 < 0.005
