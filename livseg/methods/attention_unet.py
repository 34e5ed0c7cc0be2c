"""``attention_unet``: 2D U-Net with additive attention gates (Oktay et al. 2018)."""

from __future__ import annotations

from livseg.methods.network_method import NetworkMethod


class AttentionUNetMethod(NetworkMethod):
    """2D U-Net whose skip connections pass through additive attention gates."""

    name = "attention_unet"
    title = "Attention U-Net"
    spatial_dims = 2
