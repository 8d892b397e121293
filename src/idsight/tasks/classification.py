"""Template classification: cross-entropy with optional label smoothing and distillation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from idsight.registry import TASKS
from idsight.tasks.losses import kd_kl, select_part


@TASKS.register("template_classification")
class TemplateClassification:
    """``task(model, batch) -> {"loss", "ce", ["kd"], "acc", "preds", "logits"}``.

    ``batch``: ``image`` (B,3,96,152); ``label`` (B,) int64 indices into
    ``("kr-rrc", "td1", "none")``; optional ``teacher_logits`` (B,3) used when ``kd_weight > 0``.
    """

    part = "classifier"

    def __init__(
        self,
        *,
        label_smoothing: float = 0.0,
        class_weights: Sequence[float] | None = None,
        kd_weight: float = 0.0,
        kd_temperature: float = 2.0,
    ) -> None:
        self.label_smoothing = label_smoothing
        self.class_weights = (
            None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
        )
        self.kd_weight = kd_weight
        self.kd_temperature = kd_temperature

    def __call__(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
        logits = select_part(model, self.part)(batch["image"])["logits"].float()
        label = torch.as_tensor(batch["label"], dtype=torch.long).to(logits.device)
        weight = None if self.class_weights is None else self.class_weights.to(logits.device)
        ce = F.cross_entropy(logits, label, weight=weight, label_smoothing=self.label_smoothing)
        out = {"ce": ce}
        loss = ce
        teacher = batch.get("teacher_logits")
        if self.kd_weight > 0 and teacher is not None:
            out["kd"] = kd_kl(logits, teacher.to(logits.device), temperature=self.kd_temperature)
            loss = loss + self.kd_weight * out["kd"]
        preds = logits.detach().argmax(-1)
        out.update(loss=loss, preds=preds, acc=(preds == label).float().mean(), logits=logits)
        return out


@TASKS.register("classification")
class ImageClassification(TemplateClassification):
    """The same loss for any classifier returning ``{"logits"}`` (e.g. ``contour_fused``): softmax
    cross-entropy, optional label smoothing, class weights and distillation. ``batch``: ``image`` and
    ``label`` (indices into the model's ``classes``)."""

    part = "classifier"
