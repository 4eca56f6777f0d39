"""Clinical knowledge and decision-support engines: pure Python, no Django import.

Data lives in versioned JSON files under `data/`, validated against `schema.py` when
first used; every clinical fact cites its source. See docs/knowledge.md.
"""

import importlib
import sys
from types import ModuleType
from typing import Any

# Each public name and the module it lives in. A name is imported on first use, so that
# importing the package (every model does) costs nothing until the data is needed: the
# command line and Django's start-up stay fast.
_WHERE = {
    "Candidate": "referral",
    "Change": "instruments",
    "CheckinPlan": "schema",
    "EducationPage": "schema",
    "EducationSection": "schema",
    "Factor": "safety",
    "InvalidInput": "errors",
    "KnowledgeDataError": "errors",
    "PlanItem": "safety",
    "Ranking": "referral",
    "Region": "regions",
    "ScreenFirst": "screen_first",
    "Screening": "safety",
    "Symptom": "schema",
    "UnknownCode": "errors",
    "adverse_event_types": "adverse_events",
    "atlas_svg": "regions",
    "body_area": "conditions",
    "body_areas": "conditions",
    "change_rule": "instruments",
    "change_rules": "instruments",
    "checkin_plan": "portal",
    "classify_change": "instruments",
    "component_label": "instruments",
    "condition": "conditions",
    "condition_lookup": "conditions",
    "condition_search": "conditions",
    "conditions": "conditions",
    "conditions_valid_on": "conditions",
    "default_document": "documents",
    "default_documents_edition": "documents",
    "education_page": "portal",
    "education_pages": "portal",
    "factor_rule": "safety",
    "factor_rules": "safety",
    "instrument": "instruments",
    "instruments": "instruments",
    "load_questionnaire": "instruments",
    "load_questionnaires": "instruments",
    "meets": "instruments",
    "muscle": "muscles",
    "muscle_json": "muscles",
    "muscles": "muscles",
    "needs_extra_checkin": "portal",
    "portal_sources": "portal",
    "published_rates": "adverse_events",
    "rank_muscles": "referral",
    "red_flags": "portal",
    "region": "regions",
    "region_ids_for": "regions",
    "regions": "regions",
    "required_change": "instruments",
    "rom_movement": "instruments",
    "rom_movement_lookup": "instruments",
    "rom_movements": "instruments",
    "rom_regions": "instruments",
    "score_questionnaire": "instruments",
    "screen": "safety",
    "screen_first": "screen_first",
    "screen_first_prompts": "screen_first",
    "severity_class": "adverse_events",
    "soreness_effect_from": "portal",
    "suggest_cpt": "coding",
    "symptom": "portal",
    "symptoms": "portal",
    "techniques": "safety",
    "urgent_advice": "portal",
    "wilson_interval": "adverse_events",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        # A submodule by name (knowledge.schema), or a name that does not exist.
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


class _Package(ModuleType):
    """Some modules share their name with their main function (`regions` in `regions.py`).
    Python binds a submodule to its package's attribute when it is imported; here the
    function keeps the name, and the module stays reachable through `sys.modules`."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, ModuleType) and _WHERE.get(name) == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
