"""CRNN line recognisers (CNN backbone -> BiLSTM -> per-timestep classifier, trained with CTC).

Input: ``(B, 3, 32, W)`` float, normalised with mean = std = 0.5; ``W`` a multiple of 4 (a batch is
right-padded to its widest line). Output: ``{"logits": (B, T, C)}`` with ``T = W // 4`` and
``C = num_classes`` (index 0 is the CTC blank). Each timestep covers 4 input pixels, which is what
:func:`idsight.models.postprocess.ctc_greedy` uses to turn the alignment into character spans.

Padding is not masked inside the network (as in CRNN/docTR); the backward LSTM therefore sees the
padded tail. Pad with the background value and pass ``input_lengths`` to the CTC task.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from idsight.models.layers import BasicBlock, DWSep, conv_bn
from idsight.registry import MODELS

HEIGHT = 32
STRIDE = 4


class CRNN(nn.Module):
    """A backbone that maps ``(B,3,32,W)`` to ``(B,D,1,W/4)``, a BiLSTM over width, and a linear head."""

    stride = STRIDE
    height = HEIGHT

    def __init__(
        self,
        backbone: nn.Module,
        feat_dim: int,
        num_classes: int,
        *,
        hidden: int,
        layers: int,
        dropout: float,
        context: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.backbone = backbone
        self.context = context  # optional (B, D, 1, T) -> (B, D, 1, T) block after the backbone
        self.rnn: nn.LSTM | None = None
        out_dim = feat_dim
        if layers > 0:
            self.rnn = nn.LSTM(
                feat_dim,
                hidden,
                num_layers=layers,
                bidirectional=True,
                dropout=dropout if layers > 1 else 0.0,
            )
            out_dim = 2 * hidden
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(out_dim, num_classes)

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        f = self.backbone(image)  # (B, D, 1, T)
        if self.context is not None:
            f = self.context(f)
        seq = f.squeeze(2).permute(2, 0, 1)  # (T, B, D)
        if self.rnn is not None:
            seq, _ = self.rnn(seq)
        logits = self.head(self.drop(seq)).permute(1, 0, 2)  # (B, T, C)
        return {"logits": logits}


def _teacher_backbone(width: int = 256) -> nn.Sequential:
    # 32xW -> 16xW/2 -> 8xW/4 -> 4 -> 2 -> 1 (height only after the second pool)
    return nn.Sequential(
        conv_bn(3, 32),
        nn.MaxPool2d(2, 2),
        conv_bn(32, 64),
        nn.MaxPool2d(2, 2),
        BasicBlock(64, 128),
        nn.MaxPool2d((2, 1), (2, 1)),
        BasicBlock(128, width),
        nn.MaxPool2d((2, 1), (2, 1)),
        BasicBlock(width, width),
        nn.Conv2d(width, width, (2, 1), bias=False),  # collapse the last 2 rows
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
    )


def _student_backbone(width: int = 128) -> nn.Sequential:
    return nn.Sequential(
        conv_bn(3, 16, 3, stride=2),  # 16 x W/2
        DWSep(16, 32, stride=2),  # 8 x W/4
        DWSep(32, 32),
        DWSep(32, 64, stride=(2, 1)),  # 4
        DWSep(64, 64),
        DWSep(64, 96, stride=(2, 1)),  # 2
        DWSep(96, 96),
        nn.Conv2d(96, width, (2, 1), groups=1, bias=False),  # 1
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
    )


@MODELS.register("crnn_teacher")
def crnn_teacher(*, num_classes: int, hidden: int = 384, width: int = 256, dropout: float = 0.1) -> CRNN:
    """Heavy CRNN: ResNet-like backbone (~2.4M) + 2-layer BiLSTM(hidden) + linear (~8.8M at C=1000)."""
    return CRNN(_teacher_backbone(width), width, num_classes, hidden=hidden, layers=2, dropout=dropout)


@MODELS.register("crnn_student")
def crnn_student(*, num_classes: int, hidden: int = 96, width: int = 128, dropout: float = 0.1) -> CRNN:
    """Light CRNN: depthwise-separable backbone + 1-layer BiLSTM(hidden) + linear (~0.4M at C=1000)."""
    return CRNN(_student_backbone(width), width, num_classes, hidden=hidden, layers=1, dropout=dropout)


class WidthContext(nn.Module):
    """Residual depthwise-separable convolutions along the width (the sequence axis), dilations
    1, 2, 4, ...: the context a BiLSTM gives a CRNN, without its step-by-step cost. Each block's last
    BatchNorm starts at zero, so a new block starts as the identity."""

    def __init__(self, dim: int, *, blocks: int, kernel: int = 5) -> None:
        super().__init__()
        self.blocks = nn.ModuleList()
        for i in range(blocks):
            d = 2**i
            block = nn.Sequential(
                nn.Conv2d(
                    dim,
                    dim,
                    (1, kernel),
                    padding=(0, d * (kernel // 2)),
                    dilation=(1, d),
                    groups=dim,
                    bias=False,
                ),
                nn.BatchNorm2d(dim),
                nn.ReLU(inplace=True),
                nn.Conv2d(dim, dim, 1, bias=False),
                nn.BatchNorm2d(dim),
            )
            last = block[-1]
            assert isinstance(last, nn.BatchNorm2d)
            nn.init.zeros_(last.weight)
            self.blocks.append(block)

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = (x + block(x)).relu()
        return x


@MODELS.register("crnn_conv")
def crnn_conv(
    *, num_classes: int, width: int = 128, context: int = 2, kernel: int = 5, dropout: float = 0.1
) -> CRNN:
    """The student's backbone without an LSTM: ``context`` :class:`WidthContext` blocks instead
    (~0.13M params at width 128). On one CPU thread the LSTM's sequential steps cost the student
    recogniser about half its time."""
    return CRNN(
        _student_backbone(width),
        width,
        num_classes,
        hidden=0,
        layers=0,
        dropout=dropout,
        context=WidthContext(width, blocks=context, kernel=kernel),
    )


@MODELS.register("crnn_base")
def crnn_base(*, num_classes: int, hidden: int = 192, width: int = 256, dropout: float = 0.1) -> nn.Module:
    """~0.9M params: the student's depthwise-separable design, wider (the teacher's recogniser)."""
    return crnn_student(num_classes=num_classes, hidden=hidden, width=width, dropout=dropout)


@MODELS.register("crnn_from_reader")
def crnn_from_reader(*, reader: str, charset: str = "open", dropout: float = 0.1) -> nn.Module:
    """The recogniser of a card-reader artifact (``reader``: a model name or path), widened to the
    named ``charset``: same architecture and weights, and each character it already knew keeps its
    output row; rows of new characters start small and random. A warm start for a larger charset."""
    from idsight import hub
    from idsight.artifact import load_artifact
    from idsight.data.charset import CHARSET, Charset

    state, meta = load_artifact(hub.resolve(reader))
    arch = meta["arch"]["recognizer"]
    new = Charset.named(charset).chars
    kwargs = {**arch["kwargs"], "num_classes": len(new) + 1, "dropout": dropout}
    net = MODELS.build(arch["name"], **kwargs)
    own = {k.removeprefix("recognizer."): v for k, v in state.items() if k.startswith("recognizer.")}
    old = meta.get("charset", CHARSET)
    head_w, head_b = own.pop("head.weight"), own.pop("head.bias")
    net.load_state_dict(own, strict=False)
    with torch.no_grad():
        net.head.weight.mul_(0.1)
        net.head.bias.fill_(float(head_b[1:].mean()))
        rows = [0] + [1 + old.index(c) if c in old else -1 for c in new]
        for i, j in enumerate(rows):
            if j >= 0:
                net.head.weight[i] = head_w[j]
                net.head.bias[i] = head_b[j]
    return net


@MODELS.register("part_from_reader")
def part_from_reader(*, reader: str, part: str) -> nn.Module:
    """One network (``part``: ``localizer``, ``detector``, ``classifier``, ``recognizer``) of a card-reader
    artifact (``reader``: a model name or path), with its weights: a warm start for that network alone."""
    from idsight import hub
    from idsight.artifact import load_artifact
    from idsight.errors import BadModelError

    state, meta = load_artifact(hub.resolve(reader))
    arch = (meta.get("arch") or {}).get(part)
    if not isinstance(arch, dict):
        raise BadModelError(f"no {part!r} network in this reader", path=reader)
    net = MODELS.build(arch["name"], **arch["kwargs"])
    net.load_state_dict({k.removeprefix(f"{part}."): v for k, v in state.items() if k.startswith(f"{part}.")})
    return net


def recognizer_of(state: dict[str, Any], meta: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The recogniser's weights and record of a layout-free reader file (task ``line_reader``); any
    other artifact's, unchanged."""
    if meta.get("task") != "line_reader":
        return state, meta
    prefix = "recognizer."
    return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}, (
        meta.get("recognizer") or {}
    )


@MODELS.register("from_artifact")
@MODELS.register("crnn_from_artifact")
def crnn_from_artifact(*, path: str) -> nn.Module:
    """A network rebuilt from an artifact that ``idsight train`` wrote (its ``arch`` and weights; for a
    layout-free reader file, its recogniser): training goes on from a model another sitting committed,
    when its optimiser checkpoint is gone. Registered as ``from_artifact`` (any network) and
    ``crnn_from_artifact``."""
    from idsight.artifact import load_artifact
    from idsight.errors import BadModelError

    state, meta = recognizer_of(*load_artifact(path))
    arch = meta.get("arch")
    if not isinstance(arch, dict) or arch.get("name") in ("crnn_from_artifact", "from_artifact"):
        raise BadModelError("not a line-recogniser artifact (no arch)", path=path)
    arch = concrete_arch(arch["name"], arch["kwargs"])
    net = MODELS.build(arch["name"], **arch["kwargs"])
    net.load_state_dict(state)
    return net


def concrete_arch(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The plain builder behind a warm-start builder (``crnn_from_reader``, ``crnn_from_artifact``),
    so that an artifact records an architecture that builds without the file it started from."""
    from idsight import hub
    from idsight.artifact import read_meta
    from idsight.data.charset import Charset

    if name == "crnn_from_reader":
        base = read_meta(hub.resolve(kwargs["reader"]))["arch"]["recognizer"]
        n = len(Charset.named(kwargs.get("charset", "open"))) + 1
        return {
            "name": base["name"],
            "kwargs": {**base["kwargs"], "num_classes": n, "dropout": kwargs.get("dropout", 0.1)},
        }
    if name == "part_from_reader":
        return dict(read_meta(hub.resolve(kwargs["reader"]))["arch"][kwargs["part"]])
    if name in ("crnn_from_artifact", "from_artifact"):
        arch = recognizer_of({}, read_meta(kwargs["path"]))[1].get("arch") or {}
        return concrete_arch(arch["name"], arch["kwargs"])
    return {"name": name, "kwargs": dict(kwargs)}
