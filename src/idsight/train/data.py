"""Generic data module: datasets come from ``idsight.registry.DATASETS`` by name.

A dataset builder is called as ``DATASETS.build(name, **{**cfg.kwargs, **cfg.train})`` (``cfg.val`` for
the validation split). If the dataset object has a ``collate`` attribute it is used as the loader's
``collate_fn``.

Sampling: map-style datasets always go through a ``DistributedSampler`` built here (the Trainer runs with
``use_distributed_sampler=False``), with ``num_replicas = world size`` (1 when not distributed),
``seed = cfg.seed`` and Lightning calling ``set_epoch`` each epoch. The permutation therefore does not
depend on the world size: rank ``r`` of ``W`` takes positions ``r, r+W, ...`` of it, so the union over
ranks of step ``k``'s batches equals step ``k``'s batch of a single process with ``W`` times the batch
size (exactly so when the dataset length is a multiple of the global batch). Datasets that generate
samples on the fly must be a pure function of ``(seed, index)``: sample ``i`` uses
``np.random.default_rng([seed, i])``. Iterable datasets get no sampler and must shard themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset, default_collate

from idsight.registry import DATASETS
from idsight.train import toy as _toy  # noqa: F401  (registers toy_regression)
from idsight.train.config import DataConfig


def collate_of(dataset: Any) -> Callable[[list[Any]], Any]:
    fn = getattr(dataset, "collate", None)
    return fn if callable(fn) else default_collate


def _seed_worker(worker_id: int) -> None:
    # Lightning's seed_everything(workers=True) already seeds; keep numpy's legacy global rng distinct too.
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)


class DataModule(L.LightningDataModule):
    def __init__(self, cfg: DataConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None

    def build(self, split: str) -> Dataset | None:
        extra = self.cfg.train if split == "train" else self.cfg.val
        if extra is None:
            return None
        return DATASETS.build(self.cfg.name, **{**self.cfg.kwargs, **extra})

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None and stage in (None, "fit"):
            self.train_set = self.build("train")
        if self.val_set is None and stage in (None, "fit", "validate"):
            self.val_set = self.build("val")

    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is not None:
            return trainer.world_size, trainer.global_rank
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_world_size(), torch.distributed.get_rank()
        return 1, 0

    def _loader(self, ds: Dataset, *, train: bool) -> DataLoader:
        c = self.cfg
        world, rank = self._world()
        sampler: DistributedSampler[Any] | None = None
        if not isinstance(ds, IterableDataset) and (train or world > 1):
            sampler = DistributedSampler(
                ds, num_replicas=world, rank=rank, shuffle=c.shuffle and train, seed=c.seed, drop_last=False
            )
        gen = torch.Generator()
        gen.manual_seed(c.seed)
        return DataLoader(
            ds,
            batch_size=c.batch_size if train else (c.val_batch_size or c.batch_size),
            sampler=sampler,
            drop_last=c.drop_last and train,
            num_workers=c.num_workers,
            persistent_workers=c.num_workers > 0,
            collate_fn=collate_of(ds),
            worker_init_fn=_seed_worker if c.num_workers > 0 else None,
            generator=gen,
        )

    def train_dataloader(self) -> DataLoader:
        if self.train_set is None:
            self.setup("fit")
        assert self.train_set is not None
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader | list[DataLoader]:
        if self.val_set is None:
            return []
        return self._loader(self.val_set, train=False)

    @property
    def has_val(self) -> bool:
        return self.cfg.val is not None
