"""ONNX export of the reader's three networks (the deployment format; the artifact stays one
safetensors file).

Uses the TorchScript-based exporter (``dynamo=False``), opset 17, which handles the recogniser's
LSTM with a dynamic width. Inputs are named ``image``; outputs ``logits`` (recogniser, classifier)
or ``maps`` (detector). Dynamic axes: batch for all three, and width/time for the recogniser.
"""

from __future__ import annotations

import logging
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
    "text_detector": {  # the layout-free reader's text-line map, on the rectified card (W 640, H 416)
        "shape": (1, 3, 416, 640),
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


INT8_OPS = ["MatMul", "Gemm", "LSTM"]  # int8 convolutions (ConvInteger) lose the thin text maps


def quantize_int8(graph: bytes) -> bytes:
    """Dynamic int8 quantisation (onnxruntime's: int8 weights of MatMul, Gemm and LSTM, activations
    quantised at run time); convolutions stay float."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="idsight-int8-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(graph)
        logging.disable(logging.WARNING)  # its advice to pre-process the graph, on the root logger
        try:
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=INT8_OPS)
        finally:
            logging.disable(logging.NOTSET)
        return dst.read_bytes()


def line_reader_graphs(reader: object, *, int8: bool = False, opset: int = 17) -> dict[str, bytes]:
    """The ONNX graphs of a layout-free reader with idsight's own networks (``LayoutFreeReader`` whose
    detector is the ``db`` detector and whose recogniser is a ``CRNNRecognizer``): ``detector``,
    ``localizer`` (when it has one) and ``recognizer``, each int8-quantised when ``int8``."""
    from idsight.errors import BadModelError

    det = getattr(reader, "detector", None)
    det_net = getattr(det, "net", None)
    rec_net = getattr(getattr(reader, "recognizer", None), "net", None)
    if not isinstance(det_net, nn.Module) or not isinstance(rec_net, nn.Module):
        raise BadModelError("only a layout-free reader of idsight's own networks exports (not PP-OCR's)")
    nets: dict[str, tuple[nn.Module, str]] = {
        "detector": (det_net, "text_detector"),
        "recognizer": (rec_net, "recognizer"),
    }
    loc = getattr(det, "localizer", None)
    if loc is not None:
        nets["localizer"] = (loc.net, "localizer")
    graphs = {name: onnx_bytes(net, kind, opset=opset) for name, (net, kind) in nets.items()}
    return {k: quantize_int8(g) for k, g in graphs.items()} if int8 else graphs


def export_line_reader(reader: object, out: str | Path, *, int8: bool = False, opset: int = 17) -> list[Path]:
    """Write ``<out>/<part>.onnx`` (``<part>.int8.onnx`` when ``int8``) for each network of a
    layout-free reader; the content assignment and the specs need no network."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, graph in line_reader_graphs(reader, int8=int8, opset=opset).items():
        p = out / f"{name}{'.int8' if int8 else ''}.onnx"
        p.write_bytes(graph)
        onnx.checker.check_model(str(p))
        paths.append(p)
    return paths
