"""Cases screen (coordinator): every case with per-method metrics; open one to compare the
reference and each method's result side by side (linked slices), its metrics and lesions."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages._label_downloads import label_downloads
from pages._shared import COORDINATOR, db_session, require_role
from pages._viewing import prefetch, show_case, viewer_settings_key

user = require_role(COORDINATOR)

from db import catalog, export  # noqa: E402
from livseg import metric_registry  # noqa: E402

# report column -> chooser title (livseg.metric_registry), in the chooser's order
METRICS = metric_registry.titles(("DSC", "JI", "HD_mm", "HD95_mm", "ASSD_mm", "VER_pct", "time_s"))

st.title("Cases")
with db_session() as session:
    cases = catalog.list_cases(session, user)
    tables = {s: export.metrics_table(session, user, structure=s) for s in ("liver", "tumour")}
    lesions = export.lesions_table(session, user)

if cases.empty:
    st.info(
        "No case yet: import cases on the Models page, or create the demo on the Overview page."
    )
    st.stop()

left, right = st.columns(2)
structure = left.radio("Structure", ["liver", "tumour"], horizontal=True, key="cases_structure")
metric = right.selectbox("Metric", list(METRICS), format_func=METRICS.get, key="cases_metric")
metrics = tables[structure]
if metrics.empty:
    st.info("No method has been run yet (Models page).")
    overview = cases[["name", "split"]].rename(columns={"name": "case"})
else:
    wide = metrics.pivot_table(index="case", columns="method", values=metric, aggfunc="first")
    overview = (
        cases[["name", "split"]]
        .rename(columns={"name": "case"})
        .merge(wide, left_on="case", right_index=True, how="left")
    )
st.dataframe(overview, hide_index=True, key="cases_table")
if not metrics.empty:
    summary = metrics.groupby("method")[metric].agg(["mean", "std", "count"])
    st.caption(f"{METRICS[metric]}, {structure}: mean, SD and n per method")
    st.dataframe(summary.round(3))

st.subheader("Open a case")
names = list(cases["name"])
case_name = st.selectbox("Case", names, key="cases_open")


def _panels(name: str) -> tuple[str, dict[str, str]]:
    """(CT path, {panel title: label map path}) of a case: reference, then each method's
    latest run (``db.catalog.case_display_files``; at most 6 panels)."""
    with db_session() as session:
        image, maps = catalog.case_display_files(session, user, name)
    return image, dict(list(maps.items())[:6])


image_path, panels = _panels(case_name)
if not panels:
    st.info("This case has no reference and no results yet.")
else:
    try:
        show_case(
            image_path,
            panels,
            key=f"compare_{case_name}",
            title=str(case_name),
            height="screen",
            settings_key=viewer_settings_key(user.id),
        )
    except Exception as exc:  # noqa: BLE001 - a missing / bad file must not break the page
        st.error(f"Cannot show this case: {exc}")
    label_downloads(str(case_name), image_path, panels)
    # the next case of the list is prepared on the server meanwhile (browsing in order)
    following = names.index(case_name) + 1
    if following < len(names):
        next_image, next_panels = _panels(names[following])
        if next_panels:
            prefetch(next_image, next_panels)

per_case = pd.concat(
    [t[t["case"] == case_name].assign(structure=s) for s, t in tables.items()], ignore_index=True
)
if not per_case.empty:
    st.markdown("**Metrics of this case**")
    cols = ["structure", "method", *[c for c in METRICS if c in per_case.columns]]
    st.dataframe(per_case[cols].round(3), hide_index=True)

case_lesions = lesions[lesions["case"] == case_name]
st.markdown(
    "**Lesions** (reference tumours; detected = at least one predicted tumour voxel overlaps)"
)
if case_lesions.empty:
    st.caption("No lesion table for this case (no reference tumour or no evaluated run).")
else:
    table = case_lesions.pivot_table(
        index=["lesion_index", "diameter_mm", "volume_ml", "size_bin"],
        columns="method",
        values="detected",
        aggfunc="first",
    ).reset_index()
    methods = [
        c
        for c in table.columns
        if c not in ("lesion_index", "diameter_mm", "volume_ml", "size_bin")
    ]
    shown = table.copy()
    for m in methods:
        shown[m] = shown[m].map({True: "detected", False: "MISSED"})

    def _colour(value: object) -> str:
        if value == "MISSED":
            return "background-color: #f8d7da; color: #842029; font-weight: 600"
        if value == "detected":
            return "background-color: #d1e7dd; color: #0f5132"
        return ""

    styled = shown.rename(columns={"lesion_index": "lesion"}).style.map(_colour, subset=methods)
    st.dataframe(styled.format(precision=1), hide_index=True)
