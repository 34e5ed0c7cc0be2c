"""``unet2d``: classic 2D U-Net (MONAI ``UNet``) on axial slices at 256 x 256."""

from __future__ import annotations

from livseg.methods.network_method import NetworkMethod


class UNet2DMethod(NetworkMethod):
    """2D U-Net: encoder-decoder with skip connections, slice by slice."""

    name = "unet2d"
    title = "U-Net (2D)"
    spatial_dims = 2
