"""Plotly figures of the report (no streamlit): per-method box/strip plots, stacked Likert
distributions per method and reader, Bland-Altman plots and DSC vs Likert."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from livseg.report.tables import label
from livseg.stats import design

LIKERT_COLOURS = ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641")


def box_strip(table: pd.DataFrame, value: str, methods: Sequence[str]) -> go.Figure:
    """Box plot per method with every case as a point."""
    fig = go.Figure()
    for m in methods:
        y = table.loc[table["method"] == m, value]
        fig.add_trace(
            go.Box(
                y=y,
                name=m,
                boxpoints="all",
                jitter=0.4,
                pointpos=0,
                marker={"size": 5},
                boxmean=True,
            )
        )
    fig.update_layout(
        title=f"{label(value)} per method",
        yaxis_title=label(value),
        showlegend=False,
        height=380,
        margin={"t": 50, "b": 40},
    )
    return fig


def paired_lines(table: pd.DataFrame, value: str, methods: Sequence[str]) -> go.Figure:
    """Each case as a line across methods (the paired structure the paper ignored)."""
    wide = design.paired_wide(table, value, methods)
    fig = go.Figure()
    for case, row in wide.iterrows():
        fig.add_trace(
            go.Scatter(
                x=list(methods),
                y=row.to_numpy(),
                mode="lines+markers",
                name=str(case),
                line={"width": 1},
                opacity=0.5,
                showlegend=False,
            )
        )
    fig.update_layout(
        title=f"{label(value)}: each case across methods",
        yaxis_title=label(value),
        height=380,
        margin={"t": 50, "b": 40},
    )
    return fig


def likert_stacked(scores: pd.DataFrame, methods: Sequence[str]) -> go.Figure:
    """Stacked horizontal bars of the 1-5 distribution (percent) per method and reader."""
    s = design.check_scores(scores).dropna(subset=["score"])
    s = s[s["method"].isin(methods)]
    readers = list(pd.unique(s["reader"]))
    rows = [(m, r) for m in methods for r in ["all", *readers]]
    labels = [f"{m} · {r}" for m, r in rows]
    levels = list(range(1, 6))
    by_reader = pd.crosstab([s["method"], s["reader"]], s["score"]).reindex(
        columns=levels, fill_value=0
    )
    by_method = pd.crosstab(s["method"], s["score"]).reindex(columns=levels, fill_value=0)
    counts = np.array(
        [
            by_method.loc[m].to_numpy()
            if r == "all"
            else (by_reader.loc[(m, r)].to_numpy() if (m, r) in by_reader.index else np.zeros(5))
            for m, r in rows
        ],
        dtype=float,
    )
    pct = 100 * counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig = go.Figure()
    for j, (lv, colour) in enumerate(zip(levels, LIKERT_COLOURS, strict=True)):
        fig.add_trace(
            go.Bar(y=labels, x=pct[:, j], name=str(lv), orientation="h", marker_color=colour)
        )
    fig.update_layout(
        barmode="stack",
        title="Likert scores per method and reader (%)",
        xaxis_title="% of scores",
        legend_title="score",
        yaxis={"autorange": "reversed"},
        height=120 + 22 * len(rows),
        margin={"t": 50, "b": 40},
    )
    return fig


def bland_altman_plot(volumes: pd.DataFrame, methods: Sequence[str]) -> go.Figure:
    """Bland-Altman plot (difference vs mean of predicted and reference volume, mL) per
    method, with bias and 95% limits of agreement."""
    meths = [m for m in methods if (volumes["method"].astype(str) == m).any()]
    fig = make_subplots(rows=1, cols=max(1, len(meths)), subplot_titles=meths, shared_yaxes=True)
    for i, m in enumerate(meths, start=1):
        v = volumes[volumes["method"].astype(str) == m]
        p, r = v["pred_ml"].to_numpy(float), v["ref_ml"].to_numpy(float)
        d, mean = p - r, (p + r) / 2
        bias, sd = d.mean(), d.std(ddof=1) if d.size > 1 else 0.0
        fig.add_trace(
            go.Scatter(
                x=mean, y=d, mode="markers", name=m, showlegend=False, text=v["case"].astype(str)
            ),
            row=1,
            col=i,
        )
        for yv, dash in ((bias, "solid"), (bias - 1.96 * sd, "dash"), (bias + 1.96 * sd, "dash")):
            fig.add_hline(y=yv, line_dash=dash, line_width=1, row=1, col=i)
    fig.update_layout(
        title="Bland-Altman: predicted − reference tumour volume (mL)",
        height=360,
        margin={"t": 70, "b": 40},
    )
    fig.update_xaxes(title_text="mean volume (mL)")
    fig.update_yaxes(title_text="difference (mL)", col=1)
    return fig


def dsc_vs_likert(table: pd.DataFrame, methods: Sequence[str], value: str = "DSC") -> go.Figure:
    """Mean reader score against DSC, one point per case x method, with Spearman's rho."""
    fig = go.Figure()
    sub = table.dropna(subset=[value, "satisfaction"])
    for m in methods:
        t = sub[sub["method"] == m]
        fig.add_trace(
            go.Scatter(x=t[value], y=t["satisfaction"], mode="markers", name=m, text=t["case"])
        )
    if len(sub) > 2:
        from scipy import stats

        rho = stats.spearmanr(sub[value], sub["satisfaction"]).statistic
        title = f"{label(value)} vs mean Likert score (Spearman ρ = {rho:.2f})"
    else:
        title = f"{label(value)} vs mean Likert score"
    fig.update_layout(
        title=title,
        xaxis_title=label(value),
        yaxis_title="mean score (1-5)",
        height=380,
        margin={"t": 50, "b": 40},
    )
    return fig


def detection_rates_plot(counts: pd.DataFrame, ci: dict) -> go.Figure:
    """Detection rate per method with Wilson 95% intervals."""
    methods = list(counts.index)
    rate = np.array([ci[m]["rate"] for m in methods])
    lo = np.array([ci[m]["wilson_low"] for m in methods])
    hi = np.array([ci[m]["wilson_high"] for m in methods])
    fig = go.Figure(
        go.Bar(
            x=methods,
            y=100 * rate,
            error_y={
                "type": "data",
                "symmetric": False,
                "array": 100 * (hi - rate),
                "arrayminus": 100 * (rate - lo),
            },
        )
    )
    fig.update_layout(
        title="Lesion detection rate (Wilson 95% CI)",
        yaxis_title="% detected",
        yaxis_range=[0, 105],
        height=340,
        margin={"t": 50, "b": 40},
    )
    return fig
