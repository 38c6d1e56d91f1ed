"""Every chart of the site, drawn on the server as SVG: bars with interval whiskers, histograms, columns.

Charts are plain SVG text so they show without JavaScript, pass a strict Content-Security-
Policy (presentation attributes only, no ``style``), and download as images. Each chart
carries a ``<title>`` and ``<desc>`` and is an ``img`` for screen readers, whose text gives
every bar's estimate and interval, so nothing is only visible.

The functions here lay a chart out (scales, positions, the text read aloud); the SVG itself is
written by the Jinja templates in ``survey/templates/charts/`` (``chart.svg`` is every chart's
frame), which escape every label. They render without a Flask app, so a download can draw them.
"""
from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Optional
from pathlib import Path
from xml.sax.saxutils import escape

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from survey.reporting.tables import QuestionTable

BAR_COLOUR = "#3b6ea8"
NET_COLOUR = "#20324a"  # a net (several answers added up) is darker than the answers it adds
WHISKER_COLOUR = "#1d1d1d"
GRID_COLOUR = "#d0d0d0"
TEXT_COLOUR = "#1d1d1d"
COLOURS = {"bar": BAR_COLOUR, "net": NET_COLOUR, "whisker": WHISKER_COLOUR, "grid": GRID_COLOUR, "text": TEXT_COLOUR}
FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif"

WIDTH = 360  # narrow enough that 14px text stays legible when a phone shrinks the chart
LEFT = 8
VALUE_WIDTH = 60
LABEL_HEIGHT = 20  # each answer's label sits on its own line above its bar, so long labels fit
BAR_HEIGHT = 16
ROW_GAP = 10
GROUP_HEIGHT = 30
TOP = 8
BOTTOM = 30


@dataclass(frozen=True)
class Bar:
    """One bar: a share (0–1) with its interval; ``group`` starts a labelled section (crosstabs);
    ``net`` draws it darker, with "(net)" after its label."""

    label: str
    estimate: float
    ci_low: Optional[float] = None
    ci_high: Optional[float] = None
    group: Optional[str] = None
    net: bool = False


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def _xml_text(value: object) -> Markup:
    """Every value a chart template writes, escaped for XML text and double-quoted attributes."""
    return value if isinstance(value, Markup) else Markup(escape(str(value), {'"': "&quot;"}))


_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates" / "charts"),
    autoescape=True, finalize=_xml_text, trim_blocks=True, lstrip_blocks=True,
)
_TEMPLATES.filters.update(px=lambda value: f"{value:.1f}", percent=_percent, g3=lambda value: f"{value:.3g}")


def _render(template: str, **layout) -> str:
    return _TEMPLATES.get_template(template).render(colours=COLOURS, font=FONT, **layout)


def _describe(bars: Sequence[Bar]) -> str:
    parts = []
    for bar in bars:
        name = f"{bar.group}, {bar.label}" if bar.group else bar.label
        text = f"{name}: {_percent(bar.estimate)}"
        if bar.ci_low is not None and bar.ci_high is not None:
            text += f" (95% interval {_percent(bar.ci_low)} to {_percent(bar.ci_high)})"
        parts.append(text)
    return "; ".join(parts) + "."


def _scale_max(bars: Sequence[Bar]) -> float:
    """The axis end: the largest bar or whisker rounded up to a tenth, at most 100%."""
    highest = max([bar.estimate for bar in bars] + [bar.ci_high or 0 for bar in bars] + [0.1])
    return min(1.0, math.ceil(highest * 10 - 1e-9) / 10)


LINE_CHARACTERS = 42  # of 14px text across the chart's width: longer labels wrap onto more lines
LINE_HEIGHT = LABEL_HEIGHT - 3


def _lines(text: str) -> list[str]:
    """``text`` wrapped onto as many lines as it needs (never cut)."""
    return textwrap.wrap(text, LINE_CHARACTERS) or [""]


def bar_chart(title: str, bars: Sequence[Bar], description: str = "", chart_id: str = "chart") -> str:
    """An SVG horizontal bar chart of shares, each with its interval as a whisker.

    Parameters
    ----------
    title : the chart's accessible name (the page shows its own heading).
    bars : the bars, top to bottom; a bar whose ``group`` differs from the previous one's opens
        a new section headed by that group.
    description : text put before the generated reading of every bar in ``<desc>``.
    chart_id : prefix for the ``id`` attributes, unique within the page.
    """
    if not bars:
        raise ValueError(f"the chart {title!r} has no bars to draw")
    plot_width = WIDTH - LEFT - VALUE_WIDTH
    top_value = _scale_max(bars)

    def x(value: float) -> float:
        return LEFT + plot_width * max(0.0, min(value, top_value)) / top_value

    rows = []
    y = TOP
    previous_group = None
    for bar in bars:
        group_lines, group_y = [], None
        if bar.group is not None and bar.group != previous_group:
            group_lines, group_y = _lines(bar.group), y + GROUP_HEIGHT - 10
            y += GROUP_HEIGHT + (len(group_lines) - 1) * LINE_HEIGHT
        previous_group = bar.group
        label_lines = _lines(bar.label)
        bar_top = y + LABEL_HEIGHT + (len(label_lines) - 1) * LINE_HEIGHT
        has_interval = bar.ci_low is not None and bar.ci_high is not None
        rows.append({
            "group_lines": group_lines, "group_y": group_y, "label_lines": label_lines, "label_y": y + LABEL_HEIGHT - 5,
            "top": bar_top, "middle": bar_top + BAR_HEIGHT / 2, "width": x(bar.estimate) - LEFT,
            "fill": COLOURS["net"] if bar.net else COLOURS["bar"],
            "whisker": {"low": x(bar.ci_low), "high": x(bar.ci_high)} if has_interval else None,
            "value_x": max(x(bar.estimate), x(bar.ci_high) if bar.ci_high is not None else 0) + 6,
            "estimate": bar.estimate,
        })
        y = bar_top + BAR_HEIGHT + ROW_GAP
    steps = int(round(top_value * 10))
    ticks = [{"x": x(step / 10), "value": step / 10} for step in range(0, steps + 1, 1 if steps <= 5 else 2)]
    return _render(
        "bars.svg", title=title, description=(description + " " if description else "") + _describe(bars),
        chart_id=chart_id, width=WIDTH, height=y + BOTTOM, sized=True, font_size=14, css_class="chart",
        rows=rows, ticks=ticks, top=TOP, plot_bottom=y, left=LEFT, bar_height=BAR_HEIGHT, line_height=LINE_HEIGHT,
    )


def histogram(title: str, values: Sequence[float], bins: int = 20, chart_id: str = "histogram", unit: str = "") -> str:
    """An SVG histogram (the distribution of final weights), with the bin counts in ``<desc>``;
    ``unit`` follows the numbers on the axis (e.g. "× mean")."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        raise ValueError(f"the histogram {title!r} has no values to draw")
    low, high = min(finite), max(finite)
    span = (high - low) or 1.0
    counts = [0] * bins
    for value in finite:
        counts[min(bins - 1, int((value - low) / span * bins))] += 1
    width, height, left, bottom, top = WIDTH, 200, 40, 34, 12
    plot_width, plot_height = width - left - 12, height - bottom - top
    tallest = max(counts)
    bar_width = plot_width / bins
    layout = [
        {"x": left + index * bar_width + 1, "y": top + plot_height - plot_height * count / tallest,
         "width": bar_width - 2, "height": plot_height * count / tallest}
        for index, count in enumerate(counts)
    ]
    edges = [low + span * i / bins for i in range(bins + 1)]
    reading = "; ".join(f"{edges[i]:.3g} to {edges[i + 1]:.3g}: {count}" for i, count in enumerate(counts) if count)
    return _render(
        "histogram.svg", title=title, description=f"{len(finite)} weights from {low:.3g} to {high:.3g}; counts per bin: {reading}.",
        chart_id=chart_id, width=width, height=height, sized=True, font_size=14, css_class="chart",
        bins=layout, left=left, right=width - 12, top=top, axis_y=top + plot_height, low=low, high=high,
        tallest=tallest, unit=unit,
    )


def question_chart(table: QuestionTable, chart_id: str) -> Optional[str]:
    """Bars with whiskers for a table of shares (None for a mean: one number needs no chart)."""
    bars = [
        Bar(row.answer_label + (" (net)" if row.net else ""), row.estimate, row.ci_low, row.ci_high,
            group=row.domain_label if row.domain is not None else None, net=row.net)
        for row in table.rows
        if row.kind == "proportion" and row.estimate is not None
    ]
    if not bars:
        return None
    return bar_chart(table.question.label(), bars, description="Weighted share of respondents giving each answer.",
                     chart_id=chart_id)


def completions_chart(days: Sequence[tuple[date, int]]) -> str:
    """Completions per day as SVG columns on labelled axes (a count scale with gridlines, dated
    ticks), with every day's count in ``<desc>`` for screen readers."""
    width, height, left, right, top, bottom = 400, 200, 44, 10, 26, 34
    plot_width, plot_height = width - left - right, height - top - bottom
    highest = max(count for _, count in days)
    step = _count_step(highest)
    scale_top = step * max(1, math.ceil(highest / step))
    slot = plot_width / len(days)
    label_every = max(1, math.ceil(len(days) / 5))
    columns = [
        {"x": left + index * slot + slot * 0.1, "y": top + plot_height - plot_height * count / scale_top,
         "width": slot * 0.8, "height": plot_height * count / scale_top, "day": day, "count": count,
         "centre": left + index * slot + slot / 2, "labelled": index % label_every == 0}
        for index, (day, count) in enumerate(days)
    ]
    gridlines = [{"value": value, "y": top + plot_height * (1 - value / scale_top)}
                 for value in range(0, scale_top + 1, step)]
    reading = "; ".join(f"{day.isoformat()}: {count}" for day, count in days)
    return _render(
        "columns.svg", title="Completed responses per day (UTC)", description=f"{reading}.", chart_id="completions",
        width=width, height=height, sized=False, font_size=13, css_class="chart columns",
        columns=columns, gridlines=gridlines, left=left, right=width - right, top=top, axis_y=top + plot_height,
        tick_y=height - bottom + 18,
    )


def _count_step(highest: int) -> int:
    """A gridline step of 1, 2 or 5 times a power of ten giving at most five lines above zero."""
    magnitude = 1
    while True:
        for multiple in (1, 2, 5):
            if highest <= 5 * multiple * magnitude:
                return multiple * magnitude
        magnitude *= 10
