"""Report presentation (issue 13 defect 12): the structure named in the tables, methods by
display name, no empty index-name row, n per group, numeric Excel cells with the footnote,
decimals per metric, clean not-computable texts, the readers' noun, no claim that every
reader read every case while reading is under way."""

from __future__ import annotations

import re

import numpy as np
import openpyxl
import pandas as pd
import pytest

from livseg.methods import TITLES
from livseg.report import build_report
from livseg.report.results import _reason_text

METHODS = ("classical", "unet2d")


def _metrics(n_cases: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = [
        {"case": f"case{c}", "method": m, "DSC": rng.uniform(0.6, 0.95),
         "HD_mm": rng.uniform(2, 30), "time_s": rng.uniform(1, 60)}
        for m in METHODS
        for c in range(n_cases)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def _scores(readers=("r1", "r2", "r3"), n_cases: int = 6, drop: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(8)
    rows = [
        {"case": f"case{c}", "method": m, "reader": r, "score": int(rng.integers(1, 6))}
        for r in readers
        for m in METHODS
        for c in range(n_cases)
    ]
    return pd.DataFrame(rows).iloc[: len(rows) - drop]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("presentation")
    meta = {"readers": 3, "structure": "liver", "design": "each reader reads 4 of 6 cases"}
    return build_report(
        _metrics(), _scores(drop=5), None, out, study_meta=meta, ordinal_models=False
    )


def test_tables_name_the_structure_and_n_per_group(report):
    page = report.html_path.read_text(encoding="utf-8")
    assert "Table 1 — liver segmentation metrics" in page
    assert "n = 6 cases per method" in page
    assert report.captions["Table 1"].startswith("Table 1 — liver segmentation metrics")
    assert "liver segmentation" in report.captions["Paired comparisons"]
    wb = openpyxl.load_workbook(report.xlsx_path, read_only=True)
    assert next(wb["Table 1"].iter_rows(values_only=True))[0].startswith("Table 1 — liver")


def test_methods_by_display_name_not_internal_id(report):
    t1 = report.tables["Table 1"]
    assert list(t1.index[:2]) == [TITLES["classical"], TITLES["unet2d"]]
    page = report.html_path.read_text(encoding="utf-8")
    plotly_js = re.compile(r'<script type="text/javascript">/\*\*.*?</script>', re.S)
    shown = plotly_js.sub("", page)  # the figures' data stay, the plotly.js library goes
    assert "unet2d" not in shown and '"classical"' not in shown and ">classical<" not in shown
    assert TITLES["unet2d"] in shown
    legend = {t.name for t in report.figures["box_DSC"].data}
    assert legend == {TITLES["classical"], TITLES["unet2d"]}
    pairs = report.tables["Paired comparisons"]["Pair (A − B)"]
    assert set(pairs) == {f"{TITLES['classical']} − {TITLES['unet2d']}"}
    # results.json keeps the data's names
    assert "descriptive/DSC/unet2d/mean" in report.results


def test_study_titles_override_the_registry(tmp_path):
    res = build_report(
        _metrics(), None, None, tmp_path, make_figures=False,
        method_titles={"unet2d": "Our U-Net"},
    )  # fmt: skip
    assert list(res.tables["Table 1"].index[:2]) == [TITLES["classical"], "Our U-Net"]


def test_no_empty_group_row_in_the_html(report):
    page = report.html_path.read_text(encoding="utf-8")
    table = page[page.index('id="table-1"') : page.index("</table>", page.index('id="table-1"'))]
    head = table[table.index("<thead>") : table.index("</thead>")]
    assert head.count("<tr") == 1  # one header row (the index name is a column)
    assert "<th>Group</th>" in head


def test_excel_cells_are_numbers_with_the_footnote(report):
    wb = openpyxl.load_workbook(report.xlsx_path, read_only=True)
    rows = list(wb["Table 1"].iter_rows(values_only=True))
    header = rows[2]
    assert header[:5] == ("Group", "DSC mean", "DSC SD", "DSC n", "DSC marks")
    body = {r[0]: r for r in rows[3:] if r and r[0]}
    mean = _metrics().query("method == 'unet2d'")["DSC"].mean()
    assert body[TITLES["unet2d"]][1] == pytest.approx(round(mean, 3))
    assert isinstance(body[TITLES["unet2d"]][3], int) and body[TITLES["unet2d"]][3] == 6
    assert isinstance(body["F"][1], float) and isinstance(body["P"][1], float)
    notes = [r[0] for r in rows if r and isinstance(r[0], str) and "Fisher LSD" in r[0]]
    assert len(notes) == 1  # the footnote
    likert = list(wb["Likert scores"].iter_rows(values_only=True))
    assert isinstance(likert[3][1], int)  # n of the first method, a number


def test_typical_cases_round_to_the_metrics_decimals(report):
    typical = report.tables["Typical cases"]
    values = typical["DSC"].dropna().to_numpy()
    assert np.allclose(values, np.round(values, 3)) and not np.allclose(values, np.round(values, 2))


def test_methods_paragraph_says_readers_and_does_not_claim_a_complete_reading(report):
    page = report.html_path.read_text(encoding="utf-8")
    assert "given by 3 readers." in page
    assert "read by every reader" not in page
    assert "Study design: each reader reads 4 of 6 cases. Reading design: incomplete" in page


def test_not_computable_reasons_are_clean_texts():
    assert _reason_text(ValueError("zero-size array to reduction operation maximum")) == (
        "too few values or no variation for this analysis"
    )
    assert "LinAlgError" not in _reason_text(np.linalg.LinAlgError("Singular matrix"))
    assert "ZeroDivisionError" not in _reason_text(ZeroDivisionError("float division by zero"))


def test_report_hands_over_the_bytes_it_wrote(report):
    """The Report page offers html_bytes / xlsx_bytes for download instead of reading the
    files back: they are the files' content, and the workbook opens with openpyxl."""
    import io

    assert report.html_bytes == report.html_path.read_bytes()
    assert report.xlsx_bytes == report.xlsx_path.read_bytes()
    assert "Table 1 — liver" in report.html_bytes.decode("utf-8")
    wb = openpyxl.load_workbook(io.BytesIO(report.xlsx_bytes), read_only=True)
    assert "Table 1" in wb.sheetnames
