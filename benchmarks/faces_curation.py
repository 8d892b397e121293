"""Benchmark: face-data curation: what it removes from noisy data, and what it costs at scale.

    .venv/bin/python benchmarks/faces_curation.py --model models/idsight-faces-visir.safetensors \\
        --out benchmarks/results/faces_curation.json

1. **Quality** (GENERATED faces, idsight.data.synth.faces): each of the built-in identities (by default
   the 21 held-out ones, which no idsight face model trains on) gets
   ``--views`` varied views; then noise is injected: 10% more images, each a view of another identity,
   plus ``--patches`` non-face patches from ``lfw_subset`` (its images 100-199). Curation (embed,
   centres, keep cosine >= t, default t = 0.65) runs with dlib's encoder and with idsight's model,
   on the raw embeddings and centred on their mean (``idsight curate --centre``); precision and recall
   of what it removes are scored against the injected noise.
2. **Scale**: ``--identities`` x 10 random 512-d float16 embeddings (clustered per identity, a few
   outliers) written to a store, then centres + filter by idsight's streaming pass, against a naive
   version that loads everything into memory, in the same run (each in its own process, so that peak
   RSS is its own). Goal: peak RSS under 1.5 GB, time dominated by reading the embeddings.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from distill import emit  # noqa: E402  (benchmarks/ is not a package)


def noisy_set(
    views: int, patches: int, seed: int, which: str
) -> tuple[list[np.ndarray], list[int], list[bool], list[str]]:
    """Images, the identity each is filed under, whether it is noise, and identity names."""
    from skimage import data

    from idsight.data.synth.faces import identity_split, source_faces, vary

    faces = source_faces()
    if which == "heldout":
        faces = identity_split(faces)[1]
    rng = np.random.default_rng(seed)
    images, labels, noise = [], [], []
    for k, face in enumerate(faces):
        for _ in range(views):
            images.append(vary(face.rgb, rng))
            labels.append(k)
            noise.append(False)
    n_wrong = len(images) // 10  # 10% images of another identity, filed under a random identity
    for _ in range(n_wrong):
        k = int(rng.integers(len(faces)))
        other = int((k + rng.integers(1, len(faces))) % len(faces))
        images.append(vary(faces[other].rgb, rng))
        labels.append(k)
        noise.append(True)
    non_faces = data.lfw_subset()[100:]  # lfw_subset's non-face patches
    import cv2

    for j in range(patches):
        grey = (non_faces[j % len(non_faces)] * 255).astype(np.uint8)
        images.append(cv2.cvtColor(cv2.resize(grey, (112, 112)), cv2.COLOR_GRAY2RGB))
        labels.append(int(rng.integers(len(faces))))
        noise.append(True)
    return images, labels, noise, [f.name for f in faces]


def quality(
    embedder: Any, images: list[np.ndarray], labels: list[int], noise: list[bool], names: list[str], t: float
) -> dict[str, Any]:
    from idsight.faces.centres import class_centres, mean_embedding
    from idsight.faces.curate import curate
    from idsight.faces.report import BASE_DROPPED
    from idsight.faces.store import EmbeddingStore

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with EmbeddingStore.create(Path(tmp) / "s", embedder.dim, identities=names) as w:
            for lo in range(0, len(images), 64):
                w.append(
                    embedder.embed(images[lo : lo + 64]),
                    labels[lo : lo + 64],
                    [f"img{i}" for i in range(lo, min(lo + 64, len(images)))],
                )
        store = EmbeddingStore.open(Path(tmp) / "s")
        embed_s = time.perf_counter() - t0
        out = {}
        for variant in ("raw", "centred"):
            mean = mean_embedding(store) if variant == "centred" else None
            cur = curate(store, class_centres(store, offset=mean), t=t, policy="none", mean=mean)
            out[variant] = _scores(cur.stage == BASE_DROPPED, np.array(noise), cur.similarity)
    return {**out, "embed_seconds": round(embed_s, 1)}


def _scores(removed: np.ndarray, truth: np.ndarray, sim: np.ndarray) -> dict[str, Any]:
    tp = int(np.sum(removed & truth))
    precision = tp / max(1, int(removed.sum()))
    recall = tp / max(1, int(truth.sum()))
    return {
        "removed": int(removed.sum()),
        "noise": int(truth.sum()),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "clean_similarity_median": round(float(np.median(sim[~truth])), 4),
        "noise_similarity_median": round(float(np.median(sim[truth])), 4),
    }


SCALE_CHILD = r"""
import json, sys, time
import numpy as np
from idsight.faces.store import EmbeddingStore
mode, root = sys.argv[1], sys.argv[2]
store = EmbeddingStore.open(root)
t0 = time.perf_counter()
if mode == "streaming":
    from idsight.faces.centres import class_centres, similarities
    c = class_centres(store)
    kept = sum(int((cos >= 0.65).sum()) for _, cos in similarities(store, c))
else:  # naive: everything in memory, float32
    x = np.array(store.embeddings, dtype=np.float32)
    y = np.array(store.labels)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    c = np.zeros((store.num_classes, store.dim), np.float32)
    np.add.at(c, y, x)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    kept = int(((x * c[y]).sum(1) >= 0.65).sum())
dt = time.perf_counter() - t0
# VmHWM: this process's own peak (ru_maxrss would carry the parent's over fork + exec)
hwm = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM"))
print(json.dumps({"seconds": round(dt, 1), "kept": kept, "peak_rss_mb": round(hwm / 1024, 1)}))
"""


def scale(identities: int, per: int, dim: int, seed: int) -> dict[str, Any]:
    from idsight.faces.store import EmbeddingStore

    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {"identities": identities, "per_identity": per, "dim": dim}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "scale"
        t0 = time.perf_counter()
        with EmbeddingStore.create(root, dim, identities=identities) as w:
            step = 5000
            for lo in range(0, identities, step):
                k = min(step, identities - lo)
                centre = rng.standard_normal((k, dim), dtype=np.float32)
                emb = np.repeat(centre, per, axis=0) + 0.6 * rng.standard_normal(
                    (k * per, dim), dtype=np.float32
                )
                outl = rng.random(k * per) < 0.05
                emb[outl] = rng.standard_normal((int(outl.sum()), dim), dtype=np.float32)
                labels = np.repeat(np.arange(lo, lo + k), per)
                w.append(emb, labels, [f"i{lo}-{j}" for j in range(k * per)])
        out["write_seconds"] = round(time.perf_counter() - t0, 1)
        out["store_gb"] = round(sum(f.stat().st_size for f in root.iterdir()) / 1e9, 2)
        # a cold pass only reads: time to read the embeddings file once, for comparison
        t0 = time.perf_counter()
        with open(root / "embeddings.f16", "rb") as f:
            while f.read(1 << 24):
                pass
        out["read_only_seconds"] = round(time.perf_counter() - t0, 1)
        for mode in ("streaming", "naive"):
            res = subprocess.run(
                [sys.executable, "-c", SCALE_CHILD, mode, str(root)], capture_output=True, text=True
            )
            out[mode] = (
                json.loads(res.stdout)
                if res.returncode == 0
                else {"error": res.stderr.strip().splitlines()[-1:]}
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="an idsight face model, scored beside dlib")
    ap.add_argument("--views", type=int, default=10)
    ap.add_argument(
        "--faces",
        choices=("heldout", "all"),
        default="heldout",
        help="heldout: the 21 identities no idsight model trains on; all: the 101",
    )
    ap.add_argument("--patches", type=int, default=30)
    ap.add_argument("--t", type=float, default=0.65)
    ap.add_argument("--identities", type=int, default=180_000, help="identities of the scale test (0: skip)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    from idsight.faces.embed import DlibEmbedder, IdsightEmbedder

    images, labels, noise, names = noisy_set(args.views, args.patches, args.seed, args.faces)
    embedders: dict[str, Any] = {"dlib": DlibEmbedder()}
    if args.model:
        embedders["idsight"] = IdsightEmbedder(args.model, "vis")
    doc: dict[str, Any] = {
        "quality": {
            "data": f"GENERATED faces: the {len(names)} {args.faces} built-in identities x {args.views} views, "
            f"+ 10% images of other identities + {args.patches} non-face patches of lfw_subset, filed "
            "under random identities",
            "images": len(images),
            "t": args.t,
            "embedders": {n: quality(e, images, labels, noise, names, args.t) for n, e in embedders.items()},
        }
    }
    if args.identities:
        doc["scale"] = scale(args.identities, 10, 512, args.seed)
    doc["peak_rss_mb_parent"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    emit(doc, args.out)


if __name__ == "__main__":
    main()
