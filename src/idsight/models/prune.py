"""Structured pruning of a CRNN recogniser into a narrower one, as the starting point of a student.

A wide recogniser (the teacher's ``crnn_base``) is cut to ``width`` backbone output channels and
``hidden`` LSTM units per direction, keeping the channels and units that matter most on calibration
lines: mean absolute activation times the norm of the weights that read it (activation-based
importance, as in Minitron; magnitude alone ignores how often a unit fires). Everything before the
last backbone convolution is kept whole. The pruned network is close to, not equal to, the original;
distillation from the original (``idsight distill``) then recovers what the cut lost.

Only CRNNs built on the depthwise-separable backbone (``crnn_student`` / ``crnn_base``) can be cut:
their narrow variant is ``crnn_student(hidden=..., width=...)``. With ``hidden=0`` the LSTM is
dropped instead: the cut trunk feeds ``context`` width convolutions (``crnn_conv``), which start as
the identity, and a new linear head fitted by least squares to the original's logits on the
calibration lines.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from idsight.errors import BadConfigError
from idsight.models.recognizer import CRNN, crnn_conv, crnn_student


def _trunk(model: CRNN) -> tuple[nn.Sequential, nn.Conv2d, nn.BatchNorm2d]:
    """The backbone and its last convolution and BatchNorm (the cut channels)."""
    bb = model.backbone
    if not (isinstance(bb, nn.Sequential) and len(bb) >= 3):
        raise BadConfigError("only a CRNN whose backbone ends in conv, BatchNorm, ReLU can be pruned")
    conv, bn = bb[-3], bb[-2]
    if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)):
        raise BadConfigError("only a CRNN whose backbone ends in conv, BatchNorm, ReLU can be pruned")
    return bb, conv, bn


def _t(module: nn.Module, name: str) -> Tensor:
    t = getattr(module, name)
    assert isinstance(t, Tensor), name
    return t


@torch.no_grad()
def importance(model: CRNN, lines: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Scores of the backbone's output channels (W,) and of each direction's LSTM units (h,), (h,).

    ``lines``: calibration crops ``(B, 3, 32, W)``, normalised as the reader normalises them.
    """
    if model.rnn is None or model.rnn.num_layers != 1 or not model.rnn.bidirectional:
        raise BadConfigError("only a CRNN with one bidirectional LSTM layer can be pruned")
    bb, _, _ = _trunk(model)
    rnn = model.rnn
    was_training = model.training
    model.eval()
    feats = bb(lines).squeeze(2).permute(2, 0, 1)  # (T, B, W)
    seq, _ = rnn(feats)  # (T, B, 2h)
    model.train(was_training)
    h = rnn.hidden_size
    w_in = _t(rnn, "weight_ih_l0").norm(dim=0) + _t(rnn, "weight_ih_l0_reverse").norm(dim=0)  # (W,)
    channel = feats.abs().mean(dim=(0, 1)) * w_in
    act = seq.abs().mean(dim=(0, 1))  # (2h,)
    reads = model.head.weight.norm(dim=0)  # (2h,) the head reads both directions
    fwd = act[:h] * (reads[:h] + _t(rnn, "weight_hh_l0").norm(dim=0))
    bwd = act[h:] * (reads[h:] + _t(rnn, "weight_hh_l0_reverse").norm(dim=0))
    return channel, fwd, bwd


def _top(scores: Tensor, k: int) -> Tensor:
    return scores.topk(k).indices.sort().values


@torch.no_grad()
def prune_crnn(
    model: CRNN, lines: Tensor, *, hidden: int, width: int, context: int = 0, dropout: float = 0.1
) -> CRNN:
    """A ``crnn_student(hidden=hidden, width=width)`` holding the most important part of ``model``,
    or with ``hidden=0`` a ``crnn_conv(width=width, context=context)`` (see the module docstring)."""
    bb, conv, bn = _trunk(model)
    assert model.rnn is not None  # checked by importance()
    h, w = model.rnn.hidden_size, conv.out_channels
    if (hidden == 0) != (context > 0):
        raise BadConfigError(
            f"hidden {hidden} with context {context}: drop the LSTM (hidden 0) and give it context blocks "
            "(context >= 1), or keep LSTM units (hidden >= 1) and no context blocks"
        )
    if not (0 <= hidden <= h and 0 < width <= w):
        raise BadConfigError(f"cannot cut hidden {h} -> {hidden} and width {w} -> {width}: sizes must shrink")
    channel, fwd, bwd = importance(model, lines)
    keep_c = _top(channel, width)
    if hidden == 0:
        small = crnn_conv(num_classes=model.num_classes, width=width, context=context, dropout=dropout)
    else:
        small = crnn_student(num_classes=model.num_classes, hidden=hidden, width=width, dropout=dropout)
    small_bb, small_conv, small_bn = _trunk(small)
    for i in range(len(bb) - 3):  # the shared trunk, whole
        small_bb[i].load_state_dict(bb[i].state_dict())
    small_conv.weight.copy_(conv.weight[keep_c])
    for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
        src = _t(bn, name)
        _t(small_bn, name).copy_(src if name == "num_batches_tracked" else src[keep_c])
    if hidden == 0:
        return _fit_head(small, model, lines).train(model.training)
    keep_f, keep_b = _top(fwd, hidden), _top(bwd, hidden)
    assert small.rnn is not None
    for suffix, keep in (("", keep_f), ("_reverse", keep_b)):
        rows = torch.cat([g * h + keep for g in range(4)])  # gates i, f, g, o
        _t(small.rnn, f"weight_ih_l0{suffix}").copy_(_t(model.rnn, f"weight_ih_l0{suffix}")[rows][:, keep_c])
        _t(small.rnn, f"weight_hh_l0{suffix}").copy_(_t(model.rnn, f"weight_hh_l0{suffix}")[rows][:, keep])
        for b in ("bias_ih", "bias_hh"):
            _t(small.rnn, f"{b}_l0{suffix}").copy_(_t(model.rnn, f"{b}_l0{suffix}")[rows])
    small.head.weight.copy_(model.head.weight[:, torch.cat([keep_f, h + keep_b])])
    small.head.bias.copy_(model.head.bias)
    return small.train(model.training)


@torch.no_grad()
def _fit_head(small: CRNN, model: CRNN, lines: Tensor) -> CRNN:
    """Set ``small``'s linear head to the least-squares map from its features to ``model``'s logits
    on ``lines`` (every timestep of every line), so that it starts near the original's output."""
    was = model.training, small.training
    model.eval()
    small.eval()
    target = model(lines)["logits"].reshape(-1, model.num_classes)  # (B*T, C)
    f = small.backbone(lines)
    if small.context is not None:
        f = small.context(f)
    feats = f.squeeze(2).permute(0, 2, 1).reshape(target.shape[0], -1)  # (B*T, D), as the head reads it
    x = torch.cat([feats, torch.ones(len(feats), 1)], dim=1)
    sol = torch.linalg.lstsq(x.double(), target.double()).solution.float()  # (D + 1, C)
    small.head.weight.copy_(sol[:-1].T)
    small.head.bias.copy_(sol[-1])
    model.train(was[0])
    small.train(was[1])
    return small
