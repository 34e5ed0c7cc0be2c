"""Model cards written from a training run: ``<weights stem>.card.json`` + ``<stem>.md``.

The JSON holds everything the run knows (configuration, data and split with case ids,
augmentation, every session's command / steps / device, the validation history, notes such
as decisions taken after seeing a figure, software versions, the weights' sha256[:12]);
the markdown is rendered from it for people. Test-split figures are not part of a training
run: the protocol (docs/methods.md) adds them once, at the end, under "Test evaluation".
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from livseg.metric_registry import BY_KEY


def card_paths(weights: Path) -> tuple[Path, Path]:
    """(markdown, json) paths of the card of a weights file."""
    weights = Path(weights)
    return weights.with_suffix(".md"), weights.with_name(weights.stem + ".card.json")


def build_card(weights: Path, summary: dict) -> dict:
    """The card's JSON content from a ``training.train`` summary and the written weights."""
    import monai
    import torch

    from livseg.methods.network_method import file_hash

    cfg = summary["config"]
    return {
        "method": summary["method"],
        "weights_file": Path(weights).name,
        "weights_sha256_12": file_hash(Path(weights)),
        "written_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "network": cfg["network"],
        "recipe": {
            k: cfg[k]
            for k in (
                "batch_size",
                "lr",
                "crop_2d",
                "patch_3d",
                "p_tumour",
                "p_liver",
                "bn_batches",
                "val_every",
                "select_window",
                "augment",
                "amp",
                "seed",
            )
        }
        | {
            "tumour_sampling": cfg.get("tumour_sampling", "voxel"),
            "tumour_loss": cfg.get("tumour_loss", "voxel"),
            "p_zoom": cfg.get("p_zoom", 0.0),
        },
        "zoom": summary.get("zoom"),
        "augmentation": "livseg.augment.build_transforms" if cfg["augment"] else None,
        "data": summary["data"],
        "phantom_fraction": cfg["phantom_fraction"] if cfg["cases_dir"] else None,
        "train_cases": summary["train_cases"],
        "val_cases": summary["val_cases"],
        "steps": summary["steps"],
        "steps_planned": summary["steps_planned"],
        "wall_seconds": summary["wall_seconds"],
        "best_step": summary["best_step"],
        "validation": {
            "liver_dsc": summary["val_liver_dsc"],
            "tumour_dsc": summary["val_tumour_dsc"],
        },
        "history": summary["history"],
        "sessions": summary["sessions"],
        "notes": summary["notes"],
        "started_from": summary.get("started_from"),
        "software": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "monai": monai.__version__,
        },
    }


def _selection_rule(recipe: dict) -> str:
    window = recipe.get("select_window", 1)
    if window == 1:
        return "best validation score"
    return f"end of the best {window} validations in a row, by their mean score"


def _render_started_from(start: dict | None) -> list[str]:
    """The section on the weights a fine-tune started from (their own card, shortened)."""
    if start is None:
        return []
    lines = [
        "",
        "## Started from (the earlier training of the initial weights)",
        "",
        f"* `{start['file']}`, version `{start['sha256_12']}` (validated as step 0 above).",
    ]
    prev = start.get("card")
    if prev is None:
        return [*lines, "* That file had no model card."]
    lines.append(
        f"* Its run: {prev['steps']} steps, selected step {prev['best_step']}, validation "
        f"liver / tumour DSC {prev['validation']['liver_dsc']:.4f} / "
        f"{prev['validation']['tumour_dsc']:.4f}; data `{json.dumps(prev['data'])}`."
    )
    lines += [
        f"* its session {s['started_utc']}: `{s['command']}` ({s['from_step']} -> "
        f"{s.get('to_step')}, {s['device']}, {s.get('seconds')} s)"
        for s in prev["sessions"]
    ]
    lines += [f"* its note at step {n['at_step']}: {n['note']}" for n in prev["notes"]]
    if prev.get("started_from"):
        lines.append(
            f"* it started from version `{prev['started_from']['sha256_12']}` "
            "(see that card in git)"
        )
    for ev in test_evaluations(prev):
        figures = "; ".join(
            f"{prof} liver {r['liver']['dsc']['mean']:.3f} / tumour {r['tumour']['dsc']['mean']:.3f}"
            for prof, r in ev.get("profiles", {}).items()
        )
        lines.append(
            f"* its test evaluation on data seed {ev.get('data_seed', 0)} (seen before this "
            f"run), mean DSC: {figures}"
        )
    return lines


def _render_zoom(zoom: dict | None) -> list[str]:
    """The second pass on the liver box (``--p-zoom``): the rule chosen and every rule's
    validation figures."""
    if not zoom:
        return []
    chosen = zoom.get("validation_rule", zoom["rule"])
    lines = [
        "",
        "## Second pass on the liver box (`livseg.liver_box`)",
        "",
        f"Rule chosen: **{chosen}** (margin {zoom['margin_mm']} mm), by mean liver + tumour "
        f"DSC on the {zoom['n_cases']} validation cases at their own resolution, after the "
        "post-processing:",
        "",
        "| rule | liver DSC | tumour DSC |",
        "|---|---|---|",
    ]
    for rule, v in zoom["rules"].items():
        lines.append(f"| {rule} | {v['liver_dsc']:.4f} | {v['tumour_dsc']:.4f} |")
    if zoom["rule"] != chosen:
        lines += ["", f"Rule in use: **{zoom['rule']}** (changed after training, below)."]
    return lines


def _render_rule_changes(changes: list[dict]) -> list[str]:
    """Each change of the second pass's rule after training (same tensors), with the test
    evaluations of the version it replaced."""
    if not changes:
        return []
    lines = ["", "## Rule changes after training (same tensors, new version)", ""]
    for c in changes:
        lines += [
            f"* {c['date_utc']}: rule {c['from_rule']} -> **{c['to_rule']}**, version "
            f"`{c['from_version']}` -> `{c['to_version']}`. {c['note']}",
        ]
        for ev in c["test_evaluations"]:
            lines += ["", f"Test evaluation of the replaced version `{c['from_version']}`:", ""]
            lines += _render_test_evaluation(ev)
    return lines


def render_markdown(card: dict) -> str:
    """Human-readable card (markdown) from the JSON content."""
    lines = [
        f"# Model card: `{card['method']}` (written from the training run)",
        "",
        f"* Weights: `{card['weights_file']}`, version (sha256[:12]) `{card['weights_sha256_12']}`,"
        f" written {card['written_utc']}.",
        f"* Network: `{json.dumps(card['network'])}`.",
        f"* Recipe: `{json.dumps(card['recipe'])}`; augmentation: "
        f"{'`' + card['augmentation'] + '`' if card['augmentation'] else 'off'}.",
        f"* Steps: {card['steps']} of {card['steps_planned']} planned; selected checkpoint: step "
        f"{card['best_step']} ({_selection_rule(card['recipe'])}); training wall time "
        f"{card['wall_seconds'] / 60:.1f} min.",
        f"* Validation ({card['val_cases']} cases, network grid, no post-processing): liver DSC "
        f"**{card['validation']['liver_dsc']:.4f}**, tumour DSC "
        f"**{card['validation']['tumour_dsc']:.4f}**.",
        "",
        "## Data",
        "",
    ]
    data = card["data"]
    if "real" in data:
        r = data["real"]
        sp = r["split"]
        lines += [
            f"* Labelled folder `{r['folder']}` ({r['layout']} layout, {r['n_labelled']} labelled "
            f"cases), own seeded split: {len(sp['train'])} train / {len(sp['val'])} validation "
            f"/ {len(sp['test'])} test (test never loaded during training).",
            f"  * validation ids: {', '.join(sp['val'])}",
            f"  * test ids: {', '.join(sp['test']) or '(none)'}",
        ]
        if card["phantom_fraction"]:
            lines.append(f"* Phantom share of the samples: {card['phantom_fraction']:.2f}.")
    if "phantom" in data:
        p = data["phantom"]
        lines.append(
            f"* Phantoms: profile {p['profile']}, `python -m livseg phantom --n 150 --seed "
            f"{p['data_seed']} --profile {p['profile']}` train split, size {p['size']}: "
            f"{len(p['train_indices'])} training cases, validation indices {p['val_indices']}."
        )
    lines += [
        f"* Cases used for training: {card['train_cases']}; validation: {card['val_cases']}.",
        "",
        "## Sessions (every command that produced these weights)",
        "",
        "| started (UTC) | command | steps | device | threads | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for s in card["sessions"]:
        lines.append(
            f"| {s['started_utc']} | `{s['command']}` | {s['from_step']} -> {s.get('to_step')} | "
            f"{s['device']} | {s['threads']} | {s.get('seconds')} |"
        )
    lines += ["", "## Notes (decisions, including any taken after seeing a figure)", ""]
    lines += [f"* step {n['at_step']}: {n['note']}" for n in card["notes"]] or ["* none"]
    hist = card["history"]
    srcs = sorted(
        {k[: -len("_liver_dsc")] for h in hist for k in h if k.endswith("_liver_dsc")}
    )  # per-source figures (real / phantom / their box views) when there are several
    extra = "".join(f" {s} liver / tumour |" for s in srcs)
    lines += [
        "",
        "## Validation history",
        "",
        f"| step | running loss | val liver DSC | val tumour DSC |{extra} seconds |",
        "|---|---|---|---|" + "---|" * len(srcs) + "---|",
    ]
    for h in hist:
        cells = "".join(
            f" {h[s + '_liver_dsc']:.4f} / {h[s + '_tumour_dsc']:.4f} |"
            if s + "_liver_dsc" in h
            else " |"
            for s in srcs
        )
        lines.append(
            f"| {h['step']} | {'(start)' if h['loss'] is None else h['loss']} | {h['liver_dsc']:.4f} | {h['tumour_dsc']:.4f} |"
            f"{cells} {h['seconds']} |"
        )
    lines += _render_zoom(card.get("zoom"))
    lines += _render_rule_changes(card.get("rule_changes", []))
    lines += _render_started_from(card.get("started_from"))
    sw = card["software"]
    lines += [
        "",
        f"Software: Python {sw['python']}, torch {sw['torch']}, MONAI {sw['monai']}.",
        "",
        "## Test evaluation",
        "",
        "Not part of the training run: added at the end of the protocol (docs/methods.md), once",
        "per test split (the 30 + 30 test phantoms of one data seed).",
        "",
    ]
    for evaluation in test_evaluations(card):
        lines += _render_test_evaluation(evaluation)
    return "\n".join(lines)


def test_evaluations(card: dict) -> list[dict]:
    """The card's test evaluations, oldest first, each with its ``data_seed`` (a card of the
    first protocol run holds one ``test_evaluation``: the test splits of data seed 0)."""
    if "test_evaluations" in card:
        return list(card["test_evaluations"])
    if card.get("test_evaluation"):
        return [{"data_seed": 0, **card["test_evaluation"]}]
    return []


# the per-case figures of a test evaluation (livseg.metric_registry keys), with the decimals
# of a summary table (overlaps 3, distances and volume errors 1)
TEST_FIGURES: dict[str, int] = {
    "dsc": 3,
    "jaccard": 3,
    "hd95_mm": 1,
    "hd_mm": 1,
    "volume_error_pct": 1,
}


def format_stat(stat: dict, digits: int, cases: int | None = None) -> str:
    """``mean ± SD`` of a ``{"mean", "sd", "n"}`` figure ("n/a" without values), with
    ``(n=…)`` when fewer than ``cases`` cases had a finite value."""
    if stat["mean"] is None:
        return "n/a"
    text = f"{stat['mean']:.{digits}f} ± {stat['sd']:.{digits}f}"
    if cases is not None and stat["n"] and stat["n"] < cases:
        text += f" (n={stat['n']})"
    return text


def _render_test_evaluation(evaluation: dict) -> list[str]:
    lines = [
        f"Test splits of data seed {evaluation['data_seed']}: evaluated "
        f"{evaluation['date_utc']} with `{evaluation['command']}` "
        f"(per-case mean ± SD; n < cases where a metric is undefined).",
        "",
        "| phantom profile | cases | structure | "
        + " | ".join(BY_KEY[key].label for key in TEST_FIGURES)
        + " | s / case (median) |",
        "|---|---|---|" + "---|" * (len(TEST_FIGURES) + 1),
    ]
    for profile, entry in evaluation["profiles"].items():
        for structure in ("liver", "tumour"):
            figures = entry[structure]
            cells = [profile, str(entry["cases"]), structure]
            cells += [
                format_stat(figures[key], digits, entry["cases"])
                for key, digits in TEST_FIGURES.items()
            ]
            cells.append(f"{figures['median_seconds']:.2f}")
            lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def add_test_evaluation(weights: Path, version: str, evaluation: dict) -> tuple[Path, Path]:
    """Add a test evaluation of the protocol to the card of ``weights``; returns (md, json).

    ``version`` is the weights version the evaluated runs recorded; it must be the card's
    (figures of other weights never land in this card). ``evaluation``: ``data_seed`` (whose
    test splits were run), ``date_utc``, ``command`` and ``profiles`` ({profile: {"cases": n,
    "liver": stats, "tumour": stats}}, stats as ``bench/test_split.py`` writes them: DSC,
    Jaccard, HD95 / HD in mm, volume error in %, each ``{"mean", "sd", "n"}``, plus
    ``median_seconds``). Raises ValueError when the versions differ or the card already
    holds an evaluation of that data seed (each test split is evaluated once).
    """
    md, js = card_paths(weights)
    card = json.loads(js.read_text())
    if card["weights_sha256_12"] != version:
        raise ValueError(
            f"{js}: the card is for weights {card['weights_sha256_12']}, "
            f"the evaluation is of {version}"
        )
    earlier = test_evaluations(card)
    for done in earlier:
        if done["data_seed"] == evaluation["data_seed"]:
            raise ValueError(
                f"{js}: already holds the test evaluation of data seed {done['data_seed']} "
                f"({done['date_utc']})"
            )
    card.pop("test_evaluation", None)
    card["test_evaluations"] = [*earlier, evaluation]
    js.write_text(json.dumps(card, indent=1))
    md.write_text(render_markdown(card))
    return md, js


def write_model_card(weights: Path, summary: dict) -> tuple[Path, Path]:
    """Write ``<stem>.md`` and ``<stem>.card.json`` next to the weights; returns both paths."""
    md, js = card_paths(weights)
    card = build_card(weights, summary)
    js.write_text(json.dumps(card, indent=1))
    md.write_text(render_markdown(card))
    return md, js


def set_zoom_rule(weights: Path, rule: str, note: str) -> tuple[Path, Path]:
    """Change the second-pass rule of trained weights (``livseg.liver_box.ZOOM_RULES``;
    ``one_pass`` runs the first pass only) without touching the tensors; returns (md, json).

    The weights file's ``zoom`` entry gets the new ``rule`` and keeps the one chosen on
    validation (``validation_rule``) and ``note`` (why). The file's hash, the method's
    version, changes, so the card moves to it: the replaced version, its rule and its test
    evaluations go under ``rule_changes`` (they are not of these weights), and a note is
    added. Raises ValueError for weights without a zoom entry, an unknown rule, the rule
    already in use or an empty note.
    """
    import os

    import torch

    from livseg.liver_box import ZOOM_RULES
    from livseg.methods.network_method import file_hash

    weights = Path(weights)
    if rule not in ZOOM_RULES:
        raise ValueError(f"unknown zoom rule {rule!r}; one of {', '.join(ZOOM_RULES)}")
    if not note.strip():
        raise ValueError("a rule change needs a note saying why (it goes into the card)")
    md, js = card_paths(weights)
    if not js.is_file():
        raise ValueError(f"{weights}: no model card beside it ({js.name})")
    ckpt = torch.load(weights, map_location="cpu", weights_only=True)
    zoom = ckpt.get("zoom")
    if not isinstance(zoom, dict) or "rule" not in zoom:
        raise ValueError(f"{weights}: these weights have no second pass (no zoom entry)")
    if zoom["rule"] == rule:
        raise ValueError(f"{weights}: the rule is already {rule}")
    card = json.loads(js.read_text())
    old_version = file_hash(weights)
    if card["weights_sha256_12"] != old_version:
        raise ValueError(
            f"{js}: the card is for weights {card['weights_sha256_12']}, the file is {old_version}"
        )
    from_rule = zoom["rule"]
    ckpt["zoom"] = {
        **zoom,
        "rule": rule,
        "validation_rule": zoom.get("validation_rule", from_rule),
        "note": note,
    }
    tmp = weights.with_name(weights.name + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, weights)
    new_version = file_hash(weights)
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    card_zoom = dict(card.get("zoom") or {})
    card_zoom.setdefault("validation_rule", card_zoom.get("rule", from_rule))
    card["zoom"] = {**card_zoom, "rule": rule}
    card["rule_changes"] = [
        *card.get("rule_changes", []),
        {
            "date_utc": date,
            "from_rule": from_rule,
            "to_rule": rule,
            "from_version": old_version,
            "to_version": new_version,
            "note": note,
            "test_evaluations": test_evaluations(card),
        },
    ]
    card.pop("test_evaluation", None)
    card["test_evaluations"] = []
    card["notes"] = [
        *card["notes"],
        {
            "at_step": card["steps"],
            "note": f"after training ({date}): second-pass rule "
            f"{from_rule} -> {rule}, tensors unchanged: {note}",
        },
    ]
    card["weights_sha256_12"] = new_version
    js.write_text(json.dumps(card, indent=1))
    md.write_text(render_markdown(card))
    return md, js
