"""Loss helpers shared by the tasks."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def soft_dice_loss(
    logits: Tensor, target: Tensor, *, smooth: float = 1.0, present_only: bool = True
) -> Tensor:
    """``1 - dice`` per class over the whole batch (dims 0, 2, 3), averaged over classes.

    With ``present_only`` (default) only classes with a positive target pixel in the batch count:
    a class absent from the batch (the other template's lines) has a near-zero, flat dice gradient
    and would only dilute the loss; the BCE term keeps those maps empty. Returns 0 if none is present.
    """
    prob = torch.sigmoid(logits)
    dims = (0, *range(2, logits.dim()))
    inter = (prob * target).sum(dims)
    tsum = target.sum(dims)
    loss = 1.0 - (2.0 * inter + smooth) / (prob.sum(dims) + tsum + smooth)
    if present_only:
        present = tsum > 0
        if not bool(present.any()):
            return logits.sum() * 0.0
        return loss[present].mean()
    return loss.mean()


def kd_kl(student: Tensor, teacher: Tensor, *, temperature: float, mask: Tensor | None = None) -> Tensor:
    """Hinton distillation: ``T^2 * KL(softmax(teacher/T) || softmax(student/T))`` over the last dim.

    Averaged over all leading positions, or over those where ``mask`` (broadcastable, bool) is true.
    """
    t = temperature
    logp = F.log_softmax(student.float() / t, dim=-1)
    q = F.softmax(teacher.detach().float() / t, dim=-1)
    kl = (q * (torch.log(q.clamp_min(1e-8)) - logp)).sum(-1)
    if mask is not None:
        m = mask.to(kl.dtype).expand_as(kl)
        return (kl * m).sum() / m.sum().clamp_min(1.0) * t * t
    return kl.mean() * t * t


def mean_over_chunks(outs: list[dict[str, Any]], counts: list[float]) -> dict[str, Any]:
    """Combine per-chunk task outputs (width buckets of one batch): every scalar tensor is averaged
    weighted by ``counts`` (lines per chunk); ``preds`` becomes the list of the chunks' preds."""
    n = torch.tensor(counts)
    w = (n / n.sum()).tolist()
    keys = [k for k, v in outs[0].items() if isinstance(v, Tensor) and v.dim() == 0]
    res: dict[str, Any] = {k: sum(o[k] * wi for o, wi in zip(outs, w, strict=True)) for k in keys}
    res["preds"] = [o["preds"] for o in outs]
    return res


def select_part(model: nn.Module, part: str) -> nn.Module:
    """A task may be given the whole reader model or the sub-network it trains."""
    from idsight.models.reader import ReaderModel

    return getattr(model, part) if isinstance(model, ReaderModel) else model
