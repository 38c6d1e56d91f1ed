"""Export files read back by the tools a pollster's readers use: pyreadstat (SPSS, Stata), pandas,
pyarrow and openpyxl; formula injection; streaming CSV equal to the one-shot file."""
from __future__ import annotations

import io
import json
import re

import numpy as np
import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest

from analysis.export import (
    Codebook,
    VariableInfo,
    iter_csv,
    neutralize,
    stata_names,
    write_codebook,
    write_csv,
    write_dta,
    write_parquet,
    write_sav,
    write_xlsx,
)

AGE_LABELS = {"18-29": "18 to 29", "30-44": "30 to 44", "45-64": "45 to 64", "65+": "65 or older"}
CIVIL_WAR_LABELS = {"very_likely": "Very likely", "somewhat_likely": "Somewhat likely",
                    "not_very_likely": "Not very likely", "not_at_all_likely": "Not at all likely",
                    "not_sure": "Not sure"}
LONG_QUESTION = ("¿Qué tan probable es que los Estados Unidos vivan una segunda guerra civil en algún "
                 "momento de los próximos cinco años?")


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "respondent_id": [1, 2, 3, 4, 5],
            "language": ["en", "es", "en", "en", "es"],
            "age_group": ["18-29", "65+", None, "30-44", "45-64"],
            "civil_war_5yr": ["very_likely", "not_sure", "somewhat_likely", None, "not_at_all_likely"],
            "calexit_reason__economy": [0, 1, 1, 0, 0],
            "trust": [3.0, np.nan, 7.0, 10.0, 0.0],
            "change": [-2.5, 0.25, -0.125, 1e-9, -1234.5],
            "note": ["=HYPERLINK(\"http://x\")", "+cmd|' /C calc'!A0", "-1", "@SUM(A1)", None],
            "weight": [1523.25, 980.5, 2210.125, 1400.0, 3001.0625],
        }
    )


@pytest.fixture
def codebook(frame) -> Codebook:
    return Codebook.from_frame(
        frame,
        labels={"respondent_id": "Respondent number", "language": "Interview language",
                "age_group": "Age group", "civil_war_5yr": LONG_QUESTION,
                "calexit_reason__economy": "Reason: the economy", "trust": "Trust (0-10)",
                "weight": "Final weight"},
        value_labels={"language": {"en": "English", "es": "Español"}, "age_group": AGE_LABELS,
                      "civil_war_5yr": CIVIL_WAR_LABELS, "calexit_reason__economy": {0: "Not chosen", 1: "Chosen"}},
        ordered=["age_group"],
        title="California 2025, weighting run 7",
        metadata={"fieldwork": "2025-05-01 to 2025-05-20", "weights": "raking to ACS 2018-2022"},
    )


def test_codebook_infers_types_and_numbers_codes_in_answer_order(codebook):
    assert [v.type for v in codebook.variables] == [
        "numeric", "categorical", "categorical", "categorical", "categorical", "numeric", "numeric", "text", "numeric"]
    assert codebook.variable("age_group").stored_codes == {"18-29": 1, "30-44": 2, "45-64": 3, "65+": 4}
    assert codebook.variable("calexit_reason__economy").stored_codes == {0: 0, 1: 1}
    table = codebook.to_frame().set_index("variable")
    assert table.loc["age_group", "values"].startswith("1 = 18-29: 18 to 29; 2 = 30-44: 30 to 44")
    assert table.loc["calexit_reason__economy", "values"] == "0 = Not chosen; 1 = Chosen"


def test_sav_reads_back_with_variable_and_value_labels(tmp_path, frame, codebook):
    path = tmp_path / "respondents.sav"
    assert write_sav(frame, path, codebook) == {}
    data, meta = pyreadstat.read_sav(str(path))
    assert meta.column_names_to_labels["civil_war_5yr"] == LONG_QUESTION
    assert meta.variable_value_labels["age_group"] == {1.0: "18 to 29", 2.0: "30 to 44", 3.0: "45 to 64", 4.0: "65 or older"}
    assert meta.variable_value_labels["language"] == {1.0: "English", 2.0: "Español"}
    assert meta.variable_measure["age_group"] == "ordinal" and meta.variable_measure["weight"] == "scale"
    assert meta.file_label == "California 2025, weighting run 7"
    assert data["age_group"].tolist()[:2] == [1.0, 4.0] and np.isnan(data["age_group"][2])  # missing stays missing
    assert np.isnan(data["trust"][1]) and data["trust"][3] == 10
    np.testing.assert_array_equal(data["weight"], frame["weight"])
    np.testing.assert_array_equal(data["change"], frame["change"])
    labelled, _ = pyreadstat.read_sav(str(path), apply_value_formats=True)
    assert labelled["civil_war_5yr"].tolist()[:3] == ["Very likely", "Not sure", "Somewhat likely"]
    assert labelled["note"].tolist()[4] == ""  # SPSS strings have no missing value


def test_dta_reads_back_with_labels_and_valid_names(tmp_path, frame, codebook):
    awkward = frame.assign(**{"2nd wave": 1, "in": 2, "a" * 40: 3, "a" * 40 + "b": 4, "día": 5})
    renamed = write_dta(awkward, tmp_path / "respondents.dta", codebook)
    assert renamed == {"2nd wave": "v_2nd_wave", "in": "v_in", "a" * 40: "a" * 32,
                       "a" * 40 + "b": "a" * 30 + "_2", "día": "dia"}
    data, meta = pyreadstat.read_dta(str(tmp_path / "respondents.dta"))
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,31}", name) for name in data.columns)
    assert meta.variable_value_labels["civil_war_5yr"][2] == "Somewhat likely"
    assert meta.variable_value_labels["calexit_reason__economy"] == {0: "Not chosen", 1: "Chosen"}
    label = meta.column_names_to_labels["civil_war_5yr"]
    assert len(label) == 80 and label.endswith("…") and LONG_QUESTION.startswith(label[:-1])
    assert data["civil_war_5yr"].tolist()[:3] == [1, 5, 2] and np.isnan(data["civil_war_5yr"][3])
    np.testing.assert_array_equal(data["weight"], frame["weight"])
    stata = pd.read_stata(tmp_path / "respondents.dta")  # a second reader: labels applied
    assert stata["age_group"].astype(object).tolist()[:2] == ["18 to 29", "65 or older"]


def test_stata_names_are_valid_short_and_unique():
    names = stata_names(["_n", "byte", "str80", "x-y", "x_y", "", "respondent_id"])
    assert names == {"_n": "v__n", "byte": "v_byte", "str80": "v_str80", "x-y": "x_y", "x_y": "x_y_2",
                     "": "v", "respondent_id": "respondent_id"}


def test_csv_reads_back_with_codes_missing_values_and_negative_numbers(tmp_path, frame):
    path = tmp_path / "respondents.csv"
    write_csv(frame, path)
    back = pd.read_csv(path, keep_default_na=False, na_values=[""])
    assert back["age_group"].tolist()[:2] == ["18-29", "65+"] and pd.isna(back["age_group"][2])
    np.testing.assert_array_equal(back["change"], frame["change"])  # negative numbers stay numbers
    np.testing.assert_array_equal(back["weight"], frame["weight"])
    assert back["note"].tolist()[:4] == ["'=HYPERLINK(\"http://x\")", "'+cmd|' /C calc'!A0", "-1", "'@SUM(A1)"]


@pytest.mark.parametrize(
    "value, safe",
    [("=1+1", "'=1+1"), ("+1+1", "'+1+1"), ("-1+1", "'-1+1"), ("@cmd", "'@cmd"), ("\tx", "'\tx"),
     ("\r=1", "'\r=1"), ("-0.25", "-0.25"), ("1e-3", "1e-3"), ("safe", "safe"), (-3.5, -3.5), (-2, -2)],
)
def test_formula_cells_are_neutralized_and_numbers_kept(value, safe):
    assert neutralize(value) == safe


def test_streaming_csv_equals_the_one_shot_file(frame):
    one_shot = io.BytesIO()
    write_csv(frame, one_shot)
    batches = [frame.iloc[:2], frame.iloc[2:3], frame.iloc[3:]]
    assert b"".join(iter_csv(batches)) == one_shot.getvalue()
    rows = [frame.iloc[i:i + 2].to_dict("records") for i in range(0, len(frame), 2)]
    assert b"".join(iter_csv(rows, columns=list(frame.columns))) == one_shot.getvalue()
    assert b"".join(iter_csv(frame, batch_rows=2)) == one_shot.getvalue()


def test_streaming_csv_reads_one_batch_at_a_time(frame):
    pulled = []

    def batches():
        for start in range(0, len(frame), 2):
            pulled.append(start)
            yield frame.iloc[start:start + 2]

    chunks = iter_csv(batches())
    first = next(chunks)
    assert pulled == [0] and first.startswith(b'"respondent_id","language"')
    assert len(list(chunks)) == 2 and pulled == [0, 2, 4]


def test_streaming_csv_refuses_a_batch_without_the_header_columns(frame):
    with pytest.raises(ValueError, match="lacks the column\\(s\\) `weight`"):
        list(iter_csv([frame, frame.drop(columns="weight")]))


def test_parquet_reads_back_with_codes_nulls_and_the_codebook(tmp_path, frame, codebook):
    path = tmp_path / "respondents.parquet"
    write_parquet(frame, path, codebook)
    table = pq.read_table(path)
    assert table.column("age_group").to_pylist() == ["18-29", "65+", None, "30-44", "45-64"]
    assert table.schema.field("civil_war_5yr").metadata[b"label"].decode() == LONG_QUESTION
    described = json.loads(table.schema.metadata[b"codebook"])
    assert described["metadata"]["fieldwork"] == "2025-05-01 to 2025-05-20"
    age = next(v for v in described["variables"] if v["name"] == "age_group")
    assert age["values"][3] == {"stored": 4, "code": "65+", "label": "65 or older"}
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


def test_xlsx_tables_have_a_header_widths_and_safe_cells(tmp_path):
    toplines = pd.DataFrame({"question": ["civil_war_5yr", "civil_war_5yr"], "answer": ["=1+1", "Very likely"],
                             "estimate": [0.412, -0.05], "n": [812, 790]})
    path = tmp_path / "toplines.xlsx"
    write_xlsx({"Toplines: all/adults": toplines, "Crosstabs": toplines.head(1)}, path,
               title="California 2025 - weighted toplines", notes=["Run 7, raking"], number_formats={"estimate": "0.0%"})
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == ["Toplines_ all_adults", "Crosstabs"]
    sheet = workbook["Toplines_ all_adults"]
    assert sheet["A1"].value == "California 2025 - weighted toplines" and sheet["A1"].font.bold
    assert [c.value for c in sheet[4]] == ["question", "answer", "estimate", "n"] and sheet["A4"].font.bold
    assert sheet.freeze_panes == "A5"
    assert sheet["B5"].value == "'=1+1" and sheet["B5"].data_type == "s"
    assert sheet["C6"].value == -0.05 and sheet["C6"].number_format == "0.0%"
    assert sheet["D5"].value == 812
    assert sheet.column_dimensions["A"].width == len("civil_war_5yr") + 2


def test_codebook_files_in_csv_markdown_and_html(tmp_path, codebook):
    write_codebook(codebook, tmp_path / "codebook.csv")
    table = pd.read_csv(tmp_path / "codebook.csv", keep_default_na=False)
    assert table.set_index("variable").loc["civil_war_5yr", "label"] == LONG_QUESTION
    risky = Codebook((VariableInfo("x", "a | b <script>", "categorical", {"y": "z"}),), title="T")
    markdown = io.BytesIO()
    write_codebook(risky, markdown, format="md")
    assert "| x | x | x | a \\| b <script> | categorical | 1 = y: z |" in markdown.getvalue().decode()
    page = io.BytesIO()
    write_codebook(codebook, page, format="html")
    text = page.getvalue().decode()
    assert "<dt>fieldwork</dt><dd>2025-05-01 to 2025-05-20</dd>" in text and "1 = 18-29: 18 to 29" in text
    write_codebook(risky, page, format="html")
    assert "<script>" not in page.getvalue().decode()[len(text):]
    with pytest.raises(ValueError, match="format='pdf' is not one of"):
        write_codebook(codebook, page, format="pdf")


def test_files_are_written_to_binary_buffers_too(frame, codebook):
    for write in (write_sav, write_dta, write_parquet):
        buffer = io.BytesIO()
        write(frame, buffer, codebook)
        assert len(buffer.getvalue()) > 500, write.__name__


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda f, c: write_sav(f.assign(age_group="17"), io.BytesIO(), c), "`age_group` has value\\(s\\) '17' with no value label"),
        (lambda f, c: write_dta(f.drop(columns="trust"), io.BytesIO(), c), "describes `trust`, not in the data"),
        (lambda f, c: VariableInfo("region", "Region", "categorical"), "categorical variable `region` needs value labels"),
        (lambda f, c: VariableInfo("region", "Region", "ordinal"), "type of `region`='ordinal' is not one of"),
        (lambda f, c: Codebook((VariableInfo("x"), VariableInfo("x"))), "describes `x` more than once"),
    ],
)
def test_mistakes_are_named(frame, codebook, make, message):
    with pytest.raises(ValueError, match=message):
        make(frame, codebook)


def test_dta_keeps_value_labels_of_32_character_names(tmp_path):
    # pyreadstat names a label set after its variable plus a counter; readstat refuses names over 32
    names = ["calexit_reason__federal_policies"] + [f"multi_choice_reason_number_{k:02d}_x" for k in range(11)]
    frame = pd.DataFrame({name: ["0", "1", None] for name in names})
    book = Codebook.from_frame(frame, value_labels={name: {"0": "Not chosen", "1": "Chosen"} for name in names})
    renamed = write_dta(frame, tmp_path / "long.dta", book)
    data, meta = pyreadstat.read_dta(str(tmp_path / "long.dta"))
    assert len(meta.variable_value_labels) == len(names)
    for name in names:
        stored = renamed.get(name, name)
        assert len(stored) == 30  # 12 labelled variables: counters up to 11 (two digits)
        assert meta.variable_value_labels[stored] == {1: "Not chosen", 2: "Chosen"}
        assert data[stored].tolist()[:2] == [1, 2]
    assert set(book.to_frame()["stata_name"]) == set(data.columns)
    assert stata_names(["x" * 32, "y" * 32], labelled=["x" * 32]) == {"x" * 32: "x" * 31, "y" * 32: "y" * 32}
    assert stata_names(["x" * 32, "x" * 31], labelled=["x" * 32, "x" * 31]) == {"x" * 32: "x" * 31, "x" * 31: "x" * 29 + "_2"}
