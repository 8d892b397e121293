"""``idsight models prune``: a student whose recogniser is the teacher's, cut narrower.

The new artifact keeps the student's localiser, classifier and detector whole (they cost the
student nothing on the held-out set: see the README) and replaces its recogniser with the
teacher's, pruned (:func:`idsight.models.prune.prune_crnn`) to ``hidden`` LSTM units and ``width``
backbone channels on rendered calibration lines. ``idsight distill --student <it>`` then recovers
what the cut lost. The artifact records both parents, the config and its held-out score.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from idsight.errors import BadConfigError
from idsight.templates import TEMPLATE_NAMES


class PruneConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    teacher: str = Field(default="idsight-reader-teacher", description="whose recogniser is cut")
    student: str = Field(default="idsight-reader-student", description="whose other parts are kept")
    hidden: int = Field(default=160, ge=0, description="LSTM units per direction to keep (0: no LSTM)")
    width: int = Field(default=224, gt=0, description="backbone output channels to keep")
    context: int = Field(default=0, ge=0, description="with hidden 0: width-convolution blocks instead")
    calibration_lines: int = Field(default=192, ge=8, description="rendered lines that rank the units")
    seed: int = Field(default=0, ge=0)
    holdout: bool = Field(default=True, description="score the result on the fixed held-out set")


def calibration_batch(n: int, seed: int) -> torch.Tensor:
    """``n`` rendered lines of every template in turn, normalised and right-padded into one batch."""
    import numpy as np

    from idsight.ocr.predictor import DEFAULT_PREPROCESSING as PRE
    from idsight.ocr.predictor import line_batch
    from idsight.train.distill import rendered_line

    rng = np.random.default_rng([seed, 11])
    crops = [rendered_line(rng, template=TEMPLATE_NAMES[i % len(TEMPLATE_NAMES)])[0] for i in range(n)]
    return line_batch(crops, PRE["mean"], PRE["std"])


def prune_student(cfg: PruneConfig, out: str | Path, *, argv: list[str] | None = None) -> Path:
    """Write the pruned student (see the module docstring); returns its path."""
    from idsight.models.prune import prune_crnn
    from idsight.models.recognizer import CRNN
    from idsight.train.distill import _reader, check_compatible
    from idsight.train.recipes import parent_record, provenance

    out = Path(out)
    teacher, t_meta, t_path = _reader(cfg.teacher)
    student, s_meta, s_path = _reader(cfg.student)
    check_compatible(t_meta, s_meta, t_path, s_path)
    if not isinstance(teacher.recognizer, CRNN):
        raise BadConfigError(f"the teacher {t_path.name}'s recogniser is not a CRNN", path=t_path)
    lines = calibration_batch(cfg.calibration_lines, cfg.seed)
    student.recognizer = prune_crnn(
        teacher.recognizer, lines, hidden=cfg.hidden, width=cfg.width, context=cfg.context
    ).eval()
    kwargs = {"num_classes": teacher.num_classes, "width": cfg.width}
    student.arch["recognizer"] = (
        {"name": "crnn_student", "kwargs": {**kwargs, "hidden": cfg.hidden}}
        if cfg.hidden
        else {"name": "crnn_conv", "kwargs": {**kwargs, "context": cfg.context}}
    )
    meta: dict[str, Any] = {
        **{k: s_meta[k] for k in ("task", "role", "charset", "preprocessing") if k in s_meta},
        "config": {"prune": cfg.model_dump(mode="json"), "parent_config": s_meta.get("config")},
        "parent": parent_record(s_path, "localiser, classifier and detector from", s_meta),
        "teacher": parent_record(
            t_path,
            f"recogniser pruned from ({cfg.hidden} units, {cfg.width} channels, {cfg.context} context blocks)",
        ),
        "provenance": provenance(argv),
    }
    student.to_artifact(out, meta, dtype=s_meta.get("storage_dtype", "float16"))
    if cfg.holdout:
        from idsight.train.holdout import record_holdout

        record_holdout(out)
    print(f"[prune] wrote {out}", flush=True)
    return out
