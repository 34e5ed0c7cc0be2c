"""Inference speed of the four methods on one 512 x 512 x 120 phantom case.

Usage: ``nice -n 10 python bench/inference.py [--repeats 3] [--threads N] [--seed-index I]``

For each method: weights / set-up load time (once), then ``--repeats`` timed calls of
``Method.segment`` (median reported), the liver / tumour Dice of the result against the
phantom reference, and the process's peak resident memory (each method runs in a fresh
subprocess so peaks do not mix). As a same-process reference for the networks, the naive
pipeline is timed too: the whole 256 x 256 grid (no crop to the body), fp32, default
memory format - the ratio naive / ours is the speed-up of the inference work at equal
weights (the Dice of both is printed, to show the accuracy cost of the speed-up). Weights
with a second pass on the liver box (``zoom``, protocol amendment 6) are timed with both
passes (``median_seconds``) and with the first alone (``one_pass_median_seconds``, the
one the naive reference and the speed-up compare with).
Writes ``bench/results/inference.json``; records the machine load (os.getloadavg) before
and after, because this 2-core machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "inference.json"
METHODS = ["classical", "unet2d", "unet3d", "attention_unet"]
N_SLICES = 120


def bench_case(index: int):
    """A 512 x 512 x 120 phantom: test-split case ``index`` (dataset seed 0), 120 slices
    around the liver centre (edge slices repeated if the case is shorter)."""
    import numpy as np

    from livseg.phantom import case_seed, generate_case, split_assignment
    from livseg.volume import Volume

    idx = [i for i, s in enumerate(split_assignment(150, 0)) if s == "test"][index]
    case = generate_case(case_seed(0, idx), "full")
    z = np.flatnonzero((case.labels > 0).any(axis=(0, 1)))
    mid = int((z[0] + z[-1]) // 2)
    ks = np.clip(np.arange(mid - N_SLICES // 2, mid + N_SLICES // 2), 0, case.labels.shape[2] - 1)
    vol = Volume(
        np.ascontiguousarray(case.volume.array[:, :, ks]), case.volume.spacing, case.volume.affine
    )
    return idx, vol, np.ascontiguousarray(case.labels[:, :, ks])


def naive_network_seconds(method, vol) -> tuple[float, object]:
    """The same network, whole 256-grid, no channels_last, same post-processing: the
    in-process reference."""
    import torch

    from livseg.methods.network_method import (
        logit_gaps_to_labels,
        network_postprocess,
        prepare_slices,
    )

    net = method.net.to(memory_format=torch.contiguous_format)
    t0 = time.perf_counter()
    x = prepare_slices(vol.array, method.grid)
    with torch.inference_mode():
        if method.spatial_dims == 2:
            gaps = torch.cat(
                [
                    (lambda lg: lg[:, 1:] - lg[:, :1])(net(x[k : k + 16, None]))
                    for k in range(0, x.shape[0], 16)
                ]
            )
        else:
            vol_t = x.permute(1, 2, 0)[None, None]
            pad = (-vol_t.shape[-1]) % method.multiple
            vol_t = torch.nn.functional.pad(vol_t, (0, pad, 0, 0, 0, 0), mode="replicate")
            lg = net(vol_t)[0, :, :, :, : x.shape[0]]
            gaps = (lg[1:] - lg[:1]).permute(3, 0, 1, 2).contiguous()
    labels = network_postprocess(logit_gaps_to_labels(gaps, vol.shape[:2]), vol.spacing)
    seconds = time.perf_counter() - t0
    if method.spatial_dims == 2:
        method.net = net.to(memory_format=torch.channels_last)
    return seconds, labels


def one_method(name: str, repeats: int, threads: int | None, index: int) -> dict:
    """Time one method in this process (called in a subprocess by main)."""
    from livseg import metrics
    from livseg.device import apply_threads
    from livseg.methods import get_method

    th = apply_threads(threads)
    idx, vol, ref = bench_case(index)
    t0 = time.perf_counter()
    method = get_method(name, threads=th)
    load_s = time.perf_counter() - t0
    times, labels = [], None
    load_before = os.getloadavg()[0]
    for _ in range(repeats):
        t = time.perf_counter()
        labels = method.segment(vol)
        times.append(time.perf_counter() - t)
    out = {
        "method": name,
        "case_index": idx,
        "shape": list(vol.shape),
        "threads": th,
        "device": method.device,
        "load_seconds": round(load_s, 3),
        "seconds": [round(t, 3) for t in times],
        "median_seconds": round(statistics.median(times), 3),
        "liver_dsc": round(metrics.dice(labels > 0, ref > 0), 4),
        "tumour_dsc": round(metrics.dice(labels == 2, ref == 2), 4),
    }
    zoom = getattr(method, "zoom", None)
    if zoom is not None:  # weights with a second pass: time the first pass alone too
        out["zoom_rule"] = zoom["rule"]
        method.zoom = None
        try:
            one = []
            for _ in range(repeats):
                t = time.perf_counter()
                method.segment(vol)
                one.append(time.perf_counter() - t)
        finally:
            method.zoom = zoom
        out["one_pass_median_seconds"] = round(statistics.median(one), 3)
        out["two_pass_over_one_pass"] = round(out["median_seconds"] / statistics.median(one), 2)
    if name != "classical":
        naive = [naive_network_seconds(method, vol) for _ in range(max(1, repeats - 1))]
        out["naive_seconds"] = [round(s, 3) for s, _ in naive]
        out["naive_median_seconds"] = round(statistics.median(s for s, _ in naive), 3)
        out["naive_liver_dsc"] = round(metrics.dice(naive[-1][1] > 0, ref > 0), 4)
        out["naive_tumour_dsc"] = round(metrics.dice(naive[-1][1] == 2, ref == 2), 4)
        ours = out.get("one_pass_median_seconds", out["median_seconds"])  # naive is one pass
        out["speedup_vs_naive"] = round(out["naive_median_seconds"] / ours, 2)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out["loadavg_during"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed-index", type=int, default=0, help="which test-split case")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_method(args.one, args.repeats, args.threads, args.seed_index)))
        return 0
    rows = []
    for name in args.methods.split(","):
        cmd = [
            sys.executable,
            __file__,
            "--one",
            name,
            "--repeats",
            str(args.repeats),
            "--seed-index",
            str(args.seed_index),
        ]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if res.returncode != 0:
            print(res.stderr, file=sys.stderr)
            return 1
        row = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append(row)
        extra = ""
        if "naive_median_seconds" in row:
            extra = (
                f"  naive {row['naive_median_seconds']:.2f} s (x{row['speedup_vs_naive']:.2f}; "
                f"naive DSC {row['naive_liver_dsc']:.3f}/{row['naive_tumour_dsc']:.3f})"
            )
        print(
            f"{name:15s} {row['median_seconds']:6.2f} s/case (median of {args.repeats}, "
            f"{row['threads']} threads)  load {row['load_seconds']:.2f} s  peak "
            f"{row['peak_rss_mb']:.0f} MB  DSC liver {row['liver_dsc']:.3f} tumour "
            f"{row['tumour_dsc']:.3f}{extra}",
            flush=True,
        )
    result = {
        "benchmark": "inference seconds per 512x512x120 case (Method.segment, load excluded)",
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "loadavg_end": [round(v, 2) for v in os.getloadavg()],
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "methods": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
