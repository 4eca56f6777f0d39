"""Progress plots as SVG: one drawing path for the pages, the portal and the PDFs.

Drawn by `needlechart.outcomes.svg` in a millisecond or two whatever the history: text
stays text, the SVG scales to its container (viewBox only) and is labelled for screen
readers. A plot names at most about ten sessions or dates under its axis, so its size
grows with the points drawn, not with the labels.
"""

import math
from collections.abc import Sequence

from needlechart import knowledge
from needlechart.outcomes.progress import Progress, Series, SessionPain
from needlechart.outcomes.svg import MUTED, Chart, date_ticks, number_ticks, timestamp

BAND, BEFORE, AFTER = "#d7efe0", "#c0392b", "#0b5f73"
# 7.2 by 3.2 inches, in points: the viewBox; the SVG scales to the page width.
WIDTH, HEIGHT = 518.4, 230.4
PAIN_LABEL = (
    "Pain before and after each needling session, with the baseline and the band of an "
    "important improvement"
)


def improvement_band(
    baseline: float, code: str, condition: str | None, higher_is_better: bool
) -> tuple[float, float]:
    """The values that would count as an improvement from `baseline`, by the same rule that
    classifies change (knowledge.change_rule): NPRS 2 points or 30%, whichever is smaller."""
    instrument = knowledge.instrument(code)
    step = knowledge.required_change(knowledge.change_rule(code, condition), baseline)
    if higher_is_better:
        return (min(instrument.maximum, baseline + step), instrument.maximum)
    return (instrument.minimum, max(instrument.minimum, baseline - step))


def band_label(code: str, condition: str | None) -> str:
    """The band's name: "Detectable improvement" where the threshold is a smallest detectable
    change (PSFS, Stratford 1995) rather than an important one, else "Important improvement"."""
    kind = knowledge.change_rule(code, condition).kind
    return "Detectable improvement" if kind == "detectable" else "Important improvement"


def pain_plot(series: Series | None, sessions: Sequence[SessionPain], condition: str) -> str | None:
    """Pain (NPRS) across sessions: each session's before and after, the baseline, and the band
    of an important improvement."""
    if series is None or series.baseline is None:
        return None
    baseline = series.baseline.value
    count = len(sessions)
    chart = Chart(
        WIDTH, HEIGHT, PAIN_LABEL, x_range=(0.5, count + 0.5), y_range=(-0.3, 10.3),
        title="Pain across sessions",
    )  # fmt: skip
    low, high = improvement_band(baseline, "nprs", condition, higher_is_better=False)
    chart.band(low, high, BAND, label="Important improvement")
    chart.hline(baseline, MUTED, dashed=True, label=f"Baseline {baseline:g}")
    numbers = range(1, count + 1)
    chart.segments(
        ((n, s.before, s.after) for n, s in zip(numbers, sessions, strict=True)
         if s.before is not None and s.after is not None),
        MUTED,
    )  # fmt: skip
    chart.line([(n, s.before) for n, s in zip(numbers, sessions, strict=True)], BEFORE,
               marker="circle", label="Before needling")  # fmt: skip
    chart.markers([(n, s.after) for n, s in zip(numbers, sessions, strict=True)], AFTER,
                  marker="square", label="After needling")  # fmt: skip
    if count:
        chart.x_ticks(
            (n, f"{n}\n{sessions[n - 1].when:%d %b}") for n in number_ticks(1, count, most=10)
        )
    chart.y_ticks(range(0, 11, 2))
    chart.x_label("Session (date)")
    chart.y_label("Pain, NPRS (0-10 points)")
    return chart.render()


def progress_plots(current: Progress, condition: str) -> list[str]:
    """An episode's plots as its page and its progress report show them: pain across
    sessions, then each measure over time (those with something to draw)."""
    drawn = [pain_plot(current.pain, current.sessions, condition)]
    drawn += [measure_plot(series, condition) for series, _ in current.measures]
    return [plot for plot in drawn if plot]


def measure_plot(series: Series, condition: str) -> str | None:
    """One measure over time (range of motion, PSFS activity, strength ...) with its band and,
    for range of motion, the reference value. A single value needs no plot."""
    course = series.course
    if len(course) < 2:
        return None
    instrument = series.instrument
    values = [p.value for p in course] + ([series.reference] if series.reference else [])
    top = max(values) * 1.2 if instrument.maximum > 50 else instrument.maximum
    first, last = course[0].when, course[-1].when
    pad = max(timestamp(last) - timestamp(first), 86_400) * 0.04
    chart = Chart(
        WIDTH, HEIGHT, f"{series.label} over time",
        x_range=(timestamp(first) - pad, timestamp(last) + pad),
        y_range=(instrument.minimum, top), title=series.label,
    )  # fmt: skip
    higher_better = instrument.higher_is == "better"
    if series.baseline is not None and instrument.important_change is not None:
        low, high = improvement_band(series.baseline.value, series.code, condition, higher_better)
        chart.band(low, min(high, top), BAND, label=band_label(series.code, condition))
    if series.reference is not None:
        chart.hline(series.reference, AFTER, dashed=True,
                    label=f"Reference {series.reference:g}°")  # fmt: skip
    chart.line([(timestamp(p.when), p.value) for p in course], BEFORE, marker="circle",
               label="Measured")  # fmt: skip
    chart.x_ticks(date_ticks(first, last))
    chart.y_ticks(_round_ticks(instrument.minimum, top))
    chart.x_label("Date")
    chart.y_label(instrument.unit.capitalize())
    return chart.render()


def _round_ticks(low: float, high: float, most: int = 6) -> list[float]:
    """Round values from `low` to `high`, at most `most`."""
    span = high - low
    raw = span / most
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if span / (m * magnitude) <= most)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def sessions_plot(weeks: list[dict]) -> str | None:
    """Signed sessions per week, for the clinic dashboard."""
    if not weeks:
        return None
    most = max(w["sessions"] for w in weeks)
    chart = Chart(
        WIDTH, HEIGHT, "Signed needling sessions per week", x_range=(-0.6, len(weeks) - 0.4),
        y_range=(0, max(1, most) * 1.1), title="Sessions per week",
    )  # fmt: skip
    chart.bars([(i, w["sessions"]) for i, w in enumerate(weeks)], AFTER)
    step = max(1, len(weeks) // 8)
    chart.x_ticks((i, weeks[i]["week"][5:]) for i in range(0, len(weeks), step))
    chart.y_ticks(_round_ticks(0, max(1, most) * 1.1))
    chart.x_label("Week starting (month-day)")
    chart.y_label("Signed sessions")
    return chart.render()


OWN_PAIN_LABEL = "Your pain over time: at each session, before needling, and in your diary"
# The patient's chart is read on a phone: a narrow figure, so that when it is scaled to a
# phone's width (about 300 pixels inside the card) its text is at least 12 pixels high.
# The stylesheet caps its width on larger screens (svg.plot--phone).
PHONE_WIDTH, PHONE_HEIGHT = 259.2, 237.6  # 3.6 by 3.3 inches, in points
PHONE_TEXT = 11  # points; 1 point is 1 unit of the SVG's viewBox


def own_pain_plot(points: Sequence[tuple[object, float, str]]) -> str | None:
    """The patient's own chart in the portal: pain by date, from the clinic (each session
    before needling) and from their diary, with 0-10 kept on the axis so it reads plainly."""
    if len(points) < 2:
        return None
    first, last = min(p[0] for p in points), max(p[0] for p in points)
    pad = max(timestamp(last) - timestamp(first), 86_400) * 0.05
    chart = Chart(
        PHONE_WIDTH, PHONE_HEIGHT, OWN_PAIN_LABEL,
        x_range=(timestamp(first) - pad, timestamp(last) + pad), y_range=(-0.3, 10.3),
        text=PHONE_TEXT, classes="plot plot--phone", legend_below=True,
    )  # fmt: skip
    clinic = [(timestamp(when), value) for when, value, timing in points if timing != "home"]
    home = [(timestamp(when), value) for when, value, timing in points if timing == "home"]
    if clinic:
        chart.line(clinic, BEFORE, marker="circle", size=3.8, label="At the clinic")
    if home:
        chart.markers(home, AFTER, marker="square", size=3.4, label="Your diary")
    chart.x_ticks(date_ticks(first, last, most=4))
    chart.y_ticks(range(0, 11, 2))
    chart.y_label("Pain, 0 to 10")
    return chart.render()
