"""The report's layout: the HTML sections (order, headings, notes) and the Excel workbook
(one sheet per table, its caption, the paper tables' footnote)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from livseg.report import questions as further_questions
from livseg.report import tables as tb

INTRA_READER_NOTE = (
    "Pairs: items a reader scored in the main reading (session 1) and again after the "
    "washout (session 2). Exact agreement: share of pairs with the same score; Cohen's kappa "
    "with linear and quadratic weights over the categories 1-5; ICC(A,1): two-way random, "
    "absolute agreement, single measurement (McGraw & Wong), the two sessions as raters, 95% "
    "CI. 'all readers (pooled)': the pairs of every reader together; rows per method when "
    "every method has at least 5 pairs. Every other table uses session 1 only."
)


NOT_COMPUTABLE_NOTE = (
    "Statistics the data do not (yet) allow; each is marked 'not computable: "
    "<reason>' in the tables below. Missing values are left out: descriptives "
    "use the available values (n), paired tests the cases with values for both "
    "methods."
)


PAPER_TABLES = ("Table 1", "Table 2")


def report_sections(tables, foot, alpha, results, captions, asked, notes) -> list:
    """The HTML sections: the notes of what is not computable first, then the tables,
    then the further questions."""
    sections = _sections(tables, foot, alpha, results, captions)
    if asked:
        sections.append(
            (
                "Further questions",
                [("", further_questions.NOTE), ("Further questions", tables["Further questions"])],
            )
        )
    if notes:
        sections.insert(
            0, ("Not computable", [("", NOT_COMPUTABLE_NOTE)] + [("", n) for n in notes])
        )
    return sections


def _sections(tables, foot, alpha, results, captions):
    """The report's sections of tables, in the order of the HTML, with their notes."""
    sec = [
        (
            "Table 1 and Table 2 (the paper's layout)",
            [(captions[k], tables[k]) for k in PAPER_TABLES if k in tables] + [("", foot)],
        )
    ]
    sec.append(
        (
            "Paired analyses (methods compared on the same cases)",
            [
                (captions["Omnibus tests"], tables["Omnibus tests"]),
                (captions["Paired comparisons"], tables["Paired comparisons"]),
                ("", "P (Holm): Holm adjustment over the method pairs of each outcome."),
            ]
            + ([("Score models", tables["Score models"])] if "Score models" in tables else []),
        )
    )
    if "Reader agreement" in tables:
        sec.append(
            (
                "Reader agreement and Likert scores",
                [
                    ("Reader agreement", tables["Reader agreement"]),
                    ("ICC forms", tables["ICC forms"]),
                    ("Cohen kappa", tables["Cohen kappa"]),
                    ("Likert scores", tables["Likert scores"]),
                ],
            )
        )
    if "Intra-reader agreement" in tables:
        sec.append(
            (
                "Intra-reader agreement (washout re-reads)",
                [
                    ("Intra-reader agreement", tables["Intra-reader agreement"]),
                    ("", INTRA_READER_NOTE),
                ],
            )
        )
    if "Lesion detection" in tables:
        sec.append(
            (
                "Lesion detection",
                [
                    ("Lesion detection", tables["Lesion detection"]),
                    ("Detection tests", tables["Detection tests"]),
                    ("", _lesion_tests_note(results)),
                ],
            )
        )
    if "Bland-Altman" in tables:
        sec.append(("Tumour volume agreement", [("Bland-Altman", tables["Bland-Altman"])]))
    sec.append(("Typical cases", [(captions["Typical cases"], tables["Typical cases"])]))
    if "Recheck: claims" in tables:
        sec.append(
            (
                "Recheck of the published Tables 1-2",
                [
                    (
                        "",
                        "Recomputed in closed form from the printed means, SDs and n = 30 per group "
                        "(one-way ANOVA + Fisher LSD, as SPSS). 'robust_to_rounding': the verdict "
                        "holds for every mean and SD inside the printed rounding.",
                    ),
                    ("Recheck: claims", tables["Recheck: claims"]),
                    ("Recheck: network pairs", tables["Recheck: network pairs"]),
                ],
            )
        )
    return sec


def _lesion_tests_note(results: Mapping[str, float]) -> str:
    """Cochran's Q and the paper-style chi-square of lesion detection, in words."""
    q = results.get("cochran_q/lesions/Q")
    note = (
        f"Cochran's Q = {q:.2f}, P {tb.fmt_p(results['cochran_q/lesions/p'])} "
        "(same lesions for every method)."
        if q is not None
        else ""
    )
    chi = next((k for k in results if k.startswith("chisq/lesions_") and k.endswith("/X2")), None)
    if chi:
        base = chi[: -len("/X2")]
        note += (
            f" Paper-style chi-square on the detected / missed table: "
            f"χ² = {results[chi]:.2f}, df {results[base + '/df']:g}, "
            f"P {tb.fmt_p(results[base + '/p'])}, Cramér's V = "
            f"{results[base + '/cramers_V']:.3f}."
        )
    return note


def table_captions(
    tables: Mapping[str, pd.DataFrame], structure: str | None, n_cases: int | None = None
) -> dict:
    """Caption of each table: its name, with the segmented structure for the tables of
    segmentation metrics and the n per group of the paper tables."""
    seg = f"{structure} segmentation" if structure else "segmentation"
    n = f"n = {n_cases} cases per method (fewer where a cell says so)" if n_cases else ""
    out = {}
    for name in tables:
        if name in PAPER_TABLES:
            out[name] = f"{name} — {seg} metrics, mean ± SD per method; {n}"
        elif name in ("Omnibus tests", "Paired comparisons"):
            out[name] = f"{name} — {seg} metrics and satisfaction"
        elif name == "Typical cases":
            out[name] = f"{name} — {seg}"
        else:
            out[name] = name
    return out


def write_excel(
    path: Path | io.BytesIO,
    tables: Mapping[str, pd.DataFrame],
    captions: Mapping[str, str],
    foot: str,
    numeric: Mapping[str, pd.DataFrame] | None = None,
) -> Path:
    """One sheet per table: its caption in row 1, the table from row 3, numbers as numbers
    (``numeric[name]`` replaces a text table, e.g. mean / SD / n / marks columns for the
    paper tables; elsewhere a cell that is a plain number becomes numeric), the paper
    tables' footnote below."""
    used: set[str] = set()
    numeric = numeric or {}
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        for name, df in tables.items():
            sheet = _sheet_name(name, used)
            frame = numeric[name] if name in numeric else df
            frame = frame.map(tb.excel_value)
            frame.to_excel(xl, sheet_name=sheet, index=False, startrow=2)
            ws = xl.sheets[sheet]
            ws.cell(row=1, column=1, value=captions.get(name, name))
            if name in PAPER_TABLES:
                ws.cell(row=len(frame) + 5, column=1, value=foot)
    return path


def _sheet_name(name: str, used: set[str]) -> str:
    """An Excel sheet name for ``name`` (no []:*?/\\, 31 characters at most) not in
    ``used`` (added to it)."""
    base = "".join(c for c in name if c not in "[]:*?/\\")[:31] or "sheet"
    out, i = base, 1
    while out in used:
        i += 1
        out = f"{base[:28]}_{i}"
    used.add(out)
    return out
