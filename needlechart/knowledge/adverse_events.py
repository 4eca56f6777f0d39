"""Published adverse-event rates of dry needling, and Wilson intervals to compare with them."""

import math
from functools import cache

from needlechart.knowledge.loader import load
from needlechart.knowledge.schema import AdverseEventFile

Z_95 = 1.959963984540054


@cache
def published_rates() -> AdverseEventFile:
    """Brady 2014 and Boyce 2020 (per treatment), rare-event figures and the severity map."""
    return load("adverse_events.json", AdverseEventFile)


def wilson_interval(events: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion; (0, 0) when there are no trials."""
    if events < 0 or trials < 0 or events > trials:
        raise ValueError(f"impossible proportion {events}/{trials}")
    if trials == 0:
        return (0.0, 0.0)
    p = events / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    margin = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - margin), min(1.0, centre + margin))


def severity_class(severity: str) -> str:
    """'minor' for mild events, 'major' for moderate or worse, as Brady and Boyce report."""
    data = published_rates().severity
    if severity in data.minor:
        return "minor"
    if severity in data.major:
        return "major"
    raise ValueError(f"unknown severity {severity!r}")


def adverse_event_types() -> dict[str, str]:
    """The catalogue of adverse-event types: code to label."""
    return {t.code: t.label for t in published_rates().types}
