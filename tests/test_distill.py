"""Distillation from reviews: the task, line capture and targets, simulated reviews, `idsight distill`, the gate."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch import nn
from typer.testing import CliRunner

import idsight.models  # noqa: F401  (registers the networks)
from idsight import hub
from idsight.artifact import load_artifact, read_meta, sha256_file
from idsight.cli.main import app
from idsight.data.charset import CHARSET
from idsight.data.synth import write_cards
from idsight.errors import BadConfigError
from idsight.models import build_reader, student_arch
from idsight.models.reader import ReaderModel
from idsight.ocr.predictor import DEFAULT_PREPROCESSING, CardReader
from idsight.registry import MODELS
from idsight.review.capture import capture, line_targets, png_bytes, result_record, split_lines
from idsight.review.simulate import simulate_reviews, truth_by_image
from idsight.review.store import ReviewStore
from idsight.tasks.distill import Distillation, check_same_classes, load_teacher_part
from idsight.tasks.losses import kd_kl
from idsight.tasks.recognition import CTCRecognition, greedy_targets, teacher_confidence, teacher_reads
from idsight.train.distill import (
    DistillConfig,
    check_compatible,
    distill_argv,
    line_replay,
    load_distill_config,
    teacher_advantage,
)

runner = CliRunner()
C = 20  # a small output space for the task tests
CTC = {"name": "ctc_recognition", "kwargs": {}}
SHIPPED_TEACHER = "idsight-reader-teacher"


def run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def one_line_error(code: int, err: str, expected_code: int, *needles: str) -> str:
    assert code == expected_code, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error:"), lines[0]
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


# -- small networks and batches for the task ------------------------------------------------------------


def recognizers(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    student = MODELS.build("crnn_student", num_classes=C)
    teacher = MODELS.build("crnn_base", num_classes=C, dropout=0.0)
    return student, teacher


def line_batch(labelled: list[bool], *, width: int = 64, seed: int = 1) -> dict[str, Any]:
    g = torch.Generator().manual_seed(seed)
    b = len(labelled)
    lengths = torch.full((b,), 3, dtype=torch.long)
    return {
        "image": torch.randn(b, 3, 32, width, generator=g),
        "targets": torch.randint(1, C, (3 * b,), generator=g),
        "target_lengths": lengths,
        "labelled": torch.tensor(labelled),
    }


def rows(batch: dict[str, Any], idx: list[int]) -> dict[str, Any]:
    """The sub-batch of rows ``idx`` (targets are 3 per row)."""
    t = batch["targets"].view(-1, 3)
    return {
        "image": batch["image"][idx],
        "targets": t[idx].reshape(-1),
        "target_lengths": batch["target_lengths"][idx],
        "labelled": batch["labelled"][idx],
    }


class ColumnTeacher(nn.Module):
    """A sharp, input-dependent teacher: each timestep's class distribution is a function of the colour
    of its 4-pixel column, so a student can only match it by reading the image."""

    num_classes = C

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(3, C)
        with torch.no_grad():
            self.proj.weight.normal_(0, 3.0)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        cols = nn.functional.avg_pool1d(x.mean(2), 4)  # (B, 3, W/4)
        return {"logits": self.proj(cols.transpose(1, 2))}


class MapTeacher(nn.Module):
    """Per-class maps at half resolution, a fixed function of the image."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, 16, 1)
        with torch.no_grad():
            self.proj.weight.normal_(0, 3.0)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"maps": self.proj(nn.functional.avg_pool2d(x, 2))}


class Boom(nn.Module):
    """A teacher that must never be called."""

    num_classes = C

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.calls += 1
        raise AssertionError("the teacher was called")


def blocky(b: int, h: int, w: int, block: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 3, h // block, w // block, generator=g)
    return x.repeat_interleave(block, -1).repeat_interleave(block, -2).contiguous()


def grads(module: nn.Module) -> list[torch.Tensor]:
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in module.parameters()]


# -- 1. the frozen teacher --------------------------------------------------------------------------------


def test_student_step_leaves_teacher_frozen_and_in_eval_mode(random_reader: Path) -> None:
    student, teacher = recognizers()
    task = Distillation(part="recognizer", base=CTC, teacher=teacher)
    assert all(not p.requires_grad for p in teacher.parameters())
    # the loop switches everything to training mode through the parent module: the teacher stays in eval
    holder = nn.ModuleDict({"model": student, "task": task})
    holder.train()
    assert student.training and task.training and not teacher.training
    assert not any(m.training for m in teacher.modules())
    before_t = {k: v.clone() for k, v in teacher.state_dict().items()}
    before_s = {k: v.clone() for k, v in student.state_dict().items()}
    assert any("running_mean" in k for k in before_t)  # BatchNorm buffers are part of the check
    opt = torch.optim.Adam(student.parameters(), lr=1e-3)
    out = task(student, line_batch([True, False, True, False]))
    assert out["distill"] > 0 and out["label"] > 0
    opt.zero_grad()
    out["loss"].backward()
    opt.step()
    assert all(p.grad is None for p in teacher.parameters())
    after_t = teacher.state_dict()
    assert all(torch.equal(before_t[k], after_t[k]) for k in before_t)
    changed = [k for k, v in student.state_dict().items() if not torch.equal(before_s[k], v)]
    assert any(k.endswith("weight") for k in changed)
    assert any("running_mean" in k for k in changed)  # the student's own BN statistics do move
    # a teacher given by artifact path: its part, frozen, in eval mode
    net = load_teacher_part(str(random_reader), "recognizer")
    assert not net.training and all(not p.requires_grad for p in net.parameters())


# -- 2. the labelled mask and the weights ------------------------------------------------------------------


def test_unlabelled_rows_add_only_the_distillation_term() -> None:
    student, teacher = recognizers()
    student.eval()  # deterministic outputs (no dropout) for the exact comparisons below
    task = Distillation(part="recognizer", base=CTC, teacher=teacher, distill_weight=0.7, label_weight=1.3)
    batch = line_batch([False, False, False, False])
    out = task(student, batch)
    with torch.no_grad():
        kd = kd_kl(student(batch["image"])["logits"], teacher(batch["image"])["logits"], temperature=2.0)
    assert float(out["label"]) == 0.0
    assert float(out["loss"]) == pytest.approx(0.7 * float(kd), rel=1e-5)
    assert float(out["distill"]) == pytest.approx(float(kd), rel=1e-5)
    # mixed: the label term is the CTC loss of the labelled rows alone; unlabelled rows' targets do not matter
    mixed = line_batch([True, False, True, False])
    out = task(student, mixed)
    ctc = CTCRecognition()(student, rows(mixed, [0, 2]))["loss"]
    assert float(out["label"]) == pytest.approx(float(ctc), rel=1e-5)
    assert float(out["loss"]) == pytest.approx(0.7 * float(out["distill"]) + 1.3 * float(ctc), rel=1e-5)
    other = dict(mixed, targets=mixed["targets"].clone())
    other["targets"][3:6] = (other["targets"][3:6] % (C - 1)) + 1  # row 1 (unlabelled) changes
    assert float(task(student, other)["label"]) == pytest.approx(float(out["label"]), rel=1e-6)


def test_reviews_only_never_calls_the_teacher() -> None:
    student, _ = recognizers()
    boom = Boom()
    task = Distillation(part="recognizer", base=CTC, teacher=boom, distill_weight=0.0)
    batch = line_batch([True, True])
    out = task(student.eval(), batch)
    assert boom.calls == 0
    assert float(out["loss"]) == pytest.approx(float(CTCRecognition()(student, batch)["loss"]), rel=1e-5)
    with pytest.raises(AssertionError, match="teacher was called"):  # the guard itself works
        Distillation(part="recognizer", base=CTC, teacher=boom)(student, batch)
    assert boom.calls == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"distill_weight": 0.0, "label_weight": 0.0},
        {"distill_weight": -1.0},
        {"label_weight": -0.5},
        {"trainee": "both"},
    ],
)
def test_bad_weights_and_trainee(kwargs: dict[str, Any]) -> None:
    with pytest.raises(BadConfigError):
        Distillation(part="recognizer", base=CTC, teacher=Boom(), **kwargs)


def test_width_buckets_are_weighted_by_line_count() -> None:
    student, teacher = recognizers()
    student.eval()
    task = Distillation(part="recognizer", base=CTC, teacher=teacher)
    a, b = line_batch([True, False, True], width=48, seed=2), line_batch([False], width=96, seed=3)
    out = task(student, {"chunks": [a, b]})
    la, lb = task(student, a), task(student, b)
    for k in ("loss", "distill", "label"):
        assert float(out[k]) == pytest.approx(0.75 * float(la[k]) + 0.25 * float(lb[k]), rel=1e-5)
    assert len(out["preds"]) == 2


def test_greedy_targets_collapse_repeats_drop_blanks_and_stop_at_length() -> None:
    path = torch.tensor([[0, 3, 3, 0, 3, 5, 5, 2], [4, 4, 0, 0, 1, 0, 7, 7]])
    logits = torch.nn.functional.one_hot(path, 9).float() * 5
    targets, lengths = greedy_targets(logits, torch.tensor([8, 5]))
    assert lengths.tolist() == [4, 2]  # row 0: 3 3 | 3 5 5 | 2 -> 3 3 5 2; row 1 stops after 5 steps
    assert targets.tolist() == [3, 3, 5, 2, 4, 1]


def test_teacher_confidence_is_the_least_probable_emitted_character() -> None:
    path = torch.tensor([[0, 3, 3, 0, 5, 0], [0, 0, 0, 0, 0, 0], [2, 0, 0, 0, 0, 4]])
    logits = torch.nn.functional.one_hot(path, 9).float() * 6
    logits[0, 4, 5] = 2.0  # row 0: the 5 is its least sure character
    logits[0, 3, 0] = 0.5  # a blank that is unsure: not a character, does not count
    logits[2, 5, 4] = 1.0  # row 2: the 4 lies past its length (5 steps)
    conf = teacher_confidence(logits, torch.tensor([6, 6, 5]))
    p = logits.softmax(-1)
    assert float(conf[0]) == pytest.approx(float(p[0, 4, 5]))
    assert float(conf[1]) == 0.0  # reads nothing
    assert float(conf[2]) == pytest.approx(float(p[2, 0, 2]))


def test_min_teacher_confidence_drops_every_kd_term_of_doubtful_unread_lines_only() -> None:
    student, teacher = recognizers()
    student.eval()
    teacher.eval()
    batch = line_batch([True, False, False, False])
    with torch.no_grad():
        t_logits = teacher(batch["image"])["logits"]
    conf = teacher_confidence(t_logits, torch.full((4,), t_logits.shape[1]))
    thr = float(conf[1:].median())  # splits the unread rows: some sure, some doubtful
    doubtful = [i for i in (1, 2, 3) if float(conf[i]) < thr]
    kept = [i for i in range(4) if i not in doubtful]
    assert doubtful and len(kept) >= 2
    kw = {"part": "recognizer", "base": CTC, "teacher": teacher, "sequence_weight": 0.5}
    gated = Distillation(**kw, min_teacher_confidence=thr)
    out = gated(student, batch)
    # the same as the ungated task on the kept rows (the labelled row 0 keeps its KL and label)
    ref = Distillation(**kw)(student, rows(batch, kept))
    assert float(out["distill"]) == pytest.approx(float(ref["distill"]), rel=1e-5)
    assert float(out["kd_doubtful"]) == pytest.approx(len(doubtful) / 4)
    # distillation only: no line counts as read, and a doubtful one gets no gradient at all
    x = batch["image"].clone().requires_grad_(True)
    only_kd = Distillation(**kw, label_weight=0.0, min_teacher_confidence=thr)
    only_kd(student, dict(batch, image=x))["loss"].backward()
    assert x.grad is not None
    grads = [float(x.grad[i].abs().sum()) for i in range(4)]
    assert [g == 0.0 for g in grads] == [float(c) < thr for c in conf]
    with pytest.raises(BadConfigError, match="recognizer"):
        Distillation(
            part="detector", base={"name": "line_detection"}, teacher=Boom(), min_teacher_confidence=0.5
        )
    with pytest.raises(BadConfigError, match=r"\(0, 1\]"):
        Distillation(**kw, min_teacher_confidence=1.5)


def test_sequence_kd_is_ctc_on_the_teachers_transcription_for_unread_lines() -> None:
    student, teacher = recognizers()
    student.eval()
    batch = line_batch([True, False, True, False])
    task = Distillation(part="recognizer", base=CTC, teacher=teacher, sequence_weight=0.5)
    out = task(student, batch)
    with torch.no_grad():
        t_logits = teacher(batch["image"])["logits"]
    # the same as plain CTC on rows 1 and 3 with the teacher's greedy transcriptions as their labels
    sub = rows(batch, [1, 3])
    targets, lengths = greedy_targets(t_logits[[1, 3]], torch.full((2,), t_logits.shape[1]))
    seq = CTCRecognition()(
        student, dict(sub, targets=targets, target_lengths=lengths, labelled=lengths > -1)
    )["loss"]
    plain = Distillation(part="recognizer", base=CTC, teacher=teacher)(student, batch)
    assert float(out["distill"]) == pytest.approx(float(plain["distill"]) + 0.5 * float(seq), rel=1e-5)
    assert float(out["label"]) == pytest.approx(float(plain["label"]), rel=1e-6)
    # every line read by a person: the teacher's transcription is not used
    read = line_batch([True, True, True, True])
    assert float(task(student, read)["distill"]) == pytest.approx(
        float(Distillation(part="recognizer", base=CTC, teacher=teacher)(student, read)["distill"]), rel=1e-6
    )
    # distillation only (label_weight 0): no line counts as read, so all of them use it
    kd_only = Distillation(
        part="recognizer", base=CTC, teacher=teacher, label_weight=0.0, sequence_weight=0.5
    )
    assert float(kd_only(student, read)["distill"]) > float(plain["distill"]) + 1e-3
    with pytest.raises(BadConfigError, match="recognizer"):
        Distillation(part="detector", base={"name": "line_detection"}, teacher=Boom(), sequence_weight=1.0)


def test_kl_weight_scales_the_per_timestep_term_and_zero_leaves_the_sequence_term() -> None:
    student, teacher = recognizers()
    student.eval()
    batch = line_batch([True, False, True, False])
    full = Distillation(part="recognizer", base=CTC, teacher=teacher, sequence_weight=0.5)(student, batch)
    half = Distillation(part="recognizer", base=CTC, teacher=teacher, sequence_weight=0.5, kl_weight=0.5)
    out = half(student, batch)
    kl, seq = float(full["kd_kl"]), float(full["kd_seq"])
    assert kl > 0 and seq > 0
    assert float(out["distill"]) == pytest.approx(0.5 * kl + 0.5 * seq, rel=1e-5)
    seq_only = Distillation(part="recognizer", base=CTC, teacher=teacher, sequence_weight=1.0, kl_weight=0.0)
    assert float(seq_only(student, batch)["distill"]) == pytest.approx(seq, rel=1e-5)
    # reviewed lines under sequence-level KD alone: no distillation term at all
    read = line_batch([True, True, True, True])
    assert float(seq_only(student, read)["distill"]) == 0.0
    with pytest.raises(BadConfigError, match="kl_weight"):
        Distillation(part="recognizer", base=CTC, teacher=teacher, kl_weight=0.0)  # D would be empty
    with pytest.raises(BadConfigError, match="recognizer"):
        Distillation(part="detector", base={"name": "line_detection"}, teacher=Boom(), kl_weight=0.5)


# -- 3. the student learns the teacher's distributions ---------------------------------------------------


def test_kd_only_training_matches_the_teachers_characters() -> None:
    torch.manual_seed(0)
    student, teacher = MODELS.build("crnn_student", num_classes=C), ColumnTeacher()
    x = blocky(4, 32, 64, 4)
    batch = {
        "image": x,
        "targets": torch.zeros(0, dtype=torch.long),
        "target_lengths": torch.zeros(4, dtype=torch.long),
        "labelled": torch.zeros(4, dtype=torch.bool),
    }
    task = Distillation(part="recognizer", base=CTC, teacher=teacher, label_weight=0.0)

    def measure() -> tuple[float, float]:
        student.eval()
        with torch.no_grad():
            out = task(student, batch)
            agree = (student(x)["logits"].argmax(-1) == teacher(x)["logits"].argmax(-1)).float().mean()
        student.train()
        return float(out["distill"]), float(agree)

    kd0, agree0 = measure()
    assert teacher(x)["logits"].argmax(-1).unique().numel() > 5  # the target varies along the line
    opt = torch.optim.Adam(student.parameters(), lr=3e-3)
    for _ in range(40):
        loss = task(student, batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    kd1, agree1 = measure()
    assert kd1 < 0.2 * kd0, (kd0, kd1)
    assert agree0 < 0.3 and agree1 > 0.5, (agree0, agree1)


def test_kd_only_training_matches_the_teachers_maps() -> None:
    torch.manual_seed(0)
    student, teacher = MODELS.build("unet_tiny"), MapTeacher()
    batch = {"image": blocky(2, 64, 128, 8), "labelled": torch.zeros(2, dtype=torch.bool)}
    task = Distillation(part="detector", base={"name": "line_detection"}, teacher=teacher, label_weight=0.0)
    opt = torch.optim.Adam(student.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        out = task(student, batch)
        losses.append(float(out["distill"]))
        assert float(out["label"]) == 0.0
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    assert losses[-1] < 0.3 * losses[0], losses


# -- 4. joint training -------------------------------------------------------------------------------------


def test_joint_teacher_learns_only_from_labels() -> None:
    student, teacher = recognizers()
    both = nn.ModuleDict({"student": student, "teacher": teacher})
    task = Distillation(part="recognizer", base=CTC, teacher=nn.Identity(), trainee="joint")
    assert task.teacher is None
    both.train()
    student.eval()  # no dropout: the student's gradients are reproducible
    mixed = line_batch([True, False, True, False])
    out = task(both, mixed)
    assert out["teacher_label"] > 0 and out["distill"] > 0
    out["loss"].backward()
    g_joint = grads(teacher)
    assert any(float(g.abs().sum()) > 0 for g in grads(student))
    both.zero_grad(set_to_none=True)
    CTCRecognition()(teacher, mixed)["loss"].backward()  # the teacher's label loss alone
    for gj, gl in zip(g_joint, grads(teacher), strict=True):
        assert torch.allclose(gj, gl, atol=1e-6, rtol=1e-4)
    assert any(float(g.abs().sum()) > 0 for g in g_joint)
    # no labelled row: the student still learns from the teacher, the teacher gets nothing
    both.zero_grad(set_to_none=True)
    task(both, line_batch([False, False, False]))["loss"].backward()
    assert all(float(g.abs().sum()) == 0 for g in grads(teacher))
    assert any(float(g.abs().sum()) > 0 for g in grads(student))
    with pytest.raises(BadConfigError, match="joint"):
        task(student, mixed)


def test_trainee_teacher_learns_from_labels_alone() -> None:
    _, teacher = recognizers()
    teacher.eval()
    task = Distillation(part="recognizer", base=CTC, teacher=Boom(), trainee="teacher")
    assert task.teacher is None
    batch = line_batch([True, False, True])
    out = task(teacher, batch)
    assert float(out["loss"]) == pytest.approx(float(CTCRecognition()(teacher, rows(batch, [0, 2]))["loss"]))


# -- 5. charsets --------------------------------------------------------------------------------------------


def test_check_same_classes() -> None:
    s20 = MODELS.build("crnn_student", num_classes=20)
    t21 = MODELS.build("crnn_student", num_classes=21)
    with pytest.raises(BadConfigError, match=r"charset sizes \(20 vs 19\)"):
        check_same_classes(s20, t21, "recognizer")
    with pytest.raises(BadConfigError, match="class counts"):
        check_same_classes(s20, t21, "detector")
    check_same_classes(s20, MODELS.build("crnn_student", num_classes=20), "recognizer")
    check_same_classes(s20, nn.Identity(), "recognizer")  # no output size to compare
    task = Distillation(part="recognizer", base=CTC, teacher=t21)
    with pytest.raises(BadConfigError, match="charset"):
        task(s20, line_batch([True]))


def test_check_compatible_names_both_files() -> None:
    pre = dict(DEFAULT_PREPROCESSING)
    t_meta = {"charset": "ABCQ", "preprocessing": pre}
    s_meta = {"charset": "ABCZ", "preprocessing": pre}
    t, s = Path("big-teacher.safetensors"), Path("small-student.safetensors")
    with pytest.raises(BadConfigError) as e:
        check_compatible(t_meta, s_meta, t, s)
    msg = str(e.value)
    assert "big-teacher" in msg and "small-student" in msg and "charsets" in msg
    assert "'Q'" in msg and "'Z'" in msg
    other = {"charset": "ABCQ", "preprocessing": {**pre, "recognizer_height": 48}}
    with pytest.raises(BadConfigError, match="recognizer_height"):
        check_compatible(t_meta, other, t, s)
    check_compatible(t_meta, dict(t_meta), t, s)


def test_teacher_advantage_compares_scores_on_the_same_cards() -> None:
    val = {"data": ["a", "b"], "field_exact_match": 0.8}
    t = {"metrics": {"val": val}}
    assert teacher_advantage(t, {"metrics": {"val": {**val, "field_exact_match": 0.85}}}) == pytest.approx(
        -0.05
    )
    assert teacher_advantage(t, {"metrics": {"val": {**val, "field_exact_match": 0.7}}}) == pytest.approx(0.1)
    assert teacher_advantage(t, {"metrics": {"val": {"data": ["c"], "field_exact_match": 0.1}}}) is None
    assert teacher_advantage(t, {}) is None
    shipped = [read_meta(hub.resolve(n)) for n in ("idsight-reader-teacher", "idsight-reader-student")]
    assert teacher_advantage(*shipped) is not None  # both shipped files were scored on the same cards


def test_cli_refuses_teacher_with_another_charset(tmp_path: Path, idsight_home: Path) -> None:
    charset = CHARSET[:-2]
    torch.manual_seed(3)
    meta = {"task": "card_reader", "charset": charset, "preprocessing": DEFAULT_PREPROCESSING}
    teacher = build_reader(student_arch(len(charset) + 1)).to_artifact(tmp_path / "short.safetensors", meta)
    torch.manual_seed(4)
    meta = {"task": "card_reader", "charset": CHARSET, "preprocessing": DEFAULT_PREPROCESSING}
    student = build_reader(student_arch(len(CHARSET) + 1)).to_artifact(tmp_path / "full.safetensors", meta)
    out = tmp_path / "new.safetensors"
    code, _, err = run(
        "distill", "--teacher", str(teacher), "--student", str(student), "--synthetic", "2", "--out", str(out)
    )
    one_line_error(code, err, 2, "charset", "short", "full")
    assert not out.exists()


# -- cards and a reader that finds them -----------------------------------------------------------------


@pytest.fixture(scope="module")
def card_reader(random_reader: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The random reader, with its card localiser forced to the whole frame (flat scans): a random model
    finds no card, this one reads every line of a forced template (randomly)."""
    model, meta = ReaderModel.from_artifact(random_reader)
    with torch.no_grad():
        model.localizer.head.weight.zero_()
        model.localizer.head.bias.fill_(20.0)
    return model.to_artifact(tmp_path_factory.mktemp("reader") / "card-reader.safetensors", meta)


@pytest.fixture(scope="module")
def cards(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cards")
    for tpl in ("kr-rrc", "td1"):
        write_cards(tpl, 2, root / tpl, photo=False, seed=11, font_pool="shifted")
    return {tpl: root / tpl for tpl in ("kr-rrc", "td1")}


def labels(d: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (d / "labels.jsonl").read_text(encoding="utf-8").splitlines()]


def decode(png: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


# -- 6. capture and line targets ----------------------------------------------------------------------------


def test_capture_stores_crops_and_line_targets_follow_reviews(
    tmp_path: Path, card_reader: Path, cards: dict[str, Path]
) -> None:
    from idsight.data.io import load_image

    reader = CardReader.load(card_reader)
    rec = labels(cards["td1"])[0]
    image = load_image(cards["td1"] / rec["image"])
    res = reader.read(image, template="td1", name="card.png")
    assert set(res.lines) == {"document_number", "surname", "given_names", "sex", "nationality"} | {
        "date_of_birth",
        "date_of_expiry",
        "mrz_1",
        "mrz_2",
        "mrz_3",
    }
    sha = sha256_file(card_reader)
    with ReviewStore(f"sqlite:///{tmp_path / 'r.db'}") as store:
        rid = capture(store, res, model_name="card-reader", model_sha256=sha, image=image)
        read = store.get(rid)
        assert read.image_png is None  # the store does not keep images
        assert set(read.crops) == set(res.lines)
        for k, png in read.crops.items():
            assert png.startswith(b"\x89PNG") and np.array_equal(decode(png), res.lines[k].crop)
        assert read.fields["mrz"]["lines"] == {k: res.lines[k].text for k in ("mrz_1", "mrz_2", "mrz_3")}
        assert result_record(res)["fields"]["surname"]["lines"] == {"surname": res.lines["surname"].text}
        assert all(v is None for v in line_targets(read).values())  # nothing reviewed yet
        truth = rec["fields"]
        store.submit_review(
            rid,
            "ann",
            {
                "surname": {"status": "confirmed", "text": None},
                "mrz": {"status": "corrected", "text": truth["mrz"]},
                "date_of_birth": {"status": "corrected", "text": truth["date_of_birth"]},
            },
        )
        targets = line_targets(store.get(rid))
    assert set(targets) == set(res.lines)
    assert targets["surname"] == res.lines["surname"].text  # confirmed: what the model read
    assert [targets[f"mrz_{i}"] for i in (1, 2, 3)] == truth["mrz"].split("\n")
    assert [targets[f"mrz_{i}"] for i in (1, 2, 3)] == [rec["lines"][f"mrz_{i}"]["text"] for i in (1, 2, 3)]
    # the field is kept ISO, the line is printed "DD MM YYYY": the crop's target is the printed text
    assert targets["date_of_birth"] == rec["lines"]["date_of_birth"]["text"] != truth["date_of_birth"]
    reviewed = {"surname", "mrz_1", "mrz_2", "mrz_3", "date_of_birth"}
    assert all(v is None for k, v in targets.items() if k not in reviewed)
    with ReviewStore(f"sqlite:///{tmp_path / 'img.db'}", keep_images=True) as kept:
        stored = kept.get(capture(kept, res, model_name="card-reader", model_sha256=sha, image=image))
        assert stored.image_png is not None and np.array_equal(decode(stored.image_png), image)


def kr_read(store: ReviewStore) -> str:
    blank = png_bytes(np.full((32, 64, 3), 200, np.uint8))
    lines = {
        "name": "홍길동",
        "address_1": "서울특별시 종로구",
        "address_2": "세종대로 1",
        "issue_date": "2017. 9. 23.",
    }
    fields = {
        "name": {"text": "홍길동", "lines": {"name": "홍길동"}},
        "address": {
            "text": "서울특별시 종로구 세종대로 1",
            "lines": {"address_1": lines["address_1"], "address_2": lines["address_2"]},
        },
        "issue_date": {"text": "2017-09-23", "lines": {"issue_date": lines["issue_date"]}},
    }
    for f in fields.values():
        f.update(confidence=0.5, box=None)
    result = {"image": "kr.png", "template": "kr-rrc", "fields": fields, "checks": {}, "corrections": []}
    return store.add_read(
        result, model_name="m", model_sha256="ab" * 32, crops={k: blank for k in lines}, image_png=None
    )


def test_line_targets_split_addresses_and_format_dates(tmp_path: Path) -> None:
    with ReviewStore(f"sqlite:///{tmp_path / 'r.db'}") as store:
        rid = kr_read(store)
        ok = {"status": "confirmed", "text": None}
        store.submit_review(
            rid,
            "ann",
            {"address": ok, "issue_date": ok, "name": {"status": "corrected", "text": "김철수"}},
        )
        assert line_targets(store.get(rid)) == {
            "name": "김철수",
            "address_1": "서울특별시 종로구",
            "address_2": "세종대로 1",
            "issue_date": "2017. 9. 23.",  # confirmed "2017-09-23", printed as on the card
        }
        # a second opinion: the latest verdict wins; the corrected address splits at the model's word split
        store.submit_review(
            rid,
            "bob",
            {
                "address": {"status": "corrected", "text": "서울특별시 중구 세종대로 110 2층"},
                "issue_date": {"status": "corrected", "text": "2018-01-05"},
            },
        )
        t = line_targets(store.get(rid))
        assert (t["address_1"], t["address_2"]) == ("서울특별시 중구", "세종대로 110 2층")
        assert t["issue_date"] == "2018. 1. 5."
        # a correction too short to fill both lines: the address lines stay unlabelled
        store.submit_review(rid, "cat", {"address": {"status": "corrected", "text": "서울특별시 중구"}})
        t = line_targets(store.get(rid))
        assert t["address_1"] is None and t["address_2"] is None and t["name"] == "김철수"


def test_split_lines() -> None:
    assert split_lines("ABC", ("surname",), {}, " ") == {"surname": "ABC"}
    mrz = ("mrz_1", "mrz_2", "mrz_3")
    assert split_lines("A\nB\nC", mrz, {}, "\n") == {"mrz_1": "A", "mrz_2": "B", "mrz_3": "C"}
    assert split_lines("A\nB", mrz, {}, "\n") == {}  # the wrong number of lines: no target at all
    keys = ("address_1", "address_2")
    pred = {"address_1": "a b c", "address_2": "d"}
    assert split_lines("w x y z v", keys, pred, " ") == {"address_1": "w x y", "address_2": "z v"}
    assert split_lines("w x y", keys, pred, " ") == {}


# -- 7. simulated reviews ------------------------------------------------------------------------------------


def test_simulate_reviews_confirms_right_fields_and_corrects_wrong_ones(
    tmp_path: Path, card_reader: Path, cards: dict[str, Path]
) -> None:
    from idsight.data.io import load_image

    reader = CardReader.load(card_reader)
    truth = truth_by_image(list(cards.values()))
    assert len(truth) == 4
    right = {"td1": "surname", "kr-rrc": "rrn"}  # one field per template read right
    sha = sha256_file(card_reader)
    with ReviewStore(f"sqlite:///{tmp_path / 'r.db'}") as store:
        for src, gt in truth.items():
            tpl = "td1" if "/td1/" in src else "kr-rrc"
            res = reader.read(load_image(src), template=tpl, name=src)
            res.fields[right[tpl]]["text"] = gt[right[tpl]]
            capture(store, res, model_name="card-reader", model_sha256=sha)
        stray = reader.read(load_image(src), template=tpl, name=str(tmp_path / "elsewhere.png"))
        stray_id = capture(store, stray, model_name="card-reader", model_sha256=sha)
        counts = simulate_reviews(store, truth)
        n_fields = sum(len(gt) for gt in truth.values())
        assert counts == {"reads": 4, "fields": n_fields, "corrected": n_fields - 4}
        assert [r.id for r in store.queue()] == [stray_id]  # no truth: left for a person
        for read in store.iter_reads(reviewed_only=True):
            assert read.final_texts() == truth[read.source]
            (review,) = read.reviews
            confirmed = {k for k, v in review.fields.items() if v.status == "confirmed"}
            assert confirmed == {right[read.template]}
        assert simulate_reviews(store, truth) == {"reads": 0, "fields": 0, "corrected": 0}


# -- 8. end to end: read, review, distil ----------------------------------------------------------------------


def test_read_review_distill_end_to_end(
    tmp_path: Path, idsight_home: Path, card_reader: Path, cards: dict[str, Path]
) -> None:
    url = f"sqlite:///{tmp_path / 'reviews.db'}"
    stray = tmp_path / "unlabelled" / "card.png"
    stray.parent.mkdir()
    shutil.copy(cards["kr-rrc"] / "000000.png", stray)
    for tpl, extra in (("kr-rrc", [str(stray)]), ("td1", [])):
        imgs = [str(cards[tpl] / r["image"]) for r in labels(cards[tpl])] + extra
        code, _, err = run("read", *imgs, "--template", tpl, "--model", str(card_reader), "--store", url)
        assert code == 0, err
    with ReviewStore(url) as store:
        assert simulate_reviews(store, truth_by_image(list(cards.values())))["reads"] == 4
        reads = list(store.iter_reads())
    review_ids = sorted(r.id for read in reads for r in read.reviews)
    stray_crops = sum(len(r.crops) for r in reads if r.source == str(stray))
    all_crops = sum(len(r.crops) for r in reads)
    assert len(reads) == 5 and len(review_ids) == 4 and stray_crops > 0

    out = tmp_path / "new.safetensors"
    code, stdout, err = run(
        "distill",
        "--teacher",
        SHIPPED_TEACHER,
        "--student",
        str(card_reader),
        "--reviews",
        url,
        "--out",
        str(out),
        "--set",
        "trainer.max_epochs=1",
        "--set",
        "holdout=false",
    )
    assert code == 0, err
    assert "wrote" in stdout and out.is_file()
    meta = read_meta(out)
    parent = read_meta(card_reader)
    assert meta["parent"]["sha256"] == sha256_file(card_reader)
    assert meta["parent"]["name"] == card_reader.stem
    assert meta["teacher"] == {
        "name": SHIPPED_TEACHER,
        "sha256": sha256_file(hub.resolve(SHIPPED_TEACHER)),
    }
    data = meta["data"]
    assert data["reads"] == 5
    assert data["reviews"]["count"] == 4
    assert data["reviews"]["ids_sha256"] == hashlib.sha256("\n".join(review_ids).encode()).hexdigest()
    assert data["lines"] == all_crops
    assert 0 < data["labelled_lines"] == all_crops - stray_crops
    cfg = meta["config"]["distill"]
    assert cfg["trainer"]["max_epochs"] == 1 and cfg["holdout"] is False and cfg["reviews"] == url
    assert cfg["teacher"] == SHIPPED_TEACHER and cfg["student"] == str(card_reader)
    assert meta["metrics"]["epochs"] == 1 and "holdout" not in meta["metrics"]
    assert "train/distill" in meta["metrics"]["distill"]
    assert meta["charset"] == parent["charset"] and meta["preprocessing"] == parent["preprocessing"]
    assert meta["arch"] == parent["arch"]
    new, _ = load_artifact(out)
    old, _ = load_artifact(card_reader)
    assert new.keys() == old.keys()
    for part in ("detector", "localizer", "classifier"):
        assert all(torch.equal(new[k], old[k]) for k in old if k.startswith(part + "."))
    rec = [k for k in old if k.startswith("recognizer.") and k.endswith("weight")]
    assert any(not torch.equal(new[k], old[k]) for k in rec)
    CardReader.load(out)  # a usable reader


# -- 9. the promotion gate -------------------------------------------------------------------------------------


def install_default(home: Path, src: Path, name: str) -> Path:
    d = home / "models"
    d.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, d / f"{name}.safetensors")
    (d / "DEFAULT").write_text(name + "\n")
    return d / f"{name}.safetensors"


def test_gate_logic_with_chosen_scores(
    tmp_path: Path, idsight_home: Path, card_reader: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import idsight.train.holdout as holdout

    base = install_default(idsight_home, card_reader, "base")
    cand = tmp_path / "cand.safetensors"
    shutil.copy(card_reader, cand)
    scores = {"base": 0.75, "cand": 0.5}
    scored: list[str] = []

    def fake(model: str | Path, spec: dict[str, Any] | None = None) -> dict[str, Any]:
        scored.append(Path(model).stem)
        return {"field_exact_match": scores[Path(model).stem], "cer": 0.1, "spec": {"fake": True}}

    monkeypatch.setattr(holdout, "score_holdout", fake)
    code, _, err = run("models", "promote", str(cand))
    one_line_error(code, err, 1, "refused", "cand", "50.00%", "base", "75.00%")
    assert sorted(scored) == ["base", "cand"]
    assert hub.resolve("default") == base
    assert not (idsight_home / "models" / "cand.safetensors").exists()

    scores["cand"] = 0.75  # equal is not a regression
    code, stdout, err = run("models", "promote", str(cand), "--name", "v2")
    assert code == 0, err
    assert "75.00%" in stdout and "now the default" in stdout
    installed = idsight_home / "models" / "v2.safetensors"
    assert hub.resolve("default") == installed
    assert (idsight_home / "models" / "DEFAULT").read_text().strip() == "v2"
    gate = read_meta(installed)["gate"]
    assert gate["candidate"]["field_exact_match"] == gate["current"]["field_exact_match"] == 0.75
    assert gate["previous_default"] == {"name": "base", "sha256": sha256_file(base)}


def test_gate_with_real_scoring_on_a_tiny_holdout(
    tmp_path: Path, idsight_home: Path, card_reader: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import idsight.train.holdout as holdout

    monkeypatch.setattr(holdout, "HOLDOUT", {**holdout.HOLDOUT, "per_template": 2})
    shipped = hub.resolve("default")
    assert shipped.parent == hub.shipped_dir()  # nothing installed: the shipped default

    # a random reader against the trained default: refused, nothing installed
    code, _, err = run("models", "promote", str(card_reader))
    line = one_line_error(code, err, 1, "refused", card_reader.stem, shipped.stem, "0.00%")
    assert hub.resolve("default") == shipped
    assert not (idsight_home / "models" / "DEFAULT").exists()
    assert len(list((idsight_home / "holdout").glob("*-n2"))) == 2  # the tiny spec was used

    # a copy of the default scores the same: promoted
    cand = tmp_path / "same.safetensors"
    shutil.copy(shipped, cand)
    code, stdout, err = run("models", "promote", str(cand), "--json")
    assert code == 0, err
    report = json.loads(stdout)
    c, p = report["candidate"], report["current"]
    assert c["field_exact_match"] == p["field_exact_match"] > 0
    assert f"({p['field_exact_match']:.2%})" in line  # the refusal named the default's real score
    installed = idsight_home / "models" / "same.safetensors"
    assert report["path"] == str(installed) and hub.resolve("default") == installed
    meta = read_meta(installed)
    assert meta["gate"]["candidate"]["field_exact_match"] == c["field_exact_match"]
    assert meta["gate"]["current"]["field_exact_match"] == p["field_exact_match"]
    assert meta["gate"]["previous_default"]["sha256"] == sha256_file(shipped)
    assert meta["metrics"]["holdout"]["spec"]["per_template"] == 2


# -- 10. bad inputs ------------------------------------------------------------------------------------------------


def test_distill_foreign_database_url(tmp_path: Path, idsight_home: Path, card_reader: Path) -> None:
    out = tmp_path / "new.safetensors"
    m = str(card_reader)
    code, _, err = run(
        "distill", "--teacher", m, "--student", m, "--reviews", "notadb://x", "--out", str(out)
    )
    one_line_error(code, err, 2, "notadb", "unknown database")
    assert not out.exists()


def test_distill_with_nothing_to_learn_from(tmp_path: Path, idsight_home: Path, card_reader: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    ReviewStore(url).close()
    out = tmp_path / "new.safetensors"
    m = str(card_reader)
    base = ("distill", "--teacher", m, "--student", m, "--reviews", url, "--out", str(out))
    code, _, err = run(*base, "--set", "distill_weight=0")
    one_line_error(code, err, 2, "no reviewed lines", "distill_weight")
    code, _, err = run(*base)
    one_line_error(code, err, 2, "no training lines")
    code, _, err = run("distill", "--teacher", m, "--student", m, "--out", str(out))
    one_line_error(code, err, 2, "no training lines")
    assert not out.exists()


def test_cached_teacher_outputs_equal_the_teachers_and_replace_its_forward(tmp_path: Path) -> None:
    """The teacher runs once per clean crop; batches carry its logits, so training never calls it."""
    from idsight.data.lines import LineFolder, cache_teacher_logits
    from idsight.models.recognizer import crnn_student
    from idsight.tasks.distill import Distillation

    rng = np.random.default_rng(0)
    rows = []
    for i, w in enumerate((48, 96, 160)):
        f = f"l{i}.png"
        cv2.imwrite(str(tmp_path / f), rng.integers(0, 255, (32, w, 3), dtype=np.uint8))
        rows.append(
            {"file": f, "text": "AB" if i else None, "read_id": f"r{i}", "key": "k", "source": "review"}
        )
    (tmp_path / "lines.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    torch.manual_seed(0)
    teacher = crnn_student(num_classes=20).eval()
    assert cache_teacher_logits(tmp_path, teacher) == 3
    ds = LineFolder(dir=str(tmp_path), augment=False)
    batch = LineFolder.collate([ds[i] for i in range(3)])
    for chunk in batch["chunks"]:
        for n, w in enumerate(chunk["input_lengths"].tolist()):
            crop = chunk["image"][n : n + 1, :, :, : w * 4]
            with torch.no_grad():
                ref = teacher(crop)["logits"][0]
            torch.testing.assert_close(chunk["teacher_logits"][n, :w], ref, atol=2e-2, rtol=1e-2)

    class Refuse(torch.nn.Module):
        num_classes = 20

        def forward(self, x: torch.Tensor) -> dict:
            raise AssertionError("the teacher ran although its outputs were cached")

    task = Distillation(part="recognizer", base={"name": "ctc_recognition"}, teacher=Refuse())
    out = task(crnn_student(num_classes=20), batch)
    assert float(out["distill"]) > 0 and torch.isfinite(out["loss"])


def test_rendered_lines_are_cropped_like_the_readers_and_reproducible(tmp_path: Path) -> None:
    from idsight.data.lines import LineFolder
    from idsight.train.distill import load_distill_config, snapshot_lines

    cfg = load_distill_config(None, ["synthetic_lines=12", "synthetic_seed=3", "distill_weight=0"])
    info = snapshot_lines(cfg, tmp_path / "a", Path("unused-without-cards"))
    assert info["lines"] == info["labelled_lines"] == 12 and info["synthetic"]["lines"] == 12
    rows = [json.loads(x) for x in (tmp_path / "a" / "lines.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["key"].split("/")[1] for r in rows} <= set(cfg.synthetic_lines_keys)
    assert all(r["key"].startswith("kr-rrc/") and r["text"] and r["source"] == "rendered" for r in rows)
    for r in rows:
        img = cv2.imread(str(tmp_path / "a" / r["file"]))
        assert img.shape[0] == DEFAULT_PREPROCESSING["recognizer_height"]
        assert img.shape[1] % DEFAULT_PREPROCESSING["recognizer_stride"] == 0
    ds = LineFolder(dir=str(tmp_path / "a"), split="all", augment=False)
    assert len(ds) == 12 and all(ds[i][2] for i in range(12))  # every rendered line is labelled
    snapshot_lines(cfg, tmp_path / "b", Path("unused-without-cards"))
    again = (tmp_path / "b" / "lines.jsonl").read_text(encoding="utf-8")
    assert again == (tmp_path / "a" / "lines.jsonl").read_text(encoding="utf-8")  # same seed, same lines
    with pytest.raises(BadConfigError, match="kr-rrc has no line mrz_1"):  # refused before any work
        load_distill_config(None, ["synthetic_lines=1", "synthetic_lines_keys=[mrz_1]"])


def test_rendered_lines_from_several_templates_in_turn(tmp_path: Path) -> None:
    from idsight.train.distill import load_distill_config, snapshot_lines

    cfg = load_distill_config(
        None,
        [
            "synthetic_lines=6",
            "synthetic_seed=4",
            "synthetic_lines_template=[kr-rrc,td1]",
            "synthetic_lines_keys=[name,mrz_1,mrz_2]",
        ],
    )
    assert cfg.line_keys_per_template() == {"kr-rrc": ["name"], "td1": ["mrz_1", "mrz_2"]}
    snapshot_lines(cfg, tmp_path, Path("unused-without-cards"))
    rows = [json.loads(x) for x in (tmp_path / "lines.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["key"].split("/")[0] for r in rows] == ["kr-rrc", "td1"] * 3
    assert {r["key"] for r in rows} <= {"kr-rrc/name", "td1/mrz_1", "td1/mrz_2"}
    # one name still loads (configs recorded before lists); a template with none of the keys is refused
    assert load_distill_config(
        None, ["synthetic_lines_template=td1", "synthetic_lines_keys=[mrz_3]"]
    ).synthetic_lines_template == ["td1"]
    with pytest.raises(BadConfigError, match="td1 has none of the lines name"):
        load_distill_config(None, ["synthetic_lines_template=[kr-rrc,td1]", "synthetic_lines_keys=[name]"])
    with pytest.raises(BadConfigError, match="kr-rrc or td1 has no line photo"):
        load_distill_config(None, ["synthetic_lines_template=[kr-rrc,td1]", "synthetic_lines_keys=[photo]"])


# -- the command an artifact records ----------------------------------------------------------------------


def sets_of(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]


def test_distill_argv_rebuilds_the_config_through_the_cli_loader() -> None:
    cfg = DistillConfig(
        student="/models/s.safetensors", reviews="sqlite:///r.db", synthetic=8, **line_replay(30), seed=3
    )
    cfg.optim.lr = 3e-4
    cfg.trainer.max_epochs = 2
    argv = distill_argv(cfg, "new.safetensors")
    assert argv[0] == "distill" and argv[-2:] == ["--out", "new.safetensors"]
    assert load_distill_config(None, sets_of(argv)) == cfg
    assert "optim.lr=0.0003" in argv and "trainer.max_epochs=2" in argv
    assert 'synthetic_lines_template=["kr-rrc", "td1"]' in argv
    assert distill_argv(DistillConfig(), "o") == ["distill", "--out", "o"]  # defaults need no --set


@settings(max_examples=60, deadline=None)
@given(text=st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"]), max_size=12))
@example(text="1.0")
@example(text="true")
@example(text="null")
@example(text="a: b")
@example(text="[kr-rrc]")
@example(text="")
@example(text=" ")
@example(text="\xa0")  # blank to str.strip, not to YAML
def test_recorded_strings_read_back_as_themselves(text: str) -> None:
    cfg = DistillConfig(reviews=text)
    assert load_distill_config(None, sets_of(distill_argv(cfg, "o"))).reviews == text


def test_a_partly_given_section_keeps_the_distill_defaults_of_the_rest(tmp_path: Path) -> None:
    # DistillConfig's optim/trainer/plateau defaults are not their classes' defaults (cosine, weight
    # decay, clipping); setting one key of a section must not reset the others to the class defaults
    default = DistillConfig()
    cfg = load_distill_config(None, ["optim.lr=3e-4", "trainer.max_epochs=2", "plateau.patience=5"])
    assert cfg.optim == default.optim.model_copy(update={"lr": 3e-4})
    assert cfg.trainer == default.trainer.model_copy(update={"max_epochs": 2})
    assert cfg.plateau == default.plateau.model_copy(update={"patience": 5})
    f = tmp_path / "d.yaml"
    f.write_text("optim:\n  warmup: 0\ntrainer:\n  gradient_clip_val: null\n", encoding="utf-8")
    cfg = load_distill_config(f)
    assert cfg.optim == default.optim.model_copy(update={"warmup": 0})
    assert cfg.trainer == default.trainer.model_copy(update={"gradient_clip_val": None})


def test_trust_labels_leaves_kl_out_on_labelled_lines_the_teacher_misreads() -> None:
    student, teacher = recognizers()
    student.eval()
    teacher.eval()  # as the task holds it
    batch = line_batch([True, True, False, True])
    with torch.no_grad():
        s_logits, t_logits = student(batch["image"])["logits"], teacher(batch["image"])["logits"]
    # line 0 is labelled with exactly what the teacher reads; lines 1 and 3 with something else
    read, n = greedy_targets(t_logits, torch.full((4,), t_logits.shape[1]))
    first = read[: int(n[0])]
    assert len(first) > 0
    targets = torch.cat([first, batch["targets"][3:]])
    batch = dict(batch, targets=targets, target_lengths=torch.cat([n[:1], batch["target_lengths"][1:]]))
    assert teacher_reads((read, n), targets, batch["target_lengths"]).tolist() == [
        True,
        False,
        False,
        False,
    ]
    trusting = Distillation(part="recognizer", base=CTC, teacher=teacher, trust_labels=True)
    out = trusting(student, batch)
    # the KL covers line 0 (read right) and line 2 (nobody's label): not lines 1 and 3
    kd = kd_kl(s_logits[[0, 2]], t_logits[[0, 2]], temperature=2.0)
    assert float(out["distill"]) == pytest.approx(float(kd), rel=1e-5)
    assert float(out["kd_skipped"]) == pytest.approx(0.5)
    plain = Distillation(part="recognizer", base=CTC, teacher=teacher)(student, batch)
    assert float(plain["distill"]) == pytest.approx(
        float(kd_kl(s_logits, t_logits, temperature=2.0)), rel=1e-5
    )
    assert float(out["label"]) == pytest.approx(float(plain["label"]), rel=1e-6)
    with pytest.raises(BadConfigError, match="recognizer"):
        Distillation(part="detector", base={"name": "line_detection"}, teacher=Boom(), trust_labels=True)


def test_reviewed_lines_train_the_same_way_whatever_their_random_read_ids(tmp_path: Path) -> None:
    """The same reads, stored in another order under other random ids, give the same lines in the
    same order and the same train/val split (so a distillation from reviews can be rerun exactly)."""
    from idsight.data.lines import LineFolder
    from idsight.train.distill import load_distill_config, snapshot_lines

    def add(store: ReviewStore, n: int) -> None:
        crops = {"name": png_bytes(np.full((32, 64, 3), 20 * n, np.uint8))}
        fields = {"name": {"text": f"N{n}", "confidence": 0.5, "box": None, "lines": {"name": f"N{n}"}}}
        result = {
            "image": f"{n}.png",
            "template": "kr-rrc",
            "fields": fields,
            "checks": {},
            "corrections": [],
        }
        rid = store.add_read(result, model_name="m", model_sha256="ab" * 32, crops=crops, image_png=None)
        store.submit_review(rid, "ann", {"name": {"status": "confirmed", "text": None}})

    snapshots = []
    for name, order in (("a", range(12)), ("b", reversed(range(12)))):
        url = f"sqlite:///{tmp_path / name}.db"
        with ReviewStore(url) as store:
            for n in order:
                add(store, n)
        cfg = load_distill_config(None, [f"reviews={url}", "distill_weight=0"])
        snapshot_lines(cfg, tmp_path / name, Path("unused-without-cards"))
        rows = [
            json.loads(x) for x in (tmp_path / name / "lines.jsonl").read_text(encoding="utf-8").splitlines()
        ]
        val = LineFolder(dir=str(tmp_path / name), split="val", val_fraction=0.3, augment=False)
        snapshots.append(([(r["text"], r["split_key"]) for r in rows], [r["text"] for r in val.rows], rows))
    (lines_a, val_a, rows_a), (lines_b, val_b, rows_b) = snapshots
    assert lines_a == lines_b and val_a == val_b
    assert 0 < len(val_a) < 12  # the split does split
    assert {r["read_id"] for r in rows_a}.isdisjoint(r["read_id"] for r in rows_b)  # other random ids
