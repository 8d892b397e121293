"""Tiny toy components for engine tests and examples (``configs/toy.yaml``).

Registered names: dataset ``toy_regression``, model ``toy_mlp``, task ``toy_mse``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from idsight.registry import DATASETS, MODELS, TASKS


class ToyRegression(torch.utils.data.Dataset):
    """``y = x @ w + b + noise``; sample ``i`` is drawn from ``np.random.default_rng([seed, i])``.

    Every sample is a pure function of ``(seed, index)``, so any sharding over DDP ranks is exact.
    ``w`` and ``b`` depend only on ``task_seed`` (shared by the train and val splits).
    """

    def __init__(self, *, n: int = 256, dim: int = 8, noise: float = 0.05, seed: int = 0, task_seed: int = 0):
        self.n, self.dim, self.noise, self.seed = n, dim, noise, seed
        rng = np.random.default_rng([task_seed, 2**31 - 1])
        self.w = rng.standard_normal(dim).astype(np.float32)
        self.b = np.float32(rng.standard_normal())

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not 0 <= i < self.n:
            raise IndexError(i)
        rng = np.random.default_rng([self.seed, i])
        x = rng.standard_normal(self.dim).astype(np.float32)
        y = np.float32(x @ self.w + self.b + self.noise * rng.standard_normal())
        return {"x": torch.from_numpy(x), "y": torch.tensor([y]), "index": torch.tensor(i)}


@DATASETS.register("toy_regression")
def toy_regression(**kwargs: Any) -> ToyRegression:
    return ToyRegression(**kwargs)


@MODELS.register("toy_mlp")
def toy_mlp(*, dim: int = 8, hidden: int = 16) -> nn.Module:
    if hidden <= 0:
        return nn.Sequential(nn.Linear(dim, 1))
    return nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))


class MSETask:
    """Mean-squared error on ``batch['x'] -> batch['y']`` (mean over the batch)."""

    def __call__(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        preds = model(batch["x"])
        loss = nn.functional.mse_loss(preds, batch["y"])
        return {"loss": loss, "mae": (preds - batch["y"]).abs().mean().detach(), "preds": preds.detach()}


@TASKS.register("toy_mse")
def toy_mse() -> MSETask:
    return MSETask()
