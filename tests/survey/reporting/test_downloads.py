"""Every download of a weighting run: the numbers of ``python -m analysis run`` on the downloaded
spec and data, labels that survive SPSS and Stata, no personal data, no live formulas."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import pytest
import sqlalchemy as sa
import yaml

from survey.extensions import db
from survey.models import Answer, Invitation, Response, TargetSet, WeightingRun
from survey.questionnaires.loading import default_questionnaire_path, read_document
from survey.questionnaires.sync import load_into_database
from survey.questionnaires.validation import parse
from tests.support.polls import seed_poll
from tests.survey.weighting.test_runs import TARGETS

OWNER = "downloads@example.org"
EVIL_LABEL = "=HYPERLINK(\"http://evil.example\",\"click\")"
SECRET_COMMENT = "call me at 555-0199, Jane Roe"
PANEL_ID = "PANEL-SECRET-77"


@pytest.fixture
def weighted(app, client, make_pollster, sign_in):
    """A weighted poll whose questionnaire has a formula-like label and whose respondents left
    personal data where it must not leak from (an invitation, a free-text comment)."""
    with app.app_context():
        document = read_document(default_questionnaire_path().read_text(encoding="utf-8"))
        calexit = next(q for page in document["pages"] for q in page["questions"] if q["code"] == "calexit")
        next(o for o in calexit["options"] if o["code"] == "unsure")["label"] = {"en": EVIL_LABEL, "es": "-1+1"}
        survey = load_into_database(parse(document), db.session)
        ids = seed_poll(survey, 160)
        db.session.add(TargetSet(survey_id=survey.id, targets=TARGETS.to_dict()))
        invitation = Invitation(survey_id=survey.id, token_hash="f" * 64, panel_id=PANEL_ID)
        db.session.add(invitation)
        db.session.flush()
        db.session.get(Response, ids[0]).invitation_id = invitation.id
        db.session.execute(sa.delete(Answer).where(Answer.response_id == ids[0], Answer.question_code == "comment"))
        db.session.add(Answer(response_id=ids[0], question_code="comment", value=SECRET_COMMENT))
        db.session.commit()
        slug = survey.slug
    make_pollster(OWNER, slug)
    sign_in(client, OWNER)
    response = client.post(f"/pollster/surveys/{slug}/weighting/run", data={
        "method": "rake", "calfun": "raking", "variance": "linearization", "speeder_share": "0.4",
        "exclude": ["speeder", "attention_failed", "duplicate"]})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    with app.app_context():
        run_id = db.session.scalar(sa.select(WeightingRun.id))
    return slug, run_id


def _get(client, slug, run_id, name, query=""):
    response = client.get(f"/pollster/surveys/{slug}/runs/{run_id}/files/{name}{query}")
    assert response.status_code == 200, (name, response.status_code, response.get_data(as_text=True)[:500])
    assert "attachment" in response.headers["Content-Disposition"]
    return response


def test_cli_on_downloaded_spec_gives_the_weights_in_every_respondent_file(client, weighted, tmp_path):
    slug, run_id = weighted
    spec_response = _get(client, slug, run_id, "spec.yaml")
    spec = yaml.safe_load(spec_response.get_data(as_text=True))
    data_response = _get(client, slug, run_id, "data.csv")
    assert data_response.headers["Content-Disposition"].endswith(f'filename="{spec["data"]}"')
    (tmp_path / "spec.yaml").write_bytes(spec_response.get_data())
    (tmp_path / spec["data"]).write_bytes(data_response.get_data())
    subprocess.run([sys.executable, "-m", "analysis", "run", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "out.json")],
                   check=True, cwd=tmp_path, capture_output=True)
    result = json.loads((tmp_path / "out.json").read_text())
    weights = np.asarray(result["weights"])

    csv = pd.read_csv(io.BytesIO(_get(client, slug, run_id, "respondents.csv").get_data()))
    np.testing.assert_allclose(csv["weight"], weights, rtol=1e-12)
    sav, sav_meta = pyreadstat.read_sav(_saved(tmp_path, "r.sav", _get(client, slug, run_id, "respondents.sav")))
    np.testing.assert_allclose(sav["weight"], weights, rtol=1e-12)
    dta, dta_meta = pyreadstat.read_dta(_saved(tmp_path, "r.dta", _get(client, slug, run_id, "respondents.dta")))
    np.testing.assert_allclose(dta["weight"], weights, rtol=1e-12)
    parquet = pd.read_parquet(io.BytesIO(_get(client, slug, run_id, "respondents.parquet").get_data()))
    np.testing.assert_allclose(parquet["weight"], weights, rtol=1e-12)
    assert list(parquet["respondent_id"]) == list(csv["respondent_id"]) == list(sav["respondent_id"])

    for meta in (sav_meta, dta_meta):
        labels = dict(zip(meta.column_names, meta.column_labels))
        assert labels["civil_war_5yr"].startswith("How likely is it that the United States")
        assert "weighting run" in labels["weight"]
    assert sav_meta.variable_value_labels["calexit"][1] == "For California to leave the United States"
    assert set(sav["calexit"].dropna()) <= {1, 2, 3} and set(csv["calexit"].dropna()) <= {"yes", "no", "unsure"}
    for meta in (sav_meta, dta_meta):
        assert meta.variable_value_labels["calexit_reason__economy"] == {0: "Not chosen", 1: "Chosen"}
    # .sav and .dta store answer codes as numbers 1..k labelled with the answers
    assert dta_meta.variable_value_labels["calexit"][1] == "For California to leave the United States"

    toplines = pd.read_csv(io.BytesIO(_get(client, slug, run_id, "toplines.csv").get_data()))
    expected = {e["id"]: e for e in result["estimates"]}
    assert len(toplines) == len(expected)
    for row in toplines.itertuples():
        # weighting variables' shares are the targets: shown without their zero-width interval
        columns = ("estimate",) if row.weighted_to_target else ("estimate", "se", "ci_low", "ci_high")
        for column in columns:
            reference = expected[row.estimate_id][column]
            value = getattr(row, column)
            assert np.isnan(value) if reference is None else value == pytest.approx(reference, rel=1e-9), (row, column)
    likely = toplines.set_index("estimate_id").loc["civil_war_5yr=likely"]
    assert likely["net"] and likely["answer"] == "likely" and likely["se"] == pytest.approx(
        expected["civil_war_5yr=likely"]["se"], rel=1e-9)
    xlsx = pd.read_excel(io.BytesIO(_get(client, slug, run_id, "toplines.xlsx").get_data()), skiprows=5)
    np.testing.assert_allclose(xlsx["estimate"], toplines["estimate"], rtol=1e-12)
    assert list(xlsx["estimate_id"]) == list(toplines["estimate_id"])


def _saved(folder: Path, name: str, response) -> str:
    path = folder / name
    path.write_bytes(response.get_data())
    return str(path)


def test_replicate_weights_on_request(client, weighted):
    slug, run_id = weighted
    plain = pd.read_csv(io.BytesIO(_get(client, slug, run_id, "respondents.csv").get_data()))
    with_replicates = pd.read_csv(io.BytesIO(_get(client, slug, run_id, "respondents.csv", "?replicates=jk1").get_data()))
    replicate_columns = [c for c in with_replicates.columns if c.startswith("repw_")]
    assert len(replicate_columns) == len(plain)  # JK1 on respondents: one replicate per respondent
    # each replicate is weighted again to the same population total
    assert with_replicates[replicate_columns].sum().to_numpy() == pytest.approx(np.full(len(plain), 30_000_000))
    assert not any(c.startswith("repw_") for c in plain.columns)


def test_crosstabs_and_codebook(client, weighted):
    slug, run_id = weighted
    crosstab = pd.read_csv(io.BytesIO(_get(client, slug, run_id, "crosstabs.csv", "?by=sex&ci=mean").get_data()))
    assert set(crosstab["domain"].dropna()) == {"female", "male"}
    assert client.get(f"/pollster/surveys/{slug}/runs/{run_id}/files/crosstabs.csv").status_code == 400
    codebook = pd.read_csv(io.BytesIO(_get(client, slug, run_id, "codebook.csv").get_data()))
    assert {"respondent_id", "weight", "calexit", "calexit_reason__economy"} <= set(codebook["variable"])
    assert client.get(f"/pollster/surveys/{slug}/runs/{run_id}/files/passwords.csv").status_code == 404


def test_no_download_carries_personal_data_or_live_formulas(client, weighted):
    slug, run_id = weighted
    names = ["spec.yaml", "data.csv", "respondents.csv", "respondents.sav", "respondents.dta", "respondents.parquet",
             "toplines.csv", "toplines.xlsx", "codebook.csv", "codebook.xlsx", "methodology.md"]
    for name in names:
        body = _get(client, slug, run_id, name).get_data()
        for secret in (PANEL_ID, SECRET_COMMENT.split(",")[0], "f" * 64):
            assert secret.encode() not in body, (name, secret)
    for name in ("toplines.csv", "codebook.csv"):
        text = _get(client, slug, run_id, name).get_data(as_text=True)
        cells = [cell for line in text.splitlines() for cell in line.split(",")]
        assert not any(cell.lstrip('"').startswith(("=", "+", "-", "@")) for cell in cells if "HYPERLINK" in cell or cell.strip('"') == "-1+1"), name
        assert "HYPERLINK" in text
    for name in ("toplines.xlsx", "codebook.xlsx"):
        book = openpyxl.load_workbook(io.BytesIO(_get(client, slug, run_id, name).get_data()))
        values = [cell.value for sheet in book for row in sheet.iter_rows() for cell in row]
        assert not any(isinstance(v, str) and v.startswith("=") for v in values), name
        assert any(isinstance(v, str) and "HYPERLINK" in v for v in values), name


def test_downloads_stream_and_their_bytes_are_those_of_the_writers(app, client, weighted, monkeypatch, tmp_path):
    """Every data and table file is sent as a stream (built files wait in a spooled file, here
    made small enough to spill to disk), and the bytes sent are the writer's own."""
    from analysis.export import iter_csv, write_parquet
    from survey.reporting import publication
    from survey.weighting.runs import compute

    monkeypatch.setattr(publication, "SPOOL_BYTES", 1024)
    slug, run_id = weighted
    bodies = {}
    for name in ("data.csv", "respondents.csv", "respondents.sav", "respondents.dta", "respondents.parquet",
                 "toplines.csv", "toplines.xlsx", "codebook.csv", "codebook.xlsx"):
        response = _get(client, slug, run_id, name)
        assert response.is_streamed, name
        bodies[name] = response.get_data()
    with app.test_request_context():
        computed = compute(db.session.get(WeightingRun, run_id))
        frame = publication.respondent_frame(computed)
        book = publication.codebook(computed, frame)
        parquet = io.BytesIO()
        write_parquet(frame, parquet, book)
        assert bodies["data.csv"] == computed.csv_bytes
        assert bodies["respondents.csv"] == b"".join(iter_csv(frame))
        assert bodies["respondents.parquet"] == parquet.getvalue()
    for name, read in (("respondents.sav", pyreadstat.read_sav), ("respondents.dta", pyreadstat.read_dta)):
        (tmp_path / name).write_bytes(bodies[name])
        data, meta = read(str(tmp_path / name))
        assert len(data) == len(frame) and meta.column_names[:2] == list(frame.columns[:2])
        np.testing.assert_allclose(data["weight"], frame["weight"])

