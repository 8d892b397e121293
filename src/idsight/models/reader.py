"""The reader model: card-mask localiser + template classifier + field-line detector + line recogniser in one module.

A reader is described by an ``arch`` dict naming a registered builder for each part::

    {"localizer": {"name": "unet_student", "kwargs": {"num_classes": 1}},
     "classifier": {"name": "tplcls_small", "kwargs": {}},
     "detector": {"name": "unet_teacher", "kwargs": {}},
     "recognizer": {"name": "crnn_teacher", "kwargs": {"num_classes": 1000}}}

and is stored as one artifact file (:mod:`idsight.artifact`) whose metadata holds ``arch`` and
``parameter_count`` next to whatever the caller puts in (charset, preprocessing, provenance, metrics).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, cast

from torch import nn

import idsight.models.classifier
import idsight.models.detector
import idsight.models.recognizer  # noqa: F401  (register the builders)
from idsight.artifact import load_artifact, save_artifact
from idsight.errors import BadConfigError, BadModelError, IdsightError
from idsight.registry import MODELS

PARTS: tuple[str, ...] = ("localizer", "classifier", "detector", "recognizer")


def count_parameters(module: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (buffers such as BatchNorm statistics are not counted)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def _check_arch(arch: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(arch, dict):
        raise BadConfigError(f"model arch must be a mapping, got {type(arch).__name__}")
    missing = [p for p in PARTS if p not in arch]
    if missing:
        raise BadConfigError(f"model arch lacks {', '.join(missing)}")
    out: dict[str, dict[str, Any]] = {}
    for part in PARTS:
        spec = arch[part]
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise BadConfigError(f"model arch {part!r} must be {{'name': str, 'kwargs': {{...}}}}")
        kwargs = spec.get("kwargs") or {}
        if not isinstance(kwargs, dict):
            raise BadConfigError(f"model arch {part!r} kwargs must be a mapping")
        out[part] = {"name": spec["name"], "kwargs": dict(kwargs)}
    return out


class ReaderModel(nn.Module):
    """Holds the three networks; the pipeline calls them separately (no joint ``forward``)."""

    def __init__(
        self,
        *,
        localizer: nn.Module,
        classifier: nn.Module,
        detector: nn.Module,
        recognizer: nn.Module,
        arch: dict,
    ) -> None:
        super().__init__()
        self.localizer = localizer
        self.classifier = classifier
        self.detector = detector
        self.recognizer = recognizer
        self.arch = copy.deepcopy(arch)

    @property
    def num_classes(self) -> int:
        """Recogniser output size (charset length + 1 for the CTC blank)."""
        return int(cast(int, self.recognizer.num_classes))

    def part_parameters(self) -> dict[str, int]:
        return {p: count_parameters(getattr(self, p)) for p in PARTS}

    def to_artifact(
        self, path: str | Path, meta: dict[str, Any] | None = None, *, dtype: str = "float16"
    ) -> Path:
        """Save weights + ``meta`` (plus ``arch``, ``parameter_count``, ``parameters``) to one file."""
        full = {
            **(meta or {}),
            "arch": self.arch,
            "parameter_count": count_parameters(self),
            "parameters": self.part_parameters(),
        }
        return save_artifact(path, self.state_dict(), full, dtype=dtype)

    @classmethod
    def from_artifact(cls, path: str | Path) -> tuple[ReaderModel, dict[str, Any]]:
        """Load an artifact (strictly) into a new model in eval mode; any problem -> BadModelError."""
        state, meta = load_artifact(path)
        if "arch" not in meta:
            raise BadModelError("artifact metadata has no 'arch'; not a reader model", path=path)
        try:
            model = build_reader(meta["arch"])
        except (IdsightError, TypeError, ValueError) as e:
            raise BadModelError(f"cannot build the model this artifact describes ({e})", path=path) from None
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            detail = " ".join(str(e).split())
            raise BadModelError(
                f"weights do not fit the model architecture ({detail[:300]})", path=path
            ) from None
        if "charset" in meta:
            check_charset(meta["charset"], model.num_classes, path)
        model.eval()
        return model, meta


def check_charset(charset: Any, num_classes: int, path: str | Path) -> str:
    """``charset`` if it fits a recogniser of ``num_classes`` outputs (one per character + the blank)."""
    if not isinstance(charset, str) or not charset:
        raise BadModelError(f"the charset is a {type(charset).__name__}, not a non-empty string", path=path)
    if len(charset) + 1 != num_classes:
        raise BadModelError(
            f"the charset has {len(charset)} characters but the recogniser has {num_classes} outputs "
            f"(it needs {num_classes - 1} characters + the CTC blank)",
            path=path,
        )
    return charset


def build_reader(arch: dict[str, Any]) -> ReaderModel:
    """Build a :class:`ReaderModel` from an ``arch`` dict (see the module docstring)."""
    arch = _check_arch(arch)
    parts = {p: MODELS.build(arch[p]["name"], **arch[p]["kwargs"]) for p in PARTS}
    return ReaderModel(**parts, arch=arch)


def teacher_arch(num_classes: int) -> dict[str, Any]:
    return {
        "localizer": {"name": "unet_student", "kwargs": {"num_classes": 1}},
        "classifier": {"name": "tplcls_small", "kwargs": {}},
        "detector": {"name": "resnet18_lines", "kwargs": {}},
        "recognizer": {"name": "crnn_base", "kwargs": {"num_classes": num_classes, "dropout": 0.0}},
    }


def student_arch(num_classes: int) -> dict[str, Any]:
    return {
        "localizer": {"name": "unet_tiny", "kwargs": {"num_classes": 1}},
        "classifier": {"name": "tplcls_small", "kwargs": {}},
        "detector": {"name": "unet_tiny", "kwargs": {}},
        "recognizer": {"name": "crnn_student", "kwargs": {"num_classes": num_classes}},
    }
