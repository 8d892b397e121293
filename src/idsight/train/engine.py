"""``fit``: the one training entry point, used by every recipe.

Single process by default; under ``torchrun`` (``WORLD_SIZE > 1``) it runs DDP with gloo on CPU and
nccl on GPU, taking devices and node count from torchrun's environment. Lightning's checkpoints go to
``<out_dir>/checkpoints`` (``last.ckpt`` + best on the plateau metric); they are internal. The exported
model is written elsewhere with ``idsight.artifact.save_artifact(path, export_weights(result.module), ...)``.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint, RichProgressBar
from lightning.pytorch.callbacks.early_stopping import EarlyStoppingReason
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.strategies import DDPStrategy
from torch import nn

from idsight.errors import BadConfigError
from idsight.registry import DATASETS, MODELS, TASKS
from idsight.train.config import PlateauConfig, TrainConfig
from idsight.train.data import DataModule
from idsight.train.lit import LitTask, Task

# Packages whose import registers models/tasks/datasets. Missing ones are skipped.
PLUGIN_MODULES = (
    "idsight.models",
    "idsight.tasks",
    "idsight.data",
    "idsight.data.cards",
    "idsight.data.lines",
    "idsight.data.textmaps",
    "idsight.data.cardmasks",
    "idsight.data.contours",
    "idsight.data.images",
    "idsight.data.faces",
    "idsight.data.mixture",
    "idsight.train.toy",
)


@dataclass
class FitResult:
    best_path: str | None  # best checkpoint on the plateau metric, else the last checkpoint
    metrics: dict[str, float]  # final callback metrics (train/*, val/*)
    epochs_run: int
    stopped_early: bool
    last_path: str | None = None
    global_step: int = 0
    seconds: float = 0.0
    module: LitTask | None = field(default=None, repr=False)


class PlateauStopping(EarlyStopping):
    """EarlyStopping that only evaluates every ``check_every`` epochs (patience counts checks)."""

    def __init__(self, *, check_every: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check_every = check_every

    def _run_early_stopping_check(self, trainer: L.Trainer) -> None:
        if (trainer.current_epoch + 1) % self.check_every:
            return
        super()._run_early_stopping_check(trainer)

    @property
    def stopped(self) -> bool:
        return self.stopped_epoch > 0 or self.stopping_reason != EarlyStoppingReason.NOT_STOPPED


class LogLineProgress(Callback):
    """Plain one-line progress for non-TTY output (CI logs): every N steps and at each epoch end."""

    def __init__(self, every_n_steps: int = 50) -> None:
        self.every = max(1, every_n_steps)
        self.t0 = time.monotonic()

    @staticmethod
    def _fmt(metrics: dict[str, Any], prefix: tuple[str, ...]) -> str:
        items = []
        for k, v in sorted(metrics.items()):
            if k.startswith(prefix) and not k.endswith("_step"):
                items.append(f"{k.removesuffix('_epoch')}={float(v):.4g}")
        return " ".join(dict.fromkeys(items))

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        if trainer.is_global_zero and step and step % self.every == 0 and not trainer.sanity_checking:
            loss = trainer.callback_metrics.get("train/loss_step")
            tail = f" loss={float(loss):.4g}" if loss is not None else ""
            print(f"[train] epoch {trainer.current_epoch} step {step}{tail}", flush=True)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            m = self._fmt(trainer.callback_metrics, ("train/", "val/"))
            dt = time.monotonic() - self.t0
            print(
                f"[train] epoch {trainer.current_epoch} done step {trainer.global_step} {m} ({dt:.1f}s)",
                flush=True,
            )


def load_plugins(modules: Sequence[str] = PLUGIN_MODULES) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:  # a real import error inside an existing package
                raise


def ensure_registered(cfg: TrainConfig) -> None:
    """Import the plugin packages only when a configured name is not registered yet."""
    wanted = [(MODELS, cfg.model.name), (TASKS, cfg.task.name), (DATASETS, cfg.data.name)]
    if any(name not in reg for reg, name in wanted):
        load_plugins()


def dist_env() -> dict[str, int]:
    """World layout from torchrun's environment (world_size 1 when not launched by it)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    return {"world_size": world, "local_world_size": local, "num_nodes": max(1, world // max(1, local))}


def _use_gpu(accelerator: str) -> bool:
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def _checks(cfg: TrainConfig, has_val: bool) -> None:
    p = cfg.plateau
    if p.enabled and p.monitor.startswith("val/") and (not has_val or cfg.trainer.limit_val_batches == 0):
        raise BadConfigError(
            f"plateau.monitor is {p.monitor!r} but there is no validation data "
            "(set data.val, or monitor a train/ metric, or plateau.enabled=false)"
        )


def make_callbacks(
    cfg: TrainConfig, has_val: bool
) -> tuple[list[Callback], ModelCheckpoint, PlateauStopping | None]:
    p: PlateauConfig = cfg.plateau
    on_train_end = not (has_val and p.monitor.startswith("val/"))
    ckpt = ModelCheckpoint(
        dirpath=str(Path(cfg.out_dir) / "checkpoints"),
        filename="best-{epoch}-{step}",
        monitor=p.monitor if p.enabled else None,
        mode=p.mode,
        save_top_k=1 if p.enabled else 0,
        save_last=True,
        auto_insert_metric_name=False,
        save_on_train_epoch_end=on_train_end if p.enabled else None,
    )
    cbs: list[Callback] = [ckpt]
    stopper = None
    if p.enabled:
        stopper = PlateauStopping(
            check_every=p.check_every,
            monitor=p.monitor,
            mode=p.mode,
            patience=p.patience,
            min_delta=p.min_delta,
            check_on_train_epoch_end=on_train_end,
            strict=True,
            verbose=False,
        )
        cbs.append(stopper)
    if sys.stdout.isatty():
        cbs.append(RichProgressBar())
    else:
        cbs.append(LogLineProgress(cfg.trainer.log_every_n_steps))
    return cbs, ckpt, stopper


def make_trainer(cfg: TrainConfig, callbacks: Sequence[Callback], has_val: bool) -> L.Trainer:
    t = cfg.trainer
    env = dist_env()
    kw: dict[str, Any] = {}
    if env["world_size"] > 1:
        backend = "nccl" if _use_gpu(t.accelerator) else "gloo"
        kw.update(
            devices=env["local_world_size"],
            num_nodes=env["num_nodes"],
            strategy=DDPStrategy(process_group_backend=backend),
        )
    else:
        kw.update(devices=t.devices, num_nodes=1, strategy="auto")
    if t.limit_train_batches is not None:
        kw["limit_train_batches"] = t.limit_train_batches
    limit_val = t.limit_val_batches if has_val else 0
    if limit_val is not None:
        kw["limit_val_batches"] = limit_val
    tty = sys.stdout.isatty()
    return L.Trainer(
        accelerator=t.accelerator,
        max_epochs=t.max_epochs,
        max_steps=t.max_steps,
        precision=t.precision,
        accumulate_grad_batches=t.accumulate_grad_batches,
        gradient_clip_val=t.gradient_clip_val,
        deterministic=t.deterministic,
        log_every_n_steps=t.log_every_n_steps,
        num_sanity_val_steps=t.num_sanity_val_steps if has_val else 0,
        check_val_every_n_epoch=1,
        use_distributed_sampler=False,  # DataModule shards itself (world-size independent order)
        default_root_dir=cfg.out_dir,
        logger=CSVLogger(save_dir=cfg.out_dir, name="logs"),
        callbacks=list(callbacks),
        enable_progress_bar=tty,
        enable_model_summary=tty,
        **kw,
    )


def fit(
    cfg: TrainConfig,
    *,
    model: nn.Module | None = None,
    task: Task | None = None,
    callbacks: Sequence[Callback] = (),
    ckpt_path: str | None = None,
) -> FitResult:
    """Train ``model`` (built from ``cfg.model`` if None) with ``task`` (from ``cfg.task`` if None)."""
    t0 = time.monotonic()
    ensure_registered(cfg)
    L.seed_everything(cfg.data.seed, workers=True, verbose=False)
    if model is None:
        model = MODELS.build(cfg.model.name, **cfg.model.kwargs)
    if task is None:
        task = TASKS.build(cfg.task.name, **cfg.task.kwargs)
    dm = DataModule(cfg.data)
    _checks(cfg, dm.has_val)
    lit = LitTask(model, task, cfg.optim, config=cfg.resolved())
    cbs, ckpt, stopper = make_callbacks(cfg, dm.has_val)
    trainer = make_trainer(cfg, [*cbs, *callbacks], dm.has_val)
    trainer.fit(lit, datamodule=dm, ckpt_path=ckpt_path)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if torch.as_tensor(v).numel() == 1}
    last = ckpt.last_model_path or None
    return FitResult(
        best_path=ckpt.best_model_path or last,
        metrics=metrics,
        epochs_run=trainer.current_epoch,
        stopped_early=bool(stopper and stopper.stopped),
        last_path=last,
        global_step=trainer.global_step,
        seconds=time.monotonic() - t0,
        module=lit,
    )
