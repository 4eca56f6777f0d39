"""Progress plots as SVG: one code path for the page now and a PDF later.

matplotlib's object API (no pyplot) is safe in a web server; the SVG it writes is made
responsive (viewBox only) and labelled for screen readers.
"""

import io
import re
from collections.abc import Sequence

from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from needlechart import knowledge
from needlechart.outcomes.progress import Series, SessionPain

INK, MUTED, BAND, BEFORE, AFTER = "#1d2733", "#5b6775", "#d7efe0", "#c0392b", "#0b5f73"
SIZE = (7.2, 3.2)  # inches; the SVG scales to the page width
PAIN_LABEL = (
    "Pain before and after each needling session, with the baseline and the band of an "
    "important improvement"
)


def _figure(
    title: str, size: tuple[float, float] = SIZE, labelsize: float = 9
) -> tuple[Figure, object]:
    figure = Figure(figsize=size, dpi=100, layout="constrained")
    axes = figure.add_subplot()
    if title:
        axes.set_title(title, fontsize=11, color=INK, loc="left")
    axes.tick_params(colors=INK, labelsize=labelsize)
    axes.grid(axis="y", color="#e4e8ec", linewidth=0.8)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return figure, axes


def _svg(figure: Figure, label: str) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    # Scale with the page: keep the viewBox, drop the fixed size.
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", svg, count=1)
    return svg.replace(
        "<svg",
        f'<svg class="plot" role="img" aria-label="{label}" preserveAspectRatio="xMinYMin meet"',
        1,
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
    figure, axes = _figure("Pain across sessions")
    baseline = series.baseline.value
    low, high = improvement_band(baseline, "nprs", condition, higher_is_better=False)
    axes.axhspan(low, high, color=BAND, zorder=0, label="Important improvement")
    axes.axhline(baseline, color=MUTED, linestyle="--", linewidth=1, label=f"Baseline {baseline:g}")
    numbers = list(range(1, len(sessions) + 1))
    for number, session in zip(numbers, sessions, strict=True):
        if session.before is not None and session.after is not None:
            axes.plot([number, number], [session.before, session.after], color=MUTED, linewidth=1)
    axes.plot(numbers, [s.before for s in sessions], "o-", color=BEFORE, label="Before needling")
    axes.plot(numbers, [s.after for s in sessions], "s", color=AFTER, label="After needling")
    axes.set_xlabel("Session (date)", fontsize=9, color=INK)
    axes.set_ylabel("Pain, NPRS (0-10 points)", fontsize=9, color=INK)
    axes.set_ylim(-0.3, 10.3)
    axes.set_xticks(
        numbers, [f"{n}\n{s.when:%d %b}" for n, s in zip(numbers, sessions, strict=True)]
    )
    if numbers:
        axes.set_xlim(0.5, numbers[-1] + 0.5)
    axes.legend(fontsize=8, loc="upper right", frameon=False, ncols=2)
    return _svg(figure, PAIN_LABEL)


def measure_plot(series: Series, condition: str) -> str | None:
    """One measure over time (range of motion, PSFS activity, strength ...) with its band and,
    for range of motion, the reference value. A single value needs no plot."""
    course = series.course
    if len(course) < 2:
        return None
    instrument = series.instrument
    figure, axes = _figure(series.label)
    higher_better = instrument.higher_is == "better"
    if series.baseline is not None and instrument.important_change is not None:
        low, high = improvement_band(series.baseline.value, series.code, condition, higher_better)
        axes.axhspan(low, high, color=BAND, zorder=0, label=band_label(series.code, condition))
    if series.reference is not None:
        axes.axhline(
            series.reference,
            color=AFTER,
            linestyle=":",
            linewidth=1.2,
            label=f"Reference {series.reference:g}°",
        )
    axes.plot(
        [p.when for p in course], [p.value for p in course], "o-", color=BEFORE, label="Measured"
    )
    axes.set_xlabel("Date", fontsize=9, color=INK)
    axes.set_ylabel(instrument.unit.capitalize(), fontsize=9, color=INK)
    values = [p.value for p in course] + ([series.reference] if series.reference else [])
    top = max(values) * 1.2 if instrument.maximum > 50 else instrument.maximum
    axes.set_ylim(instrument.minimum, top)
    locator = AutoDateLocator(maxticks=6)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.legend(fontsize=8, loc="best", frameon=False)
    return _svg(figure, f"{series.label} over time")


def sessions_plot(weeks: list[dict]) -> str | None:
    """Signed sessions per week, for the clinic dashboard."""
    if not weeks:
        return None
    figure, axes = _figure("Sessions per week")
    axes.bar(range(len(weeks)), [w["sessions"] for w in weeks], color=AFTER)
    step = max(1, len(weeks) // 8)
    ticks = list(range(0, len(weeks), step))
    axes.set_xticks(ticks, [weeks[i]["week"][5:] for i in ticks])
    axes.set_xlabel("Week starting (month-day)", fontsize=9, color=INK)
    axes.set_ylabel("Signed sessions", fontsize=9, color=INK)
    return _svg(figure, "Signed needling sessions per week")


OWN_PAIN_LABEL = "Your pain over time: at each session, before needling, and in your diary"
# The patient's chart is read on a phone: a narrow figure, so that when it is scaled to a
# phone's width (about 300 pixels inside the card) its text is at least 12 pixels high.
# The stylesheet caps its width on larger screens (svg.plot--phone).
PHONE_SIZE = (3.6, 3.3)  # inches
PHONE_TEXT = 11  # points; 1 point is 1 unit of the SVG's viewBox


def own_pain_plot(points: Sequence[tuple[object, float, str]]) -> str | None:
    """The patient's own chart in the portal: pain by date, from the clinic (each session
    before needling) and from their diary, with 0-10 kept on the axis so it reads plainly."""
    if len(points) < 2:
        return None
    figure, axes = _figure("", size=PHONE_SIZE, labelsize=PHONE_TEXT)
    clinic = [(when, value) for when, value, timing in points if timing != "home"]
    home = [(when, value) for when, value, timing in points if timing == "home"]
    if clinic:
        axes.plot(
            *zip(*clinic, strict=True), "o-", color=BEFORE, markersize=7, label="At the clinic"
        )
    if home:
        axes.plot(*zip(*home, strict=True), "s", color=AFTER, markersize=7, label="Your diary")
    axes.set_ylabel("Pain, 0 to 10", fontsize=PHONE_TEXT, color=INK)
    axes.set_ylim(-0.3, 10.3)
    axes.set_yticks([0, 2, 4, 6, 8, 10])
    locator = AutoDateLocator(minticks=2, maxticks=4)
    axes.xaxis.set_major_locator(locator)
    # Under the dates, the month or year they fall in, in words: "November 2026".
    offsets = ["", "%Y", "%B %Y", "%d %B %Y", "%d %B %Y", "%d %B %Y %H:%M"]
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator, offset_formats=offsets))
    axes.xaxis.get_offset_text().set_fontsize(PHONE_TEXT)
    # Below the plot, where it never covers a point.
    figure.legend(loc="outside lower center", fontsize=PHONE_TEXT, frameon=False, ncols=2)
    svg = _svg(figure, OWN_PAIN_LABEL)
    return svg.replace('<svg class="plot"', '<svg class="plot plot--phone"', 1)
