"""Benchmark: visible + infrared face verification on GENERATED faces, idsight's model beside dlib's encoder.

    .venv/bin/python benchmarks/faces.py --model models/idsight-faces-visir.safetensors \\
        --out benchmarks/results/faces.json --roc benchmarks/results/faces_roc.png

The faces are generated (idsight.data.synth.faces): real source photos made pseudo-identities by strong
variation, with simulated near-infrared views. Sets, each with ``--views`` views per identity (the first
half is the gallery, the second half the probes, so no image is compared with itself):

* ``train_ids``: the 80 training identities, new views, the training NIR setting: in distribution in
  kind (in sample only by the views);
* ``heldout``: the 21 identities no training saw (whole source photos), with the held-out NIR
  simulation setting that training never used: out of distribution in kind;
* ``heldout_ids_train_nir``: the held-out identities with the training NIR setting (separates the two).

For each embedder and set: visible-visible, infrared-infrared and infrared probe against visible
gallery, each with TAR at FAR 1e-2 and 1e-3, ROC AUC and rank-1 identification; per-face latency on
one thread. dlib's ResNet encoder (trained on real faces, not on infrared) runs the same images.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from distill import emit  # noqa: E402  (benchmarks/ is not a package)

SETS = {
    "train_ids": ("train", "train"),
    "heldout": ("heldout", "heldout"),
    "heldout_ids_train_nir": ("heldout", "train"),
}
PAIRINGS = {"vis-vis": ("vis", "vis"), "nir-nir": ("nir", "nir"), "nir-vis": ("nir", "vis")}


def faces(identities: str, nir: str, views: int, size: int) -> dict[str, Any]:
    import cv2

    from idsight.data.faces import GeneratedFacePairs

    n_ids = 80 if identities == "train" else 21
    ds = GeneratedFacePairs(
        count=n_ids * views, seed=4242, identities=identities, nir_setting=nir, size=size, flip=False
    )
    vis, ir, labels = [], [], []
    for i in range(len(ds)):
        v, r, lab = ds.raw(i)
        vis.append(cv2.resize(v, (size, size), interpolation=cv2.INTER_CUBIC))
        ir.append(cv2.resize(r, (size, size), interpolation=cv2.INTER_CUBIC))
        labels.append(lab)
    view = np.arange(len(ds)) // n_ids  # item i is identity i % n, view i // n
    return {"vis": vis, "nir": ir, "labels": np.array(labels), "gallery": view < views // 2}


def embed(embedder: Any, images: list[np.ndarray], batch: int = 64) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    out = np.concatenate([embedder.embed(images[i : i + batch]) for i in range(0, len(images), batch)])
    return out, 1000 * (time.perf_counter() - t0) / len(images)


def score(emb: dict[str, np.ndarray], labels: np.ndarray, gallery: np.ndarray) -> dict[str, Any]:
    from idsight.faces.verify import cross_spectral_report, roc

    out: dict[str, Any] = {}
    for name, (probe_s, gal_s) in PAIRINGS.items():
        g, p = emb[gal_s][gallery], emb[probe_s][~gallery]
        rep = cross_spectral_report(g, labels[gallery], p, labels[~gallery], fars=(1e-2, 1e-3))
        out[name] = {k: v for k, v in rep.items() if not k.startswith("threshold")}
        scores = p @ g.T
        same = labels[~gallery][:, None] == labels[gallery][None, :]
        curve = roc(scores[same], scores[~same])
        out[name]["_roc"] = (curve["fpr"], curve["tpr"])
    return out


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for emb_name, sets in results.items():
        for pairing in ("vis-vis", "nir-vis"):
            fpr, tpr = sets["heldout"][pairing]["_roc"]
            ax.plot(np.maximum(fpr, 1e-4), tpr, label=f"{emb_name} {pairing}")
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_title("held-out identities, held-out NIR setting (generated faces)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="an idsight face model (vis_ir_facenet)")
    ap.add_argument("--views", type=int, default=10, help="views per identity (half gallery, half probes)")
    ap.add_argument("--no-dlib", action="store_true", help="leave out dlib's encoder")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--roc", type=Path, help="write the held-out ROC curves as a PNG")
    args = ap.parse_args()
    torch.set_num_threads(1)

    from idsight.faces.embed import DlibEmbedder, IdsightEmbedder

    embedders: dict[str, tuple[Any, Any]] = {
        "idsight": (IdsightEmbedder(args.model, "vis"), IdsightEmbedder(args.model, "nir"))
    }
    if not args.no_dlib:
        d = DlibEmbedder()
        embedders["dlib"] = (d, d)
    size = embedders["idsight"][0].net.input_size
    results: dict[str, Any] = {}
    latency: dict[str, float] = {}
    for set_name, (ids, nir) in SETS.items():
        data = faces(ids, nir, args.views, 112)
        for name, (vis_e, nir_e) in embedders.items():
            vis, ms = embed(vis_e, data["vis"])
            ir, _ = embed(nir_e, data["nir"])
            latency[name] = round(ms, 2)
            results.setdefault(name, {})[set_name] = score(
                {"vis": vis, "nir": ir}, data["labels"], data["gallery"]
            )
    if args.roc:
        plot(results, args.roc)
    for sets in results.values():
        for pairings in sets.values():
            for rep in pairings.values():
                rep.pop("_roc", None)
    net = embedders["idsight"][0].net
    doc = {
        "data": "GENERATED faces (idsight.data.synth.faces): real source photos as pseudo-identities, "
        "simulated near-infrared; not real infrared",
        "views_per_identity": args.views,
        "sets": {k: {"identities": v[0], "nir_setting": v[1]} for k, v in SETS.items()},
        "idsight_model": str(args.model),
        "idsight_input_size": size,
        "idsight_parameters": sum(p.numel() for p in net.branches.parameters()),
        "idsight_branches": "one shared network" if net.shared_branch else "visible + infrared",
        "ms_per_face_1_thread": latency,
        "results": results,
    }
    emit(doc, args.out)


if __name__ == "__main__":
    main()
