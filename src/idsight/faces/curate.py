"""Curation of face training data at scale: streaming class centres, similarity filters, equalisation.

The input is embeddings already computed by a pre-trained face embedder, stored with
:class:`~idsight.faces.store.EmbeddingStore` (one store for the base images, optionally one for their
offline-augmented copies). The method:

1. **centres** (:func:`~idsight.faces.centres.class_centres`): each identity's centre is the mean of its
   L2-normalised base embeddings, L2-normalised again; an identity without images gets a zero row;
2. **base filter**: a base image is kept when its cosine to its own centre is ``>= t`` (default 0.65);
3. **augmented filter**: an augmented image is kept when its cosine to its identity's centre lies strictly
   inside ``(a, b)`` (default ``(0.80, 0.97)``): ``>= b`` is a near-copy that teaches nothing, ``<= a`` has
   drifted away from the identity. Augmented images are matched to identities by their labels; those of an
   identity none of whose base images was kept are dropped too (they are copies of the kept base);
4. **equalisation** (policy ``"cap_and_fill"`` with a ``target``): an identity with more than ``target``
   kept base images is under-sampled to ``target`` (seeded, deterministic); one with fewer is filled from its
   kept augmented images up to ``target`` (or as many as it has). Policy ``"none"``, or no target, keeps all.

Scale (180,000 identities x 512-d, millions of images): the centres and the similarities are computed in one
streaming pass per store (:mod:`idsight.faces.centres`, which also shards them across processes). The
resulting :class:`~idsight.faces.report.Curation` keeps a few scalars per row (source, label, similarity,
stage: 14 bytes), not the embeddings and not the paths, which are streamed from the stores' ``paths.txt``
when the manifest is written (:mod:`idsight.faces.report`).

Stages of the manifest (each row's final state; the training set is ``base_kept`` + ``augmented_kept``):

* ``base_kept`` / ``base_dropped``: a base image that passed / failed ``t``, and was not under-sampled;
* ``augmented_kept`` / ``augmented_dropped``: an augmented image that passed / failed the band (and, when
  equalising, was needed to fill its identity);
* ``balanced``: passed its filter but was left out by equalisation (a base image of an identity capped at
  ``target``, or an augmented image its identity did not need).

Every stage can be rerun from the previous stage's output: centres are a ``.npy`` (``np.save``); a curation
written with :meth:`Curation.write <idsight.faces.report.Curation.write>` holds every row's similarity, so
:func:`~idsight.faces.report.load_curation` + :func:`recurate` redo the filters and the equalisation with
other thresholds, target or policy without the embeddings. Thresholds are compared at float32 precision (the
precision of the stored similarities), so a rerun on a loaded manifest decides exactly as the original run
did.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from idsight.faces.centres import _check_centres, similarities
from idsight.faces.report import (
    AUG_DROPPED,
    AUG_KEPT,
    BALANCED,
    BASE_DROPPED,
    BASE_KEPT,
    STAGES,
    Curation,
)
from idsight.faces.store import EmbeddingStore, _check_chunk

POLICIES = ("cap_and_fill", "none")
HIST_BINS = 100  # fixed bins over [-1, 1] (width 0.02), the same for every report
NAMES_LIMIT = 20  # at most this many identity names in a report's lists


def check_params(
    t: float, band: tuple[float, float], target: int | None, policy: str, seed: int, min_per_class: int
) -> dict[str, Any]:
    def real(name: str, v: object) -> float:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not -1.0 <= float(v) <= 1.0:
            raise ValueError(f"{name} must be a number in [-1, 1], got {v!r}")
        return float(v)

    t = real("t", t)
    try:
        a, b = band
    except (TypeError, ValueError):
        raise ValueError(f"band must be a pair (a, b), got {band!r}") from None
    a, b = real("band's a", a), real("band's b", b)
    if not a < b:
        raise ValueError(f"band (a, b) needs a < b, got ({a}, {b})")
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; allowed: {', '.join(POLICIES)}")
    if target is not None and (
        isinstance(target, bool) or not isinstance(target, numbers.Integral) or target < 1
    ):
        raise ValueError(f"target must be a positive integer or None, got {target!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if (
        isinstance(min_per_class, bool)
        or not isinstance(min_per_class, numbers.Integral)
        or min_per_class < 0
    ):
        raise ValueError(f"min_per_class must be a non-negative integer, got {min_per_class!r}")
    return {
        "t": t,
        "band": [a, b],
        "policy": policy,
        "target": None if target is None else int(target),
        "seed": int(seed),
        "min_per_class": int(min_per_class),
    }


def _rank_within(labels: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Each row's rank among the rows of its class, ordered by ``keys`` (0 = smallest key)."""
    order = np.lexsort((keys, labels))
    sorted_labels = labels[order]
    first = np.searchsorted(sorted_labels, sorted_labels, side="left")
    ranks = np.empty(len(labels), dtype=np.int64)
    ranks[order] = np.arange(len(labels)) - first
    return ranks


def _masks(
    source: np.ndarray, label: np.ndarray, sim: np.ndarray, k: int, params: dict[str, Any]
) -> dict[str, np.ndarray]:
    """The filters' masks (thresholds compared in float32) and the kept base images per class."""
    t = np.float32(params["t"])
    a, b = (np.float32(x) for x in params["band"])
    is_base = source == 0
    is_aug = ~is_base
    base_pass = is_base & (sim >= t)
    kept_base = np.bincount(label[base_pass], minlength=k)
    in_band = is_aug & (sim > a) & (sim < b)
    aug_pass = in_band & (kept_base[label] > 0)
    return {
        "is_base": is_base,
        "is_aug": is_aug,
        "base_pass": base_pass,
        "kept_base": kept_base,
        "in_band": in_band,
        "aug_pass": aug_pass,
        "near_copy": is_aug & (sim >= b),
        "drifted": is_aug & (sim <= a),
    }


def _decide(
    source: np.ndarray, label: np.ndarray, sim: np.ndarray, k: int, params: dict[str, Any]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Every row's stage: the filters, then (cap_and_fill with a target) the equalisation."""
    m = _masks(source, label, sim, k, params)
    stage = np.where(m["is_base"], BASE_DROPPED, AUG_DROPPED).astype(np.int8)
    stage[m["base_pass"]] = BASE_KEPT
    stage[m["aug_pass"]] = AUG_KEPT
    target = params["target"]
    if params["policy"] == "cap_and_fill" and target is not None:
        keys = np.random.default_rng(params["seed"]).random(len(sim))  # depends on the row order only
        idx = np.flatnonzero(m["base_pass"])
        stage[idx[_rank_within(label[idx], keys[idx]) >= target]] = BALANCED
        need = target - np.minimum(m["kept_base"], target)
        idx = np.flatnonzero(m["aug_pass"])
        lab = label[idx]
        stage[idx[_rank_within(lab, keys[idx]) >= need[lab]]] = BALANCED
    return stage, m


def _summary(counts: np.ndarray) -> dict[str, float | int]:
    if len(counts) == 0:
        return {"min": 0, "median": 0.0, "max": 0, "mean": 0.0, "zero": 0}
    return {
        "min": int(counts.min()),
        "median": float(np.median(counts)),
        "max": int(counts.max()),
        "mean": round(float(counts.mean()), 4),
        "zero": int(np.count_nonzero(counts == 0)),
    }


def _histogram(sim: np.ndarray) -> list[int]:
    counts, _ = np.histogram(np.clip(sim, -1.0, 1.0), bins=HIST_BINS, range=(-1.0, 1.0))
    return [int(c) for c in counts]


def _names(labels: np.ndarray, identities: list[str] | None) -> list[str | int]:
    head = labels[:NAMES_LIMIT].tolist()
    return [identities[i] for i in head] if identities is not None else head


def _report(
    source: np.ndarray,
    label: np.ndarray,
    sim: np.ndarray,
    stage: np.ndarray,
    m: dict[str, np.ndarray],
    k: int,
    identities: list[str] | None,
    params: dict[str, Any],
    inputs: dict[str, Any],
) -> dict[str, Any]:
    is_base, is_aug = m["is_base"], m["is_aug"]
    stages = {name: int(np.count_nonzero(stage == code)) for code, name in enumerate(STAGES)}
    selected = (stage == BASE_KEPT) | (stage == AUG_KEPT)
    before = np.bincount(label[is_base], minlength=k)
    after_filter = m["kept_base"]
    aug_in_band = np.bincount(label[m["aug_pass"]], minlength=k)
    final = np.bincount(label[selected], minlength=k)
    target = params["target"]
    applied = params["policy"] == "cap_and_fill" and target is not None
    balance: dict[str, Any] = {"policy": params["policy"], "target": target, "applied": applied}
    if applied:
        filled = np.bincount(label[stage == AUG_KEPT], minlength=k)
        balance.update(
            classes_capped=int(np.count_nonzero(after_filter > target)),
            classes_filled=int(np.count_nonzero(filled > 0)),
            classes_at_target=int(np.count_nonzero(final == target)),
            classes_below_target=int(np.count_nonzero(final < target)),
            base_removed=int(np.count_nonzero(is_base & (stage == BALANCED))),
            augmented_added=stages["augmented_kept"],
            augmented_unused=int(np.count_nonzero(is_aug & (stage == BALANCED))),
        )
    below = np.flatnonzero(final < params["min_per_class"])
    return {
        "params": params,
        "inputs": inputs,
        "num_classes": k,
        "rows": {"base": int(np.count_nonzero(is_base)), "augmented": int(np.count_nonzero(is_aug))},
        "stages": stages,
        "selected": int(np.count_nonzero(selected)),
        "filters": {
            "base_passed": int(np.count_nonzero(m["base_pass"])),
            "base_failed": int(np.count_nonzero(is_base & ~m["base_pass"])),
            "augmented_passed": int(np.count_nonzero(m["aug_pass"])),
            "augmented_near_copy": int(np.count_nonzero(m["near_copy"])),
            "augmented_drifted": int(np.count_nonzero(m["drifted"])),
            "augmented_orphaned": int(np.count_nonzero(m["in_band"] & ~m["aug_pass"])),
        },
        "balance": balance,
        "per_class": {
            "base_images": _summary(before),
            "base_kept_by_filter": _summary(after_filter),
            "augmented_passed": _summary(aug_in_band),
            "final": _summary(final),
        },
        "below_min": {
            "min_per_class": params["min_per_class"],
            "classes": len(below),
            "names": _names(below, identities),
            "names_truncated": len(below) > NAMES_LIMIT,
        },
        "histograms": {
            "edges": [round(float(x), 6) for x in np.linspace(-1.0, 1.0, HIST_BINS + 1)],
            "base": _histogram(sim[is_base]),
            "augmented": _histogram(sim[is_aug]),
        },
    }


def _build(
    source: np.ndarray,
    label: np.ndarray,
    sim: np.ndarray,
    k: int,
    identities: list[str] | None,
    params: dict[str, Any],
    inputs: dict[str, Any],
    paths: Iterable[str],
) -> Curation:
    stage, masks = _decide(source, label, sim, k, params)
    report = _report(source, label, sim, stage, masks, k, identities, params, inputs)
    return Curation(source, label, sim, stage, report, identities, paths)


class _StorePaths:
    """The path column of a curation made from stores: streamed from their ``paths.txt``, never held."""

    def __init__(self, stores: Sequence[EmbeddingStore]) -> None:
        self.stores = list(stores)

    def __iter__(self) -> Iterator[str]:
        for store in self.stores:
            yield from store.iter_paths()

    def __len__(self) -> int:
        return sum(s.n for s in self.stores)


def curate(
    base: EmbeddingStore,
    centres: np.ndarray,
    *,
    t: float = 0.65,
    augmented: EmbeddingStore | None = None,
    band: tuple[float, float] = (0.80, 0.97),
    target: int | None = None,
    policy: str = "cap_and_fill",
    seed: int = 0,
    min_per_class: int = 1,
    chunk: int = 65536,
    mean: np.ndarray | None = None,
) -> Curation:
    """Filter the base (cosine >= ``t``) and augmented (cosine in ``(a, b)``) images and equalise the classes.

    ``centres``: from :func:`~idsight.faces.centres.class_centres` over ``base`` (K = ``base.num_classes``
    rows). One streaming pass per store (:func:`~idsight.faces.centres.similarities`); see the module
    docstring for the stages. With ``policy="cap_and_fill"`` and a ``target``, classes are under-sampled /
    filled to ``target`` (seeded); with ``target=None`` or ``policy="none"`` nothing is balanced.
    The report counts classes whose final count is below ``min_per_class`` (and names up to 20 of them); it
    does not drop them. ``mean``: the mean the centres were centred on
    (:func:`~idsight.faces.centres.mean_embedding`), applied to every row the same way.
    """
    params = check_params(t, band, target, policy, seed, min_per_class)
    _check_chunk(chunk)
    k = base.num_classes
    c = _check_centres(centres, base.dim, k)
    if c.shape[0] != k:
        raise ValueError(f"centres have {c.shape[0]} rows but the base store has {k} identities")
    stores = [base]
    if augmented is not None:
        if augmented.dim != base.dim:
            raise ValueError(
                f"the augmented store's dim {augmented.dim} differs from the base store's {base.dim}"
            )
        if augmented.num_classes > k:
            raise ValueError(
                f"the augmented store has {augmented.num_classes} identities, the base store only {k}"
            )
        if augmented.identities is not None and base.identities is not None:
            if augmented.identities != base.identities[: augmented.num_classes]:
                raise ValueError("the augmented store's identity names differ from the base store's")
        stores.append(augmented)
    n = sum(s.n for s in stores)
    sim = np.empty(n, dtype=np.float32)
    label = np.empty(n, dtype=np.int64)
    source = np.zeros(n, dtype=np.int8)
    offset = 0
    for i, store in enumerate(stores):
        for start, cos in similarities(store, c, chunk=chunk, offset=mean):
            sim[offset + start : offset + start + len(cos)] = cos
        label[offset : offset + store.n] = store.labels  # range-checked by similarities
        source[offset : offset + store.n] = i
        offset += store.n
    inputs = {
        "base": str(base.root),
        "augmented": None if augmented is None else str(augmented.root),
        "centred": mean is not None,
    }
    return _build(source, label, sim, k, base.identities, params, inputs, _StorePaths(stores))


def recurate(
    previous: Curation,
    *,
    t: float = 0.65,
    band: tuple[float, float] = (0.80, 0.97),
    target: int | None = None,
    policy: str = "cap_and_fill",
    seed: int = 0,
    min_per_class: int = 1,
) -> Curation:
    """Redo the filters and the equalisation of a curation (e.g. one from
    :func:`~idsight.faces.report.load_curation`) with new parameters, from its stored similarities: no
    embeddings needed. Same parameters, same decisions."""
    params = check_params(t, band, target, policy, seed, min_per_class)
    k = int(previous.report["num_classes"])
    inputs = dict(previous.report.get("inputs", {}))
    return _build(
        previous.source,
        previous.label,
        previous.similarity,
        k,
        previous.identities,
        params,
        inputs,
        previous.paths,
    )
