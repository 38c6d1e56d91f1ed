"""Every chart of the site, drawn on the server as SVG: bars with interval whiskers, histograms, columns.

Charts are plain SVG text so they show without JavaScript, pass a strict Content-Security-
Policy (presentation attributes only, no ``style``), and download as images. Each chart
carries a ``<title>`` and ``<desc>`` and is an ``img`` for screen readers, whose text gives
every bar's estimate and interval, so nothing is only visible.
"""
from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Optional
from xml.sax.saxutils import escape, quoteattr

from survey.reporting.tables import QuestionTable

BAR_COLOUR = "#3b6ea8"
NET_COLOUR = "#20324a"  # a net (several answers added up) is darker than the answers it adds
WHISKER_COLOUR = "#1d1d1d"
GRID_COLOUR = "#d0d0d0"
TEXT_COLOUR = "#1d1d1d"
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


def _label(text: str, x: float, y: float, line_height: float, bold: bool = False) -> tuple[str, float]:
    """``text`` wrapped onto as many lines as it needs (never cut), and the height it takes."""
    lines = textwrap.wrap(text, LINE_CHARACTERS) or [""]
    weight = ' font-weight="700"' if bold else ""
    spans = "".join(
        f'<tspan x="{x}" dy="{0 if index == 0 else line_height}">{escape(line)}</tspan>' for index, line in enumerate(lines)
    )
    return f'<text x="{x}" y="{y}"{weight}>{spans}</text>', (len(lines) - 1) * line_height


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

    body: list[str] = []
    y = TOP
    previous_group = None
    for bar in bars:
        if bar.group is not None and bar.group != previous_group:
            text, extra = _label(bar.group, LEFT, y + GROUP_HEIGHT - 10, LABEL_HEIGHT - 3, bold=True)
            body.append(text)
            y += GROUP_HEIGHT + extra
        previous_group = bar.group
        text, extra = _label(bar.label, LEFT, y + LABEL_HEIGHT - 5, LABEL_HEIGHT - 3)
        body.append(text)
        bar_top = y + LABEL_HEIGHT + extra
        middle = bar_top + BAR_HEIGHT / 2
        body.append(
            f'<rect x="{LEFT}" y="{bar_top}" width="{x(bar.estimate) - LEFT:.1f}" height="{BAR_HEIGHT}" fill="{NET_COLOUR if bar.net else BAR_COLOUR}"/>'
        )
        if bar.ci_low is not None and bar.ci_high is not None:
            low, high = x(bar.ci_low), x(bar.ci_high)
            body.append(
                f'<path d="M{low:.1f} {middle:.1f}H{high:.1f}M{low:.1f} {middle - 7:.1f}V{middle + 7:.1f}'
                f'M{high:.1f} {middle - 7:.1f}V{middle + 7:.1f}" stroke="{WHISKER_COLOUR}" stroke-width="1.5" fill="none"/>'
            )
        value_x = max(x(bar.estimate), x(bar.ci_high) if bar.ci_high is not None else 0) + 6
        body.append(f'<text x="{value_x:.1f}" y="{middle + 5:.1f}" font-weight="600">{_percent(bar.estimate)}</text>')
        y = bar_top + BAR_HEIGHT + ROW_GAP

    plot_bottom = y
    ticks = []
    steps = int(round(top_value * 10))
    stride = 1 if steps <= 5 else 2
    for step in range(0, steps + 1, stride):
        value = step / 10
        tick_x = x(value)
        anchor = "start" if step == 0 else "middle"
        ticks.append(
            f'<line x1="{tick_x:.1f}" y1="{TOP}" x2="{tick_x:.1f}" y2="{plot_bottom}" stroke="{GRID_COLOUR}"/>'
            f'<text x="{tick_x:.1f}" y="{plot_bottom + 18}" text-anchor="{anchor}" fill="#555" font-size="12">{_percent(value)}</text>'
        )
    height = plot_bottom + BOTTOM
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    full_description = (description + " " if description else "") + _describe(bars)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'role="img" aria-labelledby={quoteattr(title_id + " " + desc_id)} font-family={quoteattr(FONT)} '
        f'font-size="14" fill="{TEXT_COLOUR}" class="chart">'
        f'<title id={quoteattr(title_id)}>{escape(title)}</title>'
        f'<desc id={quoteattr(desc_id)}>{escape(full_description)}</desc>'
        + "".join(ticks)
        + "".join(body)
        + "</svg>"
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
    body = []
    for index, count in enumerate(counts):
        bar_height = plot_height * count / tallest
        body.append(
            f'<rect x="{left + index * bar_width + 1:.1f}" y="{top + plot_height - bar_height:.1f}" '
            f'width="{bar_width - 2:.1f}" height="{bar_height:.1f}" fill="{BAR_COLOUR}"/>'
        )
    axis = (
        f'<line x1="{left}" y1="{top + plot_height}" x2="{width - 12}" y2="{top + plot_height}" stroke="{GRID_COLOUR}"/>'
        f'<text x="{left}" y="{height - 12}" text-anchor="start">{low:.3g}{escape(unit)}</text>'
        f'<text x="{width - 12}" y="{height - 12}" text-anchor="end">{high:.3g}{escape(unit)}</text>'
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{tallest}</text>'
        f'<text x="{left - 6}" y="{top + plot_height}" text-anchor="end">0</text>'
    )
    edges = [low + span * i / bins for i in range(bins + 1)]
    reading = "; ".join(
        f"{edges[i]:.3g} to {edges[i + 1]:.3g}: {count}" for i, count in enumerate(counts) if count
    )
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-labelledby={quoteattr(title_id + " " + desc_id)} font-family={quoteattr(FONT)} '
        f'font-size="14" fill="{TEXT_COLOUR}" class="chart">'
        f'<title id={quoteattr(title_id)}>{escape(title)}</title>'
        f'<desc id={quoteattr(desc_id)}>{len(finite)} weights from {low:.3g} to {high:.3g}; counts per bin: {escape(reading)}.</desc>'
        + "".join(body)
        + axis
        + "</svg>"
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
    step = _count_step(max(count for _, count in days))
    scale_top = step * max(1, math.ceil(max(count for _, count in days) / step))
    slot = plot_width / len(days)
    parts = [f'<text x="{left - 36}" y="{top - 12}" text-anchor="start" fill="{TEXT_COLOUR}">Completed per day</text>']
    for value in range(0, scale_top + 1, step):
        y = top + plot_height * (1 - value / scale_top)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{GRID_COLOUR}"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>')
    label_every = max(1, math.ceil(len(days) / 5))
    for index, (day, count) in enumerate(days):
        column_height = plot_height * count / scale_top
        x = left + index * slot
        parts.append(
            f'<rect x="{x + slot * 0.1:.1f}" y="{top + plot_height - column_height:.1f}" '
            f'width="{slot * 0.8:.1f}" height="{column_height:.1f}" fill="{BAR_COLOUR}">'
            f"<title>{day.isoformat()}: {count}</title></rect>"
        )
        if index % label_every == 0:
            parts.append(f'<text x="{x + slot / 2:.1f}" y="{height - bottom + 18}" text-anchor="middle">{day:%b} {day.day}</text>')
    parts.append(f'<line x1="{left}" y1="{top + plot_height}" x2="{width - right}" y2="{top + plot_height}" stroke="{TEXT_COLOUR}"/>')
    reading = "; ".join(f"{day.isoformat()}: {count}" for day, count in days)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="completions-title completions-desc" font-family={quoteattr(FONT)} font-size="13" '
        f'fill="{TEXT_COLOUR}" class="chart columns">'
        f'<title id="completions-title">Completed responses per day (UTC)</title>'
        f'<desc id="completions-desc">{escape(reading)}.</desc>' + "".join(parts) + "</svg>"
    )


def _count_step(highest: int) -> int:
    """A gridline step of 1, 2 or 5 times a power of ten giving at most five lines above zero."""
    magnitude = 1
    while True:
        for multiple in (1, 2, 5):
            if highest <= 5 * multiple * magnitude:
                return multiple * magnitude
        magnitude *= 10
    first, last = days[0][0], days[-1][0]
    axis = (
        f'<line x1="{left}" y1="{top + plot_height}" x2="{width - right}" y2="{top + plot_height}" stroke="{GRID_COLOUR}"/>'
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{tallest}</text>'
        f'<text x="{left - 6}" y="{top + plot_height}" text-anchor="end">0</text>'
        f'<text x="{left}" y="{height - 10}" text-anchor="start">{first:%d %b}</text>'
        + (f'<text x="{width - right}" y="{height - 10}" text-anchor="end">{last:%d %b}</text>' if last != first else "")
    )
    reading = "; ".join(f"{day.isoformat()}: {count}" for day, count in days)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="completions-title completions-desc" font-family={quoteattr(FONT)} font-size="13" '
        f'fill="{TEXT_COLOUR}" class="chart columns">'
        f'<title id="completions-title">Completed responses per day</title>'
        f'<desc id="completions-desc">{escape(reading)}.</desc>' + "".join(columns) + axis + "</svg>"
    )
