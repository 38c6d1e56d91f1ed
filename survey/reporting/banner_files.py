"""A banner as files: an XLSX banner book and a long CSV, both from one ``Banner``.

The book has one sheet per banner variable (Total and that variable's columns, every row
question below the other), frozen headers, percentages formatted as percentages, the letters
in their own row under each percentage, bases at the top and under each question, and a
notes sheet with the tests of independence and the weighting.
"""
from __future__ import annotations

import io
from collections.abc import Iterator

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from analysis.export import iter_csv, neutralize
from survey.models import Survey
from survey.reporting.publication import MIMETYPES, Download
from survey.reporting.banners import Banner, BannerColumn, BannerRow
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
    book = Workbook()
    book.remove(book.active)
    for variable, label in banner.variables:
        _banner_sheet(book, banner, variable, label, survey)
    _notes_sheet(book, banner, survey)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _sheet_title(text: str, taken: set[str]) -> str:
    title = "".join(ch for ch in text if ch not in "[]:*?/\\")[:31] or "banner"
    while title in taken:
        title = title[:28] + f"_{len(taken)}"
    taken.add(title)
    return title


def _banner_sheet(book: Workbook, banner: Banner, variable: str, label: str, survey: Survey) -> None:
    sheet = book.create_sheet(_sheet_title(f"by {variable}", set(book.sheetnames)))
    columns = banner.columns_of(variable)
    sheet.append([neutralize(f"{survey.title.get('en') or survey.slug}: banner by {label}")])
    sheet["A1"].font = Font(bold=True, size=12)
    sheet.append(["Question", "Answer", "Total"] + [_header(c) for c in columns])
    sheet.append(["", "Letter", ""] + [c.letter for c in columns])
    sheet.append(["", "Unweighted base", banner.total_n] + [c.n for c in columns])
    sheet.append(["", "Weighted base", round(banner.total_weighted_n)] + [round(c.weighted_n) for c in columns])
    for cells in sheet.iter_rows(min_row=2, max_row=5):
        for cell in cells:
            cell.font = HEADER_FONT
            cell.alignment = Alignment(horizontal="center", wrap_text=True) if cell.column > 2 else Alignment(wrap_text=True)
    for question in banner.questions:
        test = banner.independence_of(question.code, variable)
        sheet.append([neutralize(f"{question.code}: {question.label}")])
        sheet.cell(sheet.max_row, 1).fill = QUESTION_FILL
        sheet.cell(sheet.max_row, 1).font = HEADER_FONT
        sheet.append(["", neutralize(f"Base: {question.asked} (n = {question.n}, weighted {question.weighted_n:,.0f})")])
        for row in banner.rows_of(question.code):
            _answer_rows(sheet, row, columns)
        if test is not None and test.p_value is not None:
            sheet.append(["", f"Rao–Scott F = {test.statistic:.2f} on {test.ndf:.2f} and {test.ddf:.1f} df, "
                              f"p = {test.p_value:.3g}"])
            sheet.cell(sheet.max_row, 2).font = Font(italic=True)
    sheet.freeze_panes = "C6"
    sheet.column_dimensions["A"].width = 28
    sheet.column_dimensions["B"].width = 34
    for index in range(3, 4 + len(columns)):
        sheet.column_dimensions[get_column_letter(index)].width = 12


def _header(column: BannerColumn) -> str:
    return neutralize(column.label + (f" {LOW_BASE_MARK}" if column.low_base else ""))


def _answer_rows(sheet, row: BannerRow, columns: list[BannerColumn]) -> None:
    """The percentage row, then the letters row right under it."""
    cells = {(c.variable, c.level): c for c in row.cells}
    mine = [cells[(c.variable, c.level)] for c in columns]
    sheet.append(["", neutralize(row.answer_label + (" (net)" if row.net else "")), row.total.estimate]
                 + [cell.estimate for cell in mine])
    number_row = sheet.max_row
    for index in range(3, 4 + len(mine)):
        sheet.cell(number_row, index).number_format = PERCENT
    if row.net:
        for index in range(2, 4 + len(mine)):
            sheet.cell(number_row, index).font = NET_FONT
    sheet.append(["", "", ""] + [" ".join(cell.higher_than) for cell in mine])
    for index in range(3, 4 + len(mine)):
        sheet.cell(sheet.max_row, index).font = LETTER_FONT
        sheet.cell(sheet.max_row, index).alignment = Alignment(horizontal="center")


def _notes_sheet(book: Workbook, banner: Banner, survey: Survey) -> None:
    sheet = book.create_sheet("notes")
    lines = list(_notes(banner, survey))
    for line in lines:
        sheet.append([neutralize(value) if isinstance(value, str) else value for value in line])
    sheet.column_dimensions["A"].width = 30
    sheet.column_dimensions["B"].width = 22


def _notes(banner: Banner, survey: Survey) -> Iterator[list]:
    settings = banner.spec["weighting"]
    yield [f"{survey.title.get('en') or survey.slug}, weighting run {banner.run_id}"]
    yield []
    yield ["Cells", "Weighted percentages of those answering in each column (Total: everyone answering)."]
    yield ["Letters", f"A cell's letters are the columns of the same banner variable it is significantly higher than "
                      f"(design-based pairwise test of the difference, covariance of the domain estimates included, "
                      f"p < {banner.alpha:g}; {banner.degf} degrees of freedom)."]
    yield ["Low bases", f"Columns or cells with fewer than {banner.min_base} respondents are marked "
                        f"{LOW_BASE_MARK} and get no letters."]
    yield ["Nets", "Rows marked (net) add up several answers (e.g. very + somewhat likely); estimated like any answer."]
    yield ["Weighting", f"{METHODS.get(settings['method'], settings['method'])} to "
                        f"{', '.join(settings.get('margins') or settings.get('by') or [])}; variance by "
                        f"{banner.spec['variance']['method']}."]
    yield []
    yield ["Tests of independence (Rao–Scott second-order F, as R's svychisq(statistic = \"F\"))"]
    yield ["question", "banner variable", "F", "numerator df", "denominator df", "p-value"]
    for test in banner.independence:
        yield [test.question, test.variable, test.statistic, test.ndf, test.ddf, test.p_value]
