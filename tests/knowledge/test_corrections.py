"""The numbers patients and clinicians read, as their sources state them (clinical review,
December 2026): fainting, the Boyce 2020 counts, the consent's major events and the aftercare's
red flags, driving and fluid advice."""

import re
from decimal import Decimal

import pytest

from needlechart import knowledge
from needlechart.knowledge import portal
from needlechart.knowledge.loader import data_text


def study(key: str):
    return next(s for s in knowledge.published_rates().studies if s.key == key)


def rare(key: str):
    return next(r for r in knowledge.published_rates().rare_events if r.key == key)


def page_text(slug: str) -> str:
    page = knowledge.education_page(slug)
    return " ".join(p for section in page.sections for p in [section.heading, *section.paragraphs])


def consent() -> str:
    return knowledge.default_document("consent").body


def aftercare() -> str:
    return knowledge.default_document("aftercare").body


# --- fainting: White 2001's own table, not MacPherson's count -------------------------------


def test_fainting_is_six_faints_in_31822_consultations_as_white_2001_reports():
    fainting = rare("fainting-white-2001")
    assert (fainting.events, fainting.treatments) == (6, 31822)
    assert fainting.source == "white-2001"
    assert "significant" in fainting.note


def test_the_consent_and_the_portal_quote_the_same_fainting_rate():
    shown = portal._one_in(Decimal(31822) / 6)
    assert shown == "1 in 5,300"
    assert f"about {shown} treatments" in consent()
    assert f"about {shown} visits" in page_text("effects-and-risks")
    for text in (consent(), page_text("effects-and-risks")):
        assert "8,000" not in text


def test_the_white_citation_says_where_the_four_faints_came_from():
    assert "6 in 31,822" in knowledge.portal_sources()["white-2001"].citation
    # The 4 faints once quoted are the companion survey's (MacPherson 2001, 34,407 treatments).
    assert "MacPherson et al. BMJ 2001" in data_text("adverse_events.json")


# --- Boyce 2020: the published counts --------------------------------------------------------


def test_boyce_2020_counts_are_the_published_ones():
    boyce = study("boyce-2020")
    assert (boyce.treatments, boyce.minor_events, boyce.minor_rate, boyce.major_events) == (
        20464,
        7531,
        0.367,
        20,
    )
    # 36.7% and "1 per 1,024" match the 20,494 treatments the paper's results count.
    assert "20,494" in boyce.note
    assert round(boyce.minor_events / 20494, 3) == boyce.minor_rate
    assert round(20494 / boyce.major_events) == 1025  # "1 per 1,024", truncated


def test_brady_2014_counts_are_unchanged():
    brady = study("brady-2014")
    assert (brady.treatments, brady.minor_events, brady.minor_rate) == (7629, 1463, 0.1918)


def test_the_pneumothorax_rate_says_it_counts_hospital_care():
    lin = rare("pneumothorax-lin-2019")
    assert (lin.per_million, lin.per_million_at_risk_areas) == (0.87, 1.75)
    assert lin.treatments == 5407378 and "hospital" in lin.note
    assert "needed hospital care" in page_text("effects-and-risks")


# --- the consent: major events named as the surveys name them -------------------------------


def test_the_consent_calls_boyces_events_major_not_serious():
    text = consent()
    assert "serious events" not in text and "Rare but serious" not in text
    assert "which the surveys call major" in text
    assert "none in 7,629 treatments" in text and "about 1 in 1,000 treatments" in text


def test_the_consent_quotes_aggravation_and_asks_about_pregnancy():
    text = consent()
    # Brady 2014: aggravation of symptoms 0.88%, about 1 in 100.
    assert study("brady-2014").by_type["aggravation"] == 0.0088
    assert "flaring up for a while (about 1 in 100 treatments)" in text
    assert "may be pregnant" in text


def test_the_portal_names_major_effects_like_the_consent():
    text = page_text("effects-and-risks")
    assert "major effects" in text and "more serious effects" not in text


# --- aftercare: red flags, driving, fluids --------------------------------------------------


@pytest.mark.parametrize("text", [aftercare, lambda: page_text("after-your-session")])
def test_the_breathlessness_red_flag_includes_the_neck(text):
    line = next(s for s in re.split(r"[\n.;]", text()) if "shortness of breath" in s.lower())
    assert "neck" in line and "chest" in line and "upper back" in line


@pytest.mark.parametrize("text", [aftercare, lambda: page_text("after-your-session")])
def test_a_headache_after_spinal_needling_is_a_red_flag(text):
    body = text()
    assert "after needling of" in body.lower() and "neck or back" in body
    assert "severe headache" in body and "sit or stand" in body


@pytest.mark.parametrize("text", [aftercare, lambda: page_text("after-your-session")])
def test_drowsy_patients_are_told_not_to_drive(text):
    body = text()
    assert "drowsy" in body and "do not drive" in body


@pytest.mark.parametrize("text", [aftercare, lambda: page_text("after-your-session")])
def test_fluid_advice_suits_patients_whose_fluids_are_limited(text):
    body = text()
    assert "plenty of water" not in body.lower()
    assert "limit how much you drink" in body and "keep to that" in body


def test_the_headache_red_flag_is_on_the_checklist_and_cites_its_sources():
    flag = knowledge.symptom("severe-headache")
    assert flag.red_flag and flag.adverse_event_type == "headache"
    assert "spinal-case-reports" in flag.sources
    assert [s.code for s in knowledge.red_flags(["headache"])] == []
    assert [s.code for s in knowledge.red_flags(["severe-headache"])] == ["severe-headache"]


def test_driving_advice_cites_macpherson_2005():
    assert "24.4%" in knowledge.portal_sources()["macpherson-2005"].citation
    assert "macpherson-2005" in knowledge.default_document("aftercare").sources


def test_the_corrected_files_carry_a_new_version():
    from needlechart.knowledge.loader import load
    from needlechart.knowledge.schema import (
        AdverseEventFile,
        ConditionFile,
        DocumentFile,
        InstrumentFile,
        PortalFile,
    )

    for name, schema, at_least in [
        ("adverse_events.json", AdverseEventFile, (2026, 2)),
        ("documents.json", DocumentFile, (2026, 2)),
        ("portal.json", PortalFile, (2026, 2)),
        ("instruments.json", InstrumentFile, (2026, 3)),
        ("conditions.json", ConditionFile, (2026, 2)),
    ]:
        version = tuple(int(part) for part in load(name, schema).version.split("."))
        assert version >= at_least, name
    # The clinic page can name the edition of the shipped texts it offers.
    assert knowledge.default_documents_edition() == load("documents.json", DocumentFile).version
