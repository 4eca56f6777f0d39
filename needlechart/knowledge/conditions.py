"""The ICD-10-CM catalogue for episodes of care, its search, and the coarse body areas."""

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache

from needlechart.knowledge.errors import KnowledgeDataError, UnknownCode
from needlechart.knowledge.loader import load
from needlechart.knowledge.schema import (
    BodyArea,
    BodyAreaFile,
    Condition,
    ConditionFile,
    name_key,
)

# A query that looks like a code: a letter and a digit, e.g. "M54", "m7711", "S93.401A".
CODE_LIKE = re.compile(r"^[A-Za-z][0-9][0-9A-Za-z.]*$")


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
    names: dict[str, str] = {}
    for entry in entries:
        if entry.body_area not in known_areas:
            raise KnowledgeDataError(f"{entry.code} names unknown body area {entry.body_area!r}")
        if entry.valid_from and entry.valid_to and entry.valid_to < entry.valid_from:
            raise KnowledgeDataError(f"{entry.code} is valid to a date before it is valid from")
        if any(not term.strip() for term in entry.terms):
            raise KnowledgeDataError(f"{entry.code} has an empty search term")
        # A description typed in full must name one code only.
        for name in (entry.code, entry.display, entry.option_label):
            other = names.setdefault(name_key(name), entry.code)
            if other != entry.code:
                raise KnowledgeDataError(f"{name!r} names both {other} and {entry.code}")
    return entries


def conditions_valid_on(day: dt.date) -> tuple[Condition, ...]:
    """The codes that may be used for a date of service."""
    return tuple(entry for entry in conditions() if entry.valid_on(day))


@cache
def _by_code() -> dict[str, Condition]:
    return {entry.code: entry for entry in conditions()}


def condition(code: str) -> Condition:
    """The catalogue entry for an ICD-10-CM code such as 'M54.2'."""
    found = _by_code().get(code) if isinstance(code, str) else None
    if found is None:
        raise UnknownCode("ICD-10-CM code", code)
    return found


def _compact(code: str) -> str:
    """A code as typed, made comparable: case, spaces and the dot do not matter."""
    return "".join(code.split()).replace(".", "").upper()


@cache
def _names() -> dict[str, Condition]:
    # conditions() has checked that no name belongs to two codes.
    found = {}
    for entry in conditions():
        for name in (entry.display, entry.option_label):
            found[name_key(name)] = entry
        found[_compact(entry.code)] = entry
    return found


def condition_lookup(text: str) -> Condition:
    """The code a clinician typed or chose: the code ("M54.2", "m542"), the option as the
    list shows it ("M54.2 Cervicalgia (neck pain)") or the description alone; case and
    spacing do not matter. Anything else, a search term included, raises UnknownCode."""
    if not isinstance(text, str) or not text.strip():
        raise UnknownCode("ICD-10-CM code", text)
    names = _names()
    found = names.get(name_key(text))
    if found is None and CODE_LIKE.match(text.strip()):
        found = names.get(_compact(text))
    if found is None:
        raise UnknownCode("ICD-10-CM code", text)
    return found


def _words(text: str) -> list[str]:
    # "Golfer's" reads as "golfers"; punctuation separates words.
    return re.findall(r"[0-9a-z]+", text.casefold().replace("'", "").replace("\u2019", ""))


@dataclass(frozen=True, slots=True)
class _Indexed:
    entry: Condition
    code: str  # compact: "M7711"
    display_words: tuple[str, ...]
    term_words: tuple[str, ...]
    # The words joined, " word word ", to find a typed phrase whole.
    display_text: str
    term_texts: tuple[str, ...]


@cache
def _index() -> tuple[_Indexed, ...]:
    rows = []
    for entry in conditions():
        display_words = tuple(_words(entry.display))
        terms = [tuple(_words(term)) for term in entry.terms]
        rows.append(
            _Indexed(
                entry,
                _compact(entry.code),
                display_words,
                tuple(w for words in terms for w in words),
                f" {' '.join(display_words)} ",
                tuple(f" {' '.join(words)} " for words in terms),
            )
        )
    return tuple(rows)


def condition_search(
    text: str, *, on: dt.date | None = None, limit: int | None = 20
) -> list[Condition]:
    """The catalogue codes that match what was typed, best first.

    A code or its beginning ("M77", "m77.1", "S934") finds the codes that start with it. Words
    ("tennis elbow", "right shoulder pain", "plantar") find the codes whose description, or
    another name clinicians use, has a word beginning with each word typed, in any order.
    Codes whose description itself matches come before those found by another name, those
    with the words together before the others, then the catalogue's order (by body area,
    head to foot). `on` keeps only the codes valid for that date of service; `limit` caps
    the list (None for all).
    """
    if not isinstance(text, str):
        return []
    query = text.strip()
    if not query:
        return []
    code_query = _compact(query) if CODE_LIKE.match(query) else None
    words = _words(query)
    phrase = " " + " ".join(words)
    ranked: list[tuple[tuple, Condition]] = []
    for order, row in enumerate(_index()):
        entry = row.entry
        if on is not None and not entry.valid_on(on):
            continue
        if code_query and row.code.startswith(code_query):
            ranked.append(((0, row.code != code_query, len(row.code), order), entry))
            continue
        if not words:
            continue
        through_terms = 0  # words matched only through another name: fewer is better
        for typed in words:
            if any(w.startswith(typed) for w in row.display_words):
                continue
            if not any(w.startswith(typed) for w in row.term_words):
                break
            through_terms += 1
        else:
            whole = phrase in row.display_text or any(phrase in t for t in row.term_texts)
            ranked.append(((1, through_terms, not whole, order), entry))
    ranked.sort(key=lambda pair: pair[0])
    found = [entry for _, entry in ranked]
    return found if limit is None else found[:limit]
