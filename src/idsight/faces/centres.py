"""Streaming class centres, and each row's cosine to its own centre, over an
:class:`~idsight.faces.store.EmbeddingStore`.

1. **centres** (:func:`class_centres`): each identity's centre is the mean of its L2-normalised
   embeddings (for curation, those of its base images), L2-normalised again; an identity without images
   gets a zero row;
2. **similarities** (:func:`similarities`): each row's cosine to its *own* class centre, the score the
   filters of :func:`idsight.faces.curate.curate` compare with their thresholds.

Scale (180,000 identities x 512-d, millions of images): embeddings are memory-mapped and read one chunk at
a time. Computing the centres holds the ``(K, D)`` sums and one chunk; the similarities hold the centres and
one chunk, and take each row's cosine against its *own* centre (a row-wise dot product with
``centres[labels]``), never an ``N x K`` matrix. Labels are range-checked and rows checked finite chunk by
chunk as they are read.

Sharding: :func:`class_centres` and :func:`similarities` take ``shard=(rank, world)`` and read the contiguous
row range :func:`shard_range` gives (contiguous ranges keep the memory-mapped reads sequential); pass
``reduce=torch_all_reduce()`` to sum the per-rank sums and counts across a ``torch.distributed`` group.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from idsight.errors import BadDataError
from idsight.faces.store import EmbeddingStore, _check_chunk

_EPS = 1e-12

Reducer = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray] | None]
"""``reduce(sums, counts)``: combine the per-shard ``(K, D)`` float32 sums and ``(K,)`` int64 counts across
processes, in place (return None) or by returning the reduced ``(sums, counts)``."""


def shard_range(n: int, rank: int, world: int) -> tuple[int, int]:
    """The contiguous rows ``[lo, hi)`` of shard ``rank`` of ``world``: ``[rank*n//world, (rank+1)*n//world)``."""
    if isinstance(world, bool) or not isinstance(world, numbers.Integral) or world < 1:
        raise ValueError(f"shard world size must be a positive integer, got {world!r}")
    if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or not 0 <= rank < world:
        raise ValueError(f"shard rank must be an integer in [0, {world}), got {rank!r}")
    return rank * n // world, (rank + 1) * n // world


def _row_norms(x: np.ndarray) -> np.ndarray:
    """The L2 norm of each row of a 2-D array (in its dtype)."""
    return np.sqrt(np.einsum("ij,ij->i", x, x))


def _normalised(
    store: EmbeddingStore, start: int, emb: np.ndarray, offset: np.ndarray | None = None
) -> np.ndarray:
    """A float32 copy of one chunk with L2-normalised rows (an all-zero row stays zero); with
    ``offset`` (see :func:`mean_embedding`), the normalised rows minus it, normalised again."""
    x = np.array(emb, dtype=np.float32)
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
        row = start + int(np.flatnonzero(~finite)[0])
        raise BadDataError(f"row {row} is not finite (NaN or inf)", path=store.embeddings_path)
    x /= np.maximum(_row_norms(x), _EPS)[:, None]
    if offset is not None:
        x -= offset
        x /= np.maximum(_row_norms(x), _EPS)[:, None]
    return x


def mean_embedding(
    store: EmbeddingStore,
    *,
    chunk: int = 65536,
    shard: tuple[int, int] = (0, 1),
    reduce: Reducer | None = None,
) -> np.ndarray:
    """The ``(D,)`` mean of the store's L2-normalised rows, in one streaming pass (``reduce`` as for
    :func:`class_centres`). Some embedders (dlib's) put every face within a narrow cone, so that the
    cosine of two different people is still ~0.9; subtracting this mean (``offset=``) spreads them,
    and a threshold such as 0.65 then means the same for every embedder."""
    _check_chunk(chunk)
    lo, hi = shard_range(store.n, *shard)
    sums = np.zeros((1, store.dim), dtype=np.float32)
    counts = np.zeros(1, dtype=np.int64)
    for start, emb, _ in store.chunks(chunk, start=lo, stop=hi):
        sums[0] += _normalised(store, start, emb).sum(0)
        counts[0] += len(emb)
    if reduce is not None:
        out = reduce(sums, counts)
        if out is not None:
            sums, counts = (np.asarray(a) for a in out)
    return (sums[0] / max(1, int(counts[0]))).astype(np.float32)


def _checked_labels(store: EmbeddingStore, start: int, labels: np.ndarray, k: int) -> np.ndarray:
    lab = np.asarray(labels, dtype=np.int64)
    if len(lab):
        bad = (lab < 0) | (lab >= k)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise BadDataError(
                f"row {start + i}: label {int(lab[i])} is outside [0, {k})", path=store.labels_path
            )
    return lab


def _accumulate(sums: np.ndarray, counts: np.ndarray, x: np.ndarray, lab: np.ndarray) -> None:
    """Add one chunk's rows to their classes' sums (sort + reduceat; no sort when labels are grouped)."""
    if len(lab) == 0:
        return
    if np.all(lab[1:] >= lab[:-1]):
        xs, ls = x, lab
    else:
        order = np.argsort(lab, kind="stable")
        xs, ls = x[order], lab[order]
    starts = np.flatnonzero(np.concatenate(([True], ls[1:] != ls[:-1])))
    classes = ls[starts]  # unique, so fancy-index += adds once per class
    sums[classes] += np.add.reduceat(xs, starts, axis=0)
    counts[classes] += np.diff(np.append(starts, len(ls)))


def class_centres(
    store: EmbeddingStore,
    *,
    chunk: int = 65536,
    shard: tuple[int, int] = (0, 1),
    reduce: Reducer | None = None,
    offset: np.ndarray | None = None,
) -> np.ndarray:
    """The ``(K, D)`` float32 class centres: per identity, the L2-normalised sum of its L2-normalised rows
    (with ``offset``, of its rows centred as :func:`_normalised` does).

    One streaming pass over this shard's contiguous rows (:func:`shard_range`), holding the ``(K, D)``
    float32 sums, the ``(K,)`` counts and one chunk. ``reduce(sums, counts)`` runs before normalising (e.g.
    :func:`torch_all_reduce` so that every rank gets the centres of all rows). A class without rows, or
    whose rows sum to zero, gets a zero row. An all-zero embedding counts but adds nothing.
    """
    _check_chunk(chunk)
    rank, world = shard
    lo, hi = shard_range(store.n, rank, world)
    k, d = store.num_classes, store.dim
    sums = np.zeros((k, d), dtype=np.float32)
    counts = np.zeros(k, dtype=np.int64)
    for start, emb, labels in store.chunks(chunk, start=lo, stop=hi):
        lab = _checked_labels(store, start, labels, k)
        _accumulate(sums, counts, _normalised(store, start, emb, offset), lab)
    if reduce is not None:
        out = reduce(sums, counts)
        if out is not None:
            sums, counts = (np.asarray(a) for a in out)
            if sums.shape != (k, d) or counts.shape != (k,):
                raise ValueError(
                    f"reduce returned shapes {sums.shape}, {counts.shape}; expected ({k}, {d}), ({k},)"
                )
            sums = np.array(sums, dtype=np.float32)
    norms = _row_norms(sums)
    scale = np.where((counts > 0) & (norms > 0), 1.0 / np.maximum(norms, _EPS), 0.0).astype(np.float32)
    sums *= scale[:, None]
    return sums


def torch_all_reduce(group: Any = None, device: Any = None) -> Reducer:
    """A ``reduce`` for :func:`class_centres` summing ``(sums, counts)`` over a ``torch.distributed`` group.

    The arrays are reduced in place (gloo reduces CPU tensors; for NCCL pass ``device``, e.g. ``"cuda"``,
    and they are copied there and back). Every rank must call :func:`class_centres` with its own shard.
    """

    def _reduce(sums: np.ndarray, counts: np.ndarray) -> None:
        import torch
        import torch.distributed as dist

        for arr in (sums, counts):
            host = torch.from_numpy(arr)
            if device is None:
                dist.all_reduce(host, op=dist.ReduceOp.SUM, group=group)
            else:
                moved = host.to(device)
                dist.all_reduce(moved, op=dist.ReduceOp.SUM, group=group)
                host.copy_(moved.cpu())
        return None

    return _reduce


def _check_centres(centres: np.ndarray, dim: int, num_classes: int) -> np.ndarray:
    c = np.asarray(centres)
    if c.ndim != 2 or c.shape[1] != dim or c.shape[0] < num_classes:
        raise ValueError(f"centres must have shape (>= {num_classes}, {dim}), got {c.shape}")
    c = np.ascontiguousarray(c, dtype=np.float32)
    norms = _row_norms(c)
    if not np.all((norms == 0) | (np.abs(norms - 1) < 1e-3)):
        raise ValueError("centres must have L2-normalised (or zero) rows, as class_centres returns")
    return c


def similarities(
    store: EmbeddingStore,
    centres: np.ndarray,
    *,
    chunk: int = 65536,
    shard: tuple[int, int] = (0, 1),
    offset: np.ndarray | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Per chunk, ``(start, cos)``: each row's cosine to its *own* class centre, float32 in ``[-1, 1]``.

    A row-wise dot product of the normalised rows with ``centres[labels]`` (one chunk's worth of centres),
    never against all centres. ``shard`` restricts it to :func:`shard_range`'s rows (``start`` stays global).
    """
    _check_chunk(chunk)
    c = _check_centres(centres, store.dim, store.num_classes)
    lo, hi = shard_range(store.n, *shard)
    for start, emb, labels in store.chunks(chunk, start=lo, stop=hi):
        lab = _checked_labels(store, start, labels, c.shape[0])
        x = _normalised(store, start, emb, offset)
        cos = np.einsum("ij,ij->i", x, c[lab])
        yield start, np.clip(cos, -1.0, 1.0, out=cos)
