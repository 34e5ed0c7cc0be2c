"""One phantom case: draw the patient, paint it, scan it, measure its labels.

``generate_case(seed, size, profile)``: profile "v1" is today's portal-venous phantom (fixed
look, ~1 s per full case; the demo and its tests rely on it, bit for bit); profile "v2" is
domain-randomised: contrast phase, every tissue's HU, fatty / cirrhotic / enlarged livers,
six lesion families, liver-like neighbours and the scanner (field of view, spacing, kernel,
noise, streaks) are drawn per case. Both share the anatomy drawing of the same seed.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from livseg.masks import bounding_box
from livseg.phantom.anatomy import (
    Anatomy,
    LiverShape,
    LiverShapeOptions,
    cavity_axes,
    draw_anatomy,
    draw_liver,
    draw_organs,
    upsample_field,
)
from livseg.phantom.appearance import PHASES, Appearance, draw_appearance
from livseg.phantom.body import paint_abdomen, paint_torso
from livseg.phantom.geometry import COARSE_MM, Grid, paint_tube
from livseg.phantom.lesions import (
    Lesion,
    draw_lesions_v1,
    draw_lesions_v2,
    draw_scenario_v2,
    keep_tumour_inside,
    paint_lesions,
)
from livseg.phantom.scanner import (
    ScannerSettings,
    add_noise_v1,
    choose_grid_v1,
    choose_grid_v2,
    draw_scanner,
    scan_v2,
)
from livseg.phantom.vessels import draw_vessels
from livseg.volume import LIVER, TUMOUR, Case, Volume

GENERATOR_VERSION = "2.0"  # the package; adds profile "v2"
V1_VERSION = "1.0"  # v1 cases are bit-identical to generator 1.0
SIZES = ("full", "small")
PROFILES = ("v1", "v2")


def generate_case(
    seed: int, size: str = "full", profile: str = "v1", phase: str | None = None
) -> Case:
    """One synthetic CT with reference labels (0/1/2), deterministic per (seed, size, profile).

    profile "v1": portal-venous, size "full" 512 x 512 in-plane (0.66-0.88 mm), 60-150
    slices (1-5 mm); "small" 128 x 128 (spacing x4), 24-40 slices. profile "v2":
    domain-randomised (see ``livseg.phantom``); ``phase`` forces its contrast phase (one
    of ``PHASES``; None: drawn). Volume array is float32 HU holding integers (int16
    range); labels are uint8. ``case.meta`` holds the lesions (centre mm, diameter mm,
    kind, volume mL), the liver volume (mL), the scenario, noise SD and liver HU, the
    landmark points (mm; v1) and, for v2, the phase, tissue HU and scanner settings.
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    if phase is not None and phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    if profile == "v1":
        if phase not in (None, "portal-venous"):
            raise ValueError("profile v1 is portal-venous only; use profile='v2' for other phases")
        return _generate_v1(int(seed), size)
    return _generate_v2(int(seed), size, phase)


def _generate_v1(seed: int, size: str) -> Case:
    """Phantom v1: one synthetic portal-venous CT (the look of generator 1.0).

    size "full": 512 x 512 in-plane (0.66-0.88 mm), 60-150 slices (1-5 mm);
    size "small": 128 x 128 in-plane (spacing x4), 24-40 slices. Volume array is
    float32 HU holding integer values (int16 range); labels are uint8.
    ``case.meta`` holds the lesions (centre mm, diameter mm, kind, volume mL), the liver
    volume (mL), the scenario and landmark points (mm) of spleen, aorta, fat and air.
    """
    rng_anat = np.random.default_rng([int(seed), 0])
    an = draw_anatomy(rng_anat)
    organs = draw_organs(an, rng_anat)
    liver = draw_liver(an, rng_anat, organs)
    scenario, lesions = draw_lesions_v1(an, liver, rng_anat)
    segs, _ = draw_vessels(an, liver, rng_anat)
    grid = choose_grid_v1(an, liver, np.random.default_rng([int(seed), 2]), size)
    rng_tex = np.random.default_rng([int(seed), 3])

    vol = np.empty(grid.shape, np.float32)
    cav = np.empty(grid.shape, bool)
    paint_torso(an, grid, vol, cav, rng_tex)
    landmarks, below = paint_abdomen(an, grid, vol, cav, organs, rng_tex)

    labels = np.zeros(grid.shape, np.uint8)
    box, lmask = _paint_liver(vol, labels, grid, liver, cav, below)
    vol[box][lmask] = an.liver_hu
    liver_ok = labels == LIVER
    for i, (p0, p1, r0, r1) in enumerate(segs):
        hu = an.hu["portal"] if i < len(segs) // 2 else an.hu["portal"] - 10
        paint_tube(vol, liver_ok, grid, p0, p1, r0, r1, hu)

    paint_lesions(vol, labels, grid, lesions, an.liver_hu)

    keep_tumour_inside(labels)

    # partial-volume blur + correlated noise (white noise blurred with the signal)
    rng_noise = np.random.default_rng([int(seed), 4, SIZES.index(size)])
    add_noise_v1(vol, an.noise_sd, rng_noise)
    volume, meta = _volume_and_measures(vol, labels, grid, lesions, scenario)
    landmarks = {k: [-v[0] + 0.0, v[1], v[2]] for k, v in landmarks.items()}
    meta.update(
        seed=int(seed),
        size=size,
        profile="v1",
        generator_version=V1_VERSION,
        noise_sd_hu=round(float(an.noise_sd), 1),
        liver_hu=round(float(an.liver_hu), 1),
        landmarks_mm=landmarks,
    )
    return Case(
        case_id=f"phantom-seed{seed}", volume=volume, labels=labels, split="test", meta=meta
    )


def _paint_liver(vol, labels, grid: Grid, liver: LiverShape, cav, below) -> np.ndarray | None:
    """Label the liver (largest piece of the shape inside the cavity, below the diaphragm);
    returns its mask on its box (None when the grid misses it)."""
    lz = liver.origin + np.array(np.nonzero(liver.mask)).T * COARSE_MM
    box = grid.box(lz.min(axis=0) - 4, lz.max(axis=0) + 4)
    if box is None:
        return None
    f = upsample_field(liver, grid, box)
    lmask = (f > 0) & cav[box] & below[box]
    pieces, n_pieces = ndimage.label(lmask)
    if n_pieces > 1:  # islands cut off by the wall / vessels: keep the organ itself
        lmask = pieces == 1 + int(np.argmax(np.bincount(pieces.ravel())[1:]))
    labels[box][lmask] = LIVER
    return box, lmask


def _volume_and_measures(
    vol: np.ndarray, labels: np.ndarray, grid: Grid, lesions: list[Lesion], scenario: str
) -> tuple[Volume, dict]:
    """The finished CT (HU rounded and clipped to [-1024, 3071], in place) and its measures.

    Lesion centres (mm) go from the drawing frame to world RAS (x mirrored, as ``_affine``).
    """
    np.rint(vol, out=vol)
    np.clip(vol, -1024, 3071, out=vol)
    volume = Volume(array=vol, spacing=grid.spacing, affine=_affine(grid))
    meta = measure(labels, grid, lesions, scenario)
    for lesion in meta.get("lesions", []):
        lesion["centre_mm"][0] = -lesion["centre_mm"][0] + 0.0
    return volume, meta


def _affine(grid: Grid) -> np.ndarray:
    # LAS+: the drawing frame's +x (index direction) points to the patient's left, i.e.
    # world RAS x = -(drawing x)
    spacing = grid.spacing
    affine = np.diag([-spacing[0], spacing[1], spacing[2], 1.0])
    affine[:3, 3] = [-grid.xs[0], grid.ys[0], grid.zs[0]]
    return affine


def _liver_options(scenario: str, rng: np.random.Generator) -> tuple[str, LiverShapeOptions]:
    """v2 liver morphology: normal, enlarged (hepatomegaly up to ~3 L) or cirrhotic."""
    cirrhotic_p = 0.7 if scenario == "hcc" else 0.1
    u = rng.uniform()
    seed = int(rng.integers(0, 2**31))
    if u < cirrhotic_p:
        return "cirrhotic", LiverShapeOptions(
            target_ml=float(rng.uniform(900.0, 1500.0)),
            right_lobe=float(rng.uniform(0.6, 0.8)),
            caudate=float(rng.uniform(0.6, 1.0)),
            nodularity=float(rng.uniform(0.04, 0.09)),
            seed=seed,
        )
    if u < cirrhotic_p + 0.25 or scenario in ("miliary", "confluent") and u < 0.7:
        return "enlarged", LiverShapeOptions(
            target_ml=float(rng.uniform(2000.0, 3000.0)), seed=seed
        )
    return "normal", LiverShapeOptions(target_ml=float(rng.uniform(1200.0, 1900.0)), seed=seed)


def _touch_liver(organs: dict, an: Anatomy, rng: np.random.Generator) -> list[str]:
    """Move the spleen and / or stomach against the left lobe (v2 liver-like neighbours)."""
    ac, bc, _ = cavity_axes(an)
    moved = []
    if rng.uniform() < 0.4:
        c, r, rot = organs["spleen"]
        organs["spleen"] = ((0.5 * ac, float(rng.uniform(-0.05, 0.15)) * bc, c[2] + 10.0), r, rot)
        moved.append("spleen")
    if rng.uniform() < 0.4:
        c, r, rot = organs["stomach"]
        organs["stomach"] = ((0.22 * ac, 0.3 * bc, c[2] + 15.0), r, rot)
        moved.append("stomach")
    return moved


def _liver_texture(liver: LiverShape, grid: Grid, box, amp: float, seed: int) -> np.ndarray:
    """Low-frequency parenchymal heterogeneity (HU, SD ``amp``) on the liver box."""
    tex = np.random.default_rng([seed, 12]).standard_normal(liver.field.shape)
    tex = ndimage.gaussian_filter(tex, 2.5)
    tex *= amp / (float(tex.std()) + 1e-9)
    shape = LiverShape(
        origin=liver.origin, mask=liver.mask, field=tex.astype(np.float32), edt=liver.edt
    )
    return upsample_field(shape, grid, box)


def _generate_v2(seed: int, size: str, phase: str | None) -> Case:
    rng_anat = np.random.default_rng([seed, 0])
    rng_v2 = np.random.default_rng([seed, 5])
    an = draw_anatomy(rng_anat)
    look: Appearance = draw_appearance(rng_v2, phase)
    an.hu = dict(look.hu)
    an.hu["spleen_zebra"] = look.spleen_zebra_hu
    an.liver_hu = look.liver_hu
    organs = draw_organs(an, rng_anat)
    touching = _touch_liver(organs, an, rng_v2)
    scenario = draw_scenario_v2(rng_v2)
    morphology, opts = _liver_options(scenario, rng_v2)
    liver = draw_liver(an, rng_anat, organs, opts)
    segs, n_portal = draw_vessels(an, liver, rng_anat)
    lesions = draw_lesions_v2(liver, np.random.default_rng([seed, 6]), scenario, look.phase)
    sc: ScannerSettings = draw_scanner(np.random.default_rng([seed, 7]))
    an.noise_sd = sc.noise_sd
    grid = choose_grid_v2(an, liver, sc, size)
    rng_tex = np.random.default_rng([seed, 3])

    vol = np.empty(grid.shape, np.float32)
    cav = np.empty(grid.shape, bool)
    paint_torso(an, grid, vol, cav, rng_tex)
    landmarks, below = paint_abdomen(an, grid, vol, cav, organs, rng_tex)
    labels = np.zeros(grid.shape, np.uint8)
    painted = _paint_liver(vol, labels, grid, liver, cav, below)
    tex_sd = float(rng_v2.uniform(1.0, 6.0))
    if painted is not None:
        box, lmask = painted
        vsub = vol[box]
        tex = _liver_texture(liver, grid, box, tex_sd, opts.seed)
        vsub[lmask] = (an.liver_hu + tex[lmask]).astype(np.float32)
    liver_ok = labels == LIVER
    for i, (p0, p1, r0, r1) in enumerate(segs):
        hu = an.hu["portal"] if i < n_portal else an.hu["hepatic"]
        paint_tube(vol, liver_ok, grid, p0, p1, r0, r1, hu)
    paint_lesions(vol, labels, grid, lesions, an.liver_hu)
    keep_tumour_inside(labels)
    scan_v2(vol, grid, an, sc, np.random.default_rng([seed, 4, SIZES.index(size)]))
    volume, meta = _volume_and_measures(vol, labels, grid, lesions, scenario)
    meta.update(
        seed=seed,
        size=size,
        profile="v2",
        generator_version=GENERATOR_VERSION,
        phase=look.phase,
        noise_sd_hu=round(sc.noise_sd, 1),
        liver_hu=round(look.liver_hu, 1),
        liver_texture_sd_hu=round(tex_sd, 1),
        fatty_liver=look.fatty,
        liver_morphology=morphology,
        liver_like_neighbours=sorted(set(look.liver_like) | set(touching)),
        landmarks_mm={k: [-v[0] + 0.0, v[1], v[2]] for k, v in landmarks.items()},
        tissue_hu={k: round(float(v), 1) for k, v in sorted(look.hu.items())},
        scanner={
            "field_of_view": sc.fov,
            "spacing_xy_mm": round(grid.spacing[0], 3),
            "slice_mm": round(grid.spacing[2], 3),
            "offset_mm": [round(v, 1) for v in sc.offset_mm],
            "kernel_mm": round(sc.kernel_mm, 2),
            "streak_hu": round(sc.streak_hu, 1),
        },
    )
    return Case(
        case_id=f"phantom-v2-seed{seed}", volume=volume, labels=labels, split="test", meta=meta
    )


def measure(labels: np.ndarray, grid: Grid, lesions: list[Lesion], scenario: str) -> dict:
    """Liver and per-lesion figures measured from the label map."""
    vox_ml = float(np.prod(grid.spacing)) / 1000.0
    tum = labels == TUMOUR
    out = []
    n = 0
    box = bounding_box(tum)
    if box is not None:
        lo = [b.start for b in box]
        crop = tum[box]
        comp, n = ndimage.label(crop, structure=np.ones((3, 3, 3)))
        counts = np.bincount(comp.ravel(), minlength=n + 1)
        centres = ndimage.center_of_mass(crop, comp, range(1, n + 1))
        for i in range(1, n + 1):
            c = np.asarray(centres[i - 1]) + lo
            centre = [
                float(np.interp(c[a], np.arange(s), ax))
                for a, (s, ax) in enumerate(
                    zip(grid.shape, (grid.xs, grid.ys, grid.zs), strict=True)
                )
            ]
            vol_ml = counts[i] * vox_ml
            # the drawn lesion nearest this component gives the kind
            les = min(lesions, key=lambda le: float(np.linalg.norm(le.centre - np.array(centre))))
            out.append(
                {
                    "centre_mm": [round(v, 2) for v in centre],
                    "diameter_mm": round(float((6.0 * vol_ml * 1000.0 / np.pi) ** (1 / 3)), 2),
                    "nominal_diameter_mm": round(float(2 * les.radius), 2),
                    "kind": les.kind,
                    "contrast_hu": round(float(les.contrast), 1),
                    "volume_ml": round(float(vol_ml), 3),
                }
            )
    liver_ml = float(np.count_nonzero(labels)) * vox_ml
    return {"scenario": scenario, "liver_volume_ml": round(liver_ml, 1), "lesions": out}
