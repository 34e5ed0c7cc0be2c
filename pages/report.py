"""Report screen (coordinator): the study's statistics report (livseg.report) rendered in the
page — tables and plotly figures — with downloads (HTML, Excel, long CSV)."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from pages._shared import COORDINATOR, db_session, require_role

user = require_role(COORDINATOR)

from db import catalog, export, studies  # noqa: E402
from livseg.stats.design import StatsInputError  # noqa: E402
from livseg.workspace import workspace_dir  # noqa: E402

st.title("Report")

with db_session() as session:
    study_table = studies.list_studies(session, user)
if study_table.empty:
    st.info("No study yet (Study page, or the demo on the Overview page).")
    st.stop()

labels = {int(r.id): f"{r.name} ({r.status})" for r in study_table.itertuples(index=False)}
ids = list(labels)
left, right = st.columns(2)
study_id = left.selectbox(
    "Study", ids, index=len(ids) - 1, format_func=labels.get, key="report_study"
)
structure = right.radio(
    "Segmentation metrics of",
    ["tumour", "liver"],
    horizontal=True,
    key="report_structure",
    help="Table 1 / Table 2 use the metrics of this structure (the paper's volume error is the tumour's).",
)

with db_session() as session:
    info = studies.get_study(session, user, study_id)
    metrics = export.metrics_table(session, user, structure=structure, study_id=study_id)
    lesions = export.lesions_table(session, user, study_id=study_id)
    scores_long = export.scores_long(session, user, study_id)
    answers_long = export.answers_long(session, user, study_id)  # the study's questions
    method_rows = catalog.list_methods(session, user)
# the study's display names of its methods where the catalogue has them (else the report
# uses the registry's titles of the built-in methods)
titles = (
    {
        str(n): str(t)
        for n, t in zip(method_rows["name"], method_rows["title"], strict=True)
        if isinstance(t, str) and t.strip()
    }
    if "title" in method_rows.columns
    else {}
)
# every analysis uses the first reading; the washout re-reads give intra-reader agreement
scores = scores_long[["case", "method", "reader", "session", "score"]]

if metrics.empty:
    st.info("This study's runs have no metrics yet.")
    st.stop()

volumes = metrics[["case", "method", "volume_ml", "reference_volume_ml"]].rename(
    columns={"volume_ml": "pred_ml", "reference_volume_ml": "ref_ml"}
)
n_scores = int((scores["session"] == 1).sum())
n_rereads = int((scores["session"] == 2).sum())
# the '*' control and '#' comparator: the report's own defaults (livseg.report.build)
control = reference = None


@st.cache_data(show_spinner="Computing the report…", max_entries=8)
def build(
    metrics: pd.DataFrame,
    scores: pd.DataFrame,
    lesions: pd.DataFrame,
    volumes: pd.DataFrame,
    out_dir: str,
    control: str | None,
    reference: str | None,
    meta_json: str,
    titles_json: str = "{}",
    answers: pd.DataFrame | None = None,
) -> dict:
    """The report's tables, figures and file contents (cached on the data)."""
    from livseg.report import build_report

    result = build_report(
        metrics,
        scores,
        lesions,
        out_dir,
        control=control,
        reference=reference,
        study_meta=json.loads(meta_json),
        volumes=volumes,
        method_titles=json.loads(titles_json),
        answers=answers,
    )
    return {
        "tables": dict(result.tables),
        "figures": dict(result.figures),
        "html": result.html_bytes,  # the bytes build_report wrote (not read back)
        "xlsx": result.xlsx_bytes,
        "notes": list(result.notes),
        "captions": dict(result.captions),
        "control": result.control,
        "reference": result.reference,
    }


meta = {
    "study": info.name,
    "status": info.status,
    "seed": info.seed,
    "readers": info.n_readers,
    "blinding": "opaque item codes, per-reader seeded orders; methods never named to readers",
    "structure": structure,
    "design": (
        f"each reader reads {info.cases_per_reader} of the {info.n_cases} cases (every "
        "method of each), balanced and connected where the numbers allow"
        if info.cases_per_reader and info.cases_per_reader < info.n_cases
        else f"every reader reads all {info.n_cases} cases x {info.n_methods} methods"
    )
    + (
        f"; {info.n_retest} items re-read after a {info.washout_days:g}-day washout"
        if info.n_retest
        else ""
    ),
}
out_dir = workspace_dir() / "reports" / f"study-{study_id}-{structure}"
try:
    report = build(
        metrics,
        scores,
        lesions,
        volumes,
        str(out_dir),
        control,
        reference,
        json.dumps(meta, sort_keys=True),
        json.dumps(titles, sort_keys=True),
        answers_long,
    )
except StatsInputError as exc:  # the data themselves are wrong (columns, values)
    st.error(f"The report could not be computed: {exc}")
    report = None

if report is not None and report["notes"]:
    # a short list is shown open; a long one (reading just started) would push the tables down
    many = len(report["notes"]) > 4
    with st.expander(f"Not computable yet ({len(report['notes'])})", expanded=not many):
        st.caption(
            "Marked 'not computable: <reason>' in the tables below; missing values are left "
            "out (descriptives on the available values, paired tests on complete pairs)."
        )
        for note in report["notes"]:
            st.markdown(f"- {note}")
downloads = st.columns(3)
csv_bytes = scores_long.to_csv(index=False).encode("utf-8")
downloads[2].download_button(
    "Scores (long CSV)", csv_bytes, file_name=f"scores_study_{study_id}.csv", mime="text/csv"
)
downloads[2].download_button(
    "Answers per question (long CSV)",
    answers_long.to_csv(index=False).encode("utf-8"),
    file_name=f"answers_study_{study_id}.csv",
    mime="text/csv",
)
if report is not None:
    downloads[0].download_button(
        "HTML report",
        report["html"],
        file_name=f"report_study_{study_id}.html",
        mime="text/html",
        type="primary",
    )
    downloads[1].download_button(
        "Excel tables",
        report["xlsx"],
        file_name=f"report_study_{study_id}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    st.caption(
        f"{len(metrics)} runs, {n_scores} scores"
        + (f" + {n_rereads} washout re-reads" if n_rereads else "")
        + f", {lesions['lesion'].nunique() if not lesions.empty else 0} "
        f"lesions · control: {report['control'] or '–'} · '#' comparator: {report['reference'] or '–'}"
    )
    for name, table in report["tables"].items():
        st.markdown(f"**{report['captions'].get(name, name)}**")
        # small paper-layout tables: static HTML tables (plain objects: pandas' string dtype
        # does not reach the browser grid intact)
        st.table(table.astype(object).where(table.notna(), ""))
    for name, figure in report["figures"].items():
        st.plotly_chart(figure, key=f"figure_{name}")
