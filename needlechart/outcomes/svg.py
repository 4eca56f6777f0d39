"""A small SVG line chart: the one drawing path of the progress plots (pages, portal, PDFs).

The plots are a few lines, markers, a band and labelled axes, so they are written straight
as SVG: a 500-point plot in about a millisecond, where a general plotting library took a
quarter of a second. Text stays text (selectable, read by screen readers, a few bytes a
label), in the page's own font. Sizes are in the viewBox's units, which are points: the SVG
scales to the width of its container and its text with it.
"""

import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from html import escape

INK, MUTED, GRID = "#1d2733", "#5b6775", "#e4e8ec"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
# An average glyph is about this share of the font size wide: enough to place labels.
GLYPH = 0.56

Number = float | int


def _f(value: float) -> str:
    """A coordinate with two decimals at most: a smaller file, the same drawing."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _text_width(text: str, size: float) -> float:
    return len(text) * size * GLYPH


@dataclass
class Legend:
    label: str
    color: str
    kind: str  # "line", "dashed", "circle", "square", "band"


@dataclass
class Chart:
    """One plot: `x_range` and `y_range` in data units; x may be dates (as datetimes)."""

    width: float
    height: float
    label: str  # what a screen reader says
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    title: str = ""
    text: float = 9  # tick labels; axis labels the same, the title larger
    classes: str = "plot"
    legend_below: bool = False
    _items: list[str] = field(default_factory=list)
    _legend: list[Legend] = field(default_factory=list)
    _x_ticks: list[tuple[float, list[str]]] = field(default_factory=list)
    _y_ticks: list[tuple[float, str]] = field(default_factory=list)
    _x_label: str = ""
    _y_label: str = ""

    # --- the data's place on the page ------------------------------------------------

    def _plot_box(self) -> tuple[float, float, float, float]:
        """Left, top, right, bottom of the plotting area, leaving room for the labels."""
        size = self.text
        left = self._left()
        top = size * 1.2 + (self.text * 1.9 if self.title else 4)
        if not self.legend_below and self._legend:
            # The legend sits between the title and the plot, where it covers no point.
            top += size * 1.5 * self._legend_rows()
        lines = max((len(lines) for _, lines in self._x_ticks), default=1)
        bottom = size * (1.25 * lines + 0.9) + (size * 1.5 if self._x_label else 0)
        if self.legend_below and self._legend:
            bottom += size * 1.6 * self._legend_rows()
        right = size * 1.2
        return left, top, self.width - right, self.height - bottom

    def _left(self) -> float:
        """Room for the y-axis labels and its title."""
        size = self.text
        widest = max((_text_width(t, size) for _, t in self._y_ticks), default=size)
        return widest + size * 0.8 + (size * 1.6 if self._y_label else 0) + 4

    def _legend_layout(self) -> list[list[tuple[Legend, float]]]:
        """The legend's entries in rows, each as wide as its text, wrapped to the room."""
        size = self.text
        room = self.width - size * 2 if self.legend_below else self.width - self._left() - size
        rows: list[list[tuple[Legend, float]]] = [[]]
        used = 0.0
        for item in self._legend:
            width = _text_width(item.label, size) + size * 4.2
            if rows[-1] and used + width > room:
                rows.append([])
                used = 0.0
            rows[-1].append((item, width))
            used += width
        return rows

    def _legend_rows(self) -> int:
        return len(self._legend_layout()) if self._legend else 0

    def _scale(self) -> tuple[Callable[[float], float], Callable[[float], float]]:
        left, top, right, bottom = self._plot_box()
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        x_span, y_span = (x1 - x0) or 1, (y1 - y0) or 1

        def x(value: float) -> float:
            return left + (value - x0) / x_span * (right - left)

        def y(value: float) -> float:
            return bottom - (value - y0) / y_span * (bottom - top)

        return x, y

    # --- what is drawn, in data units (turned into page units when rendered) ---------

    def band(self, low: float, high: float, color: str, label: str = "") -> None:
        self._items.append(("band", low, high, color))  # type: ignore[arg-type]
        if label:
            self._legend.append(Legend(label, color, "band"))

    def hline(self, value: float, color: str, *, dashed: bool = False, label: str = "") -> None:
        self._items.append(("hline", value, color, dashed))  # type: ignore[arg-type]
        if label:
            self._legend.append(Legend(label, color, "dashed" if dashed else "line"))

    def line(
        self, points: Sequence[tuple[float, float]], color: str, *, marker: str = "",
        label: str = "", width: float = 1.6, size: float = 3.2,
    ) -> None:  # fmt: skip
        """A line through `points` (None values break it), with a marker at each point."""
        self._items.append(("line", list(points), color, marker, width, size))  # type: ignore[arg-type]
        if label:
            self._legend.append(Legend(label, color, marker or "line"))

    def markers(
        self, points: Sequence[tuple[float, float]], color: str, *, marker: str = "circle",
        label: str = "", size: float = 3.2,
    ) -> None:  # fmt: skip
        self._items.append(("line", list(points), color, marker, 0, size))  # type: ignore[arg-type]
        if label:
            self._legend.append(Legend(label, color, marker))

    def segments(self, pairs: Iterable[tuple[float, float, float]], color: str) -> None:
        """Vertical segments, (x, y from, y to) each: one path however many."""
        self._items.append(("segments", list(pairs), color))  # type: ignore[arg-type]

    def bars(self, values: Sequence[tuple[float, float]], color: str, width: float = 0.8) -> None:
        self._items.append(("bars", list(values), color, width))  # type: ignore[arg-type]

    def x_ticks(self, ticks: Iterable[tuple[float, str]]) -> None:
        """Tick labels under the axis; a label may hold a second line after a newline."""
        self._x_ticks = [(value, text.split("\n")) for value, text in ticks]

    def y_ticks(self, values: Iterable[float], fmt: Callable[[float], str] = lambda v: f"{v:g}"):
        self._y_ticks = [(value, fmt(value)) for value in values]

    def x_label(self, text: str) -> None:
        self._x_label = text

    def y_label(self, text: str) -> None:
        self._y_label = text

    # --- the SVG ----------------------------------------------------------------------

    def render(self) -> str:
        x, y = self._scale()
        left, top, right, bottom = self._plot_box()
        size = self.text
        out = [
            f'<svg class="{self.classes}" role="img" aria-label="{escape(self.label)}" '
            f'viewBox="0 0 {_f(self.width)} {_f(self.height)}" '
            'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg" '
            f'font-family="{escape(FONT)}" font-size="{_f(size)}" fill="{INK}">'
        ]
        if self.title:
            out.append(
                f'<text x="{_f(left)}" y="{_f(self.text * 1.5)}" font-size="{_f(size * 1.22)}">'
                f"{escape(self.title)}</text>"
            )
        # Grid lines and the y-axis labels.
        for value, text in self._y_ticks:
            at = _f(y(value))
            out.append(
                f'<line x1="{_f(left)}" x2="{_f(right)}" y1="{at}" y2="{at}" stroke="{GRID}" '
                'stroke-width="0.8"/>'
            )
            out.append(
                f'<text x="{_f(left - size * 0.5)}" y="{at}" text-anchor="end" '
                f'dominant-baseline="central">{escape(text)}</text>'
            )
        for item in self._items:
            out.append(self._draw(item, x, y, left, right, bottom))
        # The axes: left and bottom only.
        out.append(
            f'<path d="M{_f(left)} {_f(top)}V{_f(bottom)}H{_f(right)}" fill="none" '
            f'stroke="{INK}" stroke-width="0.8"/>'
        )
        for value, lines in self._x_ticks:
            at = x(value)
            out.append(
                f'<line x1="{_f(at)}" x2="{_f(at)}" y1="{_f(bottom)}" y2="{_f(bottom + 3.5)}" '
                f'stroke="{INK}" stroke-width="0.8"/>'
            )
            spans = "".join(
                f'<tspan x="{_f(at)}" dy="{_f(size * (1.25 if i else 1.35))}">{escape(t)}</tspan>'
                for i, t in enumerate(lines)
            )
            out.append(f'<text y="{_f(bottom + 3)}" text-anchor="middle">{spans}</text>')
        lines = max((len(lines) for _, lines in self._x_ticks), default=1)
        if self._x_label:
            below = bottom + size * (1.25 * lines + 2.2)
            out.append(
                f'<text x="{_f((left + right) / 2)}" y="{_f(below)}" text-anchor="middle">'
                f"{escape(self._x_label)}</text>"
            )
        if self._y_label:
            middle = (top + bottom) / 2
            out.append(
                f'<text transform="translate({_f(size * 1.1)} {_f(middle)}) rotate(-90)" '
                f'text-anchor="middle">{escape(self._y_label)}</text>'
            )
        out.append(self._legend_svg(left, top, right, bottom, lines))
        out.append("</svg>")
        return "".join(out)

    def _draw(self, item, x, y, left: float, right: float, bottom: float) -> str:
        kind = item[0]
        if kind == "band":
            _, low, high, color = item
            y_low, y_high = y(low), y(high)
            return (
                f'<rect x="{_f(left)}" y="{_f(min(y_low, y_high))}" width="{_f(right - left)}" '
                f'height="{_f(abs(y_low - y_high))}" fill="{color}"/>'
            )
        if kind == "hline":
            _, value, color, dashed = item
            dash = ' stroke-dasharray="4 3"' if dashed else ""
            at = _f(y(value))
            return (
                f'<line x1="{_f(left)}" x2="{_f(right)}" y1="{at}" y2="{at}" stroke="{color}" '
                f'stroke-width="1"{dash}/>'
            )
        if kind == "segments":
            _, pairs, color = item
            d = "".join(f"M{_f(x(px))} {_f(y(a))}V{_f(y(b))}" for px, a, b in pairs)
            return f'<path d="{d}" stroke="{color}" stroke-width="1" fill="none"/>' if d else ""
        if kind == "bars":
            _, values, color, width = item
            step = (x(1) - x(0)) * width
            return "".join(
                f'<rect x="{_f(x(px) - step / 2)}" y="{_f(y(v))}" width="{_f(step)}" '
                f'height="{_f(bottom - y(v))}" fill="{color}"/>'
                for px, v in values
            )
        _, points, color, marker, width, size = item
        parts = []
        if width:
            d, pen = [], "M"
            for px, py in points:
                if py is None:
                    pen = "M"
                    continue
                d.append(f"{pen}{_f(x(px))} {_f(y(py))}")
                pen = "L"
            parts.append(
                f'<path d="{"".join(d)}" stroke="{color}" stroke-width="{_f(width)}" '
                'fill="none" stroke-linejoin="round"/>'
            )
        if marker:
            parts.append(f'<g fill="{color}">')
            parts.extend(_marker(marker, x(px), y(py), size) for px, py in points if py is not None)
            parts.append("</g>")
        return "".join(parts)

    def _legend_svg(self, left: float, top: float, right: float, bottom: float, lines: int) -> str:
        if not self._legend:
            return ""
        size = self.text
        rows = self._legend_layout()
        out = [f'<g font-size="{_f(size)}">']
        if self.legend_below:
            # Under the plot, each row centred.
            y0 = self.height - size * 1.6 * len(rows) + size * 0.4
            for r, row in enumerate(rows):
                x0 = (self.width - sum(width for _, width in row) + size * 1.2) / 2
                for item, width in row:
                    out.append(_legend_entry(item, x0, y0 + r * size * 1.6, size))
                    x0 += width
        else:
            # Above the plot, from its left edge, where it covers no point.
            y0 = top - size * 1.5 * len(rows) - size * 0.3
            for r, row in enumerate(rows):
                x0 = left
                for item, width in row:
                    out.append(_legend_entry(item, x0, y0 + r * size * 1.5, size))
                    x0 += width
        out.append("</g>")
        return "".join(out)


def _marker(kind: str, cx: float, cy: float, size: float) -> str:
    if kind == "square":
        half = size * 0.9
        return f'<rect x="{_f(cx - half)}" y="{_f(cy - half)}" width="{_f(2 * half)}" height="{_f(2 * half)}"/>'  # noqa: E501
    return f'<circle cx="{_f(cx)}" cy="{_f(cy)}" r="{_f(size)}"/>'


def _legend_entry(item: Legend, x0: float, y0: float, size: float) -> str:
    """One legend entry: its key (line, marker or band swatch) and its text."""
    middle = y0 + size * 0.5
    key = size * 2.2
    if item.kind == "band":
        mark = f'<rect x="{_f(x0)}" y="{_f(y0)}" width="{_f(key)}" height="{_f(size)}" fill="{item.color}"/>'  # noqa: E501
    elif item.kind in ("line", "dashed"):
        dash = ' stroke-dasharray="4 3"' if item.kind == "dashed" else ""
        mark = (
            f'<line x1="{_f(x0)}" x2="{_f(x0 + key)}" y1="{_f(middle)}" y2="{_f(middle)}" '
            f'stroke="{item.color}" stroke-width="1.4"{dash}/>'
        )
    else:
        mark = f'<g fill="{item.color}">{_marker(item.kind, x0 + key / 2, middle, size * 0.38)}</g>'
    text = (
        f'<text x="{_f(x0 + key + size * 0.4)}" y="{_f(middle)}" dominant-baseline="central">'
        f"{escape(item.label)}</text>"
    )
    return mark + text


# --- ticks -----------------------------------------------------------------------------------


def number_ticks(first: int, last: int, most: int = 10) -> list[int]:
    """Whole numbers from `first` to `last`, at most `most` of them, at a round step."""
    span = max(1, last - first)
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000):
        if span / step < most:
            break
    start = first if step == 1 else math.ceil(first / step) * step
    ticks = list(range(start, last + 1, step))
    if first not in ticks and step > 1:
        ticks.insert(0, first)
        if len(ticks) > 1 and (ticks[1] - first) <= step / 2:
            del ticks[1]
    return ticks


def timestamp(moment: dt.datetime | dt.date) -> float:
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime.combine(moment, dt.time.min, dt.UTC)
    return moment.timestamp()


DAY = 86_400.0


def date_ticks(first: dt.datetime, last: dt.datetime, most: int = 6) -> list[tuple[float, str]]:
    """Dates from `first` to `last` at a round step (days, weeks, months), at most `most`,
    labelled "03 Nov"; a second line gives the month or the year where it changes."""
    start, end = (d.date() if isinstance(d, dt.datetime) else d for d in (first, last))
    days = max(1, (end - start).days)
    steps = [(1, "day"), (2, "day"), (7, "day"), (14, "day"), (1, "month"), (2, "month"),
             (3, "month"), (6, "month"), (12, "month"), (24, "month"), (60, "month")]  # fmt: skip
    for count, unit in steps:
        length = count * (30.4 if unit == "month" else 1)
        if days / length < most:
            break
    ticks: list[dt.date] = []
    if unit == "day":
        day = start
        while day <= end:
            ticks.append(day)
            day += dt.timedelta(days=count)
    else:
        month = (start.year * 12 + start.month - 1 + count - 1) // count * count
        while True:
            day = dt.date(month // 12, month % 12 + 1, 1)
            if day > end:
                break
            if day >= start:
                ticks.append(day)
            month += count
        if not ticks:
            ticks = [start]
    labels = []
    previous_year = None
    for day in ticks:
        text = f"{day:%d %b}" if unit == "day" or count < 12 else f"{day:%Y}"
        if day.year != previous_year and not (unit == "month" and count >= 12):
            text += f"\n{day:%Y}"
        previous_year = day.year
        labels.append((timestamp(day), text))
    return labels
