"""One generic LightningModule for every recipe: a model plus a task callable.

``task(model, batch) -> dict`` must return at least ``loss`` (a scalar tensor, mean-reduced over the
batch) and ``preds``. Every other scalar in the dict is logged as ``train/<key>`` / ``val/<key>``
(epoch means, weighted by batch size; the step value is also logged for training).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from numbers import Number
from typing import Any

import lightning as L
import torch
from torch import nn

from idsight.train.config import OptimConfig

Task = Callable[[nn.Module, Any], Mapping[str, Any]]


def batch_size_of(batch: Any) -> int | None:
    """First dimension of the first tensor found in the batch (None if there is none)."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.ndim else None
    if isinstance(batch, Mapping):
        batch = list(batch.values())
    if isinstance(batch, list | tuple):
        if batch and not any(isinstance(b, torch.Tensor | Mapping | list | tuple) for b in batch):
            return len(batch)
        for b in batch:
            n = batch_size_of(b)
            if n is not None:
                return n
    return None


def _scalars(out: Mapping[str, Any]) -> dict[str, torch.Tensor | float]:
    res: dict[str, torch.Tensor | float] = {}
    for k, v in out.items():
        if k == "preds":
            continue
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            res[k] = v.detach().reshape(()).float()
        elif isinstance(v, Number) and not isinstance(v, bool):
            res[k] = float(v)  # type: ignore[arg-type]
    return res


class LitTask(L.LightningModule):
    def __init__(
        self, model: nn.Module, task: Task, optim: OptimConfig | None = None, config: dict | None = None
    ) -> None:
        super().__init__()
        self.model = model
        if isinstance(task, nn.Module):
            self.task = task  # moved with the module (e.g. a frozen teacher); never optimized
        else:
            object.__setattr__(self, "task", task)
        self.optim_cfg = optim or OptimConfig()
        if config is not None:
            self.save_hyperparameters({"config": config})

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)

    def _step(self, batch: Any, stage: str) -> torch.Tensor:
        out = self.task(self.model, batch)
        if "loss" not in out:
            raise KeyError(f"task {type(self.task).__name__} returned no 'loss' (keys: {sorted(out)})")
        n = batch_size_of(batch)
        sync = self.trainer.world_size > 1 if self._trainer is not None else False
        train = stage == "train"
        for k, v in _scalars(out).items():
            self.log(
                f"{stage}/{k}",
                v,
                on_step=train,
                on_epoch=True,
                prog_bar=k == "loss",
                batch_size=n,
                sync_dist=sync,
            )
        return out["loss"]

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val")

    def _param_groups(self) -> list[dict[str, Any]]:
        c = self.optim_cfg
        params = [p for p in self.model.parameters() if p.requires_grad]
        if c.weight_decay == 0:
            return [{"params": params}]
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]  # biases and norm scales
        return [{"params": decay, "weight_decay": c.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]

    def configure_optimizers(self) -> Any:
        c = self.optim_cfg
        groups = self._param_groups()
        if c.name == "sgd":
            opt: torch.optim.Optimizer = torch.optim.SGD(
                groups, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay
            )
        else:
            opt = torch.optim.AdamW(groups, lr=c.lr, betas=c.betas, weight_decay=c.weight_decay)
        if c.scheduler == "none" and c.warmup == 0:
            return opt
        total = max(1, int(self.trainer.estimated_stepping_batches))
        if c.scheduler == "onecycle" and total >= 4:  # OneCycleLR cannot split fewer steps into phases
            pct = min(0.5, c.warmup / total) if c.warmup else 0.3
            sched: Any = torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=c.lr, total_steps=total, pct_start=max(pct, 1.0 / total)
            )
        else:
            sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(c, total))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def _lr_lambda(c: OptimConfig, total: int) -> Callable[[int], float]:
    floor = c.min_lr / c.lr if c.lr > 0 else 0.0

    def f(step: int) -> float:
        if c.warmup and step < c.warmup:
            return (step + 1) / c.warmup
        if c.scheduler == "none":
            return 1.0
        t = min(1.0, (step - c.warmup) / max(1, total - c.warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))

    return f


def export_weights(module: nn.Module) -> dict[str, torch.Tensor]:
    """The inner model's state dict (detached CPU copies) — what goes into an idsight artifact."""
    inner = module.model if isinstance(module, LitTask) else module
    return {k: v.detach().cpu().clone() for k, v in inner.state_dict().items()}
