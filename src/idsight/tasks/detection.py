"""Field-line detection: per-class line maps trained with weighted BCE + soft dice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from idsight.registry import TASKS
from idsight.tasks.losses import select_part, soft_dice_loss


@TASKS.register("line_detection")
class LineDetection:
    """``task(model, batch) -> {"loss", "bce", "dice", ["kd"], "preds"}``.

    ``batch``: ``image`` (B,3,160,256); ``maps`` (B,K,80,128) float targets in [0, 1]; optional
    ``teacher_maps`` (B,K,80,128) teacher logits used when ``kd_weight > 0`` (L2 between the
    student's and the teacher's probability maps); optional ``labelled`` (B,) bool: unlabelled rows add
    only the KD term. ``pos_weight`` (a float or one per class) up-weights the sparse line
    pixels in the BCE. ``loss = bce_weight * bce + dice_weight * dice + kd_weight * kd``;
    ``preds`` are the sigmoid maps.
    """

    part = "detector"

    def __init__(
        self,
        *,
        pos_weight: float | Sequence[float] = 5.0,
        bce_weight: float = 1.0,
        dice_weight: float = 1.0,
        dice_smooth: float = 1.0,
        kd_weight: float = 0.0,
    ) -> None:
        pw = torch.as_tensor(pos_weight, dtype=torch.float32)
        self.pos_weight = pw.view(-1, 1, 1) if pw.dim() == 1 else pw
        self.bce_weight = bce_weight
        self.dice_weight = dice_weight
        self.dice_smooth = dice_smooth
        self.kd_weight = kd_weight

    def __call__(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
        logits = select_part(model, self.part)(batch["image"])["maps"].float()
        out: dict[str, Tensor] = {}
        loss = logits.sum() * 0.0
        lab = batch.get("labelled")
        lab = torch.ones(len(logits), dtype=torch.bool) if lab is None else torch.as_tensor(lab).bool()
        if bool(lab.any()):
            target = batch["maps"].to(logits.device, torch.float32)
            if target.shape != logits.shape:
                raise ValueError(
                    f"target maps {tuple(target.shape)} do not match outputs {tuple(logits.shape)}"
                )
            sel = lab.to(logits.device)
            lg, tg = logits[sel], target[sel]
            bce = F.binary_cross_entropy_with_logits(lg, tg, pos_weight=self.pos_weight.to(logits.device))
            dice = soft_dice_loss(lg, tg, smooth=self.dice_smooth)
            out.update(bce=bce, dice=dice)
            loss = loss + self.bce_weight * bce + self.dice_weight * dice
        teacher = batch.get("teacher_maps")
        if self.kd_weight > 0 and teacher is not None:
            soft = torch.sigmoid(teacher.detach().float().to(logits.device))
            out["kd"] = F.mse_loss(torch.sigmoid(logits), soft)
            loss = loss + self.kd_weight * out["kd"]
        out.update(loss=loss, preds=torch.sigmoid(logits.detach()))
        return out
