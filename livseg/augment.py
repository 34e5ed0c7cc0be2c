"""Training-time augmentation (MONAI transforms) so that no network relies on absolute HU,
one texture or one field of view.

Applied per sample to the network's input (windowed HU in [0, 1], see
``livseg.preprocess``) and its label map, after the sampler's crop: Gaussian noise (SD up
to 0.04 = 16 HU), Gaussian smoothing (kernel blur), contrast / gamma, intensity scale and
shift (+-15 %, +-0.08 = +-32 HU), histogram shift (a non-linear intensity remapping),
affine (rotation +-15 deg in-plane, zoom 0.75-1.35, shear) applied to image and labels
together, simulated low resolution (down- and up-sampling) and a random field-of-view
edge (everything outside a random box becomes air, labels background; a crop of the
field of view). The input is clipped back to [0, 1], as the window does at inference.

Seeded: ``Augmenter(spatial_dims, seed)(x, y, step)`` re-seeds the MONAI transforms from
``(seed, step)`` before every batch, so a run resumed at step k draws exactly what the
uninterrupted run drew (no state to checkpoint).
"""

from __future__ import annotations

import numpy as np
import torch
from monai.transforms import (
    Compose,
    MapTransform,
    RandAdjustContrastd,
    RandAffined,
    RandGaussianNoised,
    RandGaussianSmoothd,
    RandHistogramShiftd,
    Randomizable,
    RandScaleIntensityd,
    RandShiftIntensityd,
    RandSimulateLowResolutiond,
)

KEYS = ("image", "label")


class RandFieldOfViewd(Randomizable, MapTransform):
    """With probability ``prob``, set everything outside a random in-plane box (50-95 % of
    each side) to ``air`` in the image and to background in the labels (a tight field of
    view whose edge cuts through the body)."""

    def __init__(self, keys=KEYS, prob: float = 0.15, air: float = 0.0):
        MapTransform.__init__(self, keys)
        self.prob = float(prob)
        self.air = float(air)
        self._box: tuple[int, int, int, int] | None = None

    def randomize(self, shape: tuple[int, ...]) -> None:
        self._box = None
        if self.R.uniform() >= self.prob:
            return
        nx, ny = shape[1], shape[2]
        wx = int(nx * self.R.uniform(0.5, 0.95))
        wy = int(ny * self.R.uniform(0.5, 0.95))
        x0 = int(self.R.randint(0, nx - wx + 1))
        y0 = int(self.R.randint(0, ny - wy + 1))
        self._box = (x0, x0 + wx, y0, y0 + wy)

    def __call__(self, data: dict) -> dict:
        d = dict(data)
        self.randomize(tuple(d["image"].shape))
        if self._box is None:
            return d
        x0, x1, y0, y1 = self._box
        for key in self.keys:
            a = torch.as_tensor(d[key]).clone()
            fill = self.air if key == "image" else 0
            a[:, :x0] = fill
            a[:, x1:] = fill
            a[:, :, :y0] = fill
            a[:, :, y1:] = fill
            d[key] = a
        return d


def build_transforms(spatial_dims: int) -> Compose:
    """The augmentation pipeline for 2D (C, H, W) or 3D (C, X, Y, Z) samples (dict keys
    "image", "label")."""
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    rot = (np.deg2rad(15.0),) if spatial_dims == 2 else (0.0, 0.0, np.deg2rad(15.0))
    return Compose(
        [
            RandAffined(
                keys=KEYS,
                prob=0.4,
                rotate_range=rot,
                scale_range=(0.25,) * spatial_dims,  # zoom 0.75-1.25 (+ -0.25)
                shear_range=(0.05,) * (2 if spatial_dims == 2 else 6),
                mode=("bilinear", "nearest"),
                padding_mode="zeros",
            ),
            RandFieldOfViewd(keys=KEYS, prob=0.15),
            RandSimulateLowResolutiond(
                keys=("image",),
                prob=0.15,
                zoom_range=(0.5, 1.0),
                upsample_mode="bilinear" if spatial_dims == 2 else "trilinear",
            ),
            RandGaussianSmoothd(
                keys=("image",),
                prob=0.2,
                sigma_x=(0.3, 1.2),
                sigma_y=(0.3, 1.2),
                sigma_z=(0.3, 1.0),
            ),
            RandHistogramShiftd(keys=("image",), prob=0.15, num_control_points=(5, 10)),
            RandAdjustContrastd(keys=("image",), prob=0.3, gamma=(0.7, 1.5)),
            RandScaleIntensityd(keys=("image",), prob=0.3, factors=0.15),
            RandShiftIntensityd(keys=("image",), prob=0.3, offsets=0.08),
            RandGaussianNoised(keys=("image",), prob=0.3, mean=0.0, std=0.04),
        ]
    )


class Augmenter:
    """Seeded augmentation of training batches (see the module docstring)."""

    def __init__(self, spatial_dims: int, seed: int):
        self.spatial_dims = int(spatial_dims)
        self.seed = int(seed)
        self.transforms = build_transforms(self.spatial_dims)

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment a batch: x float (B, 1, ...) in [0, 1], y int64 (B, 1, ...) labels.

        Deterministic per (seed, step); returns new tensors of the same shapes and dtypes.
        """
        state = np.random.SeedSequence([self.seed, 31, int(step)]).generate_state(1)[0]
        self.transforms.set_random_state(seed=int(state))
        xs, ys = [], []
        for i in range(x.shape[0]):
            d = self.transforms({"image": x[i].float(), "label": y[i].float()})
            xs.append(torch.as_tensor(d["image"]).as_subclass(torch.Tensor).float())
            ys.append(torch.as_tensor(d["label"]).as_subclass(torch.Tensor))
        xo = torch.stack(xs).clamp_(0.0, 1.0).contiguous()
        yo = torch.stack(ys).round().to(y.dtype).contiguous()
        return xo, yo
