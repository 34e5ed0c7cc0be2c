"""Liver lesions: placement, shape (bumpy rotated ellipsoids) and their HU profile."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from livseg.masks import bounding_box
from livseg.phantom.anatomy import Anatomy, LiverShape
from livseg.phantom.geometry import COARSE_MM, Grid, rotation
from livseg.volume import LIVER, TUMOUR

# phantom v2 lesion families (ct_appearance.md, "Liver lesions")
LESION_FAMILIES = (
    "hypodense",  # metastasis, from a few mm
    "rim-enhancing",  # metastasis with an enhancing rim
    "necrotic",  # large metastasis with a darker necrotic centre
    "hyperdense",  # arterial-phase HCC / hypervascular metastasis (washout later)
    "isodense-blurred",  # near-isodense with a blurred border
    "confluent",  # confluent mass > 10 cm (several overlapping lobules)
)
# HU below the liver of the same phase (negative: brighter than the liver), per family and
# phase: metastases 20-60 HU below liver in portal venous, less in the other phases; HCC
# +20-50 HU in the arterial phase, near-isodense to hypodense (washout) later
LESION_CONTRAST_HU = {
    "hypodense": {
        "non-contrast": (8.0, 25.0),
        "arterial": (15.0, 45.0),
        "portal-venous": (20.0, 60.0),
        "delayed": (15.0, 45.0),
    },
    "hyperdense": {
        "non-contrast": (5.0, 15.0),
        "arterial": (-50.0, -20.0),
        "portal-venous": (5.0, 20.0),
        "delayed": (10.0, 25.0),
    },
    "isodense-blurred": {
        p: (4.0, 12.0) for p in ("non-contrast", "arterial", "portal-venous", "delayed")
    },
}
for _fam in ("rim-enhancing", "necrotic", "confluent"):
    LESION_CONTRAST_HU[_fam] = LESION_CONTRAST_HU["hypodense"]
V2_SCENARIOS = ("miliary", "multiple", "solitary", "hcc", "confluent", "isodense")
V2_SCENARIO_PROBABILITIES = (0.2, 0.25, 0.15, 0.15, 0.1, 0.15)


@dataclass
class Lesion:
    """One drawn lesion (drawing-frame mm); its HU profile is set relative to the liver."""

    centre: np.ndarray  # mm
    radius: float  # nominal radius (mm)
    kind: str  # v1: "hypodense" | "isodense-blurred"; v2: one of LESION_FAMILIES
    contrast: float  # HU below the liver
    border: float  # width of the transition (mm)
    axes: np.ndarray
    rot: np.ndarray
    bumps: list
    rim: float
    necrosis: float


def _draw_clear_centre(
    liver: LiverShape,
    cand: np.ndarray,
    r: float,
    placed: list[Lesion],
    rng: np.random.Generator,
    *,
    tries: int,
    factor: float,
    gap: float,
) -> np.ndarray | None:
    """A lesion centre (mm) for radius ``r`` mm drawn from the candidate voxels ``cand``.

    Each try picks a candidate (coarse voxel, jittered by up to 1 mm per axis) and keeps it
    when it lies more than ``factor * (r + other radius) + gap`` mm from every lesion already
    placed; None after ``tries`` misses.
    """
    for _ in range(tries):
        p = liver.origin + cand[rng.integers(len(cand))] * COARSE_MM + rng.uniform(-1, 1, 3)
        if all(np.linalg.norm(p - o.centre) > factor * (r + o.radius) + gap for o in placed):
            return p
    return None


def draw_lesions_v1(
    an: Anatomy, liver: LiverShape, rng: np.random.Generator
) -> tuple[str, list[Lesion]]:
    u = rng.uniform()
    if u < 0.25:
        scenario = "multiple-small"
        n = int(rng.integers(3, 7))
        diam = [
            rng.uniform(11.0, 19.0) if rng.uniform() < 0.8 else rng.uniform(20.0, 35.0)
            for _ in range(n)
        ]
        kinds = ["hypodense"] * n
    elif u < 0.45:
        scenario = "solitary-isodense"
        n = 1
        diam = [rng.uniform(25.0, 45.0)]
        kinds = ["isodense-blurred"]
    else:
        scenario = "mixed"
        n = int(rng.integers(1, 5))
        diam = [rng.uniform(12.0, 52.0) for _ in range(n)]
        kinds = ["isodense-blurred" if rng.uniform() < 0.15 else "hypodense" for _ in range(n)]
    order = np.argsort(diam)[::-1]  # place big ones first
    pts = np.argwhere(liver.mask)
    placed: list[Lesion] = []
    for k in order:
        d = diam[k]
        for _attempt in range(6):
            r = d / 2
            ok = liver.edt[liver.mask] >= 1.3 * r + 5.0
            cand = pts[ok]
            if cand.size:
                p = _draw_clear_centre(liver, cand, r, placed, rng, tries=40, factor=1.3, gap=15.0)
                if p is not None:
                    break
            d = max(11.0, d * 0.8)
        else:
            continue
        kind = kinds[k]
        if kind == "hypodense":
            contrast, border = rng.uniform(20.0, 60.0), rng.uniform(0.5, 1.0)
        else:
            contrast, border = rng.uniform(5.0, 15.0), rng.uniform(2.5, 4.5)
        bumps = []
        for _ in range(4):
            w = rng.normal(size=3)
            w *= rng.uniform(0.5, 1.3) / np.linalg.norm(w)
            bumps.append((w, rng.uniform(0, 2 * np.pi), rng.uniform(0.02, 0.045)))
        placed.append(
            Lesion(
                centre=p,
                radius=d / 2,
                kind=kind,
                contrast=contrast,
                border=border,
                axes=rng.uniform(0.88, 1.12, 3),
                rot=rotation(rng, 90.0),
                bumps=bumps,
                rim=rng.uniform(10.0, 25.0)
                if (kind == "hypodense" and rng.uniform() < 0.3)
                else 0.0,
                necrosis=rng.uniform(10.0, 25.0) if (kind == "hypodense" and d > 35) else 0.0,
            )
        )
    return scenario, placed


def lesion_rho(les: Lesion, grid: Grid, box):
    x, y, z = grid.coords(box)
    dx, dy, dz = x - les.centre[0], y - les.centre[1], z - les.centre[2]
    u = [les.rot[k, 0] * dx + les.rot[k, 1] * dy + les.rot[k, 2] * dz for k in range(3)]
    dist = np.sqrt(u[0] ** 2 + u[1] ** 2 + u[2] ** 2) + 1e-6
    q = np.sqrt(sum((u[k] / (les.axes[k] * les.radius)) ** 2 for k in range(3)))
    eps = 0.0
    for w, ph, a in les.bumps:
        eps = eps + a * np.cos(2 * np.pi * (w[0] * u[0] + w[1] * u[1] + w[2] * u[2]) / dist + ph)
    return q / (1.0 + eps)


def keep_tumour_inside(labels: np.ndarray) -> None:
    """Relabel as liver any tumour voxel that touches background (26-neighbourhood), so
    every tumour is enclosed by liver even on coarse grids (in place)."""
    box = bounding_box(labels == TUMOUR, margin=1)
    if box is None:
        return
    sub = labels[box]
    touching = ndimage.binary_dilation(sub == 0, structure=np.ones((3, 3, 3), bool))
    sub[(sub == TUMOUR) & touching] = LIVER


def draw_scenario_v2(rng: np.random.Generator) -> str:
    """The v2 lesion scenario of a case (one of V2_SCENARIOS)."""
    return str(rng.choice(V2_SCENARIOS, p=V2_SCENARIO_PROBABILITIES))


def _v2_plan(scenario: str, rng: np.random.Generator) -> list[tuple[float, str]]:
    """(diameter mm, family) of every lesion of a v2 scenario, before placement."""
    if scenario == "miliary":  # dozens of metastases, most under 1 cm, all under 2 cm
        n = int(rng.integers(15, 41))
        return [
            (
                float(rng.uniform(3.0, 10.0) if rng.uniform() < 0.7 else rng.uniform(10.0, 19.0)),
                "rim-enhancing" if rng.uniform() < 0.2 else "hypodense",
            )
            for _ in range(n)
        ]
    if scenario == "multiple":
        out = []
        for _ in range(int(rng.integers(3, 11))):
            d = float(np.exp(rng.uniform(np.log(5.0), np.log(60.0))))
            fam = (
                "necrotic"
                if d > 35 and rng.uniform() < 0.6
                else str(rng.choice(["hypodense", "rim-enhancing"], p=[0.6, 0.4]))
            )
            out.append((d, fam))
        return out
    if scenario == "solitary":
        d = float(rng.uniform(10.0, 80.0))
        fams = ["hypodense", "rim-enhancing", "isodense-blurred", "hyperdense"]
        fam = "necrotic" if d > 40 and rng.uniform() < 0.5 else str(rng.choice(fams))
        return [(d, fam)]
    if scenario == "hcc":
        return [
            (float(rng.uniform(15.0, 60.0)), "hyperdense") for _ in range(int(rng.integers(1, 4)))
        ]
    if scenario == "confluent":
        out = [(float(rng.uniform(120.0, 160.0)), "confluent")]
        out += [
            (float(rng.uniform(4.0, 18.0)), "hypodense") for _ in range(int(rng.integers(0, 6)))
        ]
        return out
    if scenario == "isodense":
        return [
            (float(rng.uniform(15.0, 45.0)), "isodense-blurred")
            for _ in range(int(rng.integers(1, 4)))
        ]
    raise ValueError(f"unknown v2 lesion scenario {scenario!r}")


def _bumps(rng: np.random.Generator, amp: tuple[float, float] = (0.02, 0.045)) -> list:
    out = []
    for _ in range(4):
        w = rng.normal(size=3)
        w *= rng.uniform(0.5, 1.3) / np.linalg.norm(w)
        out.append((w, rng.uniform(0, 2 * np.pi), rng.uniform(*amp)))
    return out


def _make_lesion(p, d: float, fam: str, phase: str, rng: np.random.Generator) -> Lesion:
    # every draw happens whatever the phase: one seed gives the same lesions in every phase
    lo, hi = LESION_CONTRAST_HU[fam][phase]
    contrast = lo + (hi - lo) * float(rng.uniform())
    border = float(rng.uniform(2.5, 4.5) if fam == "isodense-blurred" else rng.uniform(0.5, 1.0))
    rim_hu = float(rng.uniform(15.0, 35.0))
    capsule = bool(rng.uniform() < 0.5)
    capsule_hu = float(rng.uniform(8.0, 20.0))
    necrosis = float(rng.uniform(15.0, 35.0)) if fam in ("necrotic", "confluent") else 0.0
    rim = 0.0
    if fam == "rim-enhancing" and phase != "non-contrast":
        rim = rim_hu
    elif fam == "hyperdense" and phase in ("portal-venous", "delayed") and capsule:
        rim = capsule_hu  # capsule
    return Lesion(
        centre=np.asarray(p, float),
        radius=d / 2,
        kind=fam,
        contrast=contrast,
        border=max(border, 0.3),
        axes=rng.uniform(0.85, 1.15, 3),
        rot=rotation(rng, 90.0),
        bumps=_bumps(rng),
        rim=rim,
        necrosis=necrosis,
    )


def draw_lesions_v2(
    liver: LiverShape, rng: np.random.Generator, scenario: str, phase: str
) -> list[Lesion]:
    """Place the lesions of a v2 scenario inside the liver (drawing-frame mm).

    Lesions keep 1.1 * (r1 + r2) + 2 mm apart and a depth of 1.2 r + 3 mm inside the liver
    (shrunk by 0.8 up to 5 times when they do not fit); a confluent mass is 3-5 overlapping
    lobules around a deep centre (depth >= 0.35 r), cut by the liver's surface.
    """
    plan = sorted(_v2_plan(scenario, rng), key=lambda t: -t[0])
    pts = np.argwhere(liver.mask)
    depth = liver.edt[liver.mask]
    placed: list[Lesion] = []
    for d, fam in plan:
        if fam == "confluent":
            r = d / 2
            cand = pts[depth >= max(0.35 * r, 0.6 * float(depth.max()))]
            c = liver.origin + cand[rng.integers(len(cand))] * COARSE_MM
            for _ in range(int(rng.integers(3, 6))):
                off = rng.normal(size=3)
                off *= rng.uniform(0.2, 0.5) * r / np.linalg.norm(off)
                placed.append(
                    _make_lesion(c + off, float(rng.uniform(0.5, 0.7)) * d, fam, phase, rng)
                )
            continue
        p = None
        for _attempt in range(6):
            r = d / 2
            cand = pts[depth >= 1.2 * r + 3.0]
            if len(cand):
                p = _draw_clear_centre(liver, cand, r, placed, rng, tries=30, factor=1.1, gap=2.0)
            if p is not None:
                break
            d = max(3.0, d * 0.8)
        if p is not None:
            placed.append(_make_lesion(p, d, fam, phase, rng))
    return placed


def paint_lesions(
    vol: np.ndarray, labels: np.ndarray, grid: Grid, lesions: list[Lesion], liver_hu: float
) -> None:
    """Blend every lesion's HU profile into the liver and label it TUMOUR (in place).

    Profile: a logistic border of width ``border`` mm from the liver to ``liver_hu -
    contrast``, minus a necrotic centre, plus a Gaussian rim at 0.9 r; only voxels already
    labelled liver are touched, so tumour always lies inside the liver.
    """
    for les in lesions:
        rr = les.radius * 1.35 + 3 * les.border
        lbox = grid.box(les.centre - rr, les.centre + rr)
        if lbox is None:
            continue
        rho = lesion_rho(les, grid, lbox)
        inside_liver = labels[lbox] == LIVER
        t = 1.0 / (1.0 + np.exp(-(1.0 - rho) * les.radius / les.border))
        target = liver_hu - les.contrast
        if les.necrosis:
            target = target - les.necrosis / (1.0 + np.exp(-(0.55 - rho) * les.radius / 2.0))
        if les.rim:
            target = target + les.rim * np.exp(-(((rho - 0.9) * les.radius / 2.0) ** 2))
        sub = vol[lbox]
        sub += np.where(inside_liver, t * (target - sub), 0.0).astype(np.float32)
        tum = (rho <= 1.0) & inside_liver
        labels[lbox][tum] = TUMOUR
