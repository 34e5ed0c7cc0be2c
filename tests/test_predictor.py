"""The one network predictor (``network_method.grid_logit_gaps``): tall volumes through the
sliding window equal one pass for a network without spatial context."""

from __future__ import annotations

import torch

from livseg.methods import network_method
from livseg.methods.network_method import grid_logit_gaps


def _pointwise_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Conv3d(1, 3, kernel_size=1).eval()  # no context: windows cannot matter


def test_sliding_window_along_z_equals_one_pass(monkeypatch):
    net = _pointwise_net()
    x = torch.rand(230, 40, 48)  # taller than MAX_SLICES_ONE_PASS
    x[:, :4] = 0.0  # some air so that the body crop is exercised
    windowed, box = grid_logit_gaps(net, x, 3, 8, torch.device("cpu"))
    monkeypatch.setattr(network_method, "MAX_SLICES_ONE_PASS", 10_000)
    one_pass, box1 = grid_logit_gaps(net, x, 3, 8, torch.device("cpu"))
    assert box == box1 and windowed.shape == (230, 2, 40, 48)
    torch.testing.assert_close(windowed, one_pass, atol=1e-5, rtol=1e-5)
    # and both are the network's logit gaps, computed here by hand inside the crop
    w, b = net.weight.detach()[:, 0, 0, 0, 0], net.bias.detach()
    x0, x1, y0, y1 = box
    logits = x[:, x0:x1, y0:y1, None] * w + b  # (Z, h, w, 3)
    ref = (logits[..., 1:] - logits[..., :1]).permute(0, 3, 1, 2)
    torch.testing.assert_close(windowed[:, :, x0:x1, y0:y1], ref, atol=1e-5, rtol=1e-5)
