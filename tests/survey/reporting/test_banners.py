"""Banner tables: every cell, letter and test is the analysis library's (and R survey's) result
for the run's weighted design, in the page, the API, the XLSX banner book and the CSV."""
from __future__ import annotations

import io
import json
import re

import openpyxl
import pandas as pd
import pytest

from analysis import proportion
from analysis.inference import independence, pairwise
from survey.extensions import db
from survey.models import WeightingRun
from survey.responses.quality import ExclusionRules
from survey.reporting.banners import BannerError, BannerOptions, build_banner
from survey.weighting.reference_data import california_adult_targets
from survey.weighting.runs import compute, create_run, weighted_design
from survey.weighting.settings import WeightingSettings
from tests.support.polls import load_default_survey, seed_poll
from tests.support.banners import DATA_FILE, EXPECTED_FILE, OPTIONS, REFERENCE, banner_owner, banner_run  # noqa: F401  (fixture)

def _categories(question, answer):
    net = question.net(answer)
    return list(net.answers) if net else [answer]


def _expected_letters(banner, tests_by_pair, alpha):
    """Letters as a reader of the banner would work them out from the pairwise p-values."""
    letter = {(c.variable, c.level): c.letter for c in banner.columns}
    higher = {}
    for (row_id, variable), pairs in tests_by_pair.items():
        for a, b, difference, p_value, low in pairs:
            if p_value < alpha and not low:
                winner, loser = (a, b) if difference > 0 else (b, a)
                higher.setdefault((row_id, variable, winner), set()).add(letter[(variable, loser)])
    return higher


@pytest.fixture
def banner_setup(app):
    with app.app_context():
        survey, run = banner_run()
        yield survey, run


def test_cells_letters_and_tests_are_the_analysis_library_results(app, banner_setup):
    survey, run = banner_setup
    banner = build_banner(run, OPTIONS)
    computed = compute(run, estimates=False)
    design = weighted_design(computed)
    questions = {q.code: q for q in computed.data.questions}
    assert [c.variable for c in banner.columns][:1] == ["party"] and banner.columns[0].letter == "A"
    assert {row.answer for row in banner.rows_of("civil_war_5yr")} >= {"likely", "not_likely", "very_likely"}

    tests_by_pair = {}
    for row in banner.rows:
        question = questions[row.question]
        categories = _categories(question, row.answer)
        total = proportion(design, row.question, categories, ci="logit")
        assert (row.total.estimate, row.total.se, row.total.n) == (
            pytest.approx(total.estimate, rel=1e-12), pytest.approx(total.se, rel=1e-12), total.n)
        assert row.net == (question.net(row.answer) is not None)
        for variable in ("party", "age_group"):
            by = proportion(design, row.question, categories, by=variable, ci="logit")
            cells = [cell for cell in row.cells if cell.variable == variable]
            assert [cell.level for cell in cells] == [o.code for o in questions[variable].options if o.code in
                                                      {str(d) for d in by.domains}]
            for cell in cells:
                expected = by[cell.level]
                assert cell.estimate == pytest.approx(expected.estimate, rel=1e-12)
                assert cell.se == pytest.approx(expected.se, rel=1e-12)
                assert (cell.ci_low, cell.ci_high) == (pytest.approx(expected.ci_low, rel=1e-12),
                                                       pytest.approx(expected.ci_high, rel=1e-12))
                assert cell.n == expected.n and cell.low_base == (expected.n < banner.min_base)
            low = {cell.level for cell in cells if cell.low_base}
            tests_by_pair[(row.question + "=" + row.answer, variable)] = [
                (p.a, p.b, p.difference, p.p_value, p.a in low or p.b in low)
                for p in pairwise(design, row.question, variable, categories).pairs
            ]
    letters = _expected_letters(banner, tests_by_pair, banner.alpha)
    for row in banner.rows:
        for cell in row.cells:
            assert set(cell.higher_than) == letters.get((f"{row.question}={row.answer}", cell.variable, cell.level), set())
    assert any(cell.higher_than for row in banner.rows for cell in row.cells), "no letter at all: nothing was checked"
    assert any(column.low_base for column in banner.columns)  # party "other" has fewer than 30

    for test in banner.independence:
        expected = independence(design, test.question, test.variable)
        assert (test.statistic, test.ndf, test.ddf, test.p_value) == (
            pytest.approx(expected.statistic, rel=1e-12), pytest.approx(expected.ndf, rel=1e-12),
            pytest.approx(expected.ddf, rel=1e-12), pytest.approx(expected.p_value, abs=1e-12))
    assert {(t.question, t.variable) for t in banner.independence} == {
        (q, v) for q in ("civil_war_5yr", "calexit") for v in ("party", "age_group")}


def test_the_banner_matches_r_survey(app, banner_setup):
    """R: rake (calibrate, raking), svyby for the cells, svyby(covmat = TRUE) + svycontrast for the
    letters, svychisq(statistic = "F") for independence; made by tests/support/banners.py."""
    survey, run = banner_setup
    computed = compute(run, estimates=False)
    def answers(csv: bytes) -> list[bytes]:  # respondent ids depend on the database's sequence, answers do not
        return [line.split(b",", 1)[1] for line in csv.splitlines()]

    assert answers(computed.csv_bytes) == answers((REFERENCE / DATA_FILE).read_bytes()), (
        "the simulated poll changed: remake the R reference with `python -m tests.support.banners`")
    expected = json.loads(EXPECTED_FILE.read_text())
    banner = build_banner(run, OPTIONS)
    body = banner.to_json()
    cells = {(e["id"], None if e["domain"] is None else str(e["domain"])): e for e in expected["estimates"]}
    checked = 0
    for row in body["rows"]:
        row_id = f"{row['question']}={row['answer']}"
        reference = cells[(row_id, None)]
        assert row["total"]["estimate"] == pytest.approx(reference["estimate"], rel=1e-6)
        assert row["total"]["se"] == pytest.approx(reference["se"], rel=1e-6)
        assert row["total"]["ci_low"] == pytest.approx(reference["ci_low"], abs=1e-6)
        assert row["total"]["n"] == reference["n"]
        for cell in row["cells"]:
            reference = cells[(f"{row_id}@{cell['variable']}", cell["level"])]
            assert cell["estimate"] == pytest.approx(reference["estimate"], rel=1e-6)
            assert cell["se"] == pytest.approx(reference["se"], rel=1e-6)
            assert cell["n"] == reference["n"]
            checked += 1
    assert checked == sum(len(row["cells"]) for row in body["rows"]) == 10 * 8  # (5 answers + 2 nets + 3) x 8

    low = {(c["variable"], c["level"]) for c in body["columns"] if c["low_base"]}
    tests_by_pair = {}
    for test in expected["tests"]:
        if "a" in test:
            row_id, variable = test["id"].split("@")
            tests_by_pair.setdefault((row_id, variable), []).append(
                (test["a"], test["b"], test["difference"], test["p_value"],
                 (variable, test["a"]) in low or (variable, test["b"]) in low))
    letters = _expected_letters(banner, tests_by_pair, 0.05)
    for row in body["rows"]:
        for cell in row["cells"]:
            key = (f"{row['question']}={row['answer']}", cell["variable"], cell["level"])
            assert set(cell["higher_than"]) == letters.get(key, set()), key
    by_id = {t["id"]: t for t in expected["tests"] if "a" not in t}
    for test in body["independence"]:
        reference = by_id[f"{test['question']}@{test['variable']}"]
        assert test["statistic"] == pytest.approx(reference["statistic"], rel=1e-6)
        assert test["ndf"] == pytest.approx(reference["ndf"], rel=1e-6)
        assert test["ddf"] == pytest.approx(reference["ddf"], rel=1e-6)
        assert test["p_value"] == pytest.approx(reference["p_value"], abs=1e-6)


def test_choices_the_survey_does_not_offer_are_refused(app, banner_setup):
    _, run = banner_setup
    with pytest.raises(BannerError, match="'resident' cannot be a banner row"):
        build_banner(run, BannerOptions(rows=("resident",)))
    with pytest.raises(BannerError, match="'trust' cannot be a banner column"):
        build_banner(run, BannerOptions(columns=("trust",)))
    with pytest.raises(BannerError, match="alpha"):
        BannerOptions.from_query({"alpha": "five percent"})


def test_api_contract_and_the_banner_book(app, client, banner_owner):
    slug, run_id, headers = banner_owner
    query = "rows=civil_war_5yr,calexit&columns=party,age_group&alpha=0.05"
    body = client.get(f"/api/surveys/{slug}/banner?{query}", headers=headers).json
    assert body["run"] == run_id and body["alpha"] == 0.05  # the published run when none is named
    assert set(body["columns"][0]) >= {"variable", "level", "letter", "n", "weighted_n"}
    row = next(r for r in body["rows"] if r["question"] == "civil_war_5yr" and r["answer"] == "likely")
    assert row["net"] is True and set(row["total"]) >= {"estimate", "se", "n"}
    assert set(row["cells"][0]) >= {"variable", "level", "estimate", "se", "n", "higher_than"}
    assert set(body["independence"][0]) == {"question", "variable", "statistic", "ndf", "ddf", "p_value"}
    with app.app_context():
        run = db.session.get(WeightingRun, run_id)
        assert body == json.loads(json.dumps(build_banner(run, OPTIONS).to_json()))
    assert client.get(f"/api/surveys/{slug}/banner?rows=nonsense", headers=headers).status_code == 400

    book = openpyxl.load_workbook(io.BytesIO(client.get(f"/api/surveys/{slug}/banner.xlsx?{query}", headers=headers).data))
    assert book.sheetnames == ["by party", "by age_group", "notes"]
    sheet = book["by party"]
    header = next(cell.row for cell in sheet["A"] if cell.value == "Question")
    assert sheet.freeze_panes == f"C{header + 3}"  # the header and both bases stay in view
    assert any(str(cell.value).startswith("Letters") for cell in sheet["A"][:header])  # how to read it, on top
    party = [c for c in body["columns"] if c["variable"] == "party"]
    assert [cell.value for cell in sheet[header]][3:] == [
        f"{c['label']}{' *' if c['low_base'] else ''} ({c['letter']})" for c in party]
    assert [cell.value for cell in sheet[header + 1]][1:] == ["Unweighted base", body["total"]["n"], *[c["n"] for c in party]]
    assert body["total"]["n"] == sum(c["n"] for c in party) < 400  # the quality rules left some out
    assert sheet.cell(header + 2, 3).value == round(body["total"]["weighted_n"]) and sheet.cell(header + 2, 3).number_format == "#,##0"
    lines = list(sheet.iter_rows(values_only=False))
    likely = next(i for i, line in enumerate(lines) if line[1].value == "Very or somewhat likely (net)")
    numbers, letters = lines[likely], lines[likely + 1]
    assert numbers[2].value == pytest.approx(row["total"]["estimate"], rel=1e-12) and numbers[2].number_format == "0%"
    assert numbers[1].font.bold and letters[3].font.color.rgb.endswith("1F5FA8")
    for cell, column, letter_cell in zip(numbers[3:], [c for c in row["cells"] if c["variable"] == "party"], letters[3:]):
        assert cell.value == pytest.approx(column["estimate"], rel=1e-12) and cell.number_format == "0%"
        assert (letter_cell.value or "") == " ".join(column["higher_than"])
    assert any(line[1].value and str(line[1].value).startswith("Base: All respondents") for line in lines)
    notes = list(book["notes"].iter_rows(values_only=True))
    test = next(t for t in body["independence"] if t["question"] == "calexit" and t["variable"] == "party")
    assert any(line[:2] == ("calexit", "party") and line[5] == pytest.approx(test["p_value"], abs=1e-12) for line in notes)
    assert any(str(line[0]).startswith("Weighting: Raking") for line in notes)

    table = pd.read_csv(io.BytesIO(client.get(f"/pollster/surveys/{slug}/runs/{run_id}/banner.csv?{query}").data))
    dem = table[(table.question == "civil_war_5yr") & (table.answer == "likely") & (table.level == "dem")].iloc[0]
    cell = next(c for c in row["cells"] if c["level"] == "dem")
    assert dem.estimate == pytest.approx(cell["estimate"], rel=1e-12) and dem.letter == "A"


def test_the_banner_page_shows_letters_bases_and_tests(client, banner_owner):
    slug, run_id, _ = banner_owner
    html = client.get(f"/pollster/surveys/{slug}/banner?rows=civil_war_5yr,calexit_reason&columns=party").get_data(as_text=True)
    assert "Very or somewhat likely" in html and 'class="tag">net' in html
    assert "Asked of those who would vote for California to leave the United States" in html
    assert re.search(r"By <code>party</code>: F = [\d.]+\s+on [\d.]+ and [\d.]+ df, p = ", html)
    assert 'class="letters"' in html and "Swipe the table sideways" in html
    assert client.get(f"/pollster/surveys/{slug}/banner?columns=trust").status_code == 400
    ticked = client.get(f"/pollster/surveys/{slug}/banner?row=jefferson&column=sex&alpha=0.1").get_data(as_text=True)
    assert 'id="b-jefferson"' in ticked and 'id="b-civil_war_5yr"' not in ticked  # the form's checkboxes
    assert 'value="0.1" selected' in ticked and ">sex</th>" in ticked


def test_a_small_poll_gets_its_default_banner_with_letters_only_where_a_test_has_a_p_value(app):
    """120 respondents, every opinion question by every demographic: pairs of groups where everyone,
    no one or nobody (a filtered question) gives an answer have an undefined test (se 0, as in R) and
    give no letter; the banner is still built and the other pairs carry their letters."""
    with app.app_context():
        survey = load_default_survey()
        seed_poll(survey, 120)
        run = create_run(survey, WeightingSettings(california_adult_targets()), ExclusionRules(), None)
        db.session.commit()
        banner = build_banner(run)
        reasons = [row for row in banner.rows if row.question == "calexit_reason"]
        assert reasons and len(banner.variables) >= 6
        tested = {test["id"] for test in banner.spec["tests"] if test["type"] == "pairwise"}
        assert "calexit_reason=federal_policies@race" in tested  # black 2 of 2, asian and other: nobody asked
        assert any(cell.higher_than for row in banner.rows for cell in row.cells)
        for row in reasons:
            unasked = {cell.level for cell in row.cells if cell.variable == "race" and not cell.n}
            assert unasked, "the fixture asks calexit_reason of nobody in some race group"
            letters = {column.letter for column in banner.columns if column.variable == "race" and column.level in unasked}
            assert all(not set(cell.higher_than) & letters for cell in row.cells if cell.variable == "race")
            assert all(not cell.higher_than for cell in row.cells if cell.level in unasked and cell.variable == "race")
