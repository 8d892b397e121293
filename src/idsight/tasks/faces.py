"""Visible + infrared identity training: loss = w_vis * L(visible predictions) + w_ir * L(infrared ones)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from idsight.registry import TASKS


@TASKS.register("vis_ir_identity")
class VisIRIdentity:
    """``task(model, batch) -> {"loss", "vis", "ir", "acc_vis", "acc_ir", "preds"}``.

    ``batch``: ``vis`` and ``nir`` (B, 3, H, W) face pairs of the same identities, ``label`` (B,).
    ``L`` is cross-entropy over the identity head's logits (for ArcFace, the margin logits).
    """

    def __init__(self, *, w_vis: float = 1.0, w_ir: float = 1.0, label_smoothing: float = 0.0) -> None:
        if w_vis < 0 or w_ir < 0 or w_vis + w_ir == 0:
            raise ValueError(f"w_vis and w_ir must be >= 0 and not both 0, got {w_vis}, {w_ir}")
        self.w_vis, self.w_ir, self.label_smoothing = w_vis, w_ir, label_smoothing

    def __call__(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
        label = torch.as_tensor(batch["label"], dtype=torch.long)
        out = model(vis=batch["vis"], nir=batch["nir"], label=label)
        vis = F.cross_entropy(out["vis_logits"].float(), label, label_smoothing=self.label_smoothing)
        ir = F.cross_entropy(out["nir_logits"].float(), label, label_smoothing=self.label_smoothing)
        preds = out["nir_logits"].detach().argmax(-1)
        return {
            "loss": self.w_vis * vis + self.w_ir * ir,
            "vis": vis,
            "ir": ir,
            "acc_vis": (out["vis_logits"].detach().argmax(-1) == label).float().mean(),
            "acc_ir": (preds == label).float().mean(),
            "preds": preds,
        }
