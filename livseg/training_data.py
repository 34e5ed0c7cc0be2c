"""Training data of the networks: cached cases on the network grid and the patch sampler.

Two sources, both cached once as float16 / uint8 ``.npy`` arrays on the 256-grid (images
through ``network_method.prepare_slices``, the very function inference uses; labels by
nearest neighbour) in ``<workspace>/cache/``:

- phantoms: case i of ``python -m livseg phantom --n 150 --seed <data_seed> [--profile]``
  (train split only; ``phantom-s<seed>[-small]-g256`` for profile v1,
  ``phantom-v2-s<seed>[-small]-g256`` for v2);
- a labelled folder (LiTS, MSD Task03 or nnU-Net raw layout, ``livseg.io.scan_folder``;
  LiTS cases may be DICOM: ``volume-N/`` series folders + ``segmentation-N.dcm`` DICOM-SEG):
  ``real-g256/<key>`` where the key hashes the files' paths, sizes and modification times.
  ``split_cases`` gives the folder its own seeded train / validation / test split.

Each case can also be cached as its *box view* (``view="box"``: the reference organ's box
from ``livseg.liver_box.organ_box``, cut at the image's resolution, then the same
resampling; ``<i>_box_img.npy`` / ``<key>_box_img.npy``), which ``--p-zoom`` trains on.

``Sampler`` draws tumour-aware 2D crops / 3D patches, optionally weighting the cases (to mix
a fraction of phantoms into real data, or the box views).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from livseg.preprocess import NETWORK_GRID, resample_labels_inplane
from livseg.workspace import workspace_dir

N_DATASET = 150  # the paper's 150 patients; 8:2 split -> 120 train / 30 test


# ----------------------------------------------------------------------------- phantoms


def train_indices(data_seed: int, n_total: int = N_DATASET) -> list[int]:
    """Case indices of the TRAIN split of the ``n_total``-case phantom dataset."""
    from livseg.phantom import split_assignment

    return [i for i, s in enumerate(split_assignment(n_total, data_seed)) if s == "train"]


def cache_dir(data_seed: int, size: str = "full", profile: str = "v1") -> Path:
    """Folder of the preprocessed 256-grid arrays of phantom dataset ``data_seed``."""
    g = NETWORK_GRID[0]
    tag = "" if size == "full" else f"-{size}"
    prof = "" if profile == "v1" else f"-{profile}"
    path = workspace_dir() / "cache" / f"phantom{prof}-s{data_seed}{tag}-g{g}"
    path.mkdir(parents=True, exist_ok=True)
    return path


VIEWS = ("full", "box")  # a case's whole image, or its organ's box view (livseg.liver_box)


def _to_grid(
    hu: np.ndarray, labels: np.ndarray, spacing=None, view: str = "full"
) -> tuple[np.ndarray, np.ndarray]:
    """(X, Y, Z) HU + labels -> (Z, 256, 256) float16 [0, 1] image and uint8 labels.

    ``view`` "box": first cut to the reference organ's box (``livseg.liver_box.organ_box``,
    ``spacing`` in mm; the whole image when there is no organ), at the image's resolution.
    """
    from livseg.methods.network_method import prepare_slices

    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    if view == "box":
        from livseg.liver_box import organ_box

        box = organ_box(labels, spacing)
        if box is not None:
            hu, labels = hu[box], labels[box]
    img = prepare_slices(hu, NETWORK_GRID).numpy().astype(np.float16)
    lab = np.ascontiguousarray(resample_labels_inplane(labels, NETWORK_GRID).transpose(2, 0, 1))
    return img, lab


def _save_pair(img_p: Path, lab_p: Path, img: np.ndarray, lab: np.ndarray) -> None:
    tmp_i, tmp_l = img_p.with_suffix(".tmp.npy"), lab_p.with_suffix(".tmp.npy")
    np.save(tmp_i, img)
    np.save(tmp_l, lab)
    tmp_l.replace(lab_p)
    tmp_i.replace(img_p)


def _view_tag(view: str) -> str:
    return "" if view == "full" else f"_{view}"


def cache_case(
    data_seed: int, index: int, size: str = "full", profile: str = "v1", view: str = "full"
) -> tuple[Path, Path]:
    """Generate phantom case ``index`` and cache it on the 256-grid (skips cached ones).

    Files: ``<i>_img.npy`` float16 (Z, 256, 256) in [0, 1]; ``<i>_lab.npy`` uint8 (Z, 256, 256);
    ``view`` "box": ``<i>_box_img.npy`` / ``<i>_box_lab.npy``, the organ's box view.
    """
    from livseg.phantom import case_seed, generate_case

    folder = cache_dir(data_seed, size, profile)
    tag = _view_tag(view)
    img_p, lab_p = folder / f"{index}{tag}_img.npy", folder / f"{index}{tag}_lab.npy"
    if img_p.exists() and lab_p.exists():
        return img_p, lab_p
    case = generate_case(case_seed(data_seed, index), size, profile=profile)
    grid = _to_grid(case.volume.array, case.labels, case.volume.spacing, view)
    _save_pair(img_p, lab_p, *grid)
    return img_p, lab_p


def _cache_one(job: tuple) -> int:
    cache_case(*job)
    return job[1]


def prepare_phantom_cache(
    data_seed: int,
    indices: list[int],
    size: str = "full",
    profile: str = "v1",
    workers: int = 1,
    progress: Callable | None = None,
    view: str = "full",
) -> None:
    """Generate and cache the phantom cases ``indices`` with ``workers`` processes (a GPU
    machine's spare cores); cached cases are skipped. Same files as ``cache_case``."""
    jobs = [(data_seed, i, size, profile, view) for i in indices]
    if workers <= 1:
        for k, job in enumerate(jobs):
            _cache_one(job)
            if progress is not None:
                progress(k + 1, len(jobs))
        return
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(workers) as pool:
        for k, _ in enumerate(pool.imap_unordered(_cache_one, jobs)):
            if progress is not None:
                progress(k + 1, len(jobs))


def load_cases(
    data_seed: int,
    indices: list[int],
    progress: Callable | None = None,
    size: str = "full",
    profile: str = "v1",
    view: str = "full",
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cached (image, labels) phantom arrays for ``indices`` (generated when missing), memory
    mapped (read-only); ``view`` as ``cache_case``."""
    out = []
    for k, i in enumerate(indices):
        img_p, lab_p = cache_case(data_seed, i, size, profile, view)
        out.append((np.load(img_p, mmap_mode="r"), np.load(lab_p, mmap_mode="r")))
        if progress is not None:
            progress(k + 1, len(indices))
    return out


# ----------------------------------------------------------------------------- real folders


def labelled_cases(folder) -> list:
    """The cases of a LiTS / MSD / nnU-Net-raw folder that have a label map (``CaseFiles``).

    Raises ``LivSegInputError`` (naming the folder) when none has one.
    """
    from livseg.io import LivSegInputError, scan_folder

    cases = [c for c in scan_folder(folder) if c.labels is not None]
    if not cases:
        raise LivSegInputError(folder, "no case with a label map (segmentation-N / labelsTr/)")
    return cases


def split_cases(
    case_ids: list[str], seed: int, val_fraction: float = 0.15, test_fraction: float = 0.2
) -> dict[str, list[str]]:
    """Seeded train / val / test split of a folder's case ids (sorted within each part).

    round(n * fraction) cases each for test and validation (validation at least 1; test at
    least 1 when n >= 4), the rest train (at least 1). The order is a permutation seeded by
    ``seed`` over the sorted ids, so the split does not depend on the folder listing order.
    """
    ids = sorted(set(case_ids))
    n = len(ids)
    if n < 2:
        raise ValueError(f"a training folder needs at least 2 labelled cases, found {n}")
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError("val_fraction and test_fraction must be in [0, 1) with a sum < 1")
    n_test = int(round(n * test_fraction))
    if n >= 4 and test_fraction > 0:
        n_test = max(1, n_test)
    n_val = max(1, int(round(n * val_fraction)))
    if n - n_test - n_val < 1:
        n_test = max(0, n - n_val - 1)
    order = [ids[i] for i in np.random.default_rng([int(seed), 4099]).permutation(n)]
    return {
        "test": sorted(order[:n_test]),
        "val": sorted(order[n_test : n_test + n_val]),
        "train": sorted(order[n_test + n_val :]),
    }


def _file_key(files) -> str:
    """Cache key of a case: path, size and modification time of its files (every file of a
    DICOM series folder)."""
    h = hashlib.sha256()
    for p in (Path(files.image), Path(files.labels)):
        members = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
        for q in members:
            st = q.stat()
            h.update(f"{q.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def cache_folder_case(files, view: str = "full") -> tuple[Path, Path]:
    """Load one labelled case of a folder (``CaseFiles``) and cache it on the 256-grid
    (``view`` "box": its organ's box view)."""
    from livseg import io

    folder = workspace_dir() / "cache" / f"real-g{NETWORK_GRID[0]}"
    folder.mkdir(parents=True, exist_ok=True)
    key = _file_key(files) + _view_tag(view)
    img_p, lab_p = folder / f"{key}_img.npy", folder / f"{key}_lab.npy"
    if img_p.exists() and lab_p.exists():
        return img_p, lab_p
    case = io.load_case(files.image, files.labels)
    _save_pair(img_p, lab_p, *_to_grid(case.volume.array, case.labels, case.volume.spacing, view))
    return img_p, lab_p


def load_folder_cases(files: list, progress: Callable | None = None, view: str = "full") -> list:
    """Cached (image, labels) arrays of a folder's cases (``CaseFiles``), in order, memory
    mapped (read-only); ``view`` as ``cache_folder_case``."""
    out = []
    for k, f in enumerate(files):
        img_p, lab_p = cache_folder_case(f, view)
        out.append((np.load(img_p, mmap_mode="r"), np.load(lab_p, mmap_mode="r")))
        if progress is not None:
            progress(k + 1, len(files))
    return out


# ----------------------------------------------------------------------------- sampling


TUMOUR_SAMPLING = ("voxel", "lesion")  # how a tumour-centred sample picks its centre


class Sampler:
    """Seeded tumour-aware sampler of 2D crops / 3D patches from cached cases.

    ``weights`` (one per case, summing to 1) set how often each case is drawn; None draws
    them uniformly. A tumour-centred sample (``cfg.p_tumour``) takes any tumour voxel of
    the case (``cfg.tumour_sampling`` "voxel": large lesions dominate) or first one lesion
    (a 3D connected component, 6-connectivity) uniformly, then a voxel of it ("lesion").
    """

    def __init__(
        self,
        cases: list,
        cfg,
        rng: np.random.Generator,
        index: Sampler | None = None,
        weights: np.ndarray | None = None,
    ):
        self.cases = cases
        self.cfg = cfg
        self.rng = rng
        self.weights = None if weights is None else np.asarray(weights, float)
        if index is not None:  # share the voxel indices of another sampler
            self.tumour_idx, self.liver_idx = index.tumour_idx, index.liver_idx
            self.body_idx = index.body_idx
            self.lesions = index.lesions
            self.weights = index.weights if weights is None else self.weights
            return
        self.tumour_idx = [_flat_index(lab.ravel() == 2) for _, lab in cases]
        self.liver_idx = [_flat_index(lab.ravel() == 1) for _, lab in cases]
        self.body_idx = [_flat_index(img.ravel() > 0.05) for img, _ in cases]
        self.lesions = (
            [_lesion_pools(lab, idx) for (_, lab), idx in zip(cases, self.tumour_idx, strict=True)]
            if getattr(cfg, "tumour_sampling", "voxel") == "lesion"
            else None
        )

    def _centre(self, c: int) -> tuple[int, int, int]:
        u = self.rng.uniform()
        pools = [self.tumour_idx[c], self.liver_idx[c], self.body_idx[c]]
        if u < self.cfg.p_tumour and pools[0].size:
            if self.lesions is not None:  # a lesion uniformly, then a voxel of it
                grouped, starts, counts = self.lesions[c]
                k = int(self.rng.integers(starts.size))
                flat = int(grouped[starts[k] + self.rng.integers(counts[k])])
                return tuple(int(v) for v in np.unravel_index(flat, self.cases[c][1].shape))
            pool = pools[0]
        elif u < self.cfg.p_tumour + self.cfg.p_liver and pools[1].size:
            pool = pools[1]
        else:
            pool = pools[2] if pools[2].size else np.arange(self.cases[c][1].size)
        flat = int(pool[self.rng.integers(pool.size)])
        return tuple(int(v) for v in np.unravel_index(flat, self.cases[c][1].shape))  # (z, x, y)

    @staticmethod
    def _window(centre: int, size: int, n: int, jitter: int, rng) -> int:
        start = centre - size // 2 + int(rng.integers(-jitter, jitter + 1))
        return int(np.clip(start, 0, max(0, n - size)))

    def _case(self) -> int:
        if self.weights is None:
            return int(self.rng.integers(len(self.cases)))
        return int(self.rng.choice(len(self.cases), p=self.weights))

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(x float32 (B, 1, ...), y int64 (B, 1, ...)) on the 256-grid."""
        xs, ys = [], []
        for _ in range(self.cfg.batch_size):
            c = self._case()
            img, lab = self.cases[c]
            z, cx, cy = self._centre(c)
            nz, nx, ny = lab.shape
            if self.cfg.spatial_dims == 2:
                s = self.cfg.crop_2d
                x0 = self._window(cx, s, nx, s // 4, self.rng)
                y0 = self._window(cy, s, ny, s // 4, self.rng)
                xi = img[z, x0 : x0 + s, y0 : y0 + s]
                yi = lab[z, x0 : x0 + s, y0 : y0 + s]
                xs.append(_pad_to(xi.astype(np.float32), (s, s)))
                ys.append(_pad_to(yi, (s, s)))
            else:
                px, py, pz = self.cfg.patch_3d
                x0 = self._window(cx, px, nx, px // 4, self.rng)
                y0 = self._window(cy, py, ny, py // 4, self.rng)
                z0 = self._window(z, pz, nz, pz // 4, self.rng)
                xi = img[z0 : z0 + pz, x0 : x0 + px, y0 : y0 + py].transpose(1, 2, 0)
                yi = lab[z0 : z0 + pz, x0 : x0 + px, y0 : y0 + py].transpose(1, 2, 0)
                xs.append(_pad_to(xi.astype(np.float32), (px, py, pz)))
                ys.append(_pad_to(yi, (px, py, pz)))
        x = torch.from_numpy(np.stack(xs))[:, None]
        y = torch.from_numpy(np.stack(ys).astype(np.int64))[:, None]
        return x, y


MAX_POOL = 8_000_000  # voxel indices kept per pool; larger pools keep every k-th voxel


def _flat_index(mask: np.ndarray) -> np.ndarray:
    """Flat int32 indices of the True voxels (every k-th one beyond MAX_POOL: tall real scans
    would otherwise hold hundreds of MB of indices per case; phantoms stay below it)."""
    idx = np.flatnonzero(mask)
    if idx.size > MAX_POOL:
        idx = idx[:: -(-idx.size // MAX_POOL)]
    return idx.astype(np.int32) if mask.size < 2**31 else idx


def _lesion_pools(lab: np.ndarray, tumour_idx: np.ndarray) -> tuple[np.ndarray, ...]:
    """The tumour voxel indices grouped by lesion: (indices sorted by lesion, start of
    each lesion's run, its length); lesions are the 6-connected components of label 2."""
    from scipy import ndimage

    comp, _ = ndimage.label(lab == 2)
    ids = comp.ravel()[tumour_idx]
    order = np.argsort(ids, kind="stable")
    _, starts, counts = np.unique(ids[order], return_index=True, return_counts=True)
    return tumour_idx[order], starts, counts


def _pad_to(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    pads = [(0, max(0, s - n)) for n, s in zip(a.shape, shape, strict=True)]
    return np.pad(a, pads) if any(p[1] for p in pads) else np.ascontiguousarray(a)
