"""The whole curation run behind ``idsight curate``: pre-model, embedding, centres, filters, offline
augmentation, equalisation, and its files.

0. **pre-model** (when no embedder is named): idsight's own face recogniser is first trained on the raw
   data set, all identities (``configs/faces_premodel.yaml`` with the data set's root), and embeds it;
1. **embed** every image into ``OUT/base.store`` (sharded under ``torchrun``);
2. **centres**: each identity's mean normalised embedding (one streaming pass; ranks all-reduce);
   with ``centre``, the embeddings are first centred on their overall mean (one more pass), which
   dlib's encoder needs: it puts every face within a narrow cone;
3. **base filter** at ``t``;
4. **offline augmentation** of the kept base images (``copies`` per image, written to
   ``OUT/augmented/<identity>/``), embedded into ``OUT/augmented.store``, kept inside ``band``;
5. **equalisation** by the policy and target;
6. online augmentation happens later, in the training data loader (``face_folder``'s ``augment``).

Writes ``OUT/centres.npy``, ``OUT/manifest.jsonl``, ``OUT/report.json``, ``OUT/similarity.png``.
Rerunning the filters with other thresholds needs none of the embeddings (:func:`~idsight.faces.curate.recurate`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from idsight.faces.centres import class_centres, mean_embedding, shard_range, torch_all_reduce
from idsight.faces.curate import check_params, curate
from idsight.faces.embed import FaceEmbedder, embed_images, face_rows
from idsight.faces.report import BASE_KEPT, Curation

# faces are aligned crops: mild geometry, no channel swaps (skin colour carries identity)
FACE_AUGMENT: dict[str, Any] = {
    "channel_swap": 0.0,
    "channel_shift": 10,
    "rotate": 10.0,
    "crop_scale": 0.85,
    "translate": 0.04,
    "scale": 0.08,
    "noise": 0.3,
    "brightness_contrast": 0.25,
    "sharpen": 0.1,
}


@dataclass
class CurateOptions:
    t: float = 0.65
    band: tuple[float, float] = (0.80, 0.97)
    copies: int = 2
    target: int | None = None
    policy: str = "cap_and_fill"
    seed: int = 0
    min_per_class: int = 1
    batch_size: int = 64
    centre: bool = False  # subtract the mean embedding first (dlib's faces all lie in a narrow cone)
    augment: dict[str, Any] = field(default_factory=lambda: dict(FACE_AUGMENT))


def _dist() -> tuple[int, int, Callable[[], Any] | None]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, None
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if os.environ.get("IDSIGHT_NCCL") else "gloo")
    return dist.get_rank(), world, dist.barrier


def _augment_kept(
    rows: list[tuple[str, int]], identities: list[str], out: Path, opts: CurateOptions, shard: tuple[int, int]
) -> list[tuple[str, int]]:
    """Write ``copies`` augmented views of each row (this rank's share); return all ranks' rows."""
    import cv2

    from idsight.data.augment import augment_image, build_augment
    from idsight.data.io import load_image

    lo, hi = shard_range(len(rows), *shard)
    written: list[tuple[str, int]] = []
    for i, (path, label) in enumerate(rows):
        folder = out / identities[label]
        names = [folder / f"{Path(path).stem}-{i}-aug{k}.png" for k in range(opts.copies)]
        written += [(str(n), label) for n in names]
        if not lo <= i < hi:
            continue
        image = load_image(path, min_side=8)
        pipeline = build_augment(min(image.shape[:2]), opts.augment)
        folder.mkdir(parents=True, exist_ok=True)
        for k, name in enumerate(names):
            pipeline.set_random_seed((opts.seed * 1_000_003 + i * 31 + k) % 2**32)  # rank-independent
            view = augment_image(pipeline, image)
            cv2.imwrite(str(name), cv2.cvtColor(view, cv2.COLOR_RGB2BGR))
    return written


def run_curation(
    root: str | Path,
    out: str | Path,
    embedder: FaceEmbedder,
    opts: CurateOptions,
    *,
    progress: Callable[[str], None] = lambda _: None,
) -> Curation | None:
    """Steps 1-5 of the module docstring; returns the curation on rank 0 (None on other ranks)."""
    check_params(
        opts.t, opts.band, opts.target, opts.policy, opts.seed, opts.min_per_class
    )  # before any work
    rank, world, barrier = _dist()
    shard = (rank, world)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, identities = face_rows(root)
    counts = np.bincount([lab for _, lab in rows], minlength=len(identities))
    single = [identities[k] for k in np.flatnonzero(counts == 1)]
    if single:
        progress(
            f"warning: {len(single)} identities have one image (first: {single[0]}); "
            "an image is its own centre, so the filter keeps it unjudged"
        )
    progress(f"embedding {len(rows)} images of {len(identities)} identities with {embedder.name}")
    base = embed_images(
        embedder, rows, out / "base.store", identities=identities, num_classes=len(identities),
        batch_size=opts.batch_size, shard=shard, barrier=barrier,
    )  # fmt: skip
    reduce = torch_all_reduce() if world > 1 else None
    offset = mean_embedding(base, shard=shard, reduce=reduce) if opts.centre else None
    centres = class_centres(base, shard=shard, reduce=reduce, offset=offset)
    if rank == 0:
        np.save(out / "centres.npy", centres)
        if offset is not None:
            np.save(out / "mean.npy", offset)
    first = curate(
        base, centres, t=opts.t, band=opts.band, target=None, policy="none", seed=opts.seed, mean=offset
    )
    kept = [rows[i] for i in np.flatnonzero(first.stage[: base.n] == BASE_KEPT)]
    augmented = None
    if opts.copies > 0 and kept:
        progress(f"augmenting {len(kept)} kept images x {opts.copies}")
        aug_rows = _augment_kept(kept, identities, out / "augmented", opts, shard)
        if barrier is not None:
            barrier()
        augmented = embed_images(
            embedder, aug_rows, out / "augmented.store", identities=identities,
            num_classes=len(identities), batch_size=opts.batch_size, shard=shard, barrier=barrier,
        )  # fmt: skip
    if rank != 0:
        return None
    result = curate(
        base, centres, t=opts.t, augmented=augmented, band=opts.band, target=opts.target,
        policy=opts.policy, seed=opts.seed, min_per_class=opts.min_per_class, mean=offset,
    )  # fmt: skip
    result.report["single_image_identities"] = {"count": len(single), "first": single[:20]}
    result.write(out)
    return result


def premodel_config(root: str | Path, num_classes: int, out_dir: str | Path) -> dict[str, Any]:
    """Step 0's recipe: the visible branch of ``vis_ir_facenet`` (ImageNet-initialised
    tf_efficientnet_lite0, ArcFace) on the raw data set, with online augmentation, until the plateau."""
    return {
        "model": {
            "name": "vis_ir_facenet",
            "kwargs": {
                "num_classes": num_classes,
                "backbone": "tf_efficientnet_lite0",
                "pretrained": "package",
                "head": "arcface",
                "input_size": 112,
            },
        },
        "task": {"name": "vis_ir_identity", "kwargs": {"w_vis": 1.0, "w_ir": 0.0}},
        "data": {
            "name": "face_folder",
            "kwargs": {"root": str(Path(root).resolve()), "size": 112},
            "train": {"augment": dict(FACE_AUGMENT)},
            "val": None,
            "batch_size": 64,
            "drop_last": True,  # batch norm needs more than one face per batch
            "num_workers": 1,
        },
        "optim": {"name": "adamw", "lr": 2.0e-3, "weight_decay": 5.0e-4, "scheduler": "cosine", "warmup": 50},
        "trainer": {"max_epochs": 20},
        "plateau": {"monitor": "train/loss", "mode": "min", "patience": 3, "min_delta": 1.0e-3},
        "out_dir": str(out_dir),
    }


def train_premodel(root: str | Path, out: str | Path, *, overrides: list[str] | None = None) -> Path:
    """Step 0: train idsight's face recogniser on the raw data set (all identities); its artifact path."""
    import yaml

    from idsight.train.component import train_component

    _, identities = face_rows(root)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "pre-model.yaml"
    cfg = premodel_config(root, len(identities), out / "pre-model")
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    model = out / "pre-model.safetensors"
    train_component(path, overrides=overrides or [], out=model)
    return model
