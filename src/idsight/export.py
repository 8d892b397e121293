"""ONNX export of the reader's three networks (the deployment format; the artifact stays one
safetensors file).

Uses the TorchScript-based exporter (``dynamo=False``), opset 17, which handles the recogniser's
LSTM with a dynamic width. Inputs are named ``image``; outputs ``logits`` (recogniser, classifier)
or ``maps`` (detector). Dynamic axes: batch for all three, and width/time for the recogniser.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import onnx
import torch
from torch import Tensor, nn

from idsight.models.classifier import INPUT_SIZE as CLS_SIZE
from idsight.models.detector import INPUT_SIZE as DET_SIZE
from idsight.models.reader import PARTS, ReaderModel

KINDS: dict[str, dict] = {
    "recognizer": {
        "shape": (1, 3, 32, 128),
        "output": "logits",
        "axes": {"image": {0: "batch", 3: "width"}, "logits": {0: "batch", 1: "time"}},
    },
    "detector": {
        "shape": (1, 3, *DET_SIZE),
        "output": "maps",
        "axes": {"image": {0: "batch"}, "maps": {0: "batch"}},
    },
    "localizer": {
        "shape": (1, 3, *DET_SIZE),
        "output": "maps",
        "axes": {"image": {0: "batch"}, "maps": {0: "batch"}},
    },
    "classifier": {
        "shape": (1, 3, *CLS_SIZE),
        "output": "logits",
        "axes": {"image": {0: "batch"}, "logits": {0: "batch"}},
    },
}


class _Unwrap(nn.Module):
    """Return the one tensor of the dict output, so the ONNX graph has a plain named output."""

    def __init__(self, net: nn.Module, key: str) -> None:
        super().__init__()
        self.net = net
        self.key = key

    def forward(self, image: Tensor) -> Tensor:
        return self.net(image)[self.key]


def _export(module: nn.Module, kind: str, f: str, opset: int) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown export kind {kind!r} (known: {', '.join(KINDS)})")
    spec = KINDS[kind]
    was_training = module.training
    module.eval()
    try:
        param = next(module.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        dummy = torch.rand(*spec["shape"], device=device) * 2 - 1
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Unwrap(module, spec["output"]),
                (dummy,),
                f,
                input_names=["image"],
                output_names=[spec["output"]],
                dynamic_axes=spec["axes"],
                opset_version=opset,
                dynamo=False,
                do_constant_folding=True,
            )
    finally:
        module.train(was_training)


def export_onnx(module: nn.Module, kind: str, path: str | Path, *, opset: int = 17) -> Path:
    """Export one network (``kind``: a key of ``KINDS``) to ``path`` and check it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _export(module, kind, str(path), opset)
    onnx.checker.check_model(str(path))
    return path


def onnx_bytes(module: nn.Module, kind: str, *, opset: int = 17) -> bytes:
    """The checked ONNX graph of one network, in memory (for an onnxruntime session)."""
    with tempfile.TemporaryDirectory(prefix="idsight-onnx-") as tmp:
        path = Path(tmp) / f"{kind}.onnx"
        _export(module, kind, str(path), opset)
        blob = path.read_bytes()
    onnx.checker.check_model(onnx.load_from_string(blob))
    return blob


def export_reader(model: ReaderModel, out: str | Path, *, opset: int = 17) -> list[Path]:
    """Write ``classifier``, ``detector`` and ``recognizer`` ONNX files.

    ``out`` is a directory (existing, or given without a suffix: ``out/<part>.onnx``) or a file
    prefix such as ``models/reader.v1`` (-> ``models/reader.v1.<part>.onnx``). Returns the paths in
    the order classifier, detector, recognizer (``dict(zip(PARTS, paths))`` names them).
    """
    out = Path(out)
    if out.is_dir() or not out.suffix:
        paths = {p: out / f"{p}.onnx" for p in PARTS}
    else:
        paths = {p: out.with_name(f"{out.name}.{p}.onnx") for p in PARTS}
    return [export_onnx(getattr(model, p), p, paths[p], opset=opset) for p in PARTS]
