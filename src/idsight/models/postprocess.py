"""Decoding network outputs: CTC greedy decoding with character spans, and line maps to boxes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import cv2
import numpy as np
from torch import Tensor

from idsight.ocr.types import CharRead
from idsight.templates import CARD_SIZE, LINE_KEYS, get_template


def ctc_greedy(
    logits: Tensor,
    charset: str,
    *,
    topk: int = 3,
    stride: float = 4.0,
    length: int | None = None,
    reduce: str = "min",
    expand: bool = False,
) -> tuple[str, float, list[CharRead]]:
    """Greedy (best-path) CTC decoding of one line.

    ``logits``: ``(T, C)`` logits or log-probabilities (a softmax is applied either way; ``(1, T, C)``
    is accepted), ``C == len(charset) + 1`` with class 0 the blank and class ``i`` = ``charset[i-1]``.
    ``length`` limits decoding to the first ``length`` timesteps (the unpadded width // 4).

    Each emitted character is one run of equal non-blank argmax labels over timesteps ``t0..t1``:
    ``prob`` is the highest probability of that label in the run, ``alternatives`` the top-``topk``
    labels (``""`` = blank) at that peak timestep, and ``x0, x1 = t0 * stride, (t1 + 1) * stride``
    is its pixel span in the crop (the character segmentation). With ``expand=True`` neighbouring
    spans are widened to meet in the middle of the blank gap between them.

    Returns ``(text, confidence, chars)``. ``confidence`` is the **minimum** character probability
    (``reduce="min"``, the default: one doubtful character makes the line doubtful) or the mean
    (``reduce="mean"``); it is 0.0 for an empty reading.
    """
    if logits.dim() == 3 and logits.shape[0] == 1:
        logits = logits[0]
    if logits.dim() != 2:
        raise ValueError(f"ctc_greedy expects (T, C) logits, got shape {tuple(logits.shape)}")
    if logits.shape[1] != len(charset) + 1:
        raise ValueError(
            f"logits have {logits.shape[1]} classes but the charset has {len(charset)} (+1 blank)"
        )
    if reduce not in ("min", "mean"):
        raise ValueError(f"reduce must be 'min' or 'mean', not {reduce!r}")
    if length is not None:
        logits = logits[: max(int(length), 0)]
    if logits.shape[0] == 0:
        return "", 0.0, []
    probs = logits.detach().float().cpu().softmax(-1).numpy()
    return ctc_decode_probs(probs, charset, topk=topk, stride=stride, reduce=reduce, expand=expand)


def ctc_decode_probs(
    probs: np.ndarray,
    charset: str,
    *,
    topk: int = 3,
    stride: float = 4.0,
    reduce: str = "min",
    expand: bool = False,
) -> tuple[str, float, list[CharRead]]:
    """:func:`ctc_greedy` on ``(T, C)`` probabilities already softmaxed (a reader softmaxes a whole
    batch of lines in one call, then decodes each line's unpadded timesteps with this)."""
    return ctc_decode_lines([probs], charset, topk=topk, stride=stride, reduce=reduce, expand=expand)[0]


def ctc_decode_lines(
    lines: Sequence[np.ndarray],
    charset: str,
    *,
    topk: int = 3,
    stride: float = 4.0,
    reduce: str = "min",
    expand: bool = False,
    sure: float | None = None,
) -> list[tuple[str, float, list[CharRead]]]:
    """:func:`ctc_decode_probs` of each ``(T_i, C)`` array in ``lines``: the same results, from one
    pass over all lines' timesteps laid end to end (a card has about eight lines, and per-call
    overhead, not arithmetic, is what decoding costs). With ``sure``, a character read with that
    probability or more has itself as its only alternative (the search for the others is skipped)."""
    if reduce not in ("min", "mean"):
        raise ValueError(f"reduce must be 'min' or 'mean', not {reduce!r}")
    labels = ["", *charset]  # class 0 is the blank
    for probs in lines:
        if probs.ndim != 2 or probs.shape[1] != len(labels):
            raise ValueError(f"expected (T, {len(labels)}) probabilities, got shape {probs.shape}")
    lengths = np.array([len(p) for p in lines], dtype=np.int64)
    offsets: np.ndarray = np.concatenate([[0], np.cumsum(lengths)])
    if not len(lines) or offsets[-1] == 0:
        return [("", 0.0, []) for _ in lines]
    probs = np.concatenate(lines)
    best = probs.argmax(axis=-1)
    line_start = np.zeros(len(best), dtype=bool)
    line_start[offsets[:-1][lengths > 0]] = True
    # runs of one label (blank included), never across lines; a character is a non-blank run
    new = np.r_[True, best[1:] != best[:-1]] | line_start
    t0s = np.flatnonzero(new & (best != 0))
    ends = np.flatnonzero(np.r_[new[1:], True])  # the last timestep of every run
    t1s = ends[np.searchsorted(ends, t0s)]
    p_best = probs[np.arange(len(best)), best]  # within a run: the run label's probability
    # each run's peak: its first timestep where the run label's probability is highest
    starts = np.flatnonzero(new)
    run_of = np.cumsum(new) - 1
    at_max = np.flatnonzero(p_best == np.maximum.reduceat(p_best, starts)[run_of])
    first_max = at_max[np.r_[True, run_of[at_max][1:] != run_of[at_max][:-1]]]  # one per run
    peaks = first_max[np.searchsorted(starts, t0s)]
    # the top-k labels at every character's peak; with ``sure``, a peak read that surely has no
    # alternative worth naming (each under 1 - sure) and is not searched
    k = max(1, min(topk, len(labels)))
    cs, ps = best[t0s].tolist(), p_best[peaks].tolist()
    all_i: list[list[int]] = [[c] for c in cs]
    all_p: list[list[float]] = [[p] for p in ps]
    unsure = np.flatnonzero(p_best[peaks] < (sure if sure is not None else np.inf))
    if len(unsure):
        peak_probs = probs[peaks[unsure]]
        top_i = np.argpartition(-peak_probs, k - 1, axis=1)[:, :k]
        top_p = np.take_along_axis(peak_probs, top_i, axis=1)
        order = np.argsort(-top_p, axis=1, kind="stable")
        for n, row_i, row_p in zip(
            unsure.tolist(),
            np.take_along_axis(top_i, order, 1).tolist(),
            np.take_along_axis(top_p, order, 1).tolist(),
            strict=True,
        ):
            all_i[n], all_p[n] = row_i, row_p
    cuts = np.searchsorted(t0s, offsets)  # each line's characters: cuts[i]:cuts[i + 1]
    start = np.repeat(offsets[:-1], np.diff(cuts))  # each character's line's first timestep
    x0s, x1s = ((t0s - start) * stride).tolist(), ((t1s + 1 - start) * stride).tolist()
    bounds = [int(c) for c in cuts]
    out: list[tuple[str, float, list[CharRead]]] = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if a == b:
            out.append(("", 0.0, []))
            continue
        spans = [[x0s[n], x1s[n]] for n in range(a, b)]
        if expand:
            for i in range(len(spans) - 1):
                mid = (spans[i][1] + spans[i + 1][0]) / 2.0
                spans[i][1] = spans[i + 1][0] = mid
        chars = [
            CharRead(
                char=labels[cs[n]],
                prob=ps[n],
                alternatives=[(labels[i], q) for q, i in zip(all_p[n], all_i[n], strict=True)],
                x0=x0,
                x1=x1,
            )
            for n, (x0, x1) in zip(range(a, b), spans, strict=True)
        ]
        line_ps = ps[a:b]
        conf = min(line_ps) if reduce == "min" else sum(line_ps) / len(line_ps)
        out.append(("".join(ch.char for ch in chars), float(conf), chars))
    return out


def _channels(keys: Sequence[int] | Sequence[str] | str, k: int) -> list[tuple[int, str]]:
    """(channel index, result key) pairs for :func:`maps_to_boxes`."""
    short = [name.split("/", 1)[1] for name in LINE_KEYS]
    if isinstance(keys, str):
        tpl = get_template(keys)  # raises UnknownNameError for an unknown template
        if k == len(LINE_KEYS):
            return [(i, short[i]) for i, name in enumerate(LINE_KEYS) if name.split("/", 1)[0] == keys]
        if k == len(tpl.line_keys):  # maps already restricted to this template's classes
            return list(enumerate(tpl.line_keys))
        raise ValueError(f"{k} maps fit neither all {len(LINE_KEYS)} classes nor template {keys!r}")
    items: list[int | str] = list(keys)
    if all(isinstance(x, str) for x in items):
        if len(items) != k:
            raise ValueError(f"{len(items)} names for {k} maps")
        return list(enumerate(cast(list[str], items)))
    if k != len(LINE_KEYS):
        raise ValueError(f"class indices need all {len(LINE_KEYS)} maps, got {k}")
    return [(int(i), short[int(i)]) for i in items]


def maps_to_boxes(
    maps: Tensor | np.ndarray,
    keys: Sequence[int] | Sequence[str] | str,
    *,
    thr: float = 0.5,
    scale: tuple[float, float] | None = None,
) -> dict[str, tuple[list[float], float]]:
    """Turn per-class line probability maps into one box per line.

    ``maps``: ``(K, h, w)`` probabilities (after the sigmoid). ``keys`` says what the channels are:

    - a template name: ``maps`` holds all ``len(LINE_KEYS)`` classes (that template's are used) or
      exactly that template's lines in ``Template.line_keys`` order;
    - a list of class indices into :data:`LINE_KEYS` (``maps`` holds all classes);
    - a list of names, one per channel of ``maps``, used as the result keys as given.

    For each class the largest 8-connected component of ``maps[k] >= thr`` gives the box
    ``[x0, y0, x1, y1]`` (map pixel edges times ``scale = (sx, sy)``; by default the card frame,
    ``CARD_SIZE / (w, h)``) and the score, the mean probability over that component. Classes with
    no pixel at or above ``thr`` are absent. Keys of the result are line names without the template
    prefix (e.g. ``"mrz_1"``) unless names were passed, so pass classes of one template.
    """
    arr = maps.detach().float().cpu().numpy() if isinstance(maps, Tensor) else np.asarray(maps, np.float32)
    if arr.ndim != 3:
        raise ValueError(f"maps_to_boxes expects (K, h, w) maps, got shape {arr.shape}")
    h, w = arr.shape[1:]
    sx, sy = scale if scale is not None else (CARD_SIZE[0] / w, CARD_SIZE[1] / h)
    out: dict[str, tuple[list[float], float]] = {}
    for k, key in _channels(keys, arr.shape[0]):
        prob = arr[k]
        mask = (prob >= thr).astype(np.uint8)
        if not mask.any():
            continue
        n, lab, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        j = 1 + int(np.argmax(stats[1:n, cv2.CC_STAT_AREA]))
        x, y, bw, bh = (int(v) for v in stats[j, :4])
        score = float(prob[lab == j].mean())
        box = [x * sx, y * sy, (x + bw) * sx, (y + bh) * sy]
        out[key] = (box, score)
    return out
