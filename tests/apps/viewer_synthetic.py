"""Synthetic noisy abdomen-like CT + liver/tumour labels for the viewer tests and bench."""

from __future__ import annotations

import numpy as np


def synthetic_case(shape: tuple[int, int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy abdomen-like CT (HU, float32) and labels (1 liver, 2 tumour) on (x, y, z)."""
    rng = np.random.default_rng(seed)
    nx, ny, nz = shape
    x = np.linspace(-1, 1, nx, dtype=np.float32)[:, None, None]
    y = np.linspace(-1, 1, ny, dtype=np.float32)[None, :, None]
    z = np.linspace(-1, 1, nz, dtype=np.float32)[None, None, :]
    body = (x / 0.9) ** 2 + (y / 0.7) ** 2 < 1
    # liver on the patient's right (low x) and anterior-ish, shrinking towards the feet
    liver = ((x + 0.35) / 0.4) ** 2 + ((y - 0.05) / 0.35) ** 2 + ((z - 0.1) / 0.8) ** 2 < 1
    tumour = ((x + 0.4) / 0.1) ** 2 + ((y - 0.1) / 0.1) ** 2 + ((z - 0.1) / 0.25) ** 2 < 1
    spine = ((x / 0.08) ** 2 + ((y + 0.5) / 0.08) ** 2 < 1) & np.ones_like(z, dtype=bool)
    hu = np.full(shape, -1000.0, np.float32)
    hu[np.broadcast_to(body, shape)] = 40.0
    hu[np.broadcast_to(spine, shape) & np.broadcast_to(body, shape)] = 700.0
    liver = np.broadcast_to(liver, shape) & np.broadcast_to(body, shape)
    tumour = np.broadcast_to(tumour, shape) & liver
    hu[liver] = 100.0
    hu[tumour] = 45.0
    hu += rng.normal(0.0, 12.0, shape).astype(np.float32)
    labels = np.zeros(shape, np.uint8)
    labels[liver] = 1
    labels[tumour] = 2
    return hu, labels


def panel_maps(labels: np.ndarray, panels: int) -> np.ndarray | dict[str, np.ndarray]:
    """One label map, or ``panels`` maps ("Panel A", ...) each shifted a little along x."""
    if panels <= 1:
        return labels
    maps = {}
    for p in range(panels):
        lab = labels.copy()
        if p:  # a slightly different "result" per panel: liver eroded from one side
            lab[p:, :, :][labels[:-p, :, :] == 0] = 0
        maps[f"Panel {chr(65 + p)}"] = lab
    return maps
