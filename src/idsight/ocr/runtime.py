"""Inference runtimes for the reader's four networks: PyTorch as loaded, or onnxruntime.

The ONNX graphs are exported in memory from the one artifact when the reader is loaded (once, at
start-up), so the artifact stays a single file and no second copy of the weights can drift from it.
Both runtimes give the reader the same thing: an object with ``localizer``, ``classifier``,
``detector`` and ``recognizer`` callables that map an image tensor to the network's output dict.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from idsight.models.reader import PARTS, ReaderModel
from idsight.registry import RUNTIMES

ONEDNN_CACHE = 16384


def reading_process() -> None:
    """Size oneDNN's kernel cache for a process that reads cards and trains nothing (``idsight read``,
    a server, the speed benchmarks). Call it before anything runs a convolution.

    Line crops come in many widths, and oneDNN (PyTorch's CPU kernels) builds a kernel per input
    shape and layer: its default cache of 1,024 then thrashes and the PyTorch reader runs about a
    third slower. The setting is process-wide and is read once, when oneDNN first runs. A training
    process must keep the default: with the large cache the demo's distillation epochs took 79 s
    instead of 28 s. An explicit ``ONEDNN_PRIMITIVE_CACHE_CAPACITY`` is left as it is.
    """
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(ONEDNN_CACHE))


@RUNTIMES.register("torch")
def torch_runtime(*, model: ReaderModel, threads: int | None = None) -> ReaderModel:
    """The PyTorch modules in eval mode, each BatchNorm folded into the convolution before it (a
    copy, traced with ``torch.fx``: the same function with half the kernels, which is what small
    networks on one thread pay for). A part that cannot be traced is used as it is.
    ``threads`` is left to ``torch.set_num_threads``; see :func:`reading_process` for oneDNN's cache."""
    model = model.eval()
    parts = {p: _folded(getattr(model, p)) for p in PARTS}
    return ReaderModel(**parts, arch=model.arch).eval()


def _folded(net: torch.nn.Module) -> torch.nn.Module:
    from torch.fx.experimental.optimization import fuse

    if not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules()):
        return net
    try:
        return fuse(net)  # (a copy; the loaded model is untouched)
    except Exception:  # noqa: BLE001  (not traceable: keep the module as it is)
        return net


class OrtNet:
    """One exported network in an onnxruntime session, called like the PyTorch module it came from."""

    def __init__(self, graph: bytes, output: str, *, threads: int) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])
        self.output = output

    def __call__(self, image: Tensor) -> dict[str, Tensor]:
        x = image.detach().to("cpu", torch.float32).contiguous().numpy()
        (y,) = self.session.run(None, {"image": x})
        return {self.output: torch.from_numpy(y)}


class OnnxReader:
    """Stands in for :class:`ReaderModel` at inference time; each part is an :class:`OrtNet`."""

    def __init__(self, parts: dict[str, OrtNet]) -> None:
        self.localizer = parts["localizer"]
        self.classifier = parts["classifier"]
        self.detector = parts["detector"]
        self.recognizer = parts["recognizer"]


class TimedNetworks:
    """A runtime's four networks, each call timed: ``ms`` sums the wall time spent inside them (the
    rest of a read is the classical work both teacher and student share: warps, crops, decoding)."""

    def __init__(self, model: Any) -> None:
        self.ms = 0.0
        self.localizer = self._timed(model.localizer)
        self.classifier = self._timed(model.classifier)
        self.detector = self._timed(model.detector)
        self.recognizer = self._timed(model.recognizer)

    def _timed(self, net: Any) -> Callable[[Tensor], dict[str, Tensor]]:
        def call(image: Tensor) -> dict[str, Tensor]:
            t0 = time.perf_counter()
            try:
                return net(image)
            finally:
                self.ms += (time.perf_counter() - t0) * 1e3

        return call


@RUNTIMES.register("onnx")
def onnx_runtime(*, model: ReaderModel, threads: int | None = None) -> OnnxReader:
    """Export each network to ONNX in memory and open it in onnxruntime (``threads``: default
    ``torch.get_num_threads()``, so ``--threads`` means the same for both runtimes)."""
    from idsight.export import KINDS, onnx_bytes

    n = threads or torch.get_num_threads()  # (the export itself runs each network in eval mode)
    parts: dict[str, Any] = {
        p: OrtNet(onnx_bytes(getattr(model, p), p), KINDS[p]["output"], threads=n) for p in PARTS
    }
    return OnnxReader(parts)
