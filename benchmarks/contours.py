"""Benchmark: contour extraction, idsight's extractor against an HED-like VGG16 in the same run.

    .venv/bin/python benchmarks/contours.py --steps 1200 --eval 100

Both networks train with the same budget (``--steps`` optimiser steps of ``--batch`` images, the same
class-balanced loss with deep supervision, Lightning via ``idsight.train.engine.fit``) on generated
shapes of the ``train`` family (ellipses, rectangles, convex polygons). They are scored, with the BSDS
ODS/OIS/AP evaluator (``idsight.contours.evaluate``, tolerance 0.0075 of the diagonal), on data no
training saw: shapes of the ``heldout`` family (stars, rings, blobs; generated) and Fashion-MNIST test
images (real photos, boundaries traced from their masks). Also: parameters, and images/s at the input
size on 1 CPU thread. Prints one JSON document. Goal (issue): match HED's ODS with <= 1/10 of its
parameters at several times its speed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from distill import emit  # noqa: E402  (benchmarks/ is not a package)

MODELS = {"idsight contour_small": ("contour_small", {}), "HED-like VGG16": ("hed_vgg16", {})}


def train(model: str, kwargs: dict[str, Any], steps: int, batch: int, size: int, out: Path) -> Any:
    from idsight.train.config import config_from_dict
    from idsight.train.engine import fit

    per_epoch = 100
    cfg = config_from_dict(
        {
            "model": {"name": model, "kwargs": kwargs},
            "task": {"name": "contour_detection", "kwargs": {"side_weight": 0.5}},
            "data": {
                "name": "synthetic_contours",
                "kwargs": {"size": size, "family": "train"},
                "train": {"count": steps * batch, "seed": 0},
                "val": {"count": 32, "seed": 1},
                "batch_size": batch,
                "num_workers": 1,
            },
            "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 1e-4, "scheduler": "cosine", "warmup": 50},
            "trainer": {
                "max_epochs": max(1, -(-steps // per_epoch)),
                "limit_train_batches": min(per_epoch, steps),
                "log_every_n_steps": 50,
            },
            "out_dir": str(out),
        }
    )
    res = fit(cfg)
    net = res.module.model if res.module is not None else None
    return net, res


@torch.inference_mode()
def predict(net: torch.nn.Module, images: list[torch.Tensor]) -> list[np.ndarray]:
    net.eval()
    return [net(x[None])["edges"].sigmoid()[0, 0].numpy() for x in images]  # type: ignore[index]


def score(net: torch.nn.Module, sets: dict[str, tuple[list[torch.Tensor], list[Any]]]) -> dict[str, Any]:
    from idsight.contours.evaluate import evaluate

    out = {}
    for name, (images, gts) in sets.items():
        r = evaluate(predict(net, images), gts)
        out[name] = {k: round(float(r[k]), 4) for k in ("ods_f", "ods_threshold", "ois_f", "ap")}
    return out


@torch.inference_mode()
def speed(net: torch.nn.Module, size: int, n: int = 20) -> float:
    torch.set_num_threads(1)
    x = torch.randn(1, 3, size, size)
    net.eval()
    net(x)
    t0 = time.perf_counter()
    for _ in range(n):
        net(x)
    return n / (time.perf_counter() - t0)


def eval_sets(count: int, size: int) -> dict[str, tuple[list[torch.Tensor], list[Any]]]:
    from idsight.data.contours import FashionMNISTContours, SyntheticContours

    shapes = SyntheticContours(count=count, seed=9000, size=size, family="heldout")
    fm = FashionMNISTContours(split="test", size=size, count=count)
    return {
        "heldout_shapes (generated)": (
            [shapes[i]["image"] for i in range(count)],
            [shapes[i]["edges"][0].numpy() > 0.5 for i in range(count)],
        ),
        "fashion_mnist_test": (
            [fm[i]["image"] for i in range(count)],
            [fm[i]["edges"][0].numpy() > 0.5 for i in range(count)],
        ),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1200, help="optimiser steps per model")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=128, help="input side for training, scoring and speed")
    ap.add_argument("--eval", type=int, default=100, help="images per evaluation set")
    ap.add_argument("--models", default=",".join(MODELS), help="comma list of: " + ", ".join(MODELS))
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    unknown = [m for m in args.models.split(",") if m not in MODELS]
    if unknown:
        ap.error(f"unknown model {unknown[0]!r} (known: {', '.join(MODELS)})")
    torch.manual_seed(0)
    sets = eval_sets(args.eval, args.size)
    results: dict[str, Any] = {
        "steps": args.steps,
        "batch": args.batch,
        "size": args.size,
        "eval_images": args.eval,
        "train_data": "generated shapes, train family",
        "models": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for label in args.models.split(","):
            name, kwargs = MODELS[label]
            t0 = time.perf_counter()
            net, res = train(name, kwargs, args.steps, args.batch, args.size, Path(tmp) / name)
            entry = {
                "parameters": sum(p.numel() for p in net.parameters()),
                "train_seconds": round(time.perf_counter() - t0, 1),
                "final_val_loss": round(float(res.metrics.get("val/loss", float("nan"))), 5),
                **score(net, sets),
                "images_per_s_1_thread": round(speed(net, args.size), 2),
            }
            torch.set_num_threads(max(1, torch.get_num_threads()))
            results["models"][label] = entry
            print(f"[{label}] {entry}", file=sys.stderr, flush=True)
    emit(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
