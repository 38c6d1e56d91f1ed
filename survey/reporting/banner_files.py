"""A banner as files: an XLSX banner book and a long CSV, both from one ``Banner``.

The book has one sheet per banner variable (Total and that variable's columns, every row
question below the other), frozen headers, percentages formatted as percentages, the letters
in their own row under each percentage, bases at the top and under each question, and a
notes sheet with the tests of independence; how to read it and the weighting head every sheet.
Its values are written by ``analysis.export.write_xlsx``, the one formula-safe writer.
"""
from __future__ import annotations

import io
from collections.abc import Iterator

import pandas as pd
from openpyxl import load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from analysis.export import iter_csv, write_xlsx
from survey.models import Survey
from survey.reporting.publication import MIMETYPES, Download
from survey.reporting.banners import Banner
from survey.weighting.settings import METHODS

PERCENT = "0%"
LETTER_FONT = Font(color="1F5FA8", bold=True, size=9)
HEADER_FONT = Font(bold=True)
QUESTION_FILL = PatternFill("solid", fgColor="EEF3F9")
NET_FONT = Font(bold=True)
LOW_BASE_MARK = "*"


def banner_download(survey: Survey, banner: Banner, extension: str) -> Download:
    """The banner as ``banner.xlsx`` or ``banner.csv`` (named after the survey and run)."""
    filename = f"{survey.slug}-run{banner.run_id}-banner.{extension}"
    body = banner_xlsx(banner, survey) if extension == "xlsx" else iter_csv(banner_frame(banner))
    return Download(filename, MIMETYPES[extension], body)


def banner_frame(banner: Banner) -> pd.DataFrame:
    """One line per row and column (Total first): the CSV layout, easy to pivot."""
    columns = {(c.variable, c.level): c for c in banner.columns}
    records = []
    for row in banner.rows:
        for cell in (row.total, *row.cells):
            column = columns.get((cell.variable, cell.level))
            records.append({
                "question": row.question, "answer": row.answer, "answer_label": row.answer_label, "net": row.net,
                "variable": cell.variable, "level": cell.level or "", "letter": column.letter if column else "",
                "estimate": cell.estimate, "se": cell.se, "ci_low": cell.ci_low, "ci_high": cell.ci_high, "n": cell.n,
                "higher_than": " ".join(cell.higher_than), "low_base": cell.low_base,
                "column_n": column.n if column else None, "column_weighted_n": column.weighted_n if column else None,
            })
    return pd.DataFrame.from_records(records)


def banner_xlsx(banner: Banner, survey: Survey) -> bytes:
    """The banner book: every value written by ``analysis.export.write_xlsx`` (formula-safe),
    then styled (letters, nets, question headings, bases, frozen panes)."""
    sheets, kinds = {}, {}
    for variable, label in banner.variables:
        sheets[f"by {variable}"], kinds[f"by {variable}"] = _banner_sheet(banner, variable)
    sheets["notes"] = pd.DataFrame(
        [(t.question, t.variable, t.statistic, t.ndf, t.ddf, t.p_value) for t in banner.independence],
        columns=["question", "banner variable", "F (Rao-Scott)", "numerator df", "denominator df", "p-value"])
    percent_columns = {name: PERCENT for frame in list(sheets.values())[:-1] for name in frame.columns[2:]}
    buffer = io.BytesIO()
    title = f"{survey.title.get('en') or survey.slug}: banner tables, weighting run {banner.run_id}"
    write_xlsx(sheets, buffer, title=title, notes=list(_notes(banner)), number_formats=percent_columns)
    book = load_workbook(buffer)
    for name, sheet in zip(sheets, book.worksheets):
        if name in kinds:
            _style(sheet, kinds[name], len(sheets[name].columns))
    styled = io.BytesIO()
    book.save(styled)
    return styled.getvalue()


def _banner_sheet(banner: Banner, variable: str) -> tuple[pd.DataFrame, list[str]]:
    """One banner variable's table (Total and its columns) and the kind of each line, for styling."""
    columns = banner.columns_of(variable)
    header = ["Question", "Answer", "Total"] + [
        f"{c.label}{' ' + LOW_BASE_MARK if c.low_base else ''} ({c.letter})" for c in columns]
    lines: list[list] = [["", "Unweighted base", banner.total_n, *[c.n for c in columns]],
                         ["", "Weighted base", round(banner.total_weighted_n), *[round(c.weighted_n) for c in columns]]]
    kinds = ["base", "base"]
    blank = [None] * (len(columns) + 1)
    for question in banner.questions:
        lines.append([f"{question.code}: {question.label}", "", *blank])
        lines.append(["", f"Base: {question.asked} (n = {question.n}, weighted {question.weighted_n:,.0f})", *blank])
        kinds += ["question", "note"]
        for row in banner.rows_of(question.code):
            cells = {(c.variable, c.level): c for c in row.cells}
            mine = [cells[(c.variable, c.level)] for c in columns]
            lines.append(["", row.answer_label + (" (net)" if row.net else ""), row.total.estimate,
                          *[cell.estimate for cell in mine]])
            lines.append(["", "", "", *[" ".join(cell.higher_than) for cell in mine]])
            kinds += ["net" if row.net else "answer", "letters"]
        test = banner.independence_of(question.code, variable)
        if test is not None and test.p_value is not None:
            lines.append(["", f"Rao-Scott F = {test.statistic:.2f} on {test.ndf:.2f} and {test.ddf:.1f} df, "
                              f"p = {test.p_value:.3g}", *blank])
            kinds.append("note")
    return pd.DataFrame(lines, columns=header), kinds


def _style(sheet, kinds: list[str], width: int) -> None:
    """Fonts and formats by kind of line; the header, bases and the two text columns frozen."""
    header_row = next(row[0].row for row in sheet.iter_rows(min_col=1, max_col=1) if row[0].value == "Question")
    for offset, kind in enumerate(kinds, start=1):
        cells = [sheet.cell(row=header_row + offset, column=column) for column in range(1, width + 1)]
        if kind == "base":
            for cell in cells[2:]:
                cell.number_format = "#,##0"
            cells[1].font = HEADER_FONT
        elif kind == "question":
            cells[0].font, cells[0].fill = HEADER_FONT, QUESTION_FILL
        elif kind == "net":
            for cell in cells[1:]:
                cell.font = NET_FONT
        elif kind == "letters":
            for cell in cells[2:]:
                cell.font, cell.alignment = LETTER_FONT, Alignment(horizontal="right")
        elif kind == "note":
            cells[1].font = Font(italic=True)
    for cell in sheet[header_row]:
        cell.alignment = Alignment(wrap_text=True, horizontal="center" if cell.column > 2 else "left")
    sheet.freeze_panes = sheet.cell(row=header_row + 3, column=3)  # header and both bases stay in view
    sheet.column_dimensions["A"].width, sheet.column_dimensions["B"].width = 30, 40
    for column in range(3, width + 1):
        sheet.column_dimensions[get_column_letter(column)].width = 13


def _notes(banner: Banner) -> Iterator[str]:
    settings = banner.spec["weighting"]
    yield "Cells: weighted percentages of those answering in each column (Total: everyone answering)."
    yield (f"Letters (the line under each percentage): the columns of the same banner variable the cell is significantly "
           f"higher than (design-based pairwise test with the covariance of the domain estimates, p < {banner.alpha:g}, "
           f"{banner.degf} degrees of freedom).")
    yield f"Low bases: columns or cells with fewer than {banner.min_base} respondents are marked {LOW_BASE_MARK} and get no letters."
    yield "Nets: rows marked (net) add up several answers (e.g. very + somewhat likely); estimated like any answer."
    yield (f"Weighting: {METHODS.get(settings['method'], settings['method'])} to "
           f"{', '.join(settings.get('margins') or settings.get('by') or [])}; variance by {banner.spec['variance']['method']}. "
           "Tests of independence: Rao-Scott second-order F (R's svychisq, statistic = \"F\"), on the notes sheet.")
