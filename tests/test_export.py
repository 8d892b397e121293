"""ONNX export: checker-valid graphs whose outputs match PyTorch (fp32, 1e-4)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from idsight.export import export_onnx, export_reader
from idsight.models import build_reader, student_arch, teacher_arch
from idsight.models.reader import PARTS
from idsight.models.recognizer import crnn_conv

torch.set_num_threads(1)


def _session(path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _prepare(model: torch.nn.Module) -> None:
    """Non-trivial BatchNorm statistics, so parity is tested on realistic activations."""
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    model.eval()


def _check(sess: ort.InferenceSession, net: torch.nn.Module, key: str, x: torch.Tensor) -> None:
    (got,) = sess.run(None, {"image": x.numpy()})
    with torch.no_grad():
        ref = net(x)[key].numpy()
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("arch", [teacher_arch, student_arch])
def test_reader_onnx_parity(arch, tmp_path) -> None:
    model = build_reader(arch(60))
    _prepare(model)
    paths = dict(zip(PARTS, export_reader(model, tmp_path / "onnx"), strict=True))
    assert {p.name for p in paths.values()} == {
        "localizer.onnx",
        "classifier.onnx",
        "detector.onnx",
        "recognizer.onnx",
    }
    assert not model.training
    g = torch.Generator().manual_seed(1)
    rec = _session(paths["recognizer"])
    for b, w in ((1, 48), (2, 328)):  # dynamic batch and width
        _check(rec, model.recognizer, "logits", torch.rand(b, 3, 32, w, generator=g) * 2 - 1)
    _check(
        _session(paths["detector"]), model.detector, "maps", torch.rand(2, 3, 160, 256, generator=g) * 2 - 1
    )
    _check(
        _session(paths["localizer"]), model.localizer, "maps", torch.rand(1, 3, 160, 256, generator=g) * 2 - 1
    )
    _check(
        _session(paths["classifier"]),
        model.classifier,
        "logits",
        torch.rand(3, 3, 96, 152, generator=g) * 2 - 1,
    )


def test_export_prefix_and_errors(tmp_path) -> None:
    model = build_reader(student_arch(20)).train()
    paths = dict(zip(PARTS, export_reader(model, tmp_path / "reader.v1.x"), strict=True))
    assert paths["detector"].name == "reader.v1.x.detector.onnx" and paths["detector"].exists()
    assert model.training  # export restores the mode
    with pytest.raises(ValueError):
        export_onnx(model.detector, "segmenter", tmp_path / "x.onnx")


def test_conv_recognizer_onnx_parity(tmp_path) -> None:
    """The LSTM-free student recogniser (dilated width convolutions) exports with dynamic width."""
    net = crnn_conv(num_classes=29, width=24, context=3)
    _prepare(net)
    sess = _session(export_onnx(net, "recognizer", tmp_path / "recognizer.onnx"))
    g = torch.Generator().manual_seed(2)
    for b, w in ((1, 8), (3, 260)):
        _check(sess, net, "logits", torch.rand(b, 3, 32, w, generator=g) * 2 - 1)
