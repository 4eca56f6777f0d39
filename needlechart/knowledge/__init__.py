"""Clinical knowledge and decision-support engines: pure Python, no Django import.

Data lives in versioned JSON files under `data/`, validated against `schema.py` when
first used; every clinical fact cites its source. See docs/knowledge.md.
"""

from needlechart.knowledge.adverse_events import (
    adverse_event_types,
    published_rates,
    severity_class,
    wilson_interval,
)
from needlechart.knowledge.coding import suggest_cpt
from needlechart.knowledge.conditions import (
    body_area,
    body_areas,
    condition,
    condition_lookup,
    condition_search,
    conditions,
    conditions_valid_on,
)
from needlechart.knowledge.documents import default_document, default_documents_edition
from needlechart.knowledge.errors import InvalidInput, KnowledgeDataError, UnknownCode
from needlechart.knowledge.instruments import (
    Change,
    change_rule,
    change_rules,
    classify_change,
    component_label,
    instrument,
    instruments,
    load_questionnaire,
    load_questionnaires,
    meets,
    required_change,
    rom_movement,
    rom_movement_lookup,
    rom_movements,
    rom_regions,
    score_questionnaire,
)
from needlechart.knowledge.muscles import muscle, muscle_json, muscles
from needlechart.knowledge.portal import (
    checkin_plan,
    education_page,
    education_pages,
    needs_extra_checkin,
    portal_sources,
    red_flags,
    soreness_effect_from,
    symptom,
    symptoms,
    urgent_advice,
)
from needlechart.knowledge.referral import Candidate, Ranking, rank_muscles
from needlechart.knowledge.regions import Region, atlas_svg, region, region_ids_for, regions
from needlechart.knowledge.safety import (
    Factor,
    PlanItem,
    Screening,
    factor_rule,
    factor_rules,
    screen,
    techniques,
)
from needlechart.knowledge.schema import CheckinPlan, EducationPage, EducationSection, Symptom
from needlechart.knowledge.screen_first import ScreenFirst, screen_first, screen_first_prompts

__all__ = [
    "Candidate",
    "Change",
    "CheckinPlan",
    "EducationPage",
    "EducationSection",
    "Factor",
    "InvalidInput",
    "KnowledgeDataError",
    "PlanItem",
    "Ranking",
    "Region",
    "ScreenFirst",
    "Screening",
    "Symptom",
    "UnknownCode",
    "adverse_event_types",
    "atlas_svg",
    "body_area",
    "body_areas",
    "change_rule",
    "change_rules",
    "checkin_plan",
    "classify_change",
    "component_label",
    "condition",
    "condition_lookup",
    "condition_search",
    "conditions",
    "conditions_valid_on",
    "default_document",
    "default_documents_edition",
    "education_page",
    "education_pages",
    "factor_rule",
    "factor_rules",
    "instrument",
    "instruments",
    "load_questionnaire",
    "load_questionnaires",
    "meets",
    "muscle",
    "muscle_json",
    "muscles",
    "needs_extra_checkin",
    "portal_sources",
    "published_rates",
    "rank_muscles",
    "red_flags",
    "region",
    "region_ids_for",
    "regions",
    "required_change",
    "rom_movement",
    "rom_movement_lookup",
    "rom_movements",
    "rom_regions",
    "score_questionnaire",
    "screen",
    "screen_first",
    "screen_first_prompts",
    "severity_class",
    "soreness_effect_from",
    "suggest_cpt",
    "symptom",
    "symptoms",
    "techniques",
    "urgent_advice",
    "wilson_interval",
]
