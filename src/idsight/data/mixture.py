"""A mixture of registered data sets, drawn in proportion to given weights.

``DATASETS.build("mixture", parts=[{"name": ..., "kwargs": {...}, "weight": w}, ...], count=N, seed=s)``:
item ``i`` comes from part ``k`` with probability ``w_k / sum(w)`` and is that part's item
``j`` (both drawn from ``np.random.default_rng([seed, i])``, so the mixture is a pure function of
``(seed, i)``). Only the keys that every part's items have are kept, so that batches collate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from idsight.registry import DATASETS


@DATASETS.register("mixture")
class Mixture(Dataset[dict[str, torch.Tensor]]):
    def __init__(self, *, parts: Sequence[dict[str, Any]], count: int, seed: int = 0) -> None:
        if not parts:
            raise ValueError("a mixture needs at least one part")
        self.parts = [DATASETS.build(p["name"], **dict(p.get("kwargs") or {})) for p in parts]
        w = np.asarray([float(p.get("weight", 1.0)) for p in parts])
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"part weights must be >= 0 and not all 0, got {w.tolist()}")
        self.cum = np.cumsum(w / w.sum())
        self.count, self.seed = count, seed
        keys = [set(part[0]) for part in self.parts]
        self.keys = sorted(set.intersection(*keys))

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not 0 <= i < self.count:
            raise IndexError(i)
        rng = np.random.default_rng([self.seed, i])
        k = min(int(np.searchsorted(self.cum, rng.random(), side="right")), len(self.parts) - 1)
        part = self.parts[k]
        item = part[int(rng.integers(len(part)))]
        return {key: item[key] for key in self.keys}
