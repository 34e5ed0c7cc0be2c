"""``unet3d``: 3D U-Net (MONAI ``UNet``, 3D convolutions) on the whole volume."""

from __future__ import annotations

from livseg.methods.network_method import NetworkMethod


class UNet3DMethod(NetworkMethod):
    """3D U-Net: the same encoder-decoder with 3D convolutions (inter-slice context)."""

    name = "unet3d"
    title = "3D U-Net"
    spatial_dims = 3
