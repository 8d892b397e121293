"""Networks, tasks, post-processing and the reader artifact."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import idsight.tasks  # noqa: F401  (registers the tasks)
from idsight.errors import BadModelError, UnknownNameError
from idsight.models import ReaderModel, build_reader, count_parameters, student_arch, teacher_arch
from idsight.models.postprocess import ctc_greedy, maps_to_boxes
from idsight.registry import MODELS, TASKS, Registry
from idsight.templates import LINE_KEYS, get_template

torch.set_num_threads(1)
NC = 1000  # charset size + blank, as in production


def _seed(n: int = 0) -> None:
    torch.manual_seed(n)


@pytest.mark.parametrize("name", ["crnn_teacher", "crnn_base", "crnn_student", "crnn_conv"])
@pytest.mark.parametrize("width", [4, 64, 200])
def test_recognizer_shapes(name: str, width: int) -> None:
    m = MODELS.build(name, num_classes=37).eval()
    with torch.no_grad():
        y = m(torch.randn(2, 3, 32, width))
    assert set(y) == {"logits"} and y["logits"].shape == (2, width // 4, 37)


@pytest.mark.parametrize("name", ["unet_teacher", "resnet18_lines", "unet_student"])
def test_detector_shapes(name: str) -> None:
    m = MODELS.build(name).eval()
    with torch.no_grad():
        y = m(torch.randn(1, 3, 160, 256))
    assert y["maps"].shape == (1, len(LINE_KEYS), 80, 128) == (1, 16, 80, 128)


def test_classifier_shapes() -> None:
    m = MODELS.build("tplcls_small").eval()
    with torch.no_grad():
        assert m(torch.randn(2, 3, 96, 152))["logits"].shape == (2, 3)
    assert 50_000 <= count_parameters(m) <= 150_000


def test_parameter_budgets() -> None:
    t, s = build_reader(teacher_arch(NC)), build_reader(student_arch(NC))
    tp, sp = t.part_parameters(), s.part_parameters()
    assert count_parameters(t) >= 10_000_000
    assert count_parameters(s) <= 0.10 * count_parameters(t)
    assert 600_000 <= tp["recognizer"] <= 1_500_000 and sp["recognizer"] <= 600_000
    assert 10_000_000 <= tp["detector"] <= 13_000_000 and sp["detector"] <= 150_000


def _batches(nc: int = 12) -> dict[str, dict]:
    g = torch.Generator().manual_seed(0)
    tl = torch.tensor([3, 5, 2, 4])
    maps = torch.zeros(2, 16, 80, 128)
    maps[0, 0, 10:16, 8:40] = 1
    maps[1, 9, 60:66, 4:120] = 1
    return {
        "ctc_recognition": {
            "image": torch.rand(4, 3, 32, 64, generator=g) * 2 - 1,
            "targets": torch.randint(1, nc, (int(tl.sum()),), generator=g),
            "target_lengths": tl,
            "input_lengths": torch.tensor([16, 16, 12, 14]),
        },
        "line_detection": {"image": torch.rand(2, 3, 160, 256, generator=g) * 2 - 1, "maps": maps},
        "template_classification": {
            "image": torch.rand(6, 3, 96, 152, generator=g) * 2 - 1,
            "label": torch.tensor([0, 1, 2, 0, 1, 2]),
        },
    }


PART = {
    "ctc_recognition": "recognizer",
    "line_detection": "detector",
    "template_classification": "classifier",
}


@pytest.mark.parametrize("arch", [student_arch, teacher_arch])
@pytest.mark.parametrize("task_name", sorted(PART))
def test_every_parameter_gets_a_gradient(arch, task_name: str) -> None:
    _seed()
    model = build_reader(arch(12)).train()
    net = getattr(model, PART[task_name])
    out = TASKS.build(task_name)(model, _batches()[task_name])  # whole reader: task picks its part
    assert out["loss"].dim() == 0 and torch.isfinite(out["loss"]) and "preds" in out
    out["loss"].backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing


@pytest.mark.parametrize(
    "task_name,kw",
    [
        ("ctc_recognition", {}),
        ("line_detection", {"pos_weight": 10.0}),
        ("template_classification", {"label_smoothing": 0.1}),
    ],
)
def test_loss_falls_on_a_fixed_batch(task_name: str, kw: dict) -> None:
    _seed()
    net = getattr(build_reader(student_arch(12)), PART[task_name]).train()
    task = TASKS.build(task_name, **kw)
    batch = _batches()[task_name]
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        out = task(net, batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    assert losses[-1] < 0.6 * losses[0], losses


def test_distillation_terms() -> None:
    _seed()
    s = build_reader(student_arch(12))
    b = _batches()["ctc_recognition"]
    b["teacher_logits"] = torch.randn(4, 16, 12)
    out = TASKS.build("ctc_recognition", kd_weight=0.5)(s, b)
    assert {"loss", "ctc", "kd", "preds"} <= set(out) and out["kd"] > 0
    d = _batches()["line_detection"]
    d["teacher_maps"] = torch.randn(2, 16, 80, 128)
    assert "kd" in TASKS.build("line_detection", kd_weight=1.0)(s, d)


def test_ctc_greedy_text_and_spans() -> None:
    charset = "ab"
    # timesteps: a a - b b - b - ; blank=0, a=1, b=2
    seq = [1, 1, 0, 2, 2, 0, 2, 0]
    logits = torch.full((len(seq), 3), -5.0)
    for t, c in enumerate(seq):
        logits[t, c] = 5.0
    logits[1, 1] = 2.0  # lower peak inside the first run
    text, conf, chars = ctc_greedy(logits, charset, stride=4.0)
    assert text == "abb"
    assert [(c.x0, c.x1) for c in chars] == [(0.0, 8.0), (12.0, 20.0), (24.0, 28.0)]
    p_hi = torch.softmax(torch.tensor([-5.0, 5.0, -5.0]), 0)[1].item()
    assert chars[0].prob == pytest.approx(p_hi, abs=1e-6)
    assert conf == pytest.approx(min(c.prob for c in chars))
    assert chars[0].alternatives[0][0] == "a" and len(chars[0].alternatives) == 3
    assert {a for a, _ in chars[0].alternatives} == {"a", "b", ""}
    # log-probs give the same result; length truncates; expand meets in the gaps
    assert ctc_greedy(logits.log_softmax(-1), charset)[0] == "abb"
    assert ctc_greedy(logits, charset, length=5)[0] == "ab"
    _, _, ex = ctc_greedy(logits, charset, expand=True)
    assert [(c.x0, c.x1) for c in ex] == [(0.0, 10.0), (10.0, 22.0), (22.0, 28.0)]
    assert ctc_greedy(torch.zeros(4, 3).index_fill_(1, torch.tensor([0]), 9.0), charset)[:2] == ("", 0.0)
    with pytest.raises(ValueError):
        ctc_greedy(torch.zeros(4, 5), charset)


def _ctc_reference(probs: list[list[float]], charset: str) -> list[tuple[str, float, int, int, list[str]]]:
    """The definition, spelled out: runs of one non-blank argmax label; each run's best probability,
    span and top-3 labels at its peak."""
    best = [max(range(len(row)), key=row.__getitem__) for row in probs]
    runs: list[list[int]] = []
    for t, c in enumerate(best):
        if c and t and best[t - 1] == c:
            runs[-1][2] = t
        elif c:
            runs.append([c, t, t])
    out = []
    for c, t0, t1 in runs:
        peak = max(range(t0, t1 + 1), key=lambda t: probs[t][c])
        top = sorted(range(len(charset) + 1), key=lambda i: -probs[peak][i])[:3]
        out.append((charset[c - 1], probs[peak][c], t0, t1, [charset[i - 1] if i else "" for i in top]))
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(-6, 6), min_size=5, max_size=5), min_size=1, max_size=30),
    st.integers(0, 4),
)
def test_ctc_greedy_matches_the_definition(rows: list[list[int]], noise_seed: int) -> None:
    charset = "abcd"
    g = torch.Generator().manual_seed(noise_seed)
    logits = torch.tensor(rows, dtype=torch.float32) + 0.01 * torch.rand(len(rows), 5, generator=g)
    probs = torch.softmax(logits, -1).tolist()
    want = _ctc_reference(probs, charset)
    text, conf, chars = ctc_greedy(logits, charset, stride=4.0)
    assert text == "".join(w[0] for w in want)
    assert [(c.x0, c.x1) for c in chars] == [(4.0 * t0, 4.0 * (t1 + 1)) for _, _, t0, t1, _ in want]
    for c, w in zip(chars, want, strict=True):
        assert c.prob == pytest.approx(w[1], abs=1e-5)
        assert [a for a, _ in c.alternatives] == w[4]
        assert [p for _, p in c.alternatives] == sorted((p for _, p in c.alternatives), reverse=True)
    assert conf == (pytest.approx(min(w[1] for w in want), abs=1e-5) if want else 0.0)


def test_maps_to_boxes() -> None:
    maps = torch.zeros(16, 80, 128)
    kr = LINE_KEYS.index("kr-rrc/rrn")
    maps[kr, 20:25, 10:60] = 0.9  # main component
    maps[kr, 70:72, 100:102] = 0.8  # small blob, ignored
    td = LINE_KEYS.index("td1/mrz_1")
    maps[td, 50:55, 4:124] = 0.7
    out = maps_to_boxes(maps, "kr-rrc", thr=0.5, scale=(2.0, 3.0))
    assert set(out) == {"rrn"}
    box, score = out["rrn"]
    assert box == [20.0, 60.0, 120.0, 75.0] and score == pytest.approx(0.9)
    card = maps_to_boxes(maps, [td])
    assert card["mrz_1"][0] == pytest.approx([4 * 856 / 128, 50 * 540 / 80, 124 * 856 / 128, 55 * 540 / 80])
    assert maps_to_boxes(maps, "td1", thr=0.75) == {}
    # maps already restricted to one template's lines, named by the caller or by the template
    tpl = [LINE_KEYS.index(f"kr-rrc/{k}") for k in get_template("kr-rrc").line_keys]
    named = maps_to_boxes(maps[tpl], list(get_template("kr-rrc").line_keys), scale=(2.0, 3.0))
    assert named == out == maps_to_boxes(maps[tpl], "kr-rrc", scale=(2.0, 3.0))
    with pytest.raises(ValueError):
        maps_to_boxes(maps[tpl], [0, 1])
    with pytest.raises(UnknownNameError):
        maps_to_boxes(maps, "passport")


def _randomise_bn(model: torch.nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)


def test_artifact_round_trip(tmp_path) -> None:
    _seed()
    model = build_reader(student_arch(40)).eval()
    _randomise_bn(model)
    path = model.to_artifact(tmp_path / "m.safetensors", {"charset": "x" * 39})
    loaded, meta = ReaderModel.from_artifact(path)
    assert not loaded.training and meta["arch"] == student_arch(40) and meta["charset"] == "x" * 39
    assert meta["parameter_count"] == count_parameters(model)
    x = torch.rand(1, 3, 32, 96) * 2 - 1
    with torch.no_grad():
        a, b = model.recognizer(x)["logits"], loaded.recognizer(x)["logits"]
        model.half().float()  # the fp16-rounded weights give exactly the loaded outputs
        c = model.recognizer(x)["logits"]
    assert torch.allclose(a, b, atol=2e-2, rtol=1e-2)
    assert torch.allclose(b, c, atol=1e-6)


def test_bad_artifacts(tmp_path) -> None:
    model = build_reader(student_arch(40))
    good = model.to_artifact(tmp_path / "good.safetensors", {})
    raw = good.read_bytes()
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(raw[: len(raw) // 2])
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    # the same weights described as another architecture: strict load fails
    other = build_reader(student_arch(50))
    mismatched = tmp_path / "mismatch.safetensors"
    from idsight.artifact import save_artifact

    save_artifact(mismatched, model.state_dict(), {"arch": other.arch})
    unknown = tmp_path / "unknown.safetensors"
    arch = student_arch(40)
    arch["detector"]["name"] = "nope"
    save_artifact(unknown, model.state_dict(), {"arch": arch})
    for p in (corrupt, garbage, mismatched, unknown, tmp_path / "absent.safetensors"):
        with pytest.raises(BadModelError) as e:
            ReaderModel.from_artifact(p)
        assert str(p) in str(e.value)


def test_registry_duplicate_and_names() -> None:
    reg: Registry = Registry("thing")
    reg.register("a")(lambda: 1)
    with pytest.raises(ValueError):
        reg.register("a")(lambda: 2)
    with pytest.raises(ValueError):
        MODELS.register("crnn_teacher")(lambda *, num_classes: None)
    assert {"crnn_teacher", "crnn_student", "unet_teacher", "unet_student", "tplcls_small"} <= set(
        MODELS.names()
    )
    assert {"ctc_recognition", "line_detection", "template_classification"} <= set(TASKS.names())


def test_ctc_decode_probs_is_ctc_greedy_on_softmaxed_logits() -> None:
    from idsight.models.postprocess import ctc_decode_probs

    g = torch.Generator().manual_seed(0)
    charset = "abcdef"
    logits = torch.randn(40, len(charset) + 1, generator=g) * 4
    a = ctc_greedy(logits, charset)
    b = ctc_decode_probs(logits.softmax(-1).numpy(), charset)
    assert a[0] == b[0] and a[0] != ""
    assert a[1] == pytest.approx(b[1])
    assert [(c.char, c.x0, c.x1) for c in a[2]] == [(c.char, c.x0, c.x1) for c in b[2]]
    with pytest.raises(ValueError, match="probabilities"):
        ctc_decode_probs(logits.softmax(-1).numpy()[:, :3], charset)


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 30), min_size=1, max_size=6),
    seed=st.integers(0, 2**16),
    topk=st.integers(1, 4),
    expand=st.booleans(),
)
def test_ctc_decode_lines_decodes_each_line_as_alone(
    lengths: list[int], seed: int, topk: int, expand: bool
) -> None:
    """Decoding a card's lines laid end to end gives each line's own decoding: no run (and no
    character) crosses from one line into the next, even where one ends and the next starts with
    the same label, and empty or all-blank lines read as empty."""
    import numpy as np

    from idsight.models.postprocess import ctc_decode_lines, ctc_decode_probs

    charset = "ab"
    rng = np.random.default_rng(seed)
    lines = []
    for t in lengths:
        logits = rng.normal(size=(t, 3)) + 6.0 * np.eye(3)[rng.integers(0, 3, size=t)]
        if t and rng.random() < 0.3:
            logits = np.round(logits)  # ties inside a run: the first peak wins
        e = np.exp(logits - logits.max(-1, keepdims=True)) if t else np.zeros((0, 3))
        lines.append((e / e.sum(-1, keepdims=True) if t else e).astype(np.float32))
    together = ctc_decode_lines(lines, charset, topk=topk, expand=expand)
    alone = [ctc_decode_probs(p, charset, topk=topk, expand=expand) for p in lines]
    assert together == alone
    for (text, _, chars), p in zip(together, lines, strict=True):
        assert len(text) == len(chars) <= len(p)
        assert all(0 <= c.x0 < c.x1 <= 4.0 * len(p) for c in chars)
    # the same label ending one line and starting the next is two characters, one per line
    a = np.array([[0.1, 0.8, 0.1]], np.float32)
    assert [r[0] for r in ctc_decode_lines([a, a], charset)] == ["a", "a"]


def test_ctc_decode_gives_sure_characters_no_alternatives() -> None:
    import numpy as np

    from idsight.models.postprocess import ctc_decode_lines

    probs = np.array([[0.0, 0.995, 0.005], [1.0, 0.0, 0.0], [0.1, 0.3, 0.6]], np.float32)  # a - b
    full = ctc_decode_lines([probs], "ab", topk=3)[0][2]
    quick = ctc_decode_lines([probs], "ab", topk=3, sure=0.99)[0][2]
    assert [c.char for c in quick] == [c.char for c in full] == ["a", "b"]
    assert quick[0].alternatives == [("a", quick[0].prob)] and len(full[0].alternatives) == 3
    assert quick[1].alternatives == full[1].alternatives  # unsure: searched as before
