"""Appearance of the tissues: HU per tissue and contrast phase, drawn per case.

Phantom v1 keeps its fixed portal-venous look (``v1_tissue_hu``). Phantom v2 draws a
contrast phase and every tissue's HU per case (``draw_appearance``) from the ranges of
routine radiology practice collected in ``shared/reference/ct_appearance.md`` (adult
abdominal CT: non-contrast, late arterial ~35 s, portal venous ~70 s, delayed 3-5 min), plus
fatty liver (steatosis: liver below the spleen) and liver-like neighbours (spleen, bowel
and stomach wall, myocardium, kidney drawn within a few HU of the liver).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# fixed HU of phantom v1 (portal-venous phase)
AIR_HU = -1000.0
LUNG_HU = -860.0
FAT_HU = -100.0
MUSCLE_HU = 55.0
BLOOD_HU = 165.0
BONE_CORTEX_HU = 700.0
BONE_CANCELLOUS_HU = 230.0

PHASES = ("non-contrast", "arterial", "portal-venous", "delayed")
PHASE_PROBABILITIES = (0.25, 0.2, 0.4, 0.15)  # v2: how often each phase is drawn

# (low, high) HU per tissue and phase, from ct_appearance.md (its table; bowel wall and
# myocardium, not in the table, follow the enhancing soft tissue of the same phase)
TISSUE_HU: dict[str, dict[str, tuple[float, float]]] = {
    "non-contrast": {
        "liver": (50.0, 65.0),  # 55-65 in the table; the issue's 45-65
        "spleen": (45.0, 50.0),
        "blood": (35.0, 50.0),  # aorta, heart
        "portal": (35.0, 50.0),
        "hepatic": (35.0, 50.0),  # hepatic veins and IVC
        "kidney_cortex": (30.0, 40.0),
        "kidney_medulla": (30.0, 40.0),
        "muscle": (40.0, 60.0),
        "bowel_wall": (30.0, 45.0),
        "myocardium": (40.0, 55.0),
    },
    "arterial": {
        "liver": (65.0, 80.0),
        "spleen": (100.0, 140.0),  # heterogeneous (zebra pattern)
        "blood": (250.0, 400.0),
        "portal": (80.0, 150.0),
        "hepatic": (40.0, 80.0),  # unopacified, mixing
        "kidney_cortex": (150.0, 200.0),
        "kidney_medulla": (70.0, 110.0),  # darker than cortex
        "muscle": (50.0, 70.0),
        "bowel_wall": (60.0, 100.0),
        "myocardium": (100.0, 150.0),
    },
    "portal-venous": {
        "liver": (100.0, 130.0),
        "spleen": (110.0, 130.0),
        "blood": (140.0, 200.0),
        "portal": (150.0, 200.0),
        "hepatic": (130.0, 180.0),
        "kidney_cortex": (150.0, 200.0),
        "kidney_medulla": (140.0, 190.0),  # homogeneous
        "muscle": (55.0, 75.0),
        "bowel_wall": (70.0, 110.0),
        "myocardium": (90.0, 125.0),
    },
    "delayed": {
        "liver": (80.0, 100.0),
        "spleen": (90.0, 110.0),
        "blood": (100.0, 130.0),
        "portal": (100.0, 130.0),
        "hepatic": (100.0, 130.0),
        "kidney_cortex": (100.0, 140.0),
        "kidney_medulla": (110.0, 160.0),
        "muscle": (55.0, 70.0),
        "bowel_wall": (60.0, 90.0),
        "myocardium": (80.0, 100.0),
    },
}
# the same in every phase
STATIC_HU: dict[str, tuple[float, float]] = {
    "fat": (-120.0, -80.0),
    "fluid": (0.0, 20.0),  # bowel content, stomach fluid
    "bile": (0.0, 20.0),
    "bone_cancellous": (150.0, 300.0),
    "bone_cortex": (700.0, 1100.0),
    "lung": (-900.0, -750.0),
}
# fatty liver: HU lowered by (low, high) below the normal liver of the phase; in the
# non-contrast phase the liver is also kept below 40 HU and > 10 HU below the spleen
FATTY_DROP_HU = {
    "non-contrast": (20.0, 35.0),
    "arterial": (20.0, 40.0),
    "portal-venous": (15.0, 35.0),  # 70-100 HU in the table
    "delayed": (15.0, 30.0),
}
FATTY_PROBABILITY = 0.2
LIVER_LIKE_NEIGHBOURS = ("spleen", "bowel_wall", "myocardium", "kidney_medulla")
LIVER_LIKE_PROBABILITY = 0.5  # a case has 1-3 neighbours within +-10 HU of its liver


@dataclass
class Appearance:
    """HU of every tissue of one case (``hu``), its phase, and what was drawn."""

    phase: str
    hu: dict
    liver_hu: float
    fatty: bool
    liver_like: tuple[str, ...]
    spleen_zebra_hu: float  # amplitude of the arterial-phase zebra pattern (HU)


def v1_tissue_hu(rng: np.random.Generator, liver_hu: float) -> dict:
    """Phantom v1's portal-venous tissue HU (the draw order is part of v1's streams)."""
    hu = {
        "fat": FAT_HU + rng.uniform(-10, 10),
        "muscle": MUSCLE_HU + rng.uniform(-8, 8),
        "blood": BLOOD_HU + rng.uniform(-10, 15),
        "portal": rng.uniform(160.0, 180.0),
        "spleen": liver_hu + rng.uniform(0.0, 15.0),
        "kidney_cortex": rng.uniform(170.0, 200.0),
        "kidney_medulla": rng.uniform(110.0, 140.0),
        "bowel_wall": rng.uniform(70.0, 100.0),
        "fluid": rng.uniform(5.0, 25.0),
        "myocardium": rng.uniform(100.0, 125.0),
        "bile": rng.uniform(0.0, 15.0),
    }
    hu["ivc"] = hu["blood"] - 12.0
    hu["bone_cortex"] = BONE_CORTEX_HU
    hu["bone_cancellous"] = BONE_CANCELLOUS_HU
    hu["lung"] = LUNG_HU
    return hu


def draw_appearance(rng: np.random.Generator, phase: str | None = None) -> Appearance:
    """Phase (drawn when None) and every tissue's HU for one v2 case (HU, float)."""
    drawn = str(rng.choice(PHASES, p=PHASE_PROBABILITIES))  # drawn even when forced, so
    phase = drawn if phase is None else phase  # the other draws do not depend on the phase
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    table = TISSUE_HU[phase]
    hu = {k: float(rng.uniform(*r)) for k, r in table.items()}
    hu.update({k: float(rng.uniform(*r)) for k, r in STATIC_HU.items()})
    hu["ivc"] = hu["hepatic"]
    fatty = bool(rng.uniform() < FATTY_PROBABILITY)
    drop = float(rng.uniform(*FATTY_DROP_HU[phase]))
    liver = hu.pop("liver")
    if fatty:
        liver -= drop
        if phase == "non-contrast":
            liver = min(liver, 39.0, hu["spleen"] - 11.0)
    liver_like: tuple[str, ...] = ()
    like = rng.uniform() < LIVER_LIKE_PROBABILITY
    k = int(rng.integers(1, 4))
    names = [str(n) for n in rng.choice(LIVER_LIKE_NEIGHBOURS, size=k, replace=False)]
    offsets = rng.uniform(-10.0, 10.0, size=k)
    if like:
        liver_like = tuple(names)
        for name, off in zip(names, offsets, strict=True):
            hu[name] = liver + float(off)
    if fatty and phase == "non-contrast" and "spleen" in liver_like:
        hu["spleen"] = max(hu["spleen"], liver + 11.0)  # steatosis: liver below spleen
    zebra = float(rng.uniform(10.0, 25.0))
    zebra = zebra if phase == "arterial" else 0.0
    return Appearance(
        phase=phase,
        hu=hu,
        liver_hu=float(liver),
        fatty=fatty,
        liver_like=liver_like,
        spleen_zebra_hu=zebra,
    )
