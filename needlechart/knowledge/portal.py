"""The patient portal's clinical content: check-ins, symptom checklist, urgent advice, pages.

After a session the portal asks the patient how they are at each hour of the check-in plan
(a clinic convention placed around the time post-needling soreness settles, Diciolla 2021).
A patient rates soreness 0-10 and ticks symptoms. A red flag shows the urgent advice at once.
Soreness or an effect that has not settled by the last regular check-in adds one more.

Figures in the education pages are written in portal.json as placeholders and filled in
from adverse_events.json and the check-in plan when the file loads, so the rates a patient
reads cannot drift from the rates the clinic dashboard compares with:

    {percent:<study>:<type|minor>}    7.6%      a study's rate, 2 significant figures
    {one-in:<study>:<type|minor>}     1 in 5    the same rate as "1 in N"
    {one-in:<rare event>}             1 in 5,300
    {serious:<study>}                 "none in 7,629 sessions", "20 in 20,464 sessions (...)"
    {treatments:<study|rare event>}   7,629, 5.4 million
    {per-million:<rare event>}        0.87 (and per-million-at-risk: 1.75)
    {checkin-hours}, {extra-hours}    "24 and 48 hours", "72 hours"
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from needlechart.knowledge.adverse_events import published_rates
from needlechart.knowledge.errors import InvalidInput, KnowledgeDataError, UnknownCode
from needlechart.knowledge.loader import load
from needlechart.knowledge.schema import (
    AdverseEventFile,
    AdverseEventStudy,
    CheckinPlan,
    EducationPage,
    EducationSection,
    PortalFile,
    RareEvent,
    Source,
    Symptom,
)

FIGURE = re.compile(r"\{([a-z0-9:-]+)\}")
SORENESS_MAX = 10


@dataclass(frozen=True, slots=True)
class _Portal:
    data: PortalFile
    pages: tuple[EducationPage, ...]
    by_code: dict[str, Symptom]


@cache
def _portal() -> _Portal:
    data = load("portal.json", PortalFile)
    # Rendering every page here means a placeholder naming an unknown study, rate or
    # event stops loading, like any other broken reference.
    rates = published_rates()
    pages = tuple(_render_page(page, rates, data.checkin) for page in data.education_pages)
    return _Portal(data, pages, {s.code: s for s in data.symptoms})


# --- check-ins -----------------------------------------------------------------------------


def checkin_plan() -> CheckinPlan:
    return _portal().data.checkin


def soreness_effect_from() -> int:
    """Soreness (0-10) from which a check-in's soreness is recorded as 'pain-after'."""
    return _portal().data.soreness_effect.at_least


def needs_extra_checkin(soreness: int, symptom_codes: Iterable[str]) -> bool:
    """Whether the answers at the last regular check-in call for the extra one.

    True when soreness reaches the plan's threshold, or when any ticked symptom is one
    that should have settled by then (every symptom but bruising, which normally takes
    a week or so to fade). Unknown codes raise UnknownCode.
    """
    _check_soreness(soreness)
    reported = [symptom(code) for code in _codes(symptom_codes)]
    if soreness >= checkin_plan().extra_when_soreness_at_least:
        return True
    return any(s.extra_checkin for s in reported)


def _check_soreness(soreness: object) -> None:
    # bool is an int in Python; a tick box passed by mistake must not read as soreness 1.
    if isinstance(soreness, bool) or not isinstance(soreness, int):
        raise InvalidInput(f"soreness must be a whole number, not {soreness!r}")
    if not 0 <= soreness <= SORENESS_MAX:
        raise InvalidInput(f"soreness must be from 0 to {SORENESS_MAX}, not {soreness}")


def _codes(symptom_codes: Iterable[str]) -> list[str]:
    # A bare string is iterable too; its letters would be reported as unknown codes.
    if isinstance(symptom_codes, str):
        raise InvalidInput(f"symptom codes must be a list, not the string {symptom_codes!r}")
    return list(symptom_codes)


# --- symptoms ------------------------------------------------------------------------------


def symptoms() -> list[Symptom]:
    """The checklist a patient ticks, in display order."""
    return list(_portal().data.symptoms)


def symptom(code: str) -> Symptom:
    try:
        return _portal().by_code[code]
    except (KeyError, TypeError):
        raise UnknownCode("symptom", code) from None


def red_flags(symptom_codes: Iterable[str]) -> list[Symptom]:
    """The red-flag symptoms among the codes, once each, in display order."""
    ticked = {symptom(code).code for code in _codes(symptom_codes)}
    return [s for s in symptoms() if s.red_flag and s.code in ticked]


def urgent_advice() -> str:
    """What a patient reads as soon as they tick a red flag."""
    return _portal().data.urgent_advice.text


# --- education pages -----------------------------------------------------------------------


def education_pages() -> list[EducationPage]:
    """The pages with their figures filled in from the data."""
    return list(_portal().pages)


def education_page(slug: str) -> EducationPage:
    for page in _portal().pages:
        if page.slug == slug:
            return page
    raise UnknownCode("education page", slug)


def portal_sources() -> dict[str, Source]:
    """The sources the checklist, plan and pages cite, by key."""
    return dict(_portal().data.sources)


def _render_page(page: EducationPage, rates: AdverseEventFile, plan: CheckinPlan) -> EducationPage:
    def fill(text: str) -> str:
        filled = FIGURE.sub(lambda match: _figure(match.group(1), rates, plan), text)
        if "{" in filled or "}" in filled:
            raise KnowledgeDataError(f"page {page.slug}: malformed placeholder in {text!r}")
        return filled

    return EducationPage(
        slug=page.slug,
        title=fill(page.title),
        summary=fill(page.summary),
        sections=[
            EducationSection(heading=fill(s.heading), paragraphs=[fill(p) for p in s.paragraphs])
            for s in page.sections
        ],
        sources=page.sources,
    )


def _figure(token: str, rates: AdverseEventFile, plan: CheckinPlan) -> str:
    studies = {s.key: s for s in rates.studies}
    rare = {r.key: r for r in rates.rare_events}

    def study(key: str) -> AdverseEventStudy:
        if key not in studies:
            raise KnowledgeDataError(f"{{{token}}} names unknown study {key!r}")
        return studies[key]

    def event(key: str) -> RareEvent:
        if key not in rare:
            raise KnowledgeDataError(f"{{{token}}} names unknown rare event {key!r}")
        return rare[key]

    match token.split(":"):
        case ["percent", key, measure]:
            return f"{_plain(_significant(_rate(study(key), measure, token) * 100))}%"
        case ["one-in", key, measure]:
            return _one_in(1 / _rate(study(key), measure, token))
        case ["one-in", key]:
            entry = event(key)
            if not entry.events:
                raise KnowledgeDataError(f"{{{token}}}: {key} has no event count")
            return _one_in(Decimal(entry.treatments) / entry.events)
        case ["serious", key]:
            entry = study(key)
            sessions = f"{entry.treatments:,} sessions"
            if entry.major_events == 0:
                return f"none in {sessions}"
            ratio = _one_in(Decimal(entry.treatments) / entry.major_events)
            return f"{entry.major_events:,} in {sessions} (about {ratio})"
        case ["treatments", key]:
            count = study(key).treatments if key in studies else event(key).treatments
            return _count(count)
        case ["per-million" | "per-million-at-risk" as kind, key]:
            entry = event(key)
            value = entry.per_million if kind == "per-million" else entry.per_million_at_risk_areas
            if value is None:
                raise KnowledgeDataError(f"{{{token}}}: {key} has no such figure")
            return _plain(Decimal(str(value)))
        case ["checkin-hours"]:
            return " and ".join(str(h) for h in plan.hours) + " hours"
        case ["extra-hours"]:
            return f"{plan.extra_hours} hours"
    raise KnowledgeDataError(f"unknown placeholder {{{token}}}")


def _rate(study: AdverseEventStudy, measure: str, token: str) -> Decimal:
    # Decimal from the written value, so 0.0755 rounds to 7.6% as a reader would expect
    # (the binary float 7.55 lies just below and would round to 7.5).
    if measure == "minor":
        return Decimal(str(study.minor_rate))
    if measure in study.by_type:
        return Decimal(str(study.by_type[measure]))
    raise KnowledgeDataError(f"{{{token}}}: {study.key} reports no rate for {measure!r}")


def _significant(value: Decimal, digits: int = 2) -> Decimal:
    if value == 0:
        return value
    step = Decimal(1).scaleb(value.adjusted() - digits + 1)
    return value.quantize(step, rounding=ROUND_HALF_UP)


def _one_in(n: Decimal) -> str:
    # Below 10 a whole number reads best ("1 in 5"); above, two figures ("1 in 1,000").
    rounded = n.quantize(Decimal(1), rounding=ROUND_HALF_UP) if n < 10 else _significant(n)
    return f"1 in {_plain(rounded)}"


def _count(n: int) -> str:
    if n >= 1_000_000:
        return f"{_plain(_significant(Decimal(n) / 1_000_000))} million"
    return f"{n:,}"


def _plain(value: Decimal) -> str:
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value.normalize():f}"
