"""Pruning a wide CRNN into a student recogniser, and `idsight models prune`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from idsight.artifact import read_meta, sha256_file
from idsight.cli.main import app
from idsight.data.charset import CHARSET
from idsight.errors import BadConfigError
from idsight.models import build_reader, student_arch
from idsight.models.prune import importance, prune_crnn
from idsight.models.reader import ReaderModel
from idsight.models.recognizer import WidthContext, crnn_student
from idsight.ocr.predictor import DEFAULT_PREPROCESSING
from idsight.train.prune import calibration_batch

runner = CliRunner()


def wide(seed: int = 0, *, hidden: int = 24, width: int = 32, classes: int = 11) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = crnn_student(num_classes=classes, hidden=hidden, width=width).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so slicing them matters
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return net


def lines(n: int = 6, w: int = 64, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, 32, w, generator=torch.Generator().manual_seed(seed))


def test_pruning_to_the_same_size_is_the_same_function() -> None:
    net, x = wide(), lines()
    same = prune_crnn(net, x, hidden=24, width=32).eval()
    with torch.no_grad():
        torch.testing.assert_close(same(x)["logits"], net(x)["logits"])


def test_pruned_network_is_a_narrow_student_with_the_same_outputs_shape() -> None:
    net, x = wide(), lines()
    small = prune_crnn(net, x, hidden=10, width=20).eval()
    assert small.rnn.hidden_size == 10 and small.backbone[-3].out_channels == 20
    ref = crnn_student(num_classes=11, hidden=10, width=20)
    assert sum(p.numel() for p in small.parameters()) == sum(p.numel() for p in ref.parameters())
    with torch.no_grad():
        assert small(x)["logits"].shape == net(x)["logits"].shape
    small.train()
    small(x)["logits"].sum().backward()  # a trainable network, gradients everywhere
    assert all(p.grad is not None for p in small.parameters())


def test_units_that_nothing_reads_are_cut_first_and_cutting_them_changes_nothing() -> None:
    net, x = wide(), lines()
    h = net.rnn.hidden_size
    dead_f, dead_b = [3, 7, 11], [0, 5, 23]
    with (
        torch.no_grad()
    ):  # forward units 3, 7, 11 and backward units 0, 5, 23 feed neither the head nor the LSTM
        net.head.weight[:, dead_f] = 0
        net.head.weight[:, [h + j for j in dead_b]] = 0
        net.rnn.weight_hh_l0[:, dead_f] = 0
        net.rnn.weight_hh_l0_reverse[:, dead_b] = 0
    _, fwd, bwd = importance(net, x)
    assert set(fwd.argsort()[:3].tolist()) == set(dead_f)
    assert set(bwd.argsort()[:3].tolist()) == set(dead_b)
    small = prune_crnn(net, x, hidden=h - 3, width=32).eval()
    with torch.no_grad():
        torch.testing.assert_close(small(x)["logits"], net(x)["logits"])


@pytest.mark.parametrize("hidden,width,context", [(25, 32, 0), (24, 33, 0), (0, 33, 2), (-1, 32, 0)])
def test_pruning_only_shrinks(hidden: int, width: int, context: int) -> None:
    with pytest.raises(BadConfigError, match="must shrink"):
        prune_crnn(wide(), lines(), hidden=hidden, width=width, context=context)


@pytest.mark.parametrize("hidden,context", [(0, 0), (10, 2)])
def test_an_lstm_or_context_blocks_never_both_nor_neither(hidden: int, context: int) -> None:
    with pytest.raises(BadConfigError, match="drop the LSTM"):
        prune_crnn(wide(), lines(), hidden=hidden, width=20, context=context)


def test_width_context_blocks_start_as_the_identity() -> None:
    ctx = WidthContext(8, blocks=3).eval()
    x = torch.rand(2, 8, 1, 30)  # a backbone's output: after a ReLU, so >= 0
    with torch.no_grad():
        torch.testing.assert_close(ctx(x), x)
    assert len(ctx.blocks) == 3


def test_pruning_without_the_lstm_fits_the_head_to_the_original() -> None:
    net, x = wide(), lines(n=8, w=96)
    small = prune_crnn(net, x, hidden=0, width=20, context=2).eval()
    assert small.rnn is None and small.context is not None and len(small.context.blocks) == 2
    assert small.backbone[-3].out_channels == 20
    with torch.no_grad():
        ref, got = net(x)["logits"], small(x)["logits"]
    assert got.shape == ref.shape
    # least squares on the calibration lines: better than the best constant (each class's mean logit)
    flat = ref.reshape(-1, ref.shape[-1])
    const_err = (flat - flat.mean(0)).pow(2).mean()
    assert (got - ref).pow(2).mean() < 0.9 * const_err
    small.train()
    small(x)["logits"].sum().backward()
    assert all(p.grad is not None for p in small.parameters())


def test_calibration_lines_are_reproducible_reader_crops() -> None:
    a, b = calibration_batch(8, seed=3), calibration_batch(8, seed=3)
    assert a.shape[:3] == (8, 3, DEFAULT_PREPROCESSING["recognizer_height"])
    assert a.shape[-1] % DEFAULT_PREPROCESSING["recognizer_stride"] == 0
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, calibration_batch(8, seed=4))


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("pair")
    meta = {
        "task": "card_reader",
        "role": "teacher",
        "charset": CHARSET,
        "preprocessing": DEFAULT_PREPROCESSING,
    }
    arch = student_arch(len(CHARSET) + 1)
    arch["recognizer"] = {"name": "crnn_base", "kwargs": {"num_classes": len(CHARSET) + 1}}
    torch.manual_seed(5)
    teacher = build_reader(arch).to_artifact(d / "teacher.safetensors", meta)
    torch.manual_seed(6)
    student = build_reader(student_arch(len(CHARSET) + 1)).to_artifact(
        d / "student.safetensors", {**meta, "role": "student", "provenance": {"command": "test"}}
    )
    return teacher, student


def test_cli_prune_writes_a_student_with_both_parents(pair: tuple[Path, Path], tmp_path: Path) -> None:
    teacher, student = pair
    out = tmp_path / "pruned.safetensors"
    r = runner.invoke(
        app,
        ["models", "prune", "--teacher", str(teacher), "--student", str(student), "--hidden", "64"]
        + ["--width", "96", "--set", "calibration_lines=16", "--set", "holdout=false", "--out", str(out)],
    )
    assert r.exit_code == 0, r.stderr
    model, meta = ReaderModel.from_artifact(out)
    assert meta["arch"]["recognizer"] == {
        "name": "crnn_student",
        "kwargs": {"num_classes": len(CHARSET) + 1, "hidden": 64, "width": 96},
    }
    assert meta["role"] == "student" and meta["charset"] == CHARSET
    assert meta["parent"]["sha256"] == sha256_file(student)
    assert meta["teacher"]["sha256"] == sha256_file(teacher)
    assert meta["config"]["prune"]["calibration_lines"] == 16
    assert "models prune" in meta["provenance"]["command"]
    t, _ = ReaderModel.from_artifact(teacher)
    s, _ = ReaderModel.from_artifact(student)
    for part in ("localizer", "classifier", "detector"):  # the student's, untouched
        for (k, v), w in zip(
            getattr(model, part).state_dict().items(), getattr(s, part).state_dict().values(), strict=True
        ):
            torch.testing.assert_close(v, w, msg=k)
    # the trunk before the cut is the teacher's
    torch.testing.assert_close(model.recognizer.backbone[0][0].weight, t.recognizer.backbone[0][0].weight)
    assert read_meta(out)["parameter_count"] < read_meta(teacher)["parameter_count"]


def test_cli_prune_refuses_growing_and_writes_nothing(pair: tuple[Path, Path], tmp_path: Path) -> None:
    teacher, student = pair
    out = tmp_path / "pruned.safetensors"
    r = runner.invoke(
        app,
        ["models", "prune", "--teacher", str(teacher), "--student", str(student), "--hidden", "500"]
        + ["--set", "holdout=false", "--out", str(out)],
    )
    assert r.exit_code == 2
    lines_ = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines_) == 1 and lines_[0].startswith("error:") and "must shrink" in lines_[0], r.stderr
    assert "Traceback" not in r.stderr and not out.exists()
