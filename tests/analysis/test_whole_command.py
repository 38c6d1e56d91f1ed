"""`python -m analysis run` as a whole: the CSV reader reads what it always read, and the
result writer writes every weight so that it reads back as the same number."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import run_spec
from analysis.__main__ import format_numbers, main
from analysis.spec import read_data, spec_columns

from .conftest import MARGINS, OWN_REFERENCE

SHARED = Path(__file__).parents[3] / "shared/reference/analysis"
# What a hand-made CSV may hold: R's TRUE/FALSE, codes with leading zeros, dates, empty
# fields, the text "NA" (an answer, not a missing value), quoted commas, numbers and text mixed.
TRICKY_CSV = (
    "id,flag,code,when,score,mixed,text,empty,tiny\n"
    '1,TRUE,01,2024-01-05,1.5,1,"a, b",,-1e-3\n'
    '2,FALSE,02,2024-02-05,,x,NA,,2\n'
    '3,,10,,3.25,2,"",,0.1000000000000000055511151231257827\n'
)
SPEC = {"data": "poll_b.csv", "design": {"weights": "base_weight"},
        "weighting": {"method": "rake", "margins": MARGINS, "population": 30_000_000},
        "estimates": [{"id": "yes", "variable": "calexit", "type": "proportion", "categories": ["yes"], "by": "party"}]}


def _as_r_reads(path: Path) -> pd.DataFrame:
    """The whole file as the command read it before it read only the spec's columns."""
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def _csv_files(tmp_path: Path) -> list[Path]:
    tricky = tmp_path / "tricky.csv"
    tricky.write_text(TRICKY_CSV, encoding="utf-8")
    shared = sorted(SHARED.glob("*.csv")) if SHARED.is_dir() else []
    return sorted(OWN_REFERENCE.glob("*.csv")) + shared + [tricky]


def test_reading_some_columns_gives_the_same_values_as_reading_all(tmp_path):
    for path in _csv_files(tmp_path):
        whole = _as_r_reads(path)
        pd.testing.assert_frame_equal(read_data(path), whole)
        pd.testing.assert_frame_equal(read_data(path, columns=set(whole.columns) | {"absent"}), whole)
        for name in whole.columns:
            pd.testing.assert_frame_equal(read_data(path, columns={name}), whole[[name]], obj=f"{path.name}:{name}")


def test_the_tricky_file_keeps_its_rules(tmp_path):
    path = _csv_files(tmp_path)[-1]
    data = read_data(path, columns={"flag", "code", "text", "mixed", "tiny"})
    assert list(data.columns) == ["flag", "code", "mixed", "text", "tiny"]  # file order
    assert data["flag"].tolist()[:2] == [True, False] and pd.isna(data["flag"].iloc[2])
    assert data["code"].tolist() == [1, 2, 10]  # numbers as numbers, as R's read.csv
    assert data["text"].iloc[1] == "NA" and pd.isna(data["text"].iloc[2])
    assert data["tiny"].iloc[2] == 0.1


def test_a_spec_naming_no_column_still_counts_every_row(tmp_path):
    path = OWN_REFERENCE / "poll_b.csv"
    data = read_data(path, columns={"no_such_column"})
    assert data.shape == (len(_as_r_reads(path)), 1)


def test_spec_columns_finds_every_name_a_spec_uses():
    names = spec_columns({**SPEC, "models": [{"id": "m", "outcome": "trust", "predictors": ["party", "sex"]}]})
    assert {"base_weight", "calexit", "party", "trust", "sex", *MARGINS} <= names


@pytest.mark.parametrize("repeats", [1, 50], ids=["distinct", "one value per cell"])
def test_format_numbers_reads_back_exactly(repeats):
    rng = np.random.default_rng(5)
    distinct = np.concatenate([rng.lognormal(3, 2, 10_000), -rng.random(100),
                               [0.0, -0.0, 1e-5, 5e-324, 1.7976931348623157e308, 30.0, 1e16, 0.1]])
    values = distinct if repeats == 1 else rng.choice(distinct, len(distinct) * repeats)
    parsed = json.loads(b"[" + format_numbers(values) + b"]")
    assert all(type(v) is float for v in parsed)  # 30.0 is not read back as the integer 30
    assert np.array(parsed).tobytes() == values.tobytes()  # bit for bit, signed zero included
    assert format_numbers(np.array([])) == b""
    with pytest.raises(ValueError, match="1 weights are not finite"):
        format_numbers(np.array([1.0, np.nan]))


def test_the_command_writes_the_weights_into_the_json_or_a_parquet_file(tmp_path):
    spec_path = tmp_path / "spec.json"  # JSON is YAML
    spec_path.write_text(json.dumps({**SPEC, "data": str(OWN_REFERENCE / "poll_b.csv")}), encoding="utf-8")
    expected = run_spec(SPEC, OWN_REFERENCE)
    assert main(["run", str(spec_path), "--out", str(tmp_path / "result.json")]) == 0
    assert json.loads((tmp_path / "result.json").read_text(encoding="utf-8")) == expected

    weights_file = tmp_path / "weights.parquet"
    assert main(["run", str(spec_path), "--out", str(tmp_path / "lean.json"), "--weights", str(weights_file)]) == 0
    lean = json.loads((tmp_path / "lean.json").read_text(encoding="utf-8"))
    assert lean == {"degf": expected["degf"], "converged": expected["converged"], "weights_file": str(weights_file), "estimates": expected["estimates"]}
    assert pd.read_parquet(weights_file)["weight"].tolist() == expected["weights"]


def test_the_weights_file_must_be_parquet(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["run", "spec.yaml", "--out", str(tmp_path / "r.json"), "--weights", str(tmp_path / "w.csv")])
    assert "must end in .parquet" in capsys.readouterr().err


def test_per_cell_sums_by_bincount_equal_the_sparse_product_bit_for_bit(poll):
    from analysis.weighting import BINCOUNT_COLUMNS, make_cells

    cells = make_cells(poll, {v: tuple(levels) for v, levels in MARGINS.items()})
    values = np.random.default_rng(3).lognormal(size=(len(poll), BINCOUNT_COLUMNS))
    assert cells.sum(values).tobytes() == np.asarray(cells.summing_matrix @ values).tobytes()
