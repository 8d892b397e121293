"""Visible + infrared identity training: loss = w_vis * L(visible predictions) + w_ir * L(infrared ones)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from idsight.registry import TASKS


@TASKS.register("vis_ir_identity")
class VisIRIdentity:
    """``task(model, batch) -> {"loss", "vis", "ir", "acc_vis", "acc_ir", "preds"}`` (+ ``distill``).

    With ``w_distill > 0`` and a ``teacher`` embedding in the batch (e.g. dlib's, of the visible view),
    ``loss += w_distill * ((1 - cos(visible embedding, teacher)) + (1 - cos(infrared embedding, teacher)))``:
    the optional distillation of the visible branch from the dlib encoder, extended to the infrared
    branch, which thereby embeds a face into the same space as its visible view.

    ``batch``: ``vis`` and ``nir`` (B, 3, H, W) face pairs of the same identities, ``label`` (B,).
    ``L`` is cross-entropy over the identity head's logits (for ArcFace, the margin logits). A batch of
    one spectrum only (``image``, as ``face_folder`` gives, e.g. to pre-train a curation model on a
    visible data set) trains the visible branch alone: ``loss = L(visible)``.
    """

    def __init__(
        self,
        *,
        w_vis: float = 1.0,
        w_ir: float = 1.0,
        w_distill: float = 0.0,
        label_smoothing: float = 0.0,
    ) -> None:
        if w_vis < 0 or w_ir < 0 or w_distill < 0 or w_vis + w_ir + w_distill == 0:
            raise ValueError(
                f"w_vis, w_ir and w_distill must be >= 0 and not all 0, got {w_vis}, {w_ir}, {w_distill}"
            )
        self.w_vis, self.w_ir, self.w_distill = w_vis, w_ir, w_distill
        self.label_smoothing = label_smoothing

    def __call__(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
        label = torch.as_tensor(batch["label"], dtype=torch.long)
        if "image" in batch:
            logits = model(vis=batch["image"], label=label)["vis_logits"]
            vis = F.cross_entropy(logits.float(), label, label_smoothing=self.label_smoothing)
            preds = logits.detach().argmax(-1)
            return {"loss": vis, "vis": vis, "acc_vis": (preds == label).float().mean(), "preds": preds}
        out = model(vis=batch["vis"], nir=batch["nir"], label=label)
        vis = F.cross_entropy(out["vis_logits"].float(), label, label_smoothing=self.label_smoothing)
        ir = F.cross_entropy(out["nir_logits"].float(), label, label_smoothing=self.label_smoothing)
        preds = out["nir_logits"].detach().argmax(-1)
        loss = self.w_vis * vis + self.w_ir * ir
        extra: dict[str, Tensor] = {}
        if self.w_distill > 0 and "teacher" in batch:
            # both branches towards the teacher's embedding of the visible view: the visible branch
            # learns the teacher's space, the infrared one to map the same face into it
            t = F.normalize(batch["teacher"].float(), dim=-1)
            d_vis = 1 - (F.normalize(out["vis_embedding"].float(), dim=-1) * t).sum(-1).mean()
            d_ir = 1 - (F.normalize(out["nir_embedding"].float(), dim=-1) * t).sum(-1).mean()
            loss = loss + self.w_distill * (d_vis + d_ir)
            extra = {"distill": d_vis + d_ir, "distill_vis": d_vis, "distill_ir": d_ir}
        return {
            **extra,
            "loss": loss,
            "vis": vis,
            "ir": ir,
            "acc_vis": (out["vis_logits"].detach().argmax(-1) == label).float().mean(),
            "acc_ir": (preds == label).float().mean(),
            "preds": preds,
        }
