"""Face-data curation: the embedding store, streaming class centres, the filters, equalisation, 2 ranks."""

from __future__ import annotations

import csv
import json
import os
import socket
import time
import tracemalloc
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from idsight.errors import BadDataError, OutputError
from idsight.faces.centres import class_centres, shard_range, similarities
from idsight.faces.curate import curate, recurate
from idsight.faces.report import (
    AUG_KEPT,
    BALANCED,
    BASE_DROPPED,
    BASE_KEPT,
    STAGES,
    load_curation,
    plot_histograms,
)
from idsight.faces.store import EmbeddingStore

K, D = 50, 32
NOISE = 0.11  # per-dimension noise: a clean image's cosine to its prototype is about 0.85


@dataclass
class Base:
    """A base store built from known prototypes, and which of its rows are injected outliers."""

    store: EmbeddingStore
    emb: np.ndarray  # as written (float32)
    labels: np.ndarray
    outlier: np.ndarray  # bool per row


def _names(k: int = K) -> list[str]:
    return [f"person_{i:03d}" for i in range(k)]


def _write(
    root: Path,
    emb: np.ndarray,
    labels: np.ndarray,
    *,
    chunk: int = 37,
    dtype: str = "float32",
    identities: list[str] | int | None = None,
    prefix: str = "base",
) -> EmbeddingStore:
    """A store written in chunks of ``chunk`` rows (identities default to K names)."""
    names = _names() if identities is None else identities
    writer = EmbeddingStore.create(root, emb.shape[1], dtype, identities=names)
    for s in range(0, len(emb), chunk):
        e = min(s + chunk, len(emb))
        writer.append(emb[s:e], labels[s:e], [f"{prefix}/{labels[i]}/{i:05d}.jpg" for i in range(s, e)])
    return writer.close()


def _build_base(root: Path, *, per_class: int | list[int] = 8, seed: int = 0, shuffle: bool = True) -> Base:
    """K prototypes; per class some noisy clean images; every third class gets 2 images of other classes."""
    rng = np.random.default_rng(seed)
    proto = rng.normal(size=(K, D))
    proto /= np.linalg.norm(proto, axis=1, keepdims=True)
    counts = [per_class] * K if isinstance(per_class, int) else per_class
    emb, labels, outlier = [], [], []
    for k in range(K):
        for _ in range(counts[k]):
            emb.append(proto[k] + rng.normal(scale=NOISE, size=D))
            labels.append(k)
            outlier.append(False)
        if k % 3 == 0:
            for other in ((k + 1) % K, (k + 7) % K):
                emb.append(proto[other] + rng.normal(scale=NOISE, size=D))
                labels.append(k)
                outlier.append(True)
    e = np.array(emb, dtype=np.float32) * rng.uniform(0.5, 3.0, size=(len(emb), 1)).astype(np.float32)
    lab, out = np.array(labels), np.array(outlier)
    if shuffle:
        order = rng.permutation(len(e))
        e, lab, out = e[order], lab[order], out[order]
    return Base(_write(root, e, lab), e, lab, out)


def _numpy_centres(emb: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    x = emb.astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    c = np.zeros((k, x.shape[1]))
    for i in range(k):
        if np.any(labels == i):
            m = x[labels == i].mean(axis=0)
            c[i] = m / np.linalg.norm(m)
    return c


def _at_cosine(c: np.ndarray, cos: float, rng: np.random.Generator) -> np.ndarray:
    """A vector (of random length) whose cosine to the unit vector ``c`` is exactly ``cos``."""
    u = rng.normal(size=c.shape)
    u -= (u @ c) * c
    u /= np.linalg.norm(u)
    return (cos * c + np.sqrt(1 - cos**2) * u) * rng.uniform(0.5, 3.0)


GOOD_COSINES = (0.85, 0.9, 0.93)  # inside the default band (0.80, 0.97)
BAD_COSINES = {"near_copy": 0.99, "drifted": 0.5}


def _build_augmented(
    root: Path, centres: np.ndarray, good_per_class: list[int], seed: int = 1
) -> tuple[EmbeddingStore, np.ndarray, np.ndarray]:
    """Per class: ``good_per_class[k]`` copies inside the band, one near-copy (0.99), one drifted (0.5)."""
    rng = np.random.default_rng(seed)
    emb, labels, kind = [], [], []
    for k in range(len(centres)):
        c = centres[k].astype(np.float64)
        for j in range(good_per_class[k]):
            emb.append(_at_cosine(c, GOOD_COSINES[j % 3], rng))
            labels.append(k)
            kind.append("good")
        for name, cos in BAD_COSINES.items():
            emb.append(_at_cosine(c, cos, rng))
            labels.append(k)
            kind.append(name)
    e, lab = np.array(emb, dtype=np.float32), np.array(labels)
    return _write(root, e, lab, prefix="aug"), lab, np.array(kind)


@pytest.fixture
def base(tmp_path: Path) -> Base:
    return _build_base(tmp_path / "base")


# ------------------------------------------------------------------------------------------------ store


def test_store_round_trip_and_chunks(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    emb = rng.normal(size=(101, 16)).astype(np.float32)
    labels = rng.integers(0, 5, size=101)
    store = _write(tmp_path / "s", emb, labels, dtype="float16", identities=list("abcde"), chunk=10)
    again = EmbeddingStore.open(tmp_path / "s")
    assert (again.n, again.dim, again.num_classes, again.dtype) == (101, 16, 5, "float16")
    assert (tmp_path / "s" / "embeddings.f16").stat().st_size == 101 * 16 * 2
    assert again.identities == list("abcde") and again.name(2) == "c"
    np.testing.assert_array_equal(again.embeddings, emb.astype(np.float16))
    np.testing.assert_array_equal(again.labels, labels)
    assert again.paths == [f"base/{labels[i]}/{i:05d}.jpg" for i in range(101)] == list(store.iter_paths())
    seen = list(again.chunks(30))
    assert [s for s, _, _ in seen] == [0, 30, 60, 90]
    np.testing.assert_array_equal(np.concatenate([e for _, e, _ in seen]), again.embeddings)
    assert [s for s, _, _ in again.chunks(30, start=45, stop=80)] == [45, 75]
    # a count instead of names; an empty store opens
    w = EmbeddingStore.create(tmp_path / "empty", 8, identities=3)
    empty = w.close()
    assert (empty.n, empty.num_classes, empty.identities, empty.paths) == (0, 3, None, [])
    assert class_centres(empty).shape == (3, 8) and not class_centres(empty).any()


def test_writer_rejects_bad_chunks(tmp_path: Path) -> None:
    w = EmbeddingStore.create(tmp_path / "s", 4, identities=3)
    e = np.ones((2, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="mismatched lengths: 2 embeddings, 3 labels, 2 paths"):
        w.append(e, np.array([0, 1, 2]), ["a", "b"])
    with pytest.raises(ValueError, match="mismatched lengths: 2 embeddings, 2 labels, 1 paths"):
        w.append(e, np.array([0, 1]), ["a"])
    with pytest.raises(ValueError, match=r"shape \(n, 4\)"):
        w.append(np.ones((2, 5)), np.array([0, 1]), ["a", "b"])
    with pytest.raises(ValueError, match="out of range"):
        w.append(e, np.array([0, 3]), ["a", "b"])
    with pytest.raises(ValueError, match=">= 0"):
        w.append(e, np.array([0, -1]), ["a", "b"])
    with pytest.raises(ValueError, match="integers"):
        w.append(e, np.array([0.0, 1.0]), ["a", "b"])
    with pytest.raises(ValueError, match="line breaks"):
        w.append(e, np.array([0, 1]), ["a", "b\nc"])
    with pytest.raises(ValueError, match="after casting to float16"):
        w.append(np.full((2, 4), 1e6), np.array([0, 1]), ["a", "b"])
    with pytest.raises(ValueError, match="not finite"):
        w.append(np.array([[0, 0, 0, np.nan], [1, 1, 1, 1]]), np.array([0, 1]), ["a", "b"])
    w.append(e, np.array([0, 1]), ["a", "b"])  # nothing of the rejected chunks was written
    assert w.close().n == 2
    with pytest.raises(ValueError, match="after close"):
        w.append(e, np.array([0, 1]), ["a", "b"])
    with pytest.raises(OutputError, match="already holds an embedding store"):
        EmbeddingStore.create(tmp_path / "s", 4)
    assert EmbeddingStore.create(tmp_path / "s", 4, overwrite=True).close().n == 0
    with pytest.raises(ValueError, match="dtype"):
        EmbeddingStore.create(tmp_path / "t", 4, "float64")
    with pytest.raises(ValueError, match="unique"):
        EmbeddingStore.create(tmp_path / "t", 4, identities=["a", "a"])


@pytest.mark.parametrize(
    ("damage", "file", "message"),
    [
        ("delete", "labels.i64", "missing from the embedding store"),
        ("delete", "embeddings.f32", "missing from the embedding store"),
        ("delete", "paths.txt", "missing from the embedding store"),
        ("delete", "meta.json", "writer was never closed"),
        ("truncate", "embeddings.f32", "bytes but meta.json"),
        ("truncate", "labels.i64", "bytes but meta.json"),
        ("truncate", "paths.txt", "complete lines but meta.json says n=20"),
        ("garble", "meta.json", "not valid JSON"),
    ],
)
def test_bad_store_names_the_file(tmp_path: Path, damage: str, file: str, message: str) -> None:
    root = tmp_path / "s"
    _write(root, np.ones((20, 4), dtype=np.float32), np.arange(20) % 3, identities=3)
    path = root / file
    if damage == "delete":
        path.unlink()
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:-3])
    else:
        path.write_text("{not json", encoding="utf-8")
    with pytest.raises(BadDataError, match=message) as err:
        EmbeddingStore.open(root)
    assert err.value.path == str(path) and str(path) in str(err.value)


def test_unclosed_writer_and_corrupt_rows_are_reported(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), EmbeddingStore.create(tmp_path / "s", 4) as w:
        w.append(np.ones((2, 4)), np.array([0, 1]), ["a", "b"])
        raise RuntimeError("crash while writing")
    with pytest.raises(BadDataError, match="meta.json: missing"):
        EmbeddingStore.open(tmp_path / "s")
    store = _write(tmp_path / "t", np.ones((10, 4), dtype=np.float32), np.arange(10) % 2, identities=2)
    labels = np.memmap(store.labels_path, dtype="<i8", mode="r+")
    labels[7] = 9
    labels.flush()
    with pytest.raises(BadDataError, match=r"labels\.i64: row 7: label 9 is outside \[0, 2\)"):
        class_centres(EmbeddingStore.open(tmp_path / "t"), chunk=4)
    labels[7] = 1
    labels.flush()
    del labels
    emb = np.memmap(store.embeddings_path, dtype="<f4", mode="r+")
    emb[4 * 3 + 1] = np.nan
    emb.flush()
    del emb
    with pytest.raises(BadDataError, match=r"embeddings\.f32: row 3 is not finite"):
        list(similarities(EmbeddingStore.open(tmp_path / "t"), np.eye(2, 4, dtype=np.float32)))


# ------------------------------------------------------------------------------------ centres, cosines


def test_centres_equal_direct_numpy_and_ignore_chunking(tmp_path: Path, base: Base) -> None:
    expected = _numpy_centres(base.emb, base.labels, K)
    small, big = class_centres(base.store, chunk=7), class_centres(base.store, chunk=10_000)
    assert small.dtype == np.float32 and small.shape == (K, D)
    np.testing.assert_allclose(small, expected, atol=1e-5)
    np.testing.assert_allclose(small, big, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(small, axis=1), 1.0, atol=1e-6)
    # grouped (sorted) rows take the no-sort path: same centres
    order = np.argsort(base.labels, kind="stable")
    grouped = _write(tmp_path / "grouped", base.emb[order], base.labels[order])
    np.testing.assert_allclose(class_centres(grouped, chunk=7), expected, atol=1e-5)
    # a class without images gets a zero row; the shards' rows are contiguous and cover everything
    store = _write(tmp_path / "gap", base.emb[base.labels != 4], base.labels[base.labels != 4])
    c = class_centres(store, chunk=11)
    assert not c[4].any() and np.all(np.linalg.norm(np.delete(c, 4, axis=0), axis=1) > 0.999)
    assert [shard_range(10, r, 3) for r in range(3)] == [(0, 3), (3, 6), (6, 10)]
    with pytest.raises(ValueError, match="rank"):
        class_centres(store, shard=(2, 2))


def test_similarity_is_to_own_centre(base: Base) -> None:
    centres = class_centres(base.store)
    got = np.empty(base.store.n, dtype=np.float32)
    starts = []
    for start, cos in similarities(base.store, centres, chunk=9):
        got[start : start + len(cos)] = cos
        starts.append(start)
    assert starts == list(range(0, base.store.n, 9))
    x = base.emb / np.linalg.norm(base.emb, axis=1, keepdims=True)
    np.testing.assert_allclose(got, np.sum(x * centres[base.labels], axis=1), atol=1e-6)
    # an outlier is close to the class it came from, yet its similarity is to the class it is labelled as
    all_cos = x @ centres.T
    assert np.all(all_cos[base.outlier].max(axis=1) > got[base.outlier] + 0.3)
    with pytest.raises(ValueError, match="shape"):
        next(similarities(base.store, centres[:, :5]))
    with pytest.raises(ValueError, match="L2-normalised"):
        next(similarities(base.store, centres * 2))


# ---------------------------------------------------------------------------------------------- filters


def test_outliers_are_dropped_and_clean_images_kept(base: Base) -> None:
    centres = class_centres(base.store)
    cur = curate(base.store, centres, t=0.65, policy="none")
    dropped = cur.stage == BASE_DROPPED
    tp = int(np.count_nonzero(dropped & base.outlier))
    precision = tp / max(1, int(np.count_nonzero(dropped)))
    recall = tp / int(np.count_nonzero(base.outlier))
    assert (precision, recall) == (1.0, 1.0), (precision, recall)
    # not by luck: the two groups lie well apart around t
    assert cur.similarity[base.outlier].max() < 0.5 < 0.7 < cur.similarity[~base.outlier].min()
    assert cur.report["stages"]["base_dropped"] == np.count_nonzero(base.outlier) == 34
    assert cur.report["stages"]["balanced"] == 0 and cur.report["balance"]["applied"] is False
    # chunk size does not change a decision
    other = curate(base.store, class_centres(base.store, chunk=7), policy="none", chunk=7)
    np.testing.assert_array_equal(other.stage, cur.stage)
    np.testing.assert_allclose(other.similarity, cur.similarity, atol=1e-6)


def test_band_drops_near_copies_and_drifted_copies(tmp_path: Path, base: Base) -> None:
    centres = class_centres(base.store)
    good = [k % 4 for k in range(K)]
    aug, aug_labels, kind = _build_augmented(tmp_path / "aug", centres, good)
    cur = curate(base.store, centres, augmented=aug, band=(0.80, 0.97), policy="none")
    stage = cur.stage[base.store.n :]
    np.testing.assert_allclose(cur.similarity[base.store.n :][kind == "near_copy"], 0.99, atol=1e-5)
    assert np.all(stage[kind == "good"] == AUG_KEPT)
    assert not np.any(stage[kind != "good"] == AUG_KEPT)
    f = cur.report["filters"]
    assert (f["augmented_near_copy"], f["augmented_drifted"], f["augmented_passed"]) == (K, K, sum(good))
    # a narrower band keeps only the copies inside it; a > b and thresholds outside [-1, 1] are refused
    narrow = curate(base.store, centres, augmented=aug, band=(0.87, 0.92), policy="none")
    kept = narrow.stage[base.store.n :] == AUG_KEPT
    np.testing.assert_allclose(narrow.similarity[base.store.n :][kept], 0.9, atol=1e-5)
    # an identity none of whose base images passes loses its augmented copies too (they copy the kept base)
    orphaned = recurate(cur, t=0.999, policy="none")
    assert orphaned.report["stages"]["augmented_kept"] == 0
    assert orphaned.report["filters"]["augmented_orphaned"] == sum(good)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"t": 1.5}, r"t must be a number in \[-1, 1\]"),
        ({"t": -1.01}, r"t must be a number in \[-1, 1\]"),
        ({"t": float("nan")}, r"t must be a number in \[-1, 1\]"),
        ({"band": (0.97, 0.80)}, r"needs a < b, got \(0.97, 0.8\)"),
        ({"band": (0.5, 1.2)}, r"band's b must be a number in \[-1, 1\]"),
        ({"band": (0.5,)}, "pair"),
        ({"policy": "oversample"}, "unknown policy 'oversample'; allowed: cap_and_fill, none"),
        ({"target": 0}, "target must be a positive integer"),
        ({"min_per_class": -1}, "min_per_class"),
    ],
)
def test_bad_parameters(base: Base, kwargs: dict[str, object], message: str) -> None:
    centres = class_centres(base.store)
    with pytest.raises(ValueError, match=message):
        curate(base.store, centres, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- balancing


def _balanced(tmp_path: Path) -> tuple[Base, EmbeddingStore, np.ndarray, list[int]]:
    counts = [3 + k % 10 for k in range(K)]  # 3..12 clean images per class
    b = _build_base(tmp_path / "base", per_class=counts)
    centres = class_centres(b.store)
    good = [k % 4 for k in range(K)]  # 0..3 augmented copies inside the band per class
    aug, _, _ = _build_augmented(tmp_path / "aug", centres, good)
    return b, aug, centres, good


def test_cap_and_fill_reaches_target_and_report_matches_manifest(tmp_path: Path) -> None:
    b, aug, centres, good = _balanced(tmp_path)
    target = 6
    cur = curate(b.store, centres, augmented=aug, target=target, seed=5, min_per_class=7)
    kept_base = np.bincount(b.labels[~b.outlier], minlength=K)  # the filter keeps exactly the clean ones
    final = np.bincount(cur.label[cur.selected], minlength=K)
    expected = np.minimum(target, kept_base + np.array(good))
    np.testing.assert_array_equal(final, expected)
    base_final = np.bincount(cur.label[cur.stage == BASE_KEPT], minlength=K)
    np.testing.assert_array_equal(base_final, np.minimum(kept_base, target))  # augmented only fill
    rep = cur.report
    bal = rep["balance"]
    assert (
        bal["classes_at_target"] == np.count_nonzero(expected == target) == np.count_nonzero(final == target)
    )
    assert bal["classes_capped"] == np.count_nonzero(kept_base > target)
    assert bal["classes_below_target"] == np.count_nonzero(final < target) > 0
    assert bal["base_removed"] == np.sum(np.maximum(kept_base - target, 0))
    assert rep["per_class"]["final"] == {
        "min": int(final.min()),
        "median": float(np.median(final)),
        "max": target,
        "mean": round(float(final.mean()), 4),
        "zero": 0,
    }
    assert rep["below_min"]["classes"] == np.count_nonzero(final < 7) == 50
    assert len(rep["below_min"]["names"]) == 20 and rep["below_min"]["names"][0] == "person_000"
    assert sum(rep["histograms"]["base"]) == b.store.n and sum(rep["histograms"]["augmented"]) == aug.n
    # the written manifest agrees with the report, row by row
    cur.write(tmp_path / "out")
    rows = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == b.store.n + aug.n
    assert {s: sum(r["stage"] == s for r in rows) for s in STAGES} == rep["stages"]
    per_class = np.bincount([r["label"] for r in rows if r["stage"].endswith("_kept")], minlength=K)
    np.testing.assert_array_equal(per_class, final)
    assert rows[0]["identity"] == f"person_{rows[0]['label']:03d}" and rows[0]["path"].startswith("base/")
    assert rows[-1]["source"] == "augmented" and rows[-1]["path"].startswith("aug/")
    # deterministic with the seed; another seed under-samples other images
    again = curate(b.store, centres, augmented=aug, target=target, seed=5)
    np.testing.assert_array_equal(again.stage, cur.stage)
    other = curate(b.store, centres, augmented=aug, target=target, seed=6)
    assert np.any(other.stage != cur.stage)
    np.testing.assert_array_equal(np.bincount(other.label[other.selected], minlength=K), expected)


def test_write_load_round_trip_and_rerun(tmp_path: Path) -> None:
    b, aug, centres, _ = _balanced(tmp_path)
    cur = curate(b.store, centres, augmented=aug, target=5, seed=1)
    out = cur.write(tmp_path / "stage1")
    assert (out / "similarity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    back = load_curation(out)
    for col in ("source", "label", "similarity", "stage"):
        np.testing.assert_array_equal(getattr(back, col), getattr(cur, col))
    assert back.report == cur.report and back.identities == cur.identities
    assert list(back.paths) == list(cur.paths)
    # the next stage reruns from the written output, without embeddings: same parameters, same decisions
    np.testing.assert_array_equal(recurate(back, target=5, seed=1).stage, cur.stage)
    assert recurate(back, target=5, seed=1).report == cur.report
    rebalanced = recurate(back, target=8, seed=1)
    direct = curate(b.store, centres, augmented=aug, target=8, seed=1)
    np.testing.assert_array_equal(rebalanced.stage, direct.stage)
    # CSV manifest
    cur.write_manifest(tmp_path / "m.csv")
    with (tmp_path / "m.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(cur) and rows[0].keys() == {
        "path",
        "identity",
        "label",
        "source",
        "stage",
        "similarity",
    }
    assert np.float32(float(rows[3]["similarity"])) == cur.similarity[3]
    with pytest.raises(ValueError, match=".jsonl or .csv"):
        cur.write_manifest(tmp_path / "m.txt")
    # a damaged manifest names its file and line
    lines = (out / "manifest.jsonl").read_text().splitlines()
    lines[2] = lines[2].replace('"base_', '"augmented_')
    (out / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(BadDataError, match=r"manifest\.jsonl: line 3: .*does not fit source"):
        load_curation(out)
    with pytest.raises(BadDataError, match=r"report\.json: missing"):
        load_curation(tmp_path / "nowhere")


def test_plot_marks_thresholds(tmp_path: Path, base: Base) -> None:
    cur = curate(base.store, class_centres(base.store), t=0.6, band=(0.7, 0.95))
    png = plot_histograms(cur.report, tmp_path / "h.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    with pytest.raises(ValueError, match="not a curation report"):
        plot_histograms({"params": {}}, tmp_path / "x.png")


# ------------------------------------------------------------------------------------------------ scale


def test_centres_memory_is_centres_plus_one_chunk(tmp_path: Path) -> None:
    n, d, k, chunk = 200_000, 64, 1000, 4096
    rng = np.random.default_rng(0)
    w = EmbeddingStore.create(tmp_path / "big", d, identities=k)
    for s in range(0, n, 25_000):
        w.append(
            rng.normal(size=(25_000, d)).astype(np.float32),
            rng.integers(0, k, 25_000),
            [f"{i}" for i in range(s, s + 25_000)],
        )
    store = w.close()
    tracemalloc.start()
    try:
        centres = class_centres(store, chunk=chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert centres.shape == (k, d)
    full = n * d * 4  # what loading the embeddings as float32 would take: 51 MB
    bound = k * d * 4 + 5 * chunk * d * 4  # centres + a few chunk-sized temporaries: 5.5 MB
    assert peak < bound < full / 9, (peak, bound, full)


# ------------------------------------------------------------------------------------------- 2 processes


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rank_main(rank: int, world: int, port: int, base_dir: str, aug_dir: str, out_dir: str) -> None:
    """One rank: its shard's centres all-reduced across the gloo group, then the curation decisions."""
    import torch
    import torch.distributed as dist

    from idsight.faces.centres import torch_all_reduce

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=60))
    try:
        store, aug = EmbeddingStore.open(base_dir), EmbeddingStore.open(aug_dir)
        local = class_centres(store, chunk=13, shard=(rank, world))
        centres = class_centres(store, chunk=13, shard=(rank, world), reduce=torch_all_reduce())
        cur = curate(store, centres, augmented=aug, target=6, seed=3)
        out = Path(out_dir)
        np.save(out / f"local{rank}.npy", local)
        np.save(out / f"centres{rank}.npy", centres)
        np.save(out / f"stage{rank}.npy", cur.stage)
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_equal_one_process(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    b, aug, _, _ = _balanced(tmp_path)  # rows shuffled: every class is split across the two shards
    single = class_centres(b.store, chunk=13)
    cur = curate(b.store, single, augmented=aug, target=6, seed=3)
    out = tmp_path / "ranks"
    out.mkdir()
    t0 = time.monotonic()
    mp.spawn(
        _rank_main,
        args=(2, _free_port(), str(b.store.root), str(aug.root), str(out)),
        nprocs=2,
        join=True,
    )
    assert time.monotonic() - t0 < 30
    for rank in range(2):
        np.testing.assert_allclose(np.load(out / f"centres{rank}.npy"), single, atol=1e-5)
        np.testing.assert_array_equal(np.load(out / f"stage{rank}.npy"), cur.stage)
        # the reduction mattered: one shard alone gives other centres
        assert np.abs(np.load(out / f"local{rank}.npy") - single).max() > 0.05
    assert np.count_nonzero(cur.stage == BALANCED) > 0
