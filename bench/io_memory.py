"""Peak memory of loading one large, highly compressible CT volume (issue 14 item 6).

A 600^3 int16 (or uint8 / float32) volume (LPS, so the loader must reorient it; mostly air with a few blocks)
is written as .nii.gz (about 1 MB), then loaded in fresh subprocesses, each reporting its
peak resident set size (``ru_maxrss``) above the interpreter's baseline:

- ``livseg``: ``livseg.io.load_volume`` (what the memory limit counts: voxels x (stored
  bytes + 4), 6 bytes for int16);
- ``reference``: the plain nibabel way the old loader followed (float32 array of the
  scaled data, then a contiguous reoriented copy and a full-size finite mask).

    python bench/io_memory.py [--size 600] [--before OTHER_CHECKOUT]

``--before`` also measures ``load_volume`` of another checkout (e.g. ``git archive`` of an
older commit unpacked somewhere), for a before / after figure.

Prints the figures and writes bench/results/io_memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "io_memory.json"

_CHILD = r"""
import resource, sys, json
import numpy as np
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
import nibabel as nib
from livseg import io
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
path, mode = sys.argv[1], sys.argv[2]
if mode == "livseg":
    vol = io.load_volume(path, max_bytes=64 * 2**30)
    shape = vol.shape
else:
    img = nib.load(path)
    data = np.asarray(img.dataobj, dtype=np.float32)
    finite = np.isfinite(data)
    ornt = nib.orientations
    to = ornt.ornt_transform(ornt.io_orientation(img.affine), ornt.axcodes2ornt("LAS"))
    canon = np.ascontiguousarray(ornt.apply_orientation(data, to))
    shape = canon.shape
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_mb": (peak - base) / 1024, "shape": list(shape), "io": io.__file__}))
"""


def write_volume(path: Path, size: int, dtype: str = "int16") -> Path:
    import nibabel as nib

    data = np.full((size, size, size), 0 if dtype == "uint8" else -1000, dtype=dtype)
    q = size // 6
    data[q : 5 * q, q : 5 * q, q : 5 * q] = 40  # soft tissue block
    data[2 * q : 3 * q, 2 * q : 4 * q, 2 * q : 3 * q] = 80  # a "liver" inside it
    data[size // 2, :, :] = 200  # one bright plane
    affine = np.diag([-0.8, -0.8, 1.0, 1.0])  # LPS: x and y must be flipped to LAS
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


def peak_of(path: Path, mode: str, code: Path = REPO) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), mode],
        capture_output=True,
        text=True,
        env=env,
        cwd=code,  # "-c" puts the working folder first on sys.path
        check=True,
        timeout=900,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=600, help="voxels per axis (600)")
    parser.add_argument("--before", type=Path, help="another checkout to measure as well")
    parser.add_argument("--dtype", default="int16", choices=["int16", "uint8", "float32"])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_volume(Path(tmp) / "ct.nii.gz", args.size, args.dtype)
        n_vox = args.size**3
        stored = np.dtype(args.dtype).itemsize
        result = {
            "size": args.size,
            "dtype": args.dtype,
            "file_mb": path.stat().st_size / 2**20,
            "counted_mb": n_vox * (stored + 4) / 2**20,  # stored + float32: what the limit counts
            "float32_mb": n_vox * 4 / 2**20,
            "livseg": peak_of(path, "livseg"),
            "reference": peak_of(path, "reference"),
            "load_average": os.getloadavg(),
        }
        if args.before:
            result["before"] = peak_of(path, "livseg", args.before.resolve())
    ratio = result["livseg"]["peak_mb"] / result["counted_mb"]
    result["livseg_peak_over_counted"] = ratio
    print(
        f"{args.size}^3 {args.dtype}, gzip {result['file_mb']:.2f} MB; float32 {result['float32_mb']:.0f}"
        f" MB; the limit counts {result['counted_mb']:.0f} MB\n"
        f"peak RSS above baseline: livseg {result['livseg']['peak_mb']:.0f} MB "
        f"({ratio:.2f}x counted), reference (old way) {result['reference']['peak_mb']:.0f} MB; "
        f"load average {result['load_average'][0]:.2f}"
    )
    if args.before:
        print(f"load_volume of {args.before}: {result['before']['peak_mb']:.0f} MB")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
