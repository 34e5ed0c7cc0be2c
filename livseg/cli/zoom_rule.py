"""``python -m livseg zoom-rule WEIGHTS RULE --note TEXT``: change the second-pass rule of
trained weights (same tensors, new version; the card records the change and keeps the
replaced version's test evaluations). See ``livseg.model_card.set_zoom_rule``."""

from __future__ import annotations

import sys
from pathlib import Path

from livseg.liver_box import ZOOM_RULES


def register(subparsers) -> None:
    """Add the ``zoom-rule`` sub-command."""
    parser = subparsers.add_parser(
        "zoom-rule",
        help="change the second-pass rule of trained weights (tensors unchanged)",
        description=(
            "Set how weights trained with --p-zoom combine their second pass on the liver "
            "box (one_pass: the first pass only). The tensors stay; the weights' version "
            "changes and the model card records the change, the note and the replaced "
            "version's test evaluations."
        ),
    )
    parser.add_argument("weights", type=Path, help="weights file (.pt) with its model card")
    parser.add_argument("rule", choices=ZOOM_RULES)
    parser.add_argument("--note", required=True, help="why (goes into the card)")
    parser.set_defaults(func=run)


def run(args) -> int:
    """Change the rule; print the card's paths. Exit code 2 with the reason on bad input."""
    from livseg.model_card import set_zoom_rule

    if not args.weights.is_file():
        print(f"{args.weights}: no such weights file", file=sys.stderr)
        return 2
    try:
        md, js = set_zoom_rule(args.weights, args.rule, args.note)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"{args.weights}: rule {args.rule}; card {md} / {js}")
    return 0
