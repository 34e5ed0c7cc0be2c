"""``python -m livseg report``: the coordinator's report from exported CSV tables.

    python -m livseg report --metrics case_metrics.csv --scores reader_scores.csv \\
        --lesions lesions.csv --out report/ [--control Control] [--reference UNet] \\
        [--alpha 0.05] [--volumes volumes.csv] [--recheck-paper]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from livseg.stats.design import StatsInputError
from livseg.workspace import workspace_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` sub-command."""
    p = subparsers.add_parser(
        "report",
        help="statistics and report (HTML, Excel, JSON) from metrics / scores / lesions CSVs",
        description=(
            "Analyse a reader study and write report.html (self-contained), tables.xlsx, "
            "scores_long.csv and results.json into --out. CSV columns: metrics = case, method, "
            "DSC, JI, HD_mm, time_s, VER_pct (any numeric outcome columns); scores = case, "
            "method, reader, score (Likert 1-5) [, session: 1 = first read, 2 = washout "
            "re-read, as the long export writes it]; lesions = lesion, method, detected (0/1); "
            "volumes = case, method, pred_ml, ref_ml."
        ),
    )
    p.add_argument("--metrics", required=True, type=Path, help="per case x method metrics CSV")
    p.add_argument(
        "--scores",
        type=Path,
        help="reader scores CSV (long format; a session column adds intra-reader agreement)",
    )
    p.add_argument("--lesions", type=Path, help="lesion detection CSV (long format)")
    p.add_argument("--volumes", type=Path, help="tumour volumes CSV for Bland-Altman (mL)")
    p.add_argument(
        "--answers",
        type=Path,
        help="answers per question CSV (the long export: a study's further Likert / yes-no "
        "questions get a 'Further questions' table)",
    )
    p.add_argument(
        "--control",
        help="the '*' comparator (default: a method named Control / classical if present)",
    )
    p.add_argument(
        "--reference",
        help="the '#' comparator (default: U-Net if present, else the first other method)",
    )
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    p.add_argument(
        "--out", type=Path, default=None, help="output folder (default <workspace>/report)"
    )
    p.add_argument(
        "--recheck-paper",
        action="store_true",
        help="include the recheck of the seed paper's published Tables 1-2",
    )
    p.add_argument(
        "--meta",
        type=Path,
        default=None,
        help="JSON file of study metadata (readers, blinding, seed) for the methods paragraph",
    )
    p.add_argument(
        "--outcomes",
        default=None,
        help="comma-separated metric columns to analyse (default: DSC, JI, HD_mm, "
        "HD95_mm, ASSD_mm, time_s, VER_pct when present)",
    )
    p.add_argument(
        "--no-ordinal",
        action="store_true",
        help="skip the cumulative logit models of the scores (faster)",
    )
    p.set_defaults(func=run)


# the options passed to build_report as its keyword arguments of the same name
_SAME_NAMED = ("control", "reference", "alpha", "volumes", "answers", "recheck_paper")


def run(args: argparse.Namespace) -> int:
    """Build the report; prints the output files. Exit code 2 on bad input."""
    from livseg.report import build_report

    out = args.out if args.out is not None else workspace_dir() / "report"
    try:
        meta = json.loads(args.meta.read_text()) if args.meta else None
        res = build_report(
            args.metrics,
            args.scores,
            args.lesions,
            out,
            **{name: getattr(args, name) for name in _SAME_NAMED},
            study_meta=meta,
            ordinal_models=not args.no_ordinal,
            outcomes=[c.strip() for c in args.outcomes.split(",") if c.strip()]
            if args.outcomes
            else None,
        )
    except (StatsInputError, OSError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"control: {res.control}  reference: {res.reference}  "
        f"({len(res.results)} statistics, {res.seconds['total']:.2f} s)"
    )
    for note in res.notes:
        print(f"note: {note}")
    for path in (res.html_path, res.xlsx_path, res.scores_csv_path, res.results_path):
        if path is not None:
            print(path)
    return 0
