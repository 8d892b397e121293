"""Distillation: a task that holds a frozen teacher and wraps a part's own task.

``loss = distill_weight * D(teacher first format, student first format)
       + label_weight * L(student, labels)``

- ``D`` is the wrapped task's KD term: KL with a temperature for per-timestep character
  distributions and template logits, L2 for probability maps.
- ``L`` is the wrapped task's label loss (CTC for lines, BCE + dice for maps, cross-entropy for
  templates), counted only on rows marked ``labelled`` (a reviewed or ground-truth line). An
  unreviewed line contributes only ``D``.

``trainee`` chooses which network learns:

- ``"student"`` (default): the model given to the loop is the student; the teacher is frozen here.
- ``"teacher"``: the model given to the loop is the teacher, trained from the labels alone.
- ``"joint"``: the model is ``nn.ModuleDict({"student": ..., "teacher": ...})``; the student learns
  from ``D`` and the labels, the teacher from the labels (``D`` does not push the teacher).

The ablations of the method are weight settings: distillation only (``label_weight: 0``), reviews
only (``distill_weight: 0``), both.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from idsight.errors import BadConfigError
from idsight.registry import TASKS
from idsight.tasks.losses import mean_over_chunks

Trainee = Literal["student", "teacher", "joint"]
_KD_KEY = {"recognizer": "teacher_logits", "classifier": "teacher_logits"}  # others: "teacher_maps"
_OUT_KEY = {"recognizer": "logits", "classifier": "logits"}  # others (detector, localizer): "maps"


def load_teacher_part(teacher: str | nn.Module, part: str) -> nn.Module:
    """The ``part`` network of a teacher artifact (name or path), frozen, in eval mode."""
    if isinstance(teacher, str):
        from idsight import hub
        from idsight.artifact import read_meta
        from idsight.models.reader import ReaderModel

        path = hub.resolve(teacher)
        if part == "recognizer" and read_meta(path).get("task") in ("ctc_recognition", "line_reader"):
            from idsight.models.recognizer import crnn_from_artifact  # a line-recogniser artifact

            net: nn.Module = crnn_from_artifact(path=str(path))
        else:
            model, _ = ReaderModel.from_artifact(path)
            net = getattr(model, part)
    else:
        net = teacher
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()


def check_same_classes(student: nn.Module, teacher: nn.Module, part: str) -> None:
    """Student and teacher must share the output space (the charset, the detector classes)."""
    s, t = getattr(student, "num_classes", None), getattr(teacher, "num_classes", None)
    if s is not None and t is not None and s != t:
        what = "charset sizes" if part == "recognizer" else "class counts"
        raise BadConfigError(
            f"teacher and student {part} have different {what} ({t - (part == 'recognizer')} vs "
            f"{s - (part == 'recognizer')}); distillation needs the same output space"
        )


def kd_terms_problem(distill_weight: float, kl_weight: float, sequence_weight: float) -> str | None:
    """What is wrong with the weights of D's terms, or None: negative weights, or D weighted but empty."""
    if kl_weight < 0 or sequence_weight < 0:
        return "kl_weight and sequence_weight must be >= 0"
    if distill_weight > 0 and kl_weight + sequence_weight == 0:
        return "kl_weight and sequence_weight are both 0: D has no term (set distill_weight 0)"
    return None


@TASKS.register("distillation")
class Distillation(nn.Module):
    """``task(model, batch) -> {"loss", "distill", "label", "preds", ...}`` (see the module docstring).

    ``part``: which reader part (``recognizer``, ``detector``, ``localizer``, ``classifier``);
    ``base``: the part's own task ``{"name", "kwargs"}``; ``teacher``: an artifact name or path, or a
    module (the teacher's ``part`` network). The teacher is an ``nn.Module`` attribute, so it moves
    with the LightningModule to the device, but its parameters are frozen and never optimised.
    """

    def __init__(
        self,
        *,
        part: str,
        base: dict[str, Any],
        teacher: str | nn.Module,
        trainee: Trainee = "student",
        distill_weight: float = 1.0,
        label_weight: float = 1.0,
        temperature: float = 2.0,
        sequence_weight: float = 0.0,
        kl_weight: float = 1.0,
        trust_labels: bool = False,
        min_teacher_confidence: float = 0.0,
    ) -> None:
        super().__init__()
        if trainee not in ("student", "teacher", "joint"):
            raise BadConfigError(f"trainee must be student, teacher or joint, got {trainee!r}")
        if distill_weight < 0 or label_weight < 0 or distill_weight + label_weight == 0:
            raise BadConfigError("distill_weight and label_weight must be >= 0 and not both 0")
        self.part = part
        self.trainee = trainee
        self.distill_weight = float(distill_weight)
        self.label_weight = float(label_weight)
        kd: dict[str, Any] = {"kd_weight": 1.0}
        if part in ("recognizer", "classifier"):
            kd["kd_temperature"] = temperature
        if sequence_weight:
            if part != "recognizer":
                raise BadConfigError("sequence_weight (sequence-level distillation) is for the recognizer")
            kd["kd_sequence_weight"] = float(sequence_weight)
        if problem := kd_terms_problem(distill_weight, kl_weight, sequence_weight):
            raise BadConfigError(problem)
        if kl_weight != 1.0:
            if part != "recognizer":
                raise BadConfigError("kl_weight (per-timestep KL inside D) is for the recognizer")
            kd["kd_kl_weight"] = float(kl_weight)
        if trust_labels:
            if part != "recognizer":
                raise BadConfigError(
                    "trust_labels (no KL on lines the teacher misreads) is for the recognizer"
                )
            kd["kd_trust_labels"] = True
        if min_teacher_confidence:
            if part != "recognizer" or not 0 < min_teacher_confidence <= 1:
                raise BadConfigError(
                    "min_teacher_confidence (no KD on unread lines the teacher reads unsurely) is for "
                    f"the recognizer, in (0, 1]; got {min_teacher_confidence!r} for {part}"
                )
            kd["kd_min_confidence"] = float(min_teacher_confidence)
        kwargs = dict(base.get("kwargs") or {})
        self.student_task = TASKS.build(base["name"], **{**kwargs, **kd})
        self.label_task = TASKS.build(base["name"], **kwargs)  # the teacher's own loss (joint/teacher)
        self.teacher = None if trainee != "student" else load_teacher_part(teacher, part)

    def train(self, mode: bool = True) -> Distillation:
        """The loop switches modules to training mode; a frozen teacher stays in eval mode (BatchNorm
        statistics and dropout untouched)."""
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def __call__(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Any]:  # type: ignore[override]
        if self.trainee == "teacher":
            return self._label_only(model, batch)
        if "chunks" in batch:  # width-bucketed lines: one sub-batch per bucket, weighted by line count
            outs = [self(model, c) for c in batch["chunks"]]
            return mean_over_chunks(outs, [float(len(c["image"])) for c in batch["chunks"]])
        if self.trainee == "joint":
            if not isinstance(model, nn.ModuleDict) or set(model) != {"student", "teacher"}:
                raise BadConfigError("trainee 'joint' needs model = ModuleDict(student=..., teacher=...)")
            student, teacher = model["student"], model["teacher"]
        else:
            assert self.teacher is not None
            student, teacher = model, self.teacher
        check_same_classes(student, teacher, self.part)
        out_key = _OUT_KEY.get(self.part, "maps")
        kd_key = _KD_KEY.get(self.part, "teacher_maps")
        t_label = None
        kd_batch = dict(batch)
        if self.trainee == "joint":
            t_label = self.label_task(teacher, batch)
            kd_batch[kd_key] = t_label["logits"] if "logits" in t_label else teacher(batch["image"])[out_key]
        elif self.distill_weight > 0 and kd_key not in batch:
            with torch.no_grad():  # (a batch may carry the teacher's outputs, computed once beforehand)
                kd_batch[kd_key] = teacher(batch["image"])[out_key]
        if self.label_weight == 0 and "labelled" in batch:  # distillation only: no line counts as read
            kd_batch["labelled"] = torch.zeros_like(torch.as_tensor(batch["labelled"], dtype=torch.bool))
        out = dict(self.student_task(student, kd_batch))
        distill = out.get("kd", out["loss"].new_zeros(()))
        label = out["loss"] - distill  # the part task's own (label) loss
        out.update(distill=distill.detach(), label=label.detach())
        out["loss"] = self.distill_weight * distill + self.label_weight * label
        if t_label is not None:
            out["teacher_label"] = t_label["loss"].detach()
            out["loss"] = out["loss"] + t_label["loss"]
        return out

    def _label_only(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Any]:
        out = dict(self.label_task(model, batch))
        out["label"] = out["loss"].detach()
        return out
