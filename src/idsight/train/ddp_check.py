"""DDP consistency check: train the toy model with the ``fit`` engine and save the weights.

    torchrun --nproc_per_node=2 -m idsight.train.ddp_check --out w.safetensors --batch-size 4
    python -m idsight.train.ddp_check --out w1.safetensors --batch-size 8

Both runs see the same global batches (the DataModule's DistributedSampler permutation, seeded, does not
depend on the world size; without ``--shuffle`` rank ``r`` gets indices ``i = r (mod W)``), SGD without momentum, mean-reduced loss; DDP averages the gradients, so the final
weights must agree up to float rounding. Rank 0 writes ``--out`` (final) and ``<out>.init.safetensors``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import lightning as L
import torch

from idsight.artifact import save_artifact
from idsight.registry import MODELS
from idsight.train import toy as _toy  # noqa: F401  (registers the toy components)
from idsight.train.config import TrainConfig
from idsight.train.engine import fit
from idsight.train.lit import export_weights


def check_config(
    *, batch_size: int, steps: int, out_dir: str, seed: int = 0, n: int = 64, shuffle: bool = False
) -> TrainConfig:
    return TrainConfig.model_validate(
        {
            "model": {"name": "toy_mlp", "kwargs": {"dim": 8, "hidden": 16}},
            "task": {"name": "toy_mse"},
            "data": {
                "name": "toy_regression",
                "kwargs": {"n": n, "dim": 8, "seed": seed},
                "val": None,
                "batch_size": batch_size,
                "shuffle": shuffle,
                "seed": seed,
            },
            "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.0, "weight_decay": 0.0},
            "trainer": {"max_epochs": 100, "max_steps": steps, "log_every_n_steps": 1, "accelerator": "cpu"},
            "plateau": {"enabled": False},
            "out_dir": out_dir,
        }
    )


def run_check(
    *, batch_size: int, steps: int = 6, seed: int = 0, shuffle: bool = False, out_dir: str | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], bool]:
    """Returns (init weights, final weights, is_global_zero)."""
    out_dir = out_dir or tempfile.mkdtemp(prefix="idsight-ddp-")
    cfg = check_config(batch_size=batch_size, steps=steps, out_dir=out_dir, seed=seed, shuffle=shuffle)
    L.seed_everything(seed, verbose=False)
    model = MODELS.build(cfg.model.name, **cfg.model.kwargs)
    init = export_weights(model)
    res = fit(cfg, model=model)
    assert res.global_step == steps, (res.global_step, steps)
    is_zero = int(os.environ.get("RANK", "0")) == 0
    return init, export_weights(model), is_zero


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="safetensors file for the final weights (rank 0)")
    ap.add_argument("--batch-size", type=int, default=4, help="per-process batch size")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shuffle", action="store_true", help="seeded shuffling (same order for any world size)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    init, final, is_zero = run_check(
        batch_size=args.batch_size,
        steps=args.steps,
        seed=args.seed,
        shuffle=args.shuffle,
        out_dir=str(out.parent / "ddp-run"),
    )
    if is_zero:
        meta = {"check": "ddp", "world_size": int(os.environ.get("WORLD_SIZE", "1")), **vars(args)}
        save_artifact(out, final, meta, dtype="float32")
        save_artifact(out.with_suffix(".init.safetensors"), init, meta, dtype="float32")


if __name__ == "__main__":
    main()
