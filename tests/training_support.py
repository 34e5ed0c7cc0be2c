"""The tiny network and training set-up the training tests share (seconds on one CPU core)."""

from __future__ import annotations

from livseg.training import TrainConfig

TINY_2D = {
    "arch": "monai_unet",
    "spatial_dims": 2,
    "channels": [4, 8],
    "strides": [2],
    "num_res_units": 0,
    "norm": "batch",
}


def tiny_config(steps: int, **overrides) -> TrainConfig:
    """A unet2d TrainConfig on 3 small cases (1 for validation, every 2 steps) with the
    ``TINY_2D`` network, 64-voxel crops and one thread; ``overrides`` replace any field."""
    fields = dict(
        method="unet2d",
        steps=steps,
        n_cases=3,
        n_val=1,
        val_every=2,
        size="small",
        network=dict(TINY_2D),
        crop_2d=64,
        bn_batches=2,
        threads=1,
    )
    fields.update(overrides)
    return TrainConfig(**fields)
