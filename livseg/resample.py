"""In-plane resampling of (X, Y, Z) arrays shared by the methods and the viewer payload: the
block mean (down-sampling by integer factors) and the chunked bilinear interpolation loop."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where it is used: the viewer payload needs only numpy
    import torch


def block_mean(array: np.ndarray, fx: int, fy: int) -> np.ndarray:
    """Mean over ``fx x fy`` in-plane blocks of an (X, Y, Z) array, edges padded by
    replication: float32 of shape (ceil(X / fx), ceil(Y / fy), Z)."""
    a = np.asarray(array, dtype=np.float32)
    if (fx, fy) == (1, 1):
        return a
    x, y, z = a.shape
    px, py = (-x) % fx, (-y) % fy
    if px or py:
        a = np.pad(a, ((0, px), (0, py), (0, 0)), mode="edge")
    a = a.reshape(a.shape[0] // fx, fx, a.shape[1] // fy, fy, z)
    return a.mean(axis=(1, 3), dtype=np.float32)


def interpolate_chunks(
    x: torch.Tensor,
    size: tuple[int, int] | None = None,
    scale_factor: tuple[int, int] | None = None,
    chunk: int = 32,
    antialias: bool = False,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Bilinear in-plane resizing (pixel centres aligned) of a (Z, C, h, w) tensor, ``chunk``
    slices at a time to bound memory: yields (first slice index, resized chunk). A chunk
    already of ``size`` is yielded as is. Call it under ``torch.inference_mode()``."""
    import torch.nn.functional as F

    for k0 in range(0, x.shape[0], chunk):
        block = x[k0 : k0 + chunk]
        if size is not None and tuple(block.shape[-2:]) == tuple(size):
            yield k0, block
            continue
        yield (
            k0,
            F.interpolate(
                block,
                size=None if size is None else tuple(size),
                scale_factor=scale_factor,
                mode="bilinear",
                align_corners=False,
                antialias=antialias,
            ),
        )
