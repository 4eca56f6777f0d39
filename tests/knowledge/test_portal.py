"""The patient portal's content: check-in plan, symptom checklist, urgent advice, pages."""

import copy
import json
import math
import re

import pytest
from pydantic import ValidationError

from needlechart import knowledge
from needlechart.knowledge import loader, portal, schema

REQUIRED_SYMPTOMS = {
    "bruising": "bruising",
    "bleeding": "bleeding",
    "headache": "headache",
    "tiredness": "drowsiness",
    "nausea": "nausea",
    "faintness": "fainting",
    "worse-pain": "aggravation",
    "breathlessness-chest-pain": "pneumothorax",
    "infection-signs": "infection",
    "numbness-weakness": "nerve-irritation",
    "severe-headache": "headache",
    "other": "other",
}
RED_FLAGS = {
    "breathlessness-chest-pain": "pneumothorax",
    "infection-signs": "infection",
    "numbness-weakness": "nerve-irritation",
    # After needling of the neck or back: possible dural puncture or spinal bleeding.
    "severe-headache": "headache",
}
PAGES = ["what-is-dry-needling", "what-a-session-feels-like", "effects-and-risks",
         "after-your-session"]  # fmt: skip


def raw_file() -> dict:
    return json.loads(loader.data_text("portal.json"))


def parse(data: dict) -> schema.PortalFile:
    return loader.parse(json.dumps(data), schema.PortalFile, "portal.json")


def page_texts(page: schema.EducationPage) -> list[str]:
    texts = [page.title, page.summary]
    for section in page.sections:
        texts += [section.heading, *section.paragraphs]
    return texts


def raw_pages() -> list[schema.EducationPage]:
    """The pages as written in portal.json, placeholders not yet filled in."""
    return parse(raw_file()).education_pages


# --- check-ins -----------------------------------------------------------------------------


def test_the_plan_checks_in_at_24_and_48_hours_and_adds_72_when_needed():
    plan = knowledge.checkin_plan()
    assert plan.hours == [24, 48] and plan.extra_hours == 72
    assert 1 <= plan.extra_when_soreness_at_least <= 10 and plan.window_hours > 0
    assert plan.sources and set(plan.sources) <= set(knowledge.portal_sources())
    with pytest.raises(ValidationError):
        plan.extra_hours = 96


def test_the_schedule_is_cited_as_a_clinic_convention():
    sources = knowledge.portal_sources()
    conventions = [k for k in knowledge.checkin_plan().sources if "convention" in k]
    assert conventions
    for key in conventions:
        assert "not from a trial" in sources[key].citation
    assert "diciolla-2021" in knowledge.checkin_plan().sources


def test_soreness_counts_as_an_effect_from_a_score_no_higher_than_the_extra_checkin():
    effect_from = knowledge.soreness_effect_from()
    assert 1 <= effect_from <= knowledge.checkin_plan().extra_when_soreness_at_least


@pytest.mark.parametrize(
    ("offset", "codes", "expected"),
    [
        (-1, [], False),
        (0, [], True),
        (-1, ["bruising"], False),
        (-1, ["bruising", "headache"], True),
        (-1, ["worse-pain"], True),
        (-1, ["other"], True),
        (-1, ["breathlessness-chest-pain"], True),
    ],
)
def test_the_extra_checkin_starts_at_the_soreness_threshold_or_an_unsettled_symptom(
    offset, codes, expected
):
    soreness = knowledge.checkin_plan().extra_when_soreness_at_least + offset
    assert knowledge.needs_extra_checkin(soreness, codes) is expected


def test_no_soreness_and_nothing_ticked_needs_no_extra_checkin_but_full_soreness_does():
    assert knowledge.needs_extra_checkin(0, []) is False
    assert knowledge.needs_extra_checkin(10, []) is True


@pytest.mark.parametrize("soreness", [-1, 11, True, 2.5, "3", None])
def test_soreness_outside_the_0_to_10_scale_is_refused(soreness):
    with pytest.raises(knowledge.InvalidInput, match="soreness"):
        knowledge.needs_extra_checkin(soreness, [])


def test_symptom_codes_must_be_known_and_given_as_a_list():
    with pytest.raises(knowledge.UnknownCode, match="unknown symptom: 'sunburn'"):
        knowledge.needs_extra_checkin(0, ["sunburn"])
    with pytest.raises(knowledge.InvalidInput, match="must be a list"):
        knowledge.needs_extra_checkin(0, "headache")


# --- symptoms ------------------------------------------------------------------------------


def test_the_checklist_has_every_required_symptom_with_its_event_type():
    by_code = {s.code: s for s in knowledge.symptoms()}
    for code, event_type in REQUIRED_SYMPTOMS.items():
        assert by_code[code].adverse_event_type == event_type, code
    types = knowledge.adverse_event_types()
    for entry in knowledge.symptoms():
        assert entry.adverse_event_type in types, entry.code
    assert knowledge.symptoms()[-1].code == "other"


def test_the_red_flags_are_the_clinical_references_and_the_spinal_headache():
    flagged = {s.code: s.adverse_event_type for s in knowledge.symptoms() if s.red_flag}
    assert flagged == RED_FLAGS


def test_patient_labels_are_short_and_speak_to_the_patient():
    for entry in knowledge.symptoms():
        assert re.search(r"\byou(r)?\b", entry.label, re.IGNORECASE), entry.code
        assert len(entry.label) <= 80, entry.code
        assert entry.clinician_label != entry.label, entry.code


def test_a_symptom_is_found_by_code_and_an_unknown_one_raises():
    assert knowledge.symptom("nausea").clinician_label == "Nausea"
    with pytest.raises(knowledge.UnknownCode, match="symptom"):
        knowledge.symptom("hiccups")


def test_red_flags_are_picked_out_once_each_in_display_order():
    found = knowledge.red_flags(
        ["numbness-weakness", "bruising", "breathlessness-chest-pain", "numbness-weakness"]
    )
    assert [s.code for s in found] == ["breathlessness-chest-pain", "numbness-weakness"]
    assert knowledge.red_flags(["bruising", "headache"]) == []
    assert knowledge.red_flags([]) == []
    with pytest.raises(knowledge.UnknownCode, match="sunburn"):
        knowledge.red_flags(["bruising", "sunburn"])


def test_the_urgent_advice_sends_the_patient_for_emergency_care_without_waiting():
    advice = knowledge.urgent_advice()
    assert "emergency services" in advice and "emergency department" in advice
    assert "now" in advice
    assert "clinic" in advice and "do not wait" in advice


# --- education pages -----------------------------------------------------------------------


def test_the_four_pages_are_there_in_order_and_found_by_slug():
    assert [p.slug for p in knowledge.education_pages()] == PAGES
    assert knowledge.education_page("after-your-session").title == "After your session"
    with pytest.raises(knowledge.UnknownCode, match="education page"):
        knowledge.education_page("acupuncture")


def test_every_page_has_a_one_sentence_summary_and_no_empty_section():
    for page in knowledge.education_pages():
        assert len(re.findall(r"[.!?](\s|$)", page.summary)) == 1, page.slug
        assert page.sections, page.slug
        for section in page.sections:
            assert section.heading.strip() and section.paragraphs, (page.slug, section.heading)
            assert all(p.strip() for p in section.paragraphs), (page.slug, section.heading)


def test_pages_cite_declared_sources_and_keep_no_placeholder():
    sources = knowledge.portal_sources()
    for page in knowledge.education_pages():
        assert page.sources and set(page.sources) <= set(sources), page.slug
        for text in page_texts(page):
            assert "{" not in text and "}" not in text, text


def test_the_pages_cover_what_the_patient_needs_to_know():
    def text(slug: str) -> str:
        return " ".join(page_texts(knowledge.education_page(slug)))

    what = text("what-is-dry-needling")
    for words in ("trigger point", "acupuncture", "meridians", "Western", "exercise"):
        assert words in what, words
    session = text("what-a-session-feels-like")
    for words in ("twitch", "ache", "cramp", "stop", "safe"):
        assert words in session, words
    after = text("after-your-session")
    for words in ("water", "24 to 48 hours", "three days", "24 and 48 hours", "emergency"):
        assert words in after, words


def test_the_red_flags_on_the_aftercare_page_match_the_checklist():
    after = " ".join(page_texts(knowledge.education_page("after-your-session"))).lower()
    for phrase in ("shortness of breath", "chest pain", "fever", "spreads", "numbness"):
        assert phrase in after, phrase
    for entry in knowledge.red_flags(list(RED_FLAGS)):
        assert entry.sources, entry.code


# --- figures in the pages match adverse_events.json ----------------------------------------


def figures_by_token() -> list[tuple[str, str]]:
    """(placeholder, the text it became), read back from the rendered pages."""
    found = []
    written = {p.slug: p for p in raw_pages()}
    for page in knowledge.education_pages():
        for raw, shown in zip(page_texts(written[page.slug]), page_texts(page), strict=True):
            tokens = portal.FIGURE.findall(raw)
            if not tokens:
                assert raw == shown
                continue
            pattern = "".join(
                re.escape(part) if i % 2 == 0 else "(.+?)"
                for i, part in enumerate(portal.FIGURE.split(raw))
            )
            match = re.fullmatch(pattern, shown)
            assert match, raw
            found.extend(zip(tokens, match.groups(), strict=True))
    return found


def number(text: str) -> float:
    value = float(re.search(r"[\d,.]+", text).group().replace(",", ""))
    return value * 1_000_000 if "million" in text else value


def two_figures(value: float) -> float:
    """Half a unit of the second significant figure: how far a 2-figure rounding may move."""
    return 0.5 * 10 ** (math.floor(math.log10(value)) - 1) + 1e-9


def test_every_figure_in_the_pages_matches_adverse_events_json():
    data = knowledge.published_rates()
    studies = {s.key: s for s in data.studies}
    rare = {r.key: r for r in data.rare_events}

    def rate(key: str, measure: str) -> float:
        study = studies[key]
        return study.minor_rate if measure == "minor" else study.by_type[measure]

    figures = figures_by_token()
    assert len(figures) >= 20
    for token, shown in figures:
        kind, *args = token.split(":")
        if kind == "percent":
            expected = rate(*args) * 100
            assert shown.endswith("%"), token
            assert abs(number(shown) - expected) <= two_figures(expected), (token, shown)
        elif kind == "one-in":
            if len(args) == 2:
                expected = 1 / rate(*args)
            else:
                expected = rare[args[0]].treatments / rare[args[0]].events
            tolerance = 0.5 if expected < 10 else two_figures(expected)
            assert shown.startswith("1 in "), token
            assert abs(number(shown[len("1 in ") :]) - expected) <= tolerance, (token, shown)
        elif kind == "serious":
            study = studies[args[0]]
            count = "none" if study.major_events == 0 else f"{study.major_events:,}"
            assert shown.startswith(f"{count} in {study.treatments:,} sessions"), token
            if study.major_events:
                ratio = study.treatments / study.major_events
                shown_ratio = number(shown.split("about 1 in ")[1])
                assert abs(shown_ratio - ratio) <= two_figures(ratio), (token, shown)
        elif kind == "treatments":
            expected = (studies.get(args[0]) or rare[args[0]]).treatments
            assert abs(number(shown) - expected) <= two_figures(expected), (token, shown)
        elif kind == "per-million":
            assert number(shown) == rare[args[0]].per_million, token
        elif kind == "per-million-at-risk":
            assert number(shown) == rare[args[0]].per_million_at_risk_areas, token
        elif kind == "checkin-hours":
            assert shown == " and ".join(map(str, knowledge.checkin_plan().hours)) + " hours"
        elif kind == "extra-hours":
            assert shown == f"{knowledge.checkin_plan().extra_hours} hours"
        else:
            pytest.fail(f"no check for placeholder {token}")


def test_the_effects_page_quotes_the_published_rates():
    text = " ".join(page_texts(knowledge.education_page("effects-and-risks")))
    quoted = ["1 in 5 sessions (19%)", "bruising (7.6%", "bleeding (4.7%)", "needling (3%)",
              "afterwards (2.2%)", "37% of sessions", "(16%)", "bruising (7.7%)", "(5.9%)",
              "none in 7,629 sessions", "20 in 20,464 sessions (about 1 in 1,000)",
              "5.4 million", "0.87 times", "1.75 times", "1 in 5,300"]  # fmt: skip
    for figure in quoted:
        assert figure in text, figure


def test_no_rate_is_typed_into_the_pages_by_hand():
    aftercare = knowledge.default_document("aftercare").body
    # Numbers written as text must come from the aftercare document or the 0-10 scale;
    # every rate, count and hour of the schedule has to be a placeholder.
    allowed = set(re.findall(r"\d+", aftercare)) | {"0", str(portal.SORENESS_MAX)}
    for page in raw_pages():
        for text in page_texts(page):
            bare = portal.FIGURE.sub("", text)
            assert not re.search(r"%|\bper million|\b1 in\b", bare), bare
            for figure in re.findall(r"\d[\d,.]*", bare):
                assert figure.rstrip(".,") in allowed, (page.slug, figure)


def test_a_changed_rate_in_the_data_changes_the_page(monkeypatch):
    data = knowledge.published_rates().model_dump()
    data["studies"][0]["by_type"]["bruising"] = 0.5
    changed = schema.AdverseEventFile.model_validate(data)
    monkeypatch.setattr(portal, "published_rates", lambda: changed)
    portal._portal.cache_clear()
    try:
        text = " ".join(page_texts(knowledge.education_page("effects-and-risks")))
        assert "bruising (50% of sessions)" in text
    finally:
        monkeypatch.undo()
        portal._portal.cache_clear()


@pytest.mark.parametrize(
    ("placeholder", "message"),
    [
        ("{percent:brady-2014:sunburn}", "no rate for 'sunburn'"),
        ("{percent:smith-2030:minor}", "unknown study 'smith-2030'"),
        ("{one-in:fainting-nobody}", "unknown rare event"),
        ("{median:brady-2014}", "unknown placeholder"),
        ("{Percent:brady-2014:minor}", "malformed placeholder"),
    ],
)
def test_a_placeholder_that_does_not_resolve_stops_loading(monkeypatch, placeholder, message):
    data = raw_file()
    data["education_pages"][0]["sections"][0]["paragraphs"][0] += f" About {placeholder}."
    broken = parse(data)
    monkeypatch.setattr(portal, "load", lambda *_: broken)
    portal._portal.cache_clear()
    try:
        with pytest.raises(knowledge.KnowledgeDataError, match=re.escape(message)):
            knowledge.education_pages()
    finally:
        monkeypatch.undo()
        portal._portal.cache_clear()


# --- a broken file does not load -----------------------------------------------------------


def set_path(data: dict, path: str, value: object) -> None:
    *parents, last = path.split(".")
    for key in parents:
        data = data[int(key)] if key.isdigit() else data[key]
    if last.isdigit():
        data[int(last)] = value
    else:
        data[last] = value


def no_red_flag(data: dict) -> None:
    for entry in data["symptoms"]:
        entry["red_flag"] = False


def duplicate_page(data: dict) -> None:
    data["education_pages"].append(copy.deepcopy(data["education_pages"][0]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("symptoms.0.adverse_event_type", "sunburn"), "unknown adverse-event type 'sunburn'"),
        (("soreness_effect.adverse_event_type", "ache"), "unknown adverse-event type 'ache'"),
        (("symptoms.1.code", "bruising"), "duplicate code 'bruising'"),
        (duplicate_page, "duplicate slug 'what-is-dry-needling'"),
        (("symptoms.0.sources", ["nobody-2099"]), "cites unknown source 'nobody-2099'"),
        (("checkin.sources", ["nobody-2099"]), "checkin cites unknown source"),
        (("education_pages.0.sources", ["nobody-2099"]), "cites unknown source"),
        (no_red_flag, "at least one red flag"),
        (("checkin.hours", [48, 24]), "positive and increasing"),
        (("checkin.hours", [24, 24]), "positive and increasing"),
        (("checkin.hours", []), "at least 1 item"),
        (("checkin.extra_hours", 48), "must come after the last"),
        (("checkin.window_hours", 0), "greater than 0"),
        (("checkin.extra_when_soreness_at_least", 11), "less than or equal to 10"),
        (("soreness_effect.at_least", 9), "must also count as an effect"),
        (("education_pages.0.sections", []), "at least 1 item"),
        (("education_pages.0.sections.0.paragraphs", []), "at least 1 item"),
        (("education_pages.0.sections.0.paragraphs", ["  "]), "empty paragraph"),
        (("symptoms.0.colour", "blue"), "Extra inputs are not permitted"),
    ],
)
def test_a_broken_portal_file_fails_to_load_with_a_message_naming_the_problem(change, message):
    data = raw_file()
    if callable(change):
        change(data)
    else:
        set_path(data, *change)
    with pytest.raises(knowledge.KnowledgeDataError, match=re.escape(message)):
        parse(data)


def test_the_shipped_file_loads():
    assert parse(raw_file()).version
