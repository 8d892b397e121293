"""Training datasets built from synthetic card folders (``labels.jsonl`` + images).

Every sample is deterministic in (seed, index): sample i draws its augmentation from
``np.random.default_rng([seed, epoch, i])``, so DDP sharding is exact and runs are repeatable.
Cards are rectified with their ground-truth corners plus noise, which imitates the
localiser's error; line boxes are jittered to imitate the detector's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from idsight.data.charset import encode
from idsight.data.io import load_image, shrink
from idsight.ocr.predictor import (
    CLASSES,
    DEFAULT_PREPROCESSING,
    crop_line,
    pad_batch,
    to_tensor,
    width_buckets,
)
from idsight.registry import DATASETS
from idsight.templates import CARD_SIZE, LINE_KEYS

PRE = DEFAULT_PREPROCESSING


def load_records(dirs: Sequence[str | Path]) -> list[tuple[Path, dict[str, Any]]]:
    out: list[tuple[Path, dict[str, Any]]] = []
    for d in map(Path, dirs):
        with open(d / "labels.jsonl", encoding="utf-8") as f:
            out.extend((d, json.loads(line)) for line in f if line.strip())
    if not out:
        raise ValueError(f"no cards found in {dirs}")
    return out


def noisy_rectify(
    image: np.ndarray, corners: list[list[float]], rng: np.random.Generator, noise: float
) -> tuple[np.ndarray, np.ndarray]:
    """Warp with the true corners moved by up to ``noise`` x card size; returns card and homography."""
    c = np.asarray(corners, dtype=np.float32)
    side = np.linalg.norm(c[1] - c[0])
    c = c + rng.normal(0, noise * side / 2, size=c.shape).astype(np.float32)
    w, h = CARD_SIZE
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    hm = cv2.getPerspectiveTransform(c, dst)
    card = cv2.warpPerspective(image, hm, CARD_SIZE, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    return card, hm


def box_in_frame(hm: np.ndarray, quad: list[list[float]]) -> list[float]:
    q = np.c_[np.asarray(quad, dtype=np.float64), np.ones(4)] @ hm.T
    q = q[:, :2] / q[:, 2:3]
    return [float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()), float(q[:, 1].max())]


def photometric(img: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Cheap, bounded colour/blur/noise/JPEG changes."""
    out: np.ndarray = img.astype(np.float32)
    out = out * rng.uniform(1 - 0.25 * strength, 1 + 0.2 * strength) + rng.uniform(-25, 25) * strength
    out += rng.uniform(-12, 12, size=3) * strength  # colour cast
    if rng.random() < 0.4 * strength:
        k = int(rng.choice([3, 5]))
        out = cv2.GaussianBlur(out, (k, k), 0)
    if rng.random() < 0.5 * strength:
        out += rng.normal(0, rng.uniform(2, 8), size=out.shape)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.5 * strength:
        q = int(rng.integers(35, 90))
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, q])
        out = cast(np.ndarray, cv2.imdecode(buf, cv2.IMREAD_UNCHANGED))
    return out


class _CardSet(Dataset):  # type: ignore[type-arg]
    def __init__(
        self,
        *,
        dirs: list[str],
        seed: int = 0,
        size: int | None = None,
        corner_noise: float = 0.012,
        augment: bool = True,
    ) -> None:
        self.records = load_records(dirs)
        self.seed = seed
        self.size = size or len(self.records)
        self.corner_noise = corner_noise
        self.augment = augment
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def _card(self, i: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any], np.random.Generator]:
        rng = np.random.default_rng([self.seed, self.epoch if self.augment else 0, i])
        d, rec = self.records[i % len(self.records)]
        image = load_image(d / rec["image"])
        noise = self.corner_noise if self.augment else 0.0
        card, hm = noisy_rectify(image, rec["corners"], rng, noise)
        if self.augment:
            card = photometric(card, rng, 0.6)
        return card, hm, rec, rng


@DATASETS.register("card_lines")
class CardLines(_CardSet):
    """All text lines of one card per item, cropped like the reader crops them, for CTC."""

    def __init__(self, *, box_jitter: float = 4.0, **kw: Any) -> None:
        super().__init__(**kw)
        self.box_jitter = box_jitter

    def __getitem__(self, i: int) -> list[tuple[torch.Tensor, list[int], str]]:
        card, hm, rec, rng = self._card(i)
        items = []
        for _key, line in rec["lines"].items():
            box = box_in_frame(hm, line["quad"])
            if self.augment:
                box = [v + float(rng.normal(0, self.box_jitter)) for v in box]
            crop, _, _ = crop_line(card, box, PRE)
            items.append((to_tensor(crop, PRE["mean"], PRE["std"]), encode(line["text"]), line["text"]))
        return items

    @staticmethod
    def collate(batch: list[list[tuple[torch.Tensor, list[int], str]]]) -> dict[str, Any]:
        return collate_lines([x for items in batch for x in items])


def collate_lines(items: list[tuple[torch.Tensor, list[int], str]]) -> dict[str, Any]:
    """Lines bucketed by width (as the reader does at inference); see CTCRecognition."""
    groups = width_buckets([x[0].shape[-1] for x in items])
    return {"chunks": [_pad_lines([items[i] for i in g]) for g in groups], "texts": [x[2] for x in items]}


def _pad_lines(items: list[tuple[torch.Tensor, list[int], str]]) -> dict[str, Any]:
    stride = PRE["recognizer_stride"]
    images = pad_batch([x[0] for x in items])
    targets = torch.tensor([t for x in items for t in x[1]], dtype=torch.long)
    return {
        "image": images,
        "targets": targets,
        "target_lengths": torch.tensor([len(x[1]) for x in items], dtype=torch.long),
        "input_lengths": torch.tensor([x[0].shape[-1] // stride for x in items], dtype=torch.long),
        "texts": [x[2] for x in items],
    }


@DATASETS.register("card_maps")
class CardMaps(_CardSet):
    """Rectified card -> one map per line class (LINE_KEYS), for the field-line detector."""

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        card, hm, rec, rng = self._card(i)
        w, h = PRE["detector_size"]
        x = to_tensor(shrink(card, (w, h)), PRE["mean"], PRE["std"])
        mh, mw = h // 2, w // 2
        maps = np.zeros((len(LINE_KEYS), mh, mw), dtype=np.float32)
        sx, sy = mw / CARD_SIZE[0], mh / CARD_SIZE[1]
        for key, line in rec["lines"].items():
            x0, y0, x1, y1 = box_in_frame(hm, line["quad"])
            k = LINE_KEYS.index(f"{rec['template']}/{key}")
            maps[
                k,
                int(round(y0 * sy)) : max(int(round(y1 * sy)), int(round(y0 * sy)) + 1),
                int(round(x0 * sx)) : max(int(round(x1 * sx)), int(round(x0 * sx)) + 1),
            ] = 1.0
        return {"image": x, "maps": torch.from_numpy(maps)}


@DATASETS.register("card_templates")
class CardTemplates(_CardSet):
    """Rectified cards labelled by template, plus 'none': warped regions of non-card images."""

    def __init__(self, *, none_fraction: float = 0.25, **kw: Any) -> None:
        super().__init__(**kw)
        self.none_fraction = none_fraction
        self._none_sources: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return int(self.size / (1 - self.none_fraction))

    def _nones(self) -> list[np.ndarray]:
        if self._none_sources is None:
            from skimage import data as skd

            imgs = [
                skd.astronaut(),
                skd.coffee(),
                skd.chelsea(),
                skd.rocket(),
                skd.hubble_deep_field(),
                np.dstack([skd.camera()] * 3),
                np.dstack([skd.text()] * 3),
                np.dstack([skd.page()] * 3),
            ]
            self._none_sources = imgs
        return self._none_sources

    def __getitem__(self, i: int) -> dict[str, Any]:
        w, h = PRE["classifier_size"]
        if i >= self.size:  # a non-card sample
            rng = np.random.default_rng([self.seed, self.epoch, i, 7])
            src = self._nones()[int(rng.integers(len(self._nones())))]
            H, W = src.shape[:2]
            cw = rng.uniform(0.3, 1.0) * W
            ch = min(H, cw / 1.586)
            x0, y0 = rng.uniform(0, W - cw), rng.uniform(0, H - ch)
            img = cv2.resize(src[int(y0) : int(y0 + ch), int(x0) : int(x0 + cw)], (w, h))
            img = photometric(img, rng, 1.0)
            label = CLASSES.index("none")
        else:
            card, _, rec, _ = self._card(i)
            img = shrink(card, (w, h))
            label = CLASSES.index(rec["template"])
        return {"image": to_tensor(img, PRE["mean"], PRE["std"]), "label": torch.tensor(label)}


@DATASETS.register("card_masks")
class CardMasks(_CardSet):
    """Whole image -> card mask, for the learned localiser (input resized to the detector size)."""

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch if self.augment else 0, i])
        d, rec = self.records[i % len(self.records)]
        image = load_image(d / rec["image"])
        corners = np.asarray(rec["corners"], dtype=np.float32)
        if self.augment and rng.random() < 0.5:  # random crop that keeps the card
            h, w = image.shape[:2]
            x0 = int(rng.uniform(0, max(1.0, corners[:, 0].min())))
            y0 = int(rng.uniform(0, max(1.0, corners[:, 1].min())))
            x1 = int(rng.uniform(min(w - 1.0, corners[:, 0].max()), w)) + 1
            y1 = int(rng.uniform(min(h - 1.0, corners[:, 1].max()), h)) + 1
            image = image[y0:y1, x0:x1]
            corners = corners - np.array([x0, y0], dtype=np.float32)
        if self.augment:
            image = photometric(image, rng, 0.8)
        h, w = image.shape[:2]
        W, H = PRE["detector_size"]
        x = to_tensor(shrink(image, (W, H)), PRE["mean"], PRE["std"])
        mask = np.zeros((H // 2, W // 2), dtype=np.uint8)
        pts = corners * np.array([(W // 2) / w, (H // 2) / h], dtype=np.float32)
        cv2.fillPoly(mask, [np.round(pts * 8).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=3)
        return {"image": x, "maps": torch.from_numpy(mask.astype(np.float32))[None]}
