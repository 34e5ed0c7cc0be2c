"""Training losses of the networks: Dice + cross-entropy, optionally weighted lesion by lesion.

``voxel`` (the default, every recipe before amendment 3): MONAI ``DiceCELoss`` (softmax, 3
classes, Dice over the whole batch). Every tumour voxel counts the same, so a 5 cm mass
(~4 000 voxels on the 256-grid in 3D) outweighs a 6 mm metastasis (~20 voxels) 200 to 1.

``lesion``: the same Dice term, and a cross-entropy whose voxel weights give each tumour
lesion of a sample (a 26-connected component of label 2 in that sample, the lesion of
``livseg.metrics``) the total weight of a lesion of ``equal_voxels`` voxels: a voxel of a
lesion of n voxels weighs ``clip(equal_voxels / n, 1, max_weight)``, every other voxel 1;
the weighted sum is divided by the sum of the weights (so the loss keeps plain
cross-entropy's scale). Lesions larger than ``equal_voxels`` keep weight 1. The defaults
(``EQUAL_VOXELS``) are a 2 cm lesion, the lesion table's small / medium boundary, on the
network grid at ~1.5 mm in-plane and ~2.5 mm slices: its cross-section in 2D (~140 pixels)
and its volume in 3D (~750 voxels); ``MAX_WEIGHT`` keeps a 3-voxel speck from dominating.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss, DiceLoss
from scipy import ndimage

TUMOUR_LOSSES = ("voxel", "lesion")
EQUAL_VOXELS = {2: 140.0, 3: 750.0}  # voxels of a 2 cm lesion on the network grid (2D / 3D)
MAX_WEIGHT = 20.0
TUMOUR = 2


def lesion_weights(
    labels: np.ndarray, equal_voxels: float, max_weight: float = MAX_WEIGHT
) -> np.ndarray:
    """Voxel weights (float32, labels' shape) of one sample's label map (2D or 3D, 0/1/2).

    Tumour voxels of a lesion (connected component of label 2, full connectivity: 8 in 2D,
    26 in 3D) of n voxels weigh ``clip(equal_voxels / n, 1, max_weight)``; all others 1.
    """
    labels = np.asarray(labels)
    w = np.ones(labels.shape, dtype=np.float32)
    tumour = labels == TUMOUR
    if not tumour.any():
        return w
    comp, n = ndimage.label(tumour, structure=np.ones((3,) * labels.ndim, dtype=bool))
    sizes = np.bincount(comp.ravel(), minlength=n + 1).astype(np.float64)
    per = np.clip(equal_voxels / np.maximum(sizes, 1.0), 1.0, max_weight)
    per[0] = 1.0
    return per[comp].astype(np.float32)


class LesionWeightedDiceCE(torch.nn.Module):
    """Dice (softmax, one-hot target, over the batch) + lesion-weighted cross-entropy."""

    def __init__(self, spatial_dims: int, equal_voxels: float | None = None, max_weight=MAX_WEIGHT):
        super().__init__()
        self.equal_voxels = float(equal_voxels or EQUAL_VOXELS[spatial_dims])
        self.max_weight = float(max_weight)
        self.dice = DiceLoss(to_onehot_y=True, softmax=True, batch=True)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """logits (B, 3, *spatial); target (B, 1, *spatial) class indices."""
        lab = target[:, 0].long()
        w = np.stack(
            [lesion_weights(t, self.equal_voxels, self.max_weight) for t in lab.cpu().numpy()]
        )
        w_t = torch.from_numpy(w).to(logits.device)
        ce = F.cross_entropy(logits.float(), lab, reduction="none")
        return self.dice(logits, target) + (ce * w_t).sum() / w_t.sum()


def build_loss(tumour_loss: str, spatial_dims: int) -> torch.nn.Module:
    """The training loss of a recipe (``TUMOUR_LOSSES``)."""
    if tumour_loss == "voxel":
        return DiceCELoss(to_onehot_y=True, softmax=True, batch=True)
    if tumour_loss == "lesion":
        return LesionWeightedDiceCE(spatial_dims)
    raise ValueError(f"tumour_loss must be one of {', '.join(TUMOUR_LOSSES)}, got {tumour_loss!r}")
