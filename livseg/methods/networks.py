"""Network builders for the three learned methods (PyTorch modules, no weights).

``unet2d`` and ``unet3d`` are MONAI's ``UNet`` (residual units, instance norm, strided
convolutions down, transposed convolutions up, skip connections). ``attention_unet`` is our
own few-line 2D U-Net with additive attention gates on every skip connection (Oktay et al.
2018), built like MONAI's ``UNet`` (first layer already strided) so that it costs about as
much as the plain 2D net; MONAI's ``AttentionUnet`` keeps a full-resolution first level and
was 5x slower here (see docs/methods.md for the measurements).

Each builder takes a ``config`` dict (stored inside the weights file, so a checkpoint always
rebuilds the network it was trained with).
"""

from __future__ import annotations

import torch
from monai.networks.nets import UNet
from torch import nn

N_CLASSES = 3  # background, liver, tumour

DEFAULT_CONFIGS: dict[str, dict] = {
    "unet2d": {
        "arch": "monai_unet",
        "spatial_dims": 2,
        "channels": [16, 32, 64, 128, 256],
        "strides": [2, 2, 2, 2],
        "num_res_units": 2,
        "norm": "batch",
    },
    "attention_unet": {
        "arch": "attention_unet2d",
        "channels": [16, 32, 64, 128, 256],
        "norm": "batch",
    },
    "unet3d": {
        "arch": "monai_unet",
        "spatial_dims": 3,
        "channels": [16, 32, 64, 128],
        "strides": [2, 2, 2],
        "num_res_units": 1,
        "norm": "batch",
    },
}


def _norm(kind: str, c: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(c)
    if kind == "instance":
        return nn.InstanceNorm2d(c, affine=True)
    raise ValueError(f"unknown norm {kind!r}")


def _conv_block(c_in: int, c_out: int, stride: int, norm: str, n_convs: int = 2) -> nn.Sequential:
    """``n_convs`` 3x3 convolutions (the first one strided), each with norm and PReLU."""
    layers: list[nn.Module] = []
    for i in range(n_convs):
        layers += [
            nn.Conv2d(
                c_in if i == 0 else c_out, c_out, 3, stride=stride if i == 0 else 1, padding=1
            ),
            _norm(norm, c_out),
            nn.PReLU(),
        ]
    return nn.Sequential(*layers)


class AttentionGate(nn.Module):
    """Additive attention gate: ``x * sigmoid(psi(relu(W_x x + W_g g)))`` (Oktay et al.).

    ``x`` is the encoder (skip) feature map, ``g`` the decoder gating signal on the same grid;
    the gate is one spatial weight map in [0, 1] that suppresses irrelevant background.
    """

    def __init__(self, c_x: int, c_g: int, c_inter: int):
        super().__init__()
        self.w_x = nn.Conv2d(c_x, c_inter, 1, bias=False)
        self.w_g = nn.Conv2d(c_g, c_inter, 1, bias=True)
        self.psi = nn.Conv2d(c_inter, 1, 1, bias=True)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        alpha = torch.sigmoid(self.psi(torch.relu(self.w_x(x) + self.w_g(g))))
        return x * alpha


class AttentionUNet2d(nn.Module):
    """2D U-Net with additive attention gates on the skip connections.

    Encoder: ``len(channels) - 1`` strided levels of two convolutions (grid /2, /4, ...) and a
    bottleneck at the coarsest grid. Decoder: at each level the skip feature map is gated by
    the decoder signal, concatenated, convolved once and up-sampled by a transposed
    convolution. Output logits have
    the input's size; inputs must be divisible by ``2 ** (len(channels) - 1)``.
    """

    def __init__(
        self,
        channels: list[int],
        in_channels: int = 1,
        out_channels: int = N_CLASSES,
        norm: str = "batch",
    ):
        super().__init__()
        enc_ch = channels[:-1]
        self.encoders = nn.ModuleList()
        c_prev = in_channels
        for c in enc_ch:
            self.encoders.append(_conv_block(c_prev, c, stride=2, norm=norm))
            c_prev = c
        self.bottleneck = _conv_block(c_prev, channels[-1], stride=1, norm=norm)
        self.gates = nn.ModuleList()
        self.decoders = nn.ModuleList()
        self.ups = nn.ModuleList()
        c_dec = channels[-1]
        for i in reversed(range(len(enc_ch))):
            c_skip = enc_ch[i]
            self.gates.append(AttentionGate(c_skip, c_dec, max(c_skip // 2, 8)))
            self.decoders.append(
                _conv_block(c_skip + c_dec, c_skip, stride=1, norm=norm, n_convs=1)
            )
            c_up = enc_ch[i - 1] if i > 0 else max(enc_ch[0] // 2, 8)
            self.ups.append(nn.ConvTranspose2d(c_skip, c_up, 2, stride=2))
            c_dec = c_up
        self.head = nn.Conv2d(c_dec, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for enc in self.encoders:
            x = enc(x)
            skips.append(x)
        d = self.bottleneck(x)
        for gate, dec, up, skip in zip(
            self.gates, self.decoders, self.ups, reversed(skips), strict=True
        ):
            d = dec(torch.cat([gate(skip, d), d], dim=1))
            d = up(d)
        return self.head(d)


def build_network(config: dict) -> nn.Module:
    """Build an untrained network from a config dict (see ``DEFAULT_CONFIGS``)."""
    arch = config.get("arch")
    if arch == "monai_unet":
        return UNet(
            spatial_dims=int(config["spatial_dims"]),
            in_channels=1,
            out_channels=N_CLASSES,
            channels=tuple(config["channels"]),
            strides=tuple(config["strides"]),
            num_res_units=int(config["num_res_units"]),
            norm=str(config.get("norm", "instance")),
        )
    if arch == "attention_unet2d":
        return AttentionUNet2d(list(config["channels"]), norm=str(config.get("norm", "batch")))
    raise ValueError(f"unknown network architecture {arch!r} in config {config}")


def size_multiple(config: dict) -> int:
    """Every spatial input dimension must be a multiple of this (the total down-sampling)."""
    if config.get("arch") == "attention_unet2d":
        return 2 ** (len(config["channels"]) - 1)
    m = 1
    for s in config["strides"]:
        m *= int(s)
    return m
