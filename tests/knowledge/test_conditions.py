import datetime as dt
import json
import subprocess
import sys

import pytest
from pydantic import ValidationError

from needlechart import knowledge
from needlechart.knowledge.schema import ConditionFile

REQUIRED_CODES = {
    "M54.2", "M54.50", "M54.59", "M25.511", "M25.512", "M25.551", "M25.552",
    "M79.10", "M79.11", "M79.12", "M79.18", "G89.29", "M62.830",
}  # fmt: skip


def test_the_catalogue_offers_the_codes_clinics_use_for_needling_complaints():
    assert {c.code for c in knowledge.conditions()} >= REQUIRED_CODES


def test_the_retired_low_back_code_is_valid_only_before_2021_10_01():
    # M54.5 was split into M54.50/M54.51/M54.59 on 2021-10-01; old records keep it.
    retired = knowledge.condition("M54.5")
    assert retired.valid_on(dt.date(2021, 9, 30))
    assert not retired.valid_on(dt.date(2021, 10, 1))
    assert not knowledge.condition("M54.50").valid_on(dt.date(2021, 9, 30))
    codes_now = {c.code for c in knowledge.conditions_valid_on(dt.date(2026, 11, 24))}
    assert "M54.5" not in codes_now and {"M54.50", "M54.51", "M54.59"} <= codes_now


def test_an_unknown_code_is_an_error_naming_it():
    with pytest.raises(knowledge.UnknownCode, match=r"Z99\.99"):
        knowledge.condition("Z99.99")


def test_a_code_gives_its_entry_with_side_and_body_area():
    shoulder = knowledge.condition("M25.512")
    assert shoulder.laterality == "left"
    assert shoulder.body_area == "shoulder"
    assert knowledge.body_area(shoulder.body_area).label == "Shoulder"


def test_every_entry_cites_a_source_with_a_citation():
    from needlechart.knowledge.loader import load

    data = load("conditions.json", ConditionFile)
    for condition in data.conditions:
        assert len(data.sources[condition.source].citation) > 10


def test_a_data_file_citing_an_undeclared_source_is_rejected():
    bad = {
        "version": "x",
        "description": "x",
        "sources": {},
        "conditions": [
            {"code": "M54.2", "display": "Neck", "body_area": "neck",
             "laterality": None, "source": "nowhere"}
        ],
    }  # fmt: skip
    with pytest.raises(ValidationError, match="unknown source"):
        ConditionFile.model_validate_json(json.dumps(bad))


def test_a_malformed_code_is_rejected():
    bad = {
        "version": "x",
        "description": "x",
        "sources": {"s": {"citation": "A citation long enough"}},
        "conditions": [
            {"code": "neck pain", "display": "Neck", "body_area": "neck",
             "laterality": None, "source": "s"}
        ],
    }  # fmt: skip
    with pytest.raises(ValidationError):
        ConditionFile.model_validate_json(json.dumps(bad))


def test_the_knowledge_package_does_not_import_django():
    code = (
        "import sys, needlechart.knowledge as k; k.conditions(); "
        "sys.exit(any(m.split('.')[0] == 'django' for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
