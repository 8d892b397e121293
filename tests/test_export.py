"""ONNX export: checker-valid graphs whose outputs match PyTorch (fp32, 1e-4)."""

from __future__ import annotations

import cv2
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


def test_layout_free_student_onnx_and_int8_parity(tmp_path) -> None:  # noqa: ANN001
    import json

    import onnx
    import torch
    from typer.testing import CliRunner

    from idsight.cli.main import app
    from idsight.data.io import load_image
    from idsight.data.synth.compose import write_composed
    from idsight.ocr.layoutfree import crop_quad, load_line_reader
    from idsight.ocr.predictor import fit_height, pad_batch, to_tensor

    model = "src/idsight/assets/models/idsight-reader-open-student.safetensors"
    res = CliRunner().invoke(app, ["export", model, "--out", str(tmp_path / "o"), "--int8"])
    assert res.exit_code == 0, res.output
    files = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert files == ["detector.int8.onnx", "localizer.int8.onnx", "recognizer.int8.onnx"]
    for f in files:
        onnx.checker.check_model(str(tmp_path / "o" / f))
    for args, needle in (
        (["--format", "tflite"], "unknown export format 'tflite'"),
        (["--int8"], "--int8 is for layout-free readers"),
    ):
        target = model if "--format" in args else "idsight-reader-student"
        res = CliRunner().invoke(app, ["export", target, "--out", str(tmp_path / "x"), *args])
        assert res.exit_code == 2 and needle in res.output and not (tmp_path / "x").exists()
    onto = tmp_path / "file.onnx"
    onto.write_bytes(b"kept")
    res = CliRunner().invoke(app, ["export", model, "--out", str(onto)])
    assert res.exit_code == 2 and "file.onnx: not a folder" in res.output and onto.read_bytes() == b"kept"
    labels = write_composed(["td1", "kr-rrc"], 2, tmp_path / "c", seed=21, photo_fraction=0.0)
    names = [json.loads(x)["image"] for x in labels.read_text(encoding="utf-8").splitlines()]
    images = [load_image(tmp_path / "c" / n) for n in names]
    readers = {rt: load_line_reader(model, runtime=rt) for rt in ("torch", "onnx", "onnx-int8")}
    # the networks: fp32 ONNX matches PyTorch closely; int8 keeps the recogniser's best characters
    det = readers["torch"].detector
    from idsight.data.textmaps import INPUT_SIZE, MEAN, STD

    x = to_tensor(cv2.resize(images[0], INPUT_SIZE), MEAN, STD)[None]
    with torch.no_grad():
        ref = det.net(x)["maps"].numpy()
    assert np.abs(readers["onnx"].detector.net(x)["maps"].numpy() - ref).max() < 1e-3
    rec = readers["torch"].recognizer
    crops = [crop_quad(images[0], q) for q, _ in det(images[0])]
    batch = pad_batch([to_tensor(fit_height(c, rec.pre), rec.pre["mean"], rec.pre["std"]) for c in crops])
    with torch.no_grad():
        logits = rec.net(batch)["logits"].numpy()
    assert np.abs(readers["onnx"].recognizer.net(batch)["logits"].numpy() - logits).max() < 1e-3
    q = readers["onnx-int8"].recognizer.net(batch)["logits"].numpy()
    assert (q.argmax(-1) == logits.argmax(-1)).mean() >= 0.99
    # whole reads: ONNX gives PyTorch's fields

    def fields(rt: str) -> list[dict]:
        return [{k: v["text"] for k, v in readers[rt].read(im).fields.items()} for im in images]

    assert fields("onnx") == fields("torch")
