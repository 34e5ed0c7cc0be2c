"""``build_report``: the coordinator's report of a reader study, from DataFrames to files.

Writes into ``out_dir``: report.html (self-contained), tables.xlsx (one sheet per table),
scores_long.csv, results.json (every statistic under the reference key scheme).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from livseg.report import figures as figs
from livseg.report import html as report_html
from livseg.report import questions as further_questions
from livseg.report import tables as tb
from livseg.report.results import (
    GUARDED,
    analysis_table,
    compute_results,
    metric_columns,
    software_versions,
    write_results_json,
)
from livseg.report.sections import report_sections, table_captions, write_excel
from livseg.stats import contingency, design, detection, intra_reader, reading_design, recheck
from livseg.stats.design import StatsInputError

DATA_DIR = Path(__file__).resolve().parent / "data"


SEED_PAPER_TABLE = DATA_DIR / "seed_paper_tables.csv"


CONTROL_NAMES = ("control", "classical", "traditional")


REFERENCE_NAMES = ("unet", "u-net", "unet2d", "unet_2d")


@dataclass
class ReportResult:
    """What ``build_report`` made: file paths (and the bytes written to the HTML and Excel
    files, for a download without reading them back), the flat results, tables and figures."""

    out_dir: Path
    html_path: Path
    results_path: Path
    xlsx_path: Path
    scores_csv_path: Path | None
    results: dict[str, float]
    tables: dict[str, pd.DataFrame]
    figures: dict[str, go.Figure]
    control: str | None = None
    reference: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    not_computable: dict[str, str] = field(default_factory=dict)
    captions: dict[str, str] = field(default_factory=dict)  # table name -> caption
    html_bytes: bytes = b""  # the content of html_path (UTF-8)
    xlsx_bytes: bytes = b""  # the content of xlsx_path


def load_seed_paper_table() -> pd.DataFrame:
    """The seed paper's Tables 1-2 (means / SDs as printed text, n, marks)."""
    return pd.read_csv(
        SEED_PAPER_TABLE, dtype={"mean": str, "sd": str, "marks": str}, keep_default_na=False
    )


def default_control(methods: Sequence[str]) -> str | None:
    """A method named Control / classical / traditional, if any."""
    for m in methods:
        if m.lower() in CONTROL_NAMES:
            return m
    return None


def default_reference(methods: Sequence[str], control: str | None) -> str | None:
    """U-Net (2D) as in the paper if present, else the first method that is not the control."""
    for m in methods:
        if m.lower() in REFERENCE_NAMES and m != control:
            return m
    rest = [m for m in methods if m != control]
    return rest[0] if rest else None


def _frame(x, what: str) -> pd.DataFrame | None:
    if x is None:
        return None
    if isinstance(x, pd.DataFrame):
        return x
    if isinstance(x, (str, Path)):
        path = Path(x)
        if not path.is_file():
            raise StatsInputError(f"{what}: file not found: {path}")
        return pd.read_csv(path)
    raise StatsInputError(f"{what}: expected a DataFrame or a CSV path, got {type(x).__name__}")


def _case_png(case_images, case: str) -> bytes | None:
    if case_images is None:
        return None
    if callable(case_images):
        return case_images(case)
    return case_images.get(case)


@dataclass
class _StudyData:
    """The validated inputs of one report: frames, method order, comparators, outcomes."""

    metrics: pd.DataFrame
    all_scores: pd.DataFrame | None  # every session (the washout re-reads too)
    lesions: pd.DataFrame | None
    volumes: pd.DataFrame | None
    order: list[str]
    control: str | None
    reference: str | None
    outcomes: Sequence[str] | None  # as given (None: every metric column)
    scores: pd.DataFrame | None = None  # session 1 (set by split_sessions)
    rereads: pd.DataFrame | None = None  # the washout re-reads (set by split_sessions)

    def split_sessions(self) -> None:
        """Session 1 scores and the washout re-reads of ``all_scores``."""
        if self.all_scores is not None:
            self.scores, self.rereads = intra_reader.split_sessions(self.all_scores)

    @property
    def values(self) -> list[str]:
        """The analysed outcomes: the metric columns, then satisfaction when scored."""
        chosen = list(self.outcomes) if self.outcomes is not None else metric_columns(self.metrics)
        return chosen + (["satisfaction"] if self.scores is not None else [])

    @property
    def n_cases(self) -> int:
        """The number of distinct cases of the metrics."""
        return int(self.metrics["case"].astype(str).nunique())

    @property
    def paper_split(self) -> tuple[list[str], list[str]]:
        """The outcomes of the paper's Table 1 and of Table 2."""
        values = self.values
        t1 = [v for v in values if v in tb.TABLE1] or [v for v in values if v not in tb.TABLE2]
        return t1, [v for v in values if v not in t1]

    @property
    def typical_value(self) -> str:
        """The outcome that picks the typical cases (DSC when analysed)."""
        values = self.values
        return "DSC" if "DSC" in values else values[0]


def build_report(
    metrics: pd.DataFrame | str | Path,
    scores: pd.DataFrame | str | Path | None,
    lesions: pd.DataFrame | str | Path | None,
    out_dir: str | Path,
    *,
    control: str | None = None,
    reference: str | None = None,
    alpha: float = 0.05,
    study_meta: Mapping | None = None,
    volumes: pd.DataFrame | str | Path | None = None,
    case_images: Mapping[str, bytes] | Callable[[str], bytes | None] | None = None,
    recheck_paper: bool = False,
    methods: Sequence[str] | None = None,
    equivalence_margins: Mapping[str, float] | None = None,
    power_scenarios: Sequence[tuple[float, float]] | None = None,
    ordinal_models: bool = True,
    make_figures: bool = True,
    outcomes: Sequence[str] | None = None,
    title: str = "LivSeg reader study report",
    method_titles: Mapping[str, str] | None = None,
    structure: str | None = None,
    answers: pd.DataFrame | str | Path | None = None,
) -> ReportResult:
    """Analyse a study and write the report files into ``out_dir``.

    metrics: case, method, outcome columns (DSC, JI, HD_mm, time_s, VER_pct, ...);
    scores: case, method, reader, score (Likert 1-5) or None; lesions: lesion, method,
    detected (0/1) or None; volumes: case, method, pred_ml, ref_ml or None (Bland-Altman).
    ``control`` ('*' comparator) defaults to a method named Control/classical; ``reference``
    ('#') to U-Net, else the first other method. ``equivalence_margins`` ({outcome: margin})
    adds paired TOST tests (default DSC ± 0.02); ``power_scenarios`` [(delta, sd)] adds
    paired-t power at n = 30 and the n for 80% power. ``outcomes``: metric columns to
    analyse (default: DSC, JI, HD_mm, HD95_mm, ASSD_mm, time_s, VER_pct when present).

    Input errors (a missing file or column, no outcome column, an unknown control, alpha
    outside (0, 1), invalid scores) raise StatsInputError. Everything else degrades per
    analysis: a statistic the data do not allow (too few values, no variation, one method,
    one reader, a singular model, ...) is shown as 'not computable: <reason>' in the tables,
    the HTML and the Excel sheets, listed under ``not_computable`` in results.json and in
    ``ReportResult.not_computable`` (key prefix -> reason) and summarised in ``notes``.
    Missing values (NaN) are left out: see docs/statistics.md.

    ``scores`` may hold a ``session`` column (1 = first read, 2 = washout re-read): the
    re-read pairs give the intra-reader agreement table, every other analysis uses session 1.
    ``method_titles`` ({method: display name}, default the registry's ``TITLES`` of the
    built-in methods) names the methods in the tables and the HTML (results.json keeps the
    names of the data); ``structure`` ('liver' / 'tumour', default ``study_meta['structure']``)
    is named in the headings of the segmentation tables. ``answers`` (the long answers of
    a study's several questions, ``livseg.report.questions``) adds "Further questions".
    """
    t0 = time.perf_counter()
    data = _validated_inputs(
        metrics, scores, lesions, volumes, alpha, control, reference, methods, outcomes
    )
    margins = {"DSC": 0.02} if equivalence_margins is None else dict(equivalence_margins)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}

    t = time.perf_counter()
    notes: list[str] = []
    nc: dict[str, str] = {}
    data.split_sessions()
    results = _statistics(data, margins, power_scenarios, ordinal_models, notes, nc)
    seconds["statistics"] = time.perf_counter() - t

    t = time.perf_counter()
    table = analysis_table(data.metrics, data.scores)
    tables = _result_tables(data, results, table, alpha, nc)
    asked = _further_questions(tables, answers, data.order)
    tables.update(_later_tables(data, results, table, alpha, nc, recheck_paper))
    seconds["tables"] = time.perf_counter() - t

    t = time.perf_counter()
    figures = _figures(data, table, method_titles, notes) if make_figures else {}
    seconds["figures"] = time.perf_counter() - t

    t = time.perf_counter()
    gallery = _case_gallery(tables["Typical cases"], case_images, data.typical_value, seconds)
    titles = display_names(data.order, method_titles)
    methods_text = _methods_text(data, titles, alpha, study_meta)
    tables = {name: tb.with_display_names(df, titles) for name, df in tables.items()}
    notes[:] = [tb.display_text(n, titles) for n in notes]
    foot = _footnote(data, titles, alpha)
    captions = table_captions(
        tables, structure or (study_meta or {}).get("structure"), data.n_cases
    )
    sections = report_sections(tables, foot, alpha, results, captions, asked, notes)
    page = report_html.render_html(
        title=title,
        methods_text=methods_text,
        sections=sections,
        figures=figures,
        case_gallery=gallery,
    )
    files = _write_files(out, page, data, results, tables, captions, foot)
    meta = _results_meta(data, alpha, notes, study_meta)
    files["results_path"] = write_results_json(
        results, out / "results.json", meta, not_computable=nc
    )
    seconds["files"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0
    return ReportResult(
        out_dir=out,
        results=results,
        tables=tables,
        figures=figures,
        control=data.control,
        reference=data.reference,
        seconds=seconds,
        notes=notes,
        not_computable=nc,
        captions=captions,
        **files,
    )


def _validated_inputs(
    metrics, scores, lesions, volumes, alpha, control, reference, methods, outcomes
) -> _StudyData:
    """The input frames read and checked, the method order and the two comparators."""
    if not 0 < alpha < 1:
        raise StatsInputError(f"alpha must be between 0 and 1, got {alpha}")
    metrics = _frame(metrics, "metrics")
    scores = _frame(scores, "scores")
    lesions = _frame(lesions, "lesions")
    volumes = _frame(volumes, "volumes")
    design.require_columns(metrics, ["case", "method"], "metrics")
    if not (list(outcomes) if outcomes is not None else metric_columns(metrics)):
        raise StatsInputError("metrics: no numeric outcome column (e.g. DSC, JI, HD_mm)")
    order = design.method_order(metrics, methods)
    if control is None:
        control = default_control(order)
    elif control not in order:
        raise StatsInputError(f"control {control!r} is not a method of the data {order}")
    if reference is None:
        reference = default_reference(order, control)
    elif reference not in order:
        raise StatsInputError(f"reference {reference!r} is not a method of the data {order}")
    return _StudyData(metrics, scores, lesions, volumes, order, control, reference, outcomes)


def _statistics(
    data: _StudyData,
    margins: Mapping[str, float],
    power_scenarios: Sequence[tuple[float, float]] | None,
    ordinal_models: bool,
    notes: list[str],
    nc: dict[str, str],
) -> dict[str, float]:
    """Every statistic of the study under the reference key scheme (``compute_results``)."""
    return compute_results(
        data.metrics,
        data.all_scores,
        data.lesions,
        methods=data.order,
        volumes=data.volumes,
        equivalence_margins=margins,
        power_scenarios=power_scenarios,
        ordinal_models=ordinal_models,
        outcomes=data.outcomes,
        notes=notes,
        not_computable=nc,
    )


def _result_tables(
    data: _StudyData, results: dict, table: pd.DataFrame, alpha: float, nc: dict
) -> dict[str, pd.DataFrame]:
    """The paper tables, the paired analyses, the score and intra-reader tables."""
    order, control, reference, values = data.order, data.control, data.reference, data.values
    t1, t2 = data.paper_split
    tables: dict[str, pd.DataFrame] = {
        "Table 1": tb.paper_table(results, t1, order, control, reference, alpha, nc, data.n_cases),
    }
    if t2:
        tables["Table 2"] = tb.paper_table(
            results, t2, order, control, reference, alpha, nc, data.n_cases
        )
    tables["Omnibus tests"] = tb.omnibus_table(results, values, nc, len(order))
    tables["Paired comparisons"] = tb.paired_table(results, values, order, nc)
    if data.scores is not None:
        tables["Score models"] = tb.models_table(results, order, nc)
        tables["Reader agreement"] = tb.agreement_table(results, ["all", *order], nc)
        tables["ICC forms"] = tb.icc_table(results, "all", nc)
        tables["Cohen kappa"] = tb.kappa_table(results, nc)
        tables["Likert scores"] = tb.likert_table(data.scores, order, nc)
    if data.rereads is not None:
        tables["Intra-reader agreement"] = tb.intra_reader_table(
            results, _intra_subjects(data.rereads, results, nc), nc
        )
    return tables


def _further_questions(tables: dict[str, pd.DataFrame], answers, order: Sequence[str]) -> list:
    """The analysed further questions of ``answers`` (none without answers); adds their
    "Further questions" table to ``tables`` when any was asked."""
    asked = (
        further_questions.analyse_questions(_frame(answers, "answers"), order)
        if answers is not None
        else []
    )
    if asked:
        tables["Further questions"] = further_questions.questions_table(asked, order)
    return asked


def _later_tables(
    data: _StudyData,
    results: dict,
    table: pd.DataFrame,
    alpha: float,
    nc: dict,
    recheck_paper: bool,
) -> dict[str, pd.DataFrame]:
    """Lesion detection, Bland-Altman, typical cases and the recheck of the paper's tables."""
    order = data.order
    tables: dict[str, pd.DataFrame] = {}
    if data.lesions is not None:
        tables["Lesion detection"] = tb.detection_table(results, order, nc)
        tables["Detection tests"] = tb.detection_tests_table(results, order, nc)
    if data.volumes is not None:
        tables["Bland-Altman"] = tb.bland_altman_table(results, order, nc)
    typical_value = data.typical_value
    tables["Typical cases"] = tb.typical_cases(
        table, order, typical_value, higher_is_better=typical_value in tb.HIGHER_IS_BETTER
    )
    if recheck_paper:
        paper = load_seed_paper_table()
        claims = recheck.check_claims(paper, control="Control", reference="UNet", alpha=alpha)
        tables["Recheck: claims"] = _claims_display(claims)
        tables["Recheck: network pairs"] = _recheck_pairs(paper, alpha, results)
    return tables


def _figures(
    data: _StudyData,
    table: pd.DataFrame,
    method_titles: Mapping[str, str] | None,
    notes: list[str],
) -> dict[str, go.Figure]:
    """The report's figures, drawn with the methods' display names; a figure the data do
    not allow is left out and said so in ``notes``."""
    titles = display_names(data.order, method_titles)
    shown = [titles[m] for m in data.order]
    values, typical_value = data.values, data.typical_value
    scores, lesions, volumes = data.scores, data.lesions, data.volumes

    def named(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(method=df["method"].astype(str).map(lambda m: titles.get(m, m)))

    ftable = named(table)
    makers = {f"box_{v}": lambda v=v: figs.box_strip(ftable, v, shown) for v in values}
    makers[f"paired_{typical_value}"] = lambda: figs.paired_lines(ftable, typical_value, shown)
    if scores is not None:
        makers["likert_stacked"] = lambda: figs.likert_stacked(named(scores), shown)
        if "DSC" in values:
            makers["dsc_vs_likert"] = lambda: figs.dsc_vs_likert(ftable, shown)
    if lesions is not None:
        makers["detection_rates"] = lambda: _detection_figure(named(lesions), shown)
    if volumes is not None:
        makers["bland_altman"] = lambda: figs.bland_altman_plot(named(volumes), shown)
    figures: dict[str, go.Figure] = {}
    for name, make in makers.items():
        try:
            figures[name] = make()
        except GUARDED as exc:  # a figure the data do not allow is left out, said so
            notes.append(f"figure {name}: not computable: {exc}")
    return figures


def _case_gallery(
    typical: pd.DataFrame, case_images, typical_value: str, seconds: dict[str, float]
) -> list[tuple[str, bytes]]:
    """(caption, PNG) of each typical case with an image; a broken image source is
    counted under ``seconds['image_errors']`` and warned about, not raised."""
    gallery = []
    for _, row in typical.iterrows():
        try:
            png = _case_png(case_images, str(row["Case"]))
        except Exception as exc:  # a broken image source must not sink the report
            png = None
            seconds.setdefault("image_errors", 0)
            seconds["image_errors"] += 1
            print(f"warning: no image for case {row['Case']}: {exc}")
        if png and pd.notna(row[typical_value]):
            gallery.append(
                (f"{row['Case']}: {row['Kind']} ({typical_value} {row[typical_value]:.3f})", png)
            )
    return gallery


def _design_text(scores: pd.DataFrame | None, rereads: pd.DataFrame | None) -> str | None:
    """The reading design in words: who read what, what a partial design allows, re-reads."""
    reading = reading_design.reading_design(scores) if scores is not None else None
    design_text = reading.text() if reading is not None else None
    if reading is not None and not reading.complete:
        design_text += (
            ". ICC, Fleiss' kappa and Kendall's W need items scored by every reader (here "
            f"{reading.n_items_all_readers}); Krippendorff's alpha uses every score"
            + (
                ", and so does the ICC(A,1) of the crossed random-effects model (reader, item)"
                if reading.connected
                else "; the crossed random-effects ICC needs a connected design"
            )
        )
    if rereads is not None:
        design_text = (design_text + "; " if design_text else "") + (
            f"{len(rereads)} items re-read after the washout (intra-reader agreement)"
        )
    return design_text


def _methods_text(
    data: _StudyData, titles: Mapping[str, str], alpha: float, study_meta: Mapping | None
) -> str:
    """The report's methods paragraph (cases, readers, software, comparators, design)."""
    scores = data.scores
    readers = list(pd.unique(scores["reader"].astype(str))) if scores is not None else []
    control, reference = data.control, data.reference
    return report_html.methods_paragraph(
        data.order,
        data.n_cases,
        readers,
        software_versions(),
        titles.get(control, control) if control else None,
        titles.get(reference, reference) if reference else None,
        alpha,
        study_meta,
        design_text=_design_text(scores, data.rereads),
        method_titles=titles,
    )


def _footnote(data: _StudyData, titles: Mapping[str, str], alpha: float) -> str:
    """The paper tables' footnote, naming the comparators by their display names."""
    control, reference = data.control, data.reference
    return tb.paper_footnote(
        titles.get(control, control) if control else None,
        titles.get(reference, reference) if reference else None,
        alpha,
    )


def _results_meta(
    data: _StudyData, alpha: float, notes: list[str], study_meta: Mapping | None
) -> dict:
    """The "meta" entry of results.json: comparators, alpha, methods, outcomes, notes."""
    return {
        "control": data.control,
        "reference": data.reference,
        "alpha": alpha,
        "methods": data.order,
        "outcomes": data.values,
        "notes": notes,
        "study": dict(study_meta or {}),
    }


def _excel_bytes(
    data: _StudyData,
    results: dict,
    tables: Mapping[str, pd.DataFrame],
    captions: Mapping[str, str],
    foot: str,
) -> bytes:
    """The Excel workbook (tables.xlsx) in memory, the paper tables as numbers."""
    t1, t2 = data.paper_split
    numeric = {"Table 1": tb.paper_numbers(results, t1, data.order, tables["Table 1"])}
    if t2:
        numeric["Table 2"] = tb.paper_numbers(results, t2, data.order, tables["Table 2"])
    xlsx_buffer = io.BytesIO()
    write_excel(xlsx_buffer, tables, captions, foot, numeric)
    return xlsx_buffer.getvalue()


def _write_files(
    out: Path,
    page: str,
    data: _StudyData,
    results: dict,
    tables: Mapping[str, pd.DataFrame],
    captions: Mapping[str, str],
    foot: str,
) -> dict:
    """Writes report.html, tables.xlsx and scores_long.csv (when scored) into ``out``;
    their paths and the HTML and Excel bytes, as ``ReportResult`` fields."""
    html_bytes = page.encode("utf-8")
    html_path = out / "report.html"
    html_path.write_bytes(html_bytes)
    xlsx_bytes = _excel_bytes(data, results, tables, captions, foot)
    xlsx_path = out / "tables.xlsx"
    xlsx_path.write_bytes(xlsx_bytes)
    scores_path = None
    if data.all_scores is not None:
        scores_path = out / "scores_long.csv"
        data.all_scores.to_csv(scores_path, index=False)
    return {
        "html_path": html_path,
        "xlsx_path": xlsx_path,
        "scores_csv_path": scores_path,
        "html_bytes": html_bytes,
        "xlsx_bytes": xlsx_bytes,
    }


def _intra_subjects(rereads: pd.DataFrame, results: Mapping, nc: Mapping) -> list[str]:
    """Rows of the intra-reader table: each reader, all, then the per-method subjects."""
    readers = [str(r) for r in pd.unique(rereads["reader"])]
    keys = [k for k in [*results, *nc] if k.startswith("intra_reader/")]
    subjects = []
    for who in [*readers, "all"]:
        subjects.append(who)
        per_method = {k.split("/")[2] for k in keys if k.count("/") >= 3 and k.split("/")[1] == who}
        methods = [m for m in pd.unique(rereads["method"].astype(str)) if m in per_method]
        subjects += [f"{who}/{m}" for m in methods]
    return subjects


def _detection_figure(lesions: pd.DataFrame, order: Sequence[str]) -> go.Figure:
    counts = contingency.detection_counts(lesions, order)
    counts = counts[counts["total"] > 0]
    return figs.detection_rates_plot(counts, detection.detection_rates(counts))


def _claims_display(claims: pd.DataFrame) -> pd.DataFrame:
    """The claims table with readable P values and yes / no flags."""
    out = pd.DataFrame(
        {
            "Metric": claims["metric"].map(tb.label),
            "Method": claims["method"],
            "Mark": claims["mark"],
            "Versus": claims["versus"],
            "Printed": claims["printed"].map({True: "yes", False: "no"}),
            "LSD P": claims["lsd_p"].map(tb.fmt_p),
            "Verdict": claims["verdict"],
            "Robust to rounding": claims["robust_to_rounding"].map({True: "yes", False: "no"}),
            "LSD P range": [
                f"{tb.fmt_p(a)}–{tb.fmt_p(b)}"
                for a, b in zip(claims["lsd_p_min"], claims["lsd_p_max"], strict=True)
            ],
            "Welch P": claims["welch_p"].map(tb.fmt_p),
            "Tukey P": claims["tukey_p"].map(tb.fmt_p),
            "Holm P": claims["holm_p"].map(tb.fmt_p),
        }
    )
    return out


def _recheck_pairs(paper: pd.DataFrame, alpha: float, results: dict) -> pd.DataFrame:
    """Network pairs of the published table: LSD P (and its range under rounding), Welch,
    Tukey, Holm, and the correlation a paired design would need for P = 0.05. Adds the
    numbers to ``results`` under recheck/<metric>/<pair>/<quantity>."""
    rows = []
    for metric in pd.unique(paper["metric"]):
        res = recheck.recheck_metric(paper, metric, alpha)
        an = res["oneway_anova"]
        for q in ("F", "p", "MSE"):
            results[f"recheck/{metric}/oneway/{q}"] = an[q]
        for pk, r in res["pairs"].items():
            for q in (
                "diff",
                "lsd_t",
                "lsd_p",
                "welch_p",
                "tukey_p",
                "lsd_p_holm",
                "rho_for_paired_p05",
            ):
                results[f"recheck/{metric}/{pk}/{q}"] = r[q]
            a, b = pk.split("_vs_")
            if "Control" in (a, b):
                continue
            lo, hi = r["lsd_p_range_rounding"]
            rows.append(
                {
                    "Metric": tb.label(metric),
                    "Pair": f"{a} vs {b}",
                    "Diff": f"{r['diff']:+.3g}",
                    "LSD P": tb.fmt_p(r["lsd_p"]),
                    "LSD P range (rounding)": f"{tb.fmt_p(lo)}–{tb.fmt_p(hi)}",
                    "Welch P": tb.fmt_p(r["welch_p"]),
                    "Tukey P": tb.fmt_p(r["tukey_p"]),
                    "Holm P": tb.fmt_p(r["lsd_p_holm"]),
                    "ρ needed for paired P = 0.05": f"{r['rho_for_paired_p05']:.2f}",
                }
            )
    return pd.DataFrame(rows)


def display_names(methods: Sequence[str], method_titles: Mapping[str, str] | None) -> dict:
    """Display name of each method: ``method_titles`` (the study's), else the registry's
    title of a built-in method, else its name."""
    from livseg.methods import TITLES

    given = {str(k): str(v) for k, v in (method_titles or {}).items() if v and str(v).strip()}
    return {m: given.get(m) or TITLES.get(m) or m for m in methods}
