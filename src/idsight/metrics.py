"""Evaluation metrics shared by the benchmarks and the training loop.

- ``edit_distance(a, b)``: Levenshtein distance (unit-cost insert / delete / substitute).
- ``cer(preds, gts)``: character error rate = total edit distance / total ground-truth characters.
- ``field_accuracy(preds, gts)``: exact-match accuracy per field and overall, over cards.
- ``field_text(name, text)`` / ``field_match(name, got, want)``: the one normalisation behind every
  "read exactly" of a layout-free read (benchmarks, calibration, the demo): Unicode NFC, whitespace
  runs as one space; the MRZ line by line with all whitespace removed.
- ``latency_summary(ms)``: count, mean, median, p90, p99, min, max of a list of latencies.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance between two strings (or any sequences of hashable items)."""
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def bounded_edit_distance(a: Sequence, b: Sequence, limit: int) -> int:
    """``min(edit_distance(a, b), limit + 1)``, in time proportional to ``limit`` times the length:
    only the band of cells within ``limit`` of the diagonal is filled, and it stops as soon as every
    cell of a row exceeds ``limit``."""
    if a == b:
        return 0
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    big = limit + 1
    prev = [j if j <= limit else big for j in range(len(b) + 1)]
    for i, ca in enumerate(a, 1):
        lo, hi = max(1, i - limit), min(len(b), i + limit)
        cur = [big] * (len(b) + 1)
        cur[0] = i if i <= limit else big
        for j in range(lo, hi + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != b[j - 1]), big)
        if min(cur[max(0, lo - 1) : hi + 1]) > limit:
            return big
        prev = cur
    return min(prev[-1], big)


def cer(preds: str | Sequence[str | None], gts: str | Sequence[str]) -> float:
    """Character error rate: sum of edit distances / sum of ground-truth lengths.

    Takes two strings, or two equal-length sequences of strings (a missing prediction, ``None``,
    counts as the empty string). With no ground-truth characters at all, returns the number of
    predicted characters clipped to 1.0 (0.0 when both sides are empty).
    """
    if isinstance(gts, str):
        if not isinstance(preds, str | None):
            raise TypeError("cer(): pass two strings or two sequences of strings")
        preds, gts = [preds], [gts]
    if isinstance(preds, str) or len(preds) != len(gts):
        raise ValueError(f"cer(): {len(preds)} predictions for {len(gts)} ground truths")
    errors = sum(edit_distance(p or "", g) for p, g in zip(preds, gts, strict=True))
    total = sum(len(g) for g in gts)
    if total == 0:
        return min(1.0, float(errors))
    return errors / total


def field_text(name: str, text: str | None) -> str:
    """``text`` as field ``name`` is compared: NFC, whitespace runs as one space; an MRZ (``mrz``)
    keeps its line breaks and loses every other whitespace (its filler is ``<``, never a space)."""
    s = unicodedata.normalize("NFC", text or "")
    if name == "mrz":
        return "\n".join("".join(line.split()) for line in s.splitlines() if line.strip())
    return " ".join(s.split())


def field_match(name: str, got: str | None, want: str | None) -> bool:
    """Whether field ``name`` was read exactly (see :func:`field_text`)."""
    return field_text(name, got) == field_text(name, want)


def field_accuracy(
    preds: Sequence[Mapping[str, str | None] | None], gts: Sequence[Mapping[str, str]]
) -> dict:
    """Exact-match accuracy over cards, per field and overall.

    ``preds[i]`` / ``gts[i]`` map field name -> value for card i. The fields scored are those of the
    ground truth; a field missing from the prediction, or a prediction of ``None`` (no read, or a
    wrong template), counts as wrong. Returns ``{"overall", "per_field": {name: acc}, "n_fields",
    "n_cards", "cards_all_correct"}``.
    """
    if len(preds) != len(gts):
        raise ValueError(f"field_accuracy(): {len(preds)} predictions for {len(gts)} ground truths")
    hits: dict[str, int] = {}
    counts: dict[str, int] = {}
    cards_ok = 0
    for p, g in zip(preds, gts, strict=True):
        p = p or {}
        all_ok = True
        for name, value in g.items():
            ok = p.get(name) == value
            counts[name] = counts.get(name, 0) + 1
            hits[name] = hits.get(name, 0) + int(ok)
            all_ok &= ok
        cards_ok += int(all_ok)
    n_fields = sum(counts.values())
    return {
        "overall": sum(hits.values()) / n_fields if n_fields else 0.0,
        "per_field": {k: hits[k] / counts[k] for k in counts},
        "n_fields": n_fields,
        "n_cards": len(gts),
        "cards_all_correct": cards_ok / len(gts) if gts else 0.0,
    }


def latency_summary(ms: Sequence[float]) -> dict:
    """Summary statistics of latencies in milliseconds (``n`` = 0 gives ``None`` values)."""
    keys = ("mean", "median", "p90", "p99", "min", "max")
    if len(ms) == 0:
        return {"n": 0, **dict.fromkeys(keys)}
    a = np.asarray(ms, dtype=np.float64)
    vals = (a.mean(), np.median(a), np.percentile(a, 90), np.percentile(a, 99), a.min(), a.max())
    return {"n": int(a.size), **{k: round(float(v), 3) for k, v in zip(keys, vals, strict=True)}}


READ_STAGES = ("localize", "classify", "detect", "recognize", "cleanup")


def stage_latency(timings: Sequence[dict[str, float]]) -> dict[str, Any]:
    """Per-read timings (``ReadResult.timings_ms`` plus ``networks``: ``ReadResult.network_ms``) ->
    the median of each stage and of the time inside the four networks (the rest of a read is the
    classical work: warps, crops, decoding, cleanup)."""
    return {
        "stage_ms_median": {
            st: latency_summary([t.get(st, 0.0) for t in timings])["median"] for st in READ_STAGES
        },
        "network_ms_median": latency_summary([t.get("networks", 0.0) for t in timings])["median"],
        # per read, its total less its network time: what a read would cost with free networks
        "outside_network_ms_median": latency_summary(
            [t["total"] - t.get("networks", 0.0) for t in timings if "total" in t]
        )["median"],
    }
