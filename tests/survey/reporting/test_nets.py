"""Nets, bases and weighting variables in the toplines: the civil-war net "likely" (very or
somewhat likely, comparable to Rasmussen's 41%) agrees with R survey (rake, then svyciprop) on
the results page, in the API and in toplines.csv/xlsx; a pollster adds nets without editing
the questionnaire; every table states its base; weighting variables read "weighted to target"."""
from __future__ import annotations

import io
import json
import re

import pandas as pd
import pytest

from analysis import proportion
from survey.reporting import charts
from survey.extensions import db
from survey.models import WeightingRun
from survey.weighting.runs import compute, weighted_design
from tests.support.banners import EXPECTED_FILE, banner_owner  # noqa: F401  (fixture)

LIKELY = ["very_likely", "somewhat_likely"]


def _direct(app, run_id, question, categories):
    """The analysis library's own proportion on the run's design, both categories counted."""
    with app.app_context():
        return proportion(weighted_design(compute(db.session.get(WeightingRun, run_id), estimates=False)),
                          question, categories, ci="logit")


def test_the_likely_net_agrees_with_r_on_the_page_in_the_api_and_in_the_toplines(app, client, banner_owner):
    slug, run_id, headers = banner_owner
    r = next(e for e in json.loads(EXPECTED_FILE.read_text())["estimates"]
             if e["id"] == "civil_war_5yr=likely" and e["domain"] is None)  # R: rake, then svyciprop(method = "logit")
    direct = _direct(app, run_id, "civil_war_5yr", LIKELY)
    assert direct.estimate == pytest.approx(r["estimate"], rel=1e-6) and direct.se == pytest.approx(r["se"], rel=1e-6)

    rows = client.get(f"/api/surveys/{slug}/results", headers=headers).json["rows"]
    likely = next(row for row in rows if row["estimate_id"] == "civil_war_5yr=likely")
    assert likely["answer"] == "likely" and likely["net"] is True and likely["unweighted_n"] == r["n"]
    for key in ("estimate", "se", "ci_low", "ci_high"):
        assert likely[key] == pytest.approx(getattr(direct, key), rel=1e-12)
        assert likely[key] == pytest.approx(r[key], rel=1e-6)
    assert likely["effective_n"] == pytest.approx(direct.effective_n, rel=1e-9)

    toplines = pd.read_csv(io.BytesIO(client.get(f"/pollster/surveys/{slug}/runs/{run_id}/files/toplines.csv").data))
    book = pd.read_excel(io.BytesIO(client.get(f"/pollster/surveys/{slug}/runs/{run_id}/files/toplines.xlsx").data),
                         skiprows=5)
    for table in (toplines, book):
        row = table.set_index("estimate_id").loc["civil_war_5yr=likely"]
        assert bool(row["net"]) and row["answer_label"] == "Very or somewhat likely"
        for key in ("estimate", "se", "ci_low", "ci_high"):
            assert row[key] == pytest.approx(r[key], rel=1e-6)

    html = client.get(f"/pollster/surveys/{slug}/results").get_data(as_text=True)
    section = html[html.index('id="q-civil_war_5yr"'):html.index('id="q-jefferson"')]
    shown = re.search(r'Very or somewhat likely <span class="tag">net</span></th>\s*<td>([\d.]+)%</td>'
                      r'<td>([\d.]+)% – ([\d.]+)%</td>\s*<td>([\d.]+)</td>', section)
    assert shown, section[:3000]
    assert [float(x) for x in shown.groups()[:3]] == [pytest.approx(100 * r[k], abs=0.05) for k in ("estimate", "ci_low", "ci_high")]
    assert float(shown.group(4)) == pytest.approx(100 * likely["margin_of_error"], abs=0.05)
    assert ">Very or somewhat likely (net)</tspan>" in section and f'fill="{charts.NET_COLOUR}"' in section


def test_a_pollster_adds_a_net_on_the_results_page(app, client, banner_owner):
    slug, run_id, headers = banner_owner
    response = client.get(f"/pollster/surveys/{slug}/results?run={run_id}&add_net=jefferson"
                          "&net_answer=somewhat_oppose&net_answer=somewhat_support")
    assert response.status_code == 302
    assert "net=jefferson:somewhat_oppose%2Bsomewhat_support" in response.location
    html = client.get(response.location).get_data(as_text=True)
    section = html[html.index('id="q-jefferson"'):html.index('id="q-sue_federal"')]
    assert "Somewhat support or Somewhat oppose <span class=\"tag\">net</span>" in section  # the questionnaire's order
    soft = ["somewhat_support", "somewhat_oppose"]
    direct = _direct(app, run_id, "jefferson", soft)
    assert f"{100 * direct.estimate:.1f}%" in section

    query = "net=jefferson:somewhat_support%2Bsomewhat_oppose"
    rows = client.get(f"/api/surveys/{slug}/results?{query}", headers=headers).json["rows"]
    added = next(row for row in rows if row["answer"] == "somewhat_support+somewhat_oppose")
    assert added["net"] and added["se"] == pytest.approx(direct.se, rel=1e-12)
    toplines = pd.read_csv(io.BytesIO(client.get(f"/pollster/surveys/{slug}/runs/{run_id}/files/toplines.csv?{query}").data))
    assert toplines.set_index("estimate_id").loc["jefferson=somewhat_support+somewhat_oppose", "estimate"] == pytest.approx(
        direct.estimate, rel=1e-12)
    banner = client.get(f"/api/surveys/{slug}/banner?rows=jefferson&columns=party&{query}", headers=headers).json
    assert any(row["answer"] == "somewhat_support+somewhat_oppose" and row["net"] for row in banner["rows"])
    with app.app_context():  # the questionnaire is untouched
        jefferson = next(q for q in compute(db.session.get(WeightingRun, run_id), estimates=False).data.questions
                         if q.code == "jefferson")
        assert [net.code for net in jefferson.nets] == ["support", "oppose"]
    # the answers of a net the questionnaire has are that net, shown once
    same = client.get(f"/pollster/surveys/{slug}/results?net=jefferson:somewhat_support%2Bstrongly_support").get_data(as_text=True)
    assert same.count("Support (strongly or somewhat) <span") == 1 and "Strongly support or Somewhat support" not in same
    assert client.get(f"/pollster/surveys/{slug}/results?net=jefferson:strongly_support%2Bmaybe").status_code == 400
    assert client.get(f"/api/surveys/{slug}/results?net=trust:1%2B2", headers=headers).status_code == 400


def test_bases_and_weighting_variables(app, client, banner_owner):
    slug, run_id, headers = banner_owner
    with app.app_context():
        leavers = int((compute(db.session.get(WeightingRun, run_id), estimates=False).frame["calexit"] == "yes").sum())
    html = client.get(f"/pollster/surveys/{slug}/results").get_data(as_text=True)
    reasons = html[html.index('id="q-calexit_reason"'):html.index('id="q-civil_war_5yr"')]
    rows = client.get(f"/api/surveys/{slug}/results", headers=headers).json["rows"]
    base = next(row for row in rows if row["question"] == "calexit_reason")
    assert base["base"] == "Asked of those who would vote for California to leave the United States"
    assert base["base_n"] == leavers > 0
    assert f"Asked of those who would vote for California to leave the United States · n = {base['base_n']} unweighted" in reasons
    sex = html[html.index('id="q-sex"'):html.index('id="q-race"')]
    assert sex.count("weighted to target") == 2 and "–" not in sex.split("<tbody>")[1].split("</tbody>")[0]
    assert "All respondents · n =" in sex


def test_the_print_ready_topline_report(client, banner_owner):
    slug, run_id, _ = banner_owner
    html = client.get(f"/pollster/surveys/{slug}/runs/{run_id}/toplines/report").get_data(as_text=True)
    assert "topline-report.css" in html
    assert "How likely is it that the United States will experience a second civil war" in html
    assert re.search(r'<tr class="net">\s*<th scope="row">Very or somewhat likely</th>\s*<td>\d+</td><td>[\d.]+</td>', html)
    assert "Base: Asked of those who would vote for California to leave the United States (n = " in html
    assert "weighted to target" in html


def test_chart_labels_wrap_instead_of_being_cut():
    label = "California's economy is strong enough to stand on its own, and then some more words"
    svg = charts.bar_chart("Reasons", [charts.Bar(label, 0.4, 0.3, 0.5), charts.Bar("Short", 0.2)])
    assert "…" not in svg
    lines = re.findall(r"<tspan[^>]*>([^<]*)</tspan>", svg)
    assert len(lines) == 3 and " ".join(lines[:2]) == label and lines[2] == "Short"
    assert max(len(line) for line in lines) <= charts.LINE_CHARACTERS
