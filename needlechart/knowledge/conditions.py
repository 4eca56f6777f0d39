"""The ICD-10-CM catalogue for episodes of care, and the coarse body areas."""

import datetime as dt
from functools import cache

from needlechart.knowledge.errors import KnowledgeDataError, UnknownCode
from needlechart.knowledge.loader import load
from needlechart.knowledge.schema import BodyArea, BodyAreaFile, Condition, ConditionFile


@cache
def body_areas() -> tuple[BodyArea, ...]:
    return tuple(load("body_areas.json", BodyAreaFile).body_areas)


def body_area(slug: str) -> BodyArea:
    for area in body_areas():
        if area.slug == slug:
            return area
    raise UnknownCode("body area", slug)


@cache
def conditions() -> tuple[Condition, ...]:
    """Every catalogue code, including retired ones kept for old records."""
    entries = tuple(load("conditions.json", ConditionFile).conditions)
    known_areas = {area.slug for area in body_areas()}
    for entry in entries:
        if entry.body_area not in known_areas:
            raise KnowledgeDataError(f"{entry.code} names unknown body area {entry.body_area!r}")
    return entries


def conditions_valid_on(day: dt.date) -> tuple[Condition, ...]:
    """The codes that may be used for a date of service."""
    return tuple(entry for entry in conditions() if entry.valid_on(day))


def condition(code: str) -> Condition:
    """The catalogue entry for an ICD-10-CM code such as 'M54.2'."""
    for entry in conditions():
        if entry.code == code:
            return entry
    raise UnknownCode("ICD-10-CM code", code)
