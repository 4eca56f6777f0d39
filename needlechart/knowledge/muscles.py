"""The muscle catalogue: trigger-point sites, typical referral zones, structures at risk."""

from functools import cache

from needlechart.knowledge.errors import KnowledgeDataError, UnknownCode
from needlechart.knowledge.loader import load
from needlechart.knowledge.regions import region_bases
from needlechart.knowledge.schema import MuscleEntry, MuscleFile, Source

Muscle = MuscleEntry


@cache
def _file() -> MuscleFile:
    data = load("muscles.json", MuscleFile)
    bases = region_bases()
    for muscle in data.muscles:
        named = [
            *muscle.needling_regions,
            *muscle.referral.primary,
            *muscle.referral.spillover,
        ]
        for name in named:
            if name not in bases:
                raise KnowledgeDataError(f"muscle {muscle.slug} names unknown region {name!r}")
    return data


def muscles() -> tuple[Muscle, ...]:
    return tuple(_file().muscles)


@cache
def _by_slug() -> dict[str, Muscle]:
    return {m.slug: m for m in muscles()}


def muscle(slug: str) -> Muscle:
    try:
        return _by_slug()[slug]
    except KeyError:
        raise UnknownCode("muscle", slug) from None


def muscle_sources(entry: Muscle) -> list[Source]:
    return [_file().sources[key] for key in entry.sources]


def muscle_json(entry: Muscle) -> dict:
    """A muscle as plain JSON, with its sources spelled out."""
    data = entry.model_dump()
    data["sources"] = [
        {"key": key, **_file().sources[key].model_dump(exclude_none=True)} for key in entry.sources
    ]
    return data
