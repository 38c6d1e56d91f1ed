"""The server-drawn SVG charts: valid XML, accessible, proportional, escaped."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from survey.reporting.charts import LEFT, VALUE_WIDTH, WIDTH, Bar, bar_chart, histogram

SVG = "{http://www.w3.org/2000/svg}"


def test_bars_are_proportional_with_whiskers_and_accessible_text():
    svg = bar_chart(
        "Civil war likely",
        [Bar("Very likely", 0.16, 0.12, 0.20), Bar("Not sure", 0.48, 0.40, 0.56)],
        chart_id="cw",
    )
    root = ET.fromstring(svg)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "cw-title cw-desc"
    assert root.find(f"{SVG}title").text == "Civil war likely"
    desc = root.find(f"{SVG}desc").text
    assert "Very likely: 16% (95% interval 12% to 20%)" in desc
    widths = [float(rect.get("width")) for rect in root.iter(f"{SVG}rect")]
    # axis ends at 60%: the 48% bar is 0.8 of the plot, the 16% bar a third of that
    plot = WIDTH - LEFT - VALUE_WIDTH
    assert widths == pytest.approx([plot * 0.16 / 0.6, plot * 0.48 / 0.6], abs=0.1)
    assert len(list(root.iter(f"{SVG}path"))) == 2
    assert "style=" not in svg  # the site's CSP forbids inline styles


def test_labels_are_escaped_and_groups_head_sections():
    svg = bar_chart("<b>x</b>", [Bar("<script>", 0.5, group="Democrats & others"), Bar("b", 0.2, group="Republicans")])
    root = ET.fromstring(svg)
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "<script>" in texts and "Democrats & others" in texts and "Republicans" in texts
    assert "<script>" not in svg


def test_empty_chart_names_itself():
    with pytest.raises(ValueError, match="'Q1' has no bars"):
        bar_chart("Q1", [])


def test_histogram_counts_every_value():
    svg = histogram("Final weights", [1.0, 1.0, 2.0, 3.0, 3.0, 3.0], bins=2)
    root = ET.fromstring(svg)
    heights = [float(rect.get("height")) for rect in root.iter(f"{SVG}rect")]
    assert heights[0] == pytest.approx(heights[1] * 2 / 4)
    assert "6 weights from 1 to 3" in root.find(f"{SVG}desc").text
