"""Labelled images for classification: an ImageFolder tree, a CSV of (path, label), or Fashion-MNIST.

Items are ``{"image": (3, size, size) float32, ImageNet-normalised, "label": int64}``. Every image is
letterboxed to ``size`` (its longer side scaled to ``size``, the rest padded by edge replication), and
augmented online when ``augment`` is given (see :mod:`idsight.data.augment`; ``None`` for evaluation).
``classes``: the label names in the order of the model's outputs; by default the sorted folder names or
CSV labels (for Fashion-MNIST its ten names). Registered in :data:`idsight.registry.DATASETS`:
``image_folder``, ``image_csv`` and ``fashion_mnist``. :func:`write_augmented` writes an enlarged copy of
any of them as an ImageFolder tree (offline augmentation).

Bad data raise :class:`BadDataError` naming the file: an empty class folder, a CSV naming missing
files, a label outside ``classes``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from idsight.data.augment import augment_image, build_augment
from idsight.data.contours import IMAGE_SUFFIXES, normalise
from idsight.data.fashion_mnist import CLASSES as FASHION_CLASSES
from idsight.data.fashion_mnist import FASHION_MNIST_ROOT, load_split
from idsight.data.io import load_image
from idsight.errors import BadDataError, OutputError
from idsight.registry import DATASETS

Item = dict[str, torch.Tensor]
MIN_SIDE = 8  # classification images may be small (Fashion-MNIST is 28x28)


def letterbox(image: np.ndarray, size: int) -> np.ndarray:
    """The longer side scaled to ``size``, the shorter padded by edge replication to a square."""
    h, w = image.shape[:2]
    k = size / max(h, w)
    nh, nw = max(1, round(h * k)), max(1, round(w * k))
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
    img = cv2.resize(image, (nw, nh), interpolation=interp) if (nh, nw) != (h, w) else image
    top, left = (size - nh) // 2, (size - nw) // 2
    return cv2.copyMakeBorder(img, top, size - nh - top, left, size - nw - left, cv2.BORDER_REPLICATE)


class LabelledImages(Dataset[Item]):
    """The shared part: ``rgb(i)`` and ``label(i)`` come from the subclass."""

    classes: tuple[str, ...]

    def __init__(self, *, size: int, augment: dict[str, Any] | None, count: int | None) -> None:
        if size < 8:
            raise ValueError(f"size must be >= 8, got {size}")
        self.size = size
        self.augment = None if augment is None else build_augment(size, augment)
        self.count = count

    def __len__(self) -> int:
        n = self.total()
        return n if self.count is None else min(n, self.count)

    def total(self) -> int:
        raise NotImplementedError

    def rgb(self, i: int) -> np.ndarray:
        raise NotImplementedError

    def label(self, i: int) -> int:
        raise NotImplementedError

    def __getitem__(self, i: int) -> Item:
        if not 0 <= i < len(self):
            raise IndexError(i)
        img = letterbox(self.rgb(i), self.size)
        if self.augment is not None:
            img = augment_image(self.augment, img)
        return {"image": normalise(img), "label": torch.tensor(self.label(i), dtype=torch.int64)}


def _class_index(classes: Sequence[str] | None, found: Sequence[str], source: Path) -> tuple[str, ...]:
    names = tuple(classes) if classes is not None else tuple(sorted(set(found)))
    if len(names) < 2:
        raise BadDataError(f"a classifier needs at least two classes, found {list(names)}", path=source)
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise BadDataError(f"labels not among the classes {list(names)}: {unknown[:5]}", path=source)
    return names


@DATASETS.register("image_folder")
class ImageFolderSet(LabelledImages):
    """``root/<class>/<image>``: one folder per class (``.jpg``, ``.jpeg``, ``.png``)."""

    def __init__(
        self,
        *,
        root: str | Path,
        classes: Sequence[str] | None = None,
        size: int = 64,
        augment: dict[str, Any] | None = None,
        count: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(size=size, augment=augment, count=count)
        base = Path(root)
        if not base.is_dir():
            raise BadDataError("no such image folder", path=base)
        folders = sorted(p for p in base.iterdir() if p.is_dir())
        for folder in folders:
            if not any(f.suffix.lower() in IMAGE_SUFFIXES for f in folder.iterdir()):
                raise BadDataError(f"class folder has no images ({', '.join(IMAGE_SUFFIXES)})", path=folder)
        self.classes = _class_index(classes, [f.name for f in folders], base)
        self.items = [
            (f, self.classes.index(folder.name))
            for folder in folders
            for f in sorted(folder.iterdir())
            if f.suffix.lower() in IMAGE_SUFFIXES
        ]
        order = np.random.default_rng(seed).permutation(len(self.items))  # count= takes a mixed subset
        self.items = [self.items[j] for j in order]

    def total(self) -> int:
        return len(self.items)

    def rgb(self, i: int) -> np.ndarray:
        return load_image(self.items[i][0], min_side=MIN_SIDE)

    def label(self, i: int) -> int:
        return self.items[i][1]


@DATASETS.register("image_csv")
class CsvImageSet(LabelledImages):
    """A CSV with the header ``path,label``; relative paths are taken from the CSV's folder (or ``root``)."""

    def __init__(
        self,
        *,
        csv_file: str | Path,
        root: str | Path | None = None,
        classes: Sequence[str] | None = None,
        size: int = 64,
        augment: dict[str, Any] | None = None,
        count: int | None = None,
    ) -> None:
        super().__init__(size=size, augment=augment, count=count)
        src = Path(csv_file)
        if not src.is_file():
            raise BadDataError("no such label CSV", path=src)
        base = Path(root) if root is not None else src.parent
        try:
            with src.open(encoding="utf-8", newline="") as fh:
                rows = list(csv.DictReader(fh))
        except (UnicodeDecodeError, csv.Error) as err:
            raise BadDataError(f"not a readable CSV ({err})", path=src) from None
        if not rows or not {"path", "label"} <= set(rows[0]):
            raise BadDataError("the CSV needs a header `path,label` and at least one row", path=src)
        pairs = [(base / r["path"], (r["label"] or "").strip()) for r in rows]
        missing = [
            str(p.relative_to(base) if p.is_relative_to(base) else p) for p, _ in pairs if not p.is_file()
        ]
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise BadDataError(
                f"names {len(missing)} missing files: {', '.join(missing[:3])}{more}", path=src
            )
        if any(not lab for _, lab in pairs):
            raise BadDataError("a row has an empty label", path=src)
        self.classes = _class_index(classes, [lab for _, lab in pairs], src)
        self.items = [(p, self.classes.index(lab)) for p, lab in pairs]

    def total(self) -> int:
        return len(self.items)

    def rgb(self, i: int) -> np.ndarray:
        return load_image(self.items[i][0], min_side=MIN_SIDE)

    def label(self, i: int) -> int:
        return self.items[i][1]


@DATASETS.register("fashion_mnist")
class FashionMNISTImages(LabelledImages):
    """Fashion-MNIST (``split`` ``train`` or ``test``), grey replicated to RGB; ``offset`` skips the first
    images of the split (e.g. the last 5,000 of ``train`` as a validation set)."""

    def __init__(
        self,
        *,
        split: str = "train",
        root: str | Path = FASHION_MNIST_ROOT,
        size: int = 64,
        augment: dict[str, Any] | None = None,
        count: int | None = None,
        offset: int = 0,
    ) -> None:
        super().__init__(size=size, augment=augment, count=count)
        self.images, self.labels = load_split(split, root)
        if not 0 <= offset < len(self.labels):
            raise ValueError(f"offset {offset} is outside the {split} split ({len(self.labels)} images)")
        self.offset, self.classes = offset, FASHION_CLASSES

    def total(self) -> int:
        return len(self.labels) - self.offset

    def rgb(self, i: int) -> np.ndarray:
        return np.repeat(self.images[self.offset + i][..., None], 3, axis=2)

    def label(self, i: int) -> int:
        return int(self.labels[self.offset + i])


def write_augmented(dataset: LabelledImages, out: str | Path, copies: int, *, seed: int = 0) -> Path:
    """Offline augmentation: every image of ``dataset`` (letterboxed, as is) and ``copies`` augmented
    versions of it, as an ImageFolder tree under ``out`` (``<class>/<index>_<k>.png``; ``k`` 0 is the
    original). ``dataset.augment`` is the pipeline used (it must be set when ``copies`` > 0)."""
    if copies > 0 and dataset.augment is None:
        raise ValueError("the data set has no augmentation pipeline; build it with augment={...}")
    root = Path(out)
    rng = np.random.default_rng(seed)
    for i in range(len(dataset)):
        name = dataset.classes[dataset.label(i)].replace("/", "_")
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        base = letterbox(dataset.rgb(i), dataset.size)
        for k in range(copies + 1):
            if k:
                assert dataset.augment is not None
                dataset.augment.set_random_seed(int(rng.integers(2**31)))
                img = augment_image(dataset.augment, base)
            else:
                img = base
            path = folder / f"{i:06d}_{k}.png"
            if not cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
                raise OutputError("could not write the augmented image", path=path)
    return root
