"""Self-contained HTML report: tables, figures (plotly.js inlined once, no internet needed)
and embedded case images (base64 PNG). No streamlit."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pandas as pd
import plotly.graph_objects as go

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1200px;color:#222;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.3rem;border-bottom:1px solid #ccc;padding-bottom:.2rem;
margin-top:2.2rem}h3{font-size:1.05rem;margin-top:1.4rem}
table.report{border-collapse:collapse;margin:.6rem 0;font-size:.86rem}
table.report th,table.report td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
table.report thead th{background:#f2f4f7}
p.note{font-size:.82rem;color:#555;max-width:60rem}
.cases{display:flex;flex-wrap:wrap;gap:1rem}.cases figure{margin:0;font-size:.8rem}
.cases img{max-width:260px;border:1px solid #ccc}
"""


def table_html(df: pd.DataFrame, table_id: str, index: bool | None = None) -> str:
    """A DataFrame as an escaped HTML table with an id; the index is shown when it is named
    (e.g. the 'Group' column of the paper-layout tables)."""
    if index is None:
        index = df.index.name is not None
    if index and df.index.name is not None:  # one header row, not an empty index-name row
        df, index = df.reset_index(), False
    return df.to_html(
        index=index, escape=True, border=0, classes="report", table_id=table_id, na_rep="–"
    )


def figures_html(figures: Mapping[str, go.Figure]) -> str:
    """Figures as HTML divs; plotly.js is inlined with the first figure only."""
    parts = []
    for i, (name, fig) in enumerate(figures.items()):
        parts.append(f'<div class="figure" id="fig-{html.escape(name)}">')
        parts.append(
            fig.to_html(
                full_html=False,
                include_plotlyjs=(i == 0),
                config={"displaylogo": False, "responsive": True},
            )
        )
        parts.append("</div>")
    return "\n".join(parts)


def png_img(png: bytes, alt: str) -> str:
    """An <img> with the PNG embedded as base64."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def methods_paragraph(
    methods: Sequence[str],
    n_cases: int,
    readers: Sequence[str],
    software: Mapping[str, str],
    control: str | None,
    reference: str | None,
    alpha: float,
    study_meta: Mapping | None = None,
    design_text: str | None = None,
    method_titles: Mapping[str, str] | None = None,
) -> str:
    """The statistical-methods paragraph (text, HTML-escaped). ``design_text``: the reader x
    item design (``livseg.stats.reading_design``); ``method_titles``: display names."""
    meta = dict(study_meta or {})
    readers_txt = meta.get("readers", readers)
    if isinstance(readers_txt, (list, tuple)):
        readers_txt = f"{len(readers_txt)} readers ({', '.join(map(str, readers_txt))})"
    elif isinstance(readers_txt, int) and not isinstance(readers_txt, bool):
        readers_txt = f"{readers_txt} reader" + ("" if readers_txt == 1 else "s")
    titles = dict(method_titles or {})
    shown = [titles.get(m, m) for m in methods]
    reading = f"Study design: {meta['design']}. " if meta.get("design") else ""
    reading += f"Reading design: {design_text}. " if design_text else ""
    blinding = meta.get("blinding", "not stated")
    seed = meta.get("seed", "not stated")
    sw = ", ".join(f"{k} {v}" for k, v in software.items())
    text = (
        f"{n_cases} cases were segmented by each of {len(methods)} methods "
        f"({', '.join(shown)}); the Likert scores (1-5) were given by {readers_txt}. "
        f"{reading}Blinding: {blinding}. Randomisation seed: {seed}. "
        f"As in the paper, outcomes are summarised as mean ± SD and compared by one-way ANOVA "
        f"with Fisher's LSD pairwise t tests (pooled MSE, df = N − k, unadjusted); "
        f"'*' marks P < {alpha:g} against {control or 'the control'} and '#' against "
        f"{reference or 'the reference method'}; lesion counts by Pearson chi-square with "
        f"Cramér's V. Because every case was segmented by every method, the paired analyses "
        f"are reported beside them: repeated-measures ANOVA with "
        f"Greenhouse-Geisser correction, paired t tests (mean difference with 95% CI, Cohen's "
        f"dz) and Wilcoxon signed-rank tests (exact P without ties, else normal approximation "
        f"with continuity correction), both with Holm adjustment over the method pairs; "
        f"Friedman tests with Kendall's W; a linear mixed model score ~ method + (1|case) + "
        f"(1|reader) fitted by REML, and a cumulative logit mixed model (Laplace) of the "
        f"Likert scores; Cochran's Q and exact McNemar tests for detection of the same "
        f"lesions, with Clopper-Pearson and Wilson 95% intervals for detection rates. Reader "
        f"agreement: ICC in the six Shrout-Fleiss / McGraw-Wong forms (95% CIs: F-based for "
        f"ICC(1) and ICC(C,·), McGraw-Wong for ICC(A,1), Spearman-Brown of the ICC(A,1) limits "
        f"for ICC(A,k), as pingouin and psych), Cohen's kappa per reader pair (unweighted, "
        f"linear and quadratic weights), Fleiss' kappa, Krippendorff's alpha and Kendall's W; "
        f"ICC(A,1) of a crossed random-effects model (reader, item; Henderson III variances, "
        f"seeded parametric-bootstrap 95% CI) from every score, for designs in which not "
        f"every reader scored every item. "
        f"Two-sided tests, alpha = {alpha:g}. Software: LivSeg (livseg.stats), {sw}."
    )
    return html.escape(text)


def render_html(
    *,
    title: str,
    methods_text: str,
    sections: Sequence[tuple[str, Sequence[tuple[str, pd.DataFrame | str]]]],
    figures: Mapping[str, go.Figure],
    case_gallery: Sequence[tuple[str, bytes]] = (),
) -> str:
    """Assemble the report. ``sections``: (heading, [(sub-heading, DataFrame or a plain-text
    note)]); DataFrame ids are derived from the sub-headings (the part before " — "); all
    text is escaped."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">Generated {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")} '
        "by LivSeg.</p>",
        "<h2>Statistical methods</h2>",
        f"<p>{methods_text}</p>",
    ]
    for heading, items in sections:
        out.append(f"<h2>{html.escape(heading)}</h2>")
        for sub, item in items:
            if isinstance(item, pd.DataFrame):
                if sub:
                    out.append(f"<h3>{html.escape(sub)}</h3>")
                name = sub.split(" — ")[0]  # a caption "Table 1 — ...": the id of "Table 1"
                tid = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
                out.append(table_html(item, tid or "table"))
            else:
                out.append(f'<p class="note">{html.escape(item)}</p>')
    if case_gallery:
        out.append('<h2>Typical case images</h2><div class="cases">')
        for caption, png in case_gallery:
            out.append(
                f"<figure>{png_img(png, caption)}<figcaption>"
                f"{html.escape(caption)}</figcaption></figure>"
            )
        out.append("</div>")
    if figures:
        out.append("<h2>Figures</h2>")
        out.append(figures_html(figures))
    out.append("</body></html>")
    return "\n".join(out)
