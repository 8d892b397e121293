"""Contour detection: class-balanced cross-entropy against annotated contour maps (HED's form)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from idsight.registry import TASKS


def balanced_bce(logits: Tensor, target: Tensor, *, positive: float = 0.5) -> Tensor:
    """Class-balanced binary cross-entropy, per image as in HED: with ``beta`` the share of non-edge
    pixels, edge pixels weigh ``beta`` and non-edge pixels ``1 - beta``. ``target`` may be the share of
    annotators marking a pixel: at least ``positive`` is an edge, 0 is not, and pixels in between (some
    annotators only) are left out, as RCF does. The sum is divided by the number of pixels."""
    pos = target >= positive
    neg = target <= 0
    n_pos = pos.flatten(1).sum(1).float().view(-1, 1, 1, 1)
    n_neg = neg.flatten(1).sum(1).float().view(-1, 1, 1, 1)
    beta = n_neg / (n_pos + n_neg).clamp(min=1.0)
    weight = torch.where(pos, beta, torch.where(neg, 1.0 - beta, torch.zeros_like(beta)))
    loss = F.binary_cross_entropy_with_logits(logits, pos.float(), weight=weight, reduction="sum")
    return loss / logits.numel()


@TASKS.register("contour_detection")
class ContourDetection:
    """``task(model, batch) -> {"loss", "fused", ["sides"], "preds"}``.

    ``batch``: ``image`` (B, 3, H, W) and ``edges`` (B, 1, H, W) in [0, 1]. The model returns ``edges``
    (the fused map's logits) and ``sides`` (one map per level). ``loss = fused + side_weight * sum(sides)``
    (deep supervision; ``side_weight=0`` turns it off); ``preds`` is the fused probability map."""

    def __init__(self, *, side_weight: float = 0.5, positive: float = 0.5) -> None:
        self.side_weight, self.positive = side_weight, positive

    def __call__(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
        out = model(batch["image"])
        if "edges" not in out:
            raise ValueError("the model has no contour head: train the extractor before dropping it")
        logits = out["edges"].float()
        target = batch["edges"].to(logits.device, torch.float32)
        if target.shape != logits.shape:
            raise ValueError(f"target edges {tuple(target.shape)} do not match outputs {tuple(logits.shape)}")
        fused = balanced_bce(logits, target, positive=self.positive)
        res = {"fused": fused.detach(), "preds": logits.detach().sigmoid()}
        loss = fused
        if self.side_weight > 0:
            sides = sum(balanced_bce(s.float(), target, positive=self.positive) for s in out["sides"])
            loss = loss + self.side_weight * sides
            res["sides"] = sides.detach()  # type: ignore[union-attr]
        res["loss"] = loss
        return res
