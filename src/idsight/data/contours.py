"""Data sets for a contour (edge) extraction network.

Every data set is a map-style :class:`torch.utils.data.Dataset` registered in
:data:`idsight.registry.DATASETS`; its items are dicts that the default PyTorch collate batches:

* ``"image"``: float32 ``(3, H, W)``, normalised with the ImageNet :data:`MEAN` / :data:`STD`;
* ``"edges"``: float32 ``(1, H, W)`` in ``[0, 1]``, the fraction of annotators marking each pixel as a
  boundary (exactly 0 or 1 for generated data).

Registered names:

* ``synthetic_contours`` (:class:`SyntheticContours`): random filled shapes over a random background with
  exact, occlusion-aware boundaries; two disjoint families of shape kinds (``train`` / ``heldout``);
* ``fashion_mnist_contours`` (:class:`FashionMNISTContours`): Fashion-MNIST images (Debian's
  ``dataset-fashion-mnist``) with the outline of the object mask, plus the class ``"label"``;
* ``contour_folder`` (:class:`ContourFolder`): a BSDS-style folder, one or several annotators per image.

Boundaries are one pixel wide and follow one convention everywhere (:func:`boundary_of`): the boundary
between two regions of a label map lies on the side of the larger label. For a 0/1 object mask that is
the mask's inner border; for a generated scene (label = 1 + index of the shape on top) it lies on the
occluding shape's pixels. :func:`write_contour_folder` stores any of these data sets in the BSDS-style
layout, e.g. to freeze a generated held-out set, and :class:`ContourFolder` reads it back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from idsight.data.fashion_mnist import FASHION_MNIST_ROOT, load_split
from idsight.data.io import load_image
from idsight.errors import BadDataError, BadImageError, OutputError
from idsight.registry import DATASETS

MEAN: Final[tuple[float, float, float]] = (0.485, 0.456, 0.406)  # ImageNet
STD: Final[tuple[float, float, float]] = (0.229, 0.224, 0.225)

Item = dict[str, torch.Tensor]


# --------------------------------------------------------------------------------------------- helpers


def boundary_of(labels: np.ndarray, *, border: int | None = None) -> np.ndarray:
    """The one-pixel-wide boundary (bool, same shape) of a 2-D label map.

    A pixel is a boundary pixel when one of its 4-neighbours has a *smaller* label. Each boundary
    between two regions is therefore marked exactly once, on the side of the larger label: for a 0/1
    mask, the mask pixels with a 4-neighbour outside the mask; for a generated scene, the pixels of the
    shape on top. ``border``: the label that pixels outside the image are taken to have; ``None``
    (default) means the image frame is no boundary, ``0`` closes the outline of a mask cut by the frame.
    """
    if labels.ndim != 2:
        raise ValueError(f"labels must be a 2-D array, got shape {labels.shape}")
    lab = labels.astype(np.int64, copy=False)
    out = np.zeros(lab.shape, dtype=bool)
    out[1:, :] |= lab[:-1, :] < lab[1:, :]  # the neighbour above is smaller
    out[:-1, :] |= lab[1:, :] < lab[:-1, :]  # below
    out[:, 1:] |= lab[:, :-1] < lab[:, 1:]  # left
    out[:, :-1] |= lab[:, 1:] < lab[:, :-1]  # right
    if border is not None:
        out[0, :] |= lab[0, :] > border
        out[-1, :] |= lab[-1, :] > border
        out[:, 0] |= lab[:, 0] > border
        out[:, -1] |= lab[:, -1] > border
    return out


def normalise(image: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` RGB, uint8 or float in ``[0, 1]`` -> ``(3, H, W)`` float32 ``(x - MEAN) / STD``."""
    x: np.ndarray = image.astype(np.float32)
    if image.dtype == np.uint8:
        x /= np.float32(255.0)
    x = (x - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def denormalise(image: torch.Tensor) -> np.ndarray:
    """The inverse of :func:`normalise`: ``(3, H, W)`` tensor -> ``(H, W, 3)`` uint8 RGB."""
    std, mean = np.asarray(STD, np.float64), np.asarray(MEAN, np.float64)
    x: np.ndarray = image.detach().cpu().numpy().astype(np.float64).transpose(1, 2, 0) * std + mean
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def _edges_tensor(edges: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(edges, dtype=np.float32))[None]


def _check_index(i: int, n: int) -> int:
    if not -n <= i < n:
        raise IndexError(f"index {i} out of range for a data set of {n} items")
    return i % n


# ----------------------------------------------------------------------------------- synthetic shapes

TRAIN_KINDS: Final[tuple[str, ...]] = ("ellipse", "rectangle", "convex_polygon")
HELDOUT_KINDS: Final[tuple[str, ...]] = ("star", "ring", "blob")
FAMILIES: Final[dict[str, tuple[str, ...]]] = {"train": TRAIN_KINDS, "heldout": HELDOUT_KINDS}
BACKGROUNDS: Final[tuple[str, ...]] = ("flat", "gradient", "texture")
MIN_CONTRAST = 60.0  # Euclidean RGB distance between a shape's colour and what it covers (on average)


def _centre(rng: np.random.Generator, size: int) -> tuple[float, float]:
    return float(rng.uniform(0.1, 0.9) * size), float(rng.uniform(0.1, 0.9) * size)


def _fill(size: int, pts: np.ndarray) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.rint(pts).astype(np.int32).reshape(-1, 1, 2)], 1)
    return mask.astype(bool)


def _ellipse_mask(size: int, c: tuple[float, float], axes: tuple[float, float], angle: float) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    centre = (int(round(c[0])), int(round(c[1])))
    cv2.ellipse(
        mask, centre, (max(1, int(round(axes[0]))), max(1, int(round(axes[1])))), angle, 0, 360, 1, -1
    )
    return mask.astype(bool)


def _ellipse(rng: np.random.Generator, size: int) -> np.ndarray:
    axes = (rng.uniform(0.08, 0.35) * size, rng.uniform(0.08, 0.35) * size)
    return _ellipse_mask(size, _centre(rng, size), axes, float(rng.uniform(0, 180)))


def _rectangle(rng: np.random.Generator, size: int) -> np.ndarray:
    wh = (float(rng.uniform(0.15, 0.6) * size), float(rng.uniform(0.15, 0.6) * size))
    return _fill(size, cv2.boxPoints((_centre(rng, size), wh, float(rng.uniform(0, 180)))))


def _convex_polygon(rng: np.random.Generator, size: int) -> np.ndarray:
    cx, cy = _centre(rng, size)
    r = rng.uniform(0.12, 0.35) * size
    n = int(rng.integers(3, 9))
    a = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = r * rng.uniform(0.6, 1.0, n)
    pts = np.stack([cx + rad * np.cos(a), cy + rad * np.sin(a)], -1).astype(np.float32)
    return _fill(size, cv2.convexHull(pts)[:, 0])


def _star(rng: np.random.Generator, size: int) -> np.ndarray:
    cx, cy = _centre(rng, size)
    outer = rng.uniform(0.15, 0.38) * size
    inner = outer * rng.uniform(0.35, 0.6)
    n = int(rng.integers(4, 9))
    a = rng.uniform(0, 2 * np.pi) + np.arange(2 * n) * np.pi / n
    rad = np.where(np.arange(2 * n) % 2 == 0, outer, inner)
    return _fill(size, np.stack([cx + rad * np.cos(a), cy + rad * np.sin(a)], -1))


def _ring(rng: np.random.Generator, size: int) -> np.ndarray:
    c, angle = _centre(rng, size), float(rng.uniform(0, 180))
    a, b = rng.uniform(0.12, 0.38) * size, rng.uniform(0.12, 0.38) * size
    t = rng.uniform(0.35, 0.7)
    t = min(t, 1 - 3.0 / min(a, b))  # at least 3 px of ring on the thinner side
    outer = _ellipse_mask(size, c, (a, b), angle)
    return outer & ~_ellipse_mask(size, c, (a * t, b * t), angle)


def _blob(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth closed curve: the radius is a low-order Fourier series of the angle."""
    cx, cy = _centre(rng, size)
    r0 = rng.uniform(0.12, 0.35) * size
    theta = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    amps = rng.dirichlet(np.ones(3)) * rng.uniform(0.25, 0.55)  # sum < 0.6 keeps the radius positive
    r = r0 * (1 + sum(amps[k] * np.cos((k + 2) * theta + rng.uniform(0, 2 * np.pi)) for k in range(3)))
    return _fill(size, np.stack([cx + r * np.cos(theta), cy + r * np.sin(theta)], -1))


SHAPES: Final[dict[str, Callable[[np.random.Generator, int], np.ndarray]]] = {
    "ellipse": _ellipse,
    "rectangle": _rectangle,
    "convex_polygon": _convex_polygon,
    "star": _star,
    "ring": _ring,
    "blob": _blob,
}


def _background(rng: np.random.Generator, size: int, kind: str) -> np.ndarray:
    base = rng.uniform(0, 255, 3)
    if kind == "flat":
        img = np.broadcast_to(base, (size, size, 3)).astype(np.float32)
    elif kind == "gradient":
        other = rng.uniform(0, 255, 3)
        a = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        t = xx * np.cos(a) + yy * np.sin(a)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        img = base + t[..., None] * (other - base)
    else:  # low-frequency noise: a few random values per side, smoothly interpolated
        k = int(rng.integers(3, 7))
        noise = cv2.resize(
            rng.uniform(-1, 1, (k, k, 3)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC
        )
        img = base + noise * rng.uniform(15, 50)
    return np.clip(img, 0, 255).astype(np.float32)


def _colour(rng: np.random.Generator, covered: np.ndarray) -> np.ndarray:
    """A random colour at least MIN_CONTRAST away from the mean colour it covers (the best of 20 tries)."""
    mean = covered.reshape(-1, 3).mean(0) if covered.size else np.full(3, 127.5)
    best, best_d = rng.uniform(0, 255, 3), -1.0
    for _ in range(20):
        c = rng.uniform(0, 255, 3)
        d = float(np.linalg.norm(c - mean))
        if d > best_d:
            best, best_d = c, d
        if d >= MIN_CONTRAST:
            break
    return best


def _degrade(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mild blur, sensor noise and JPEG compression (image only; the boundaries stay exact)."""
    if rng.random() < 0.7:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.4, 1.0)))
    img = img + rng.normal(0, rng.uniform(1.0, 5.0), img.shape).astype(np.float32)
    out = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 96))])
        dec = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
        if dec is not None:
            out = np.ascontiguousarray(dec[..., ::-1])
    return out


@dataclass
class ContourSample:
    """One generated scene, for debugging and tests.

    ``image``: (H, W, 3) uint8 RGB after degradation; ``labels``: (H, W) int32, 0 for the background and
    ``k + 1`` where shape ``k`` is on top; ``edges``: (H, W) bool, ``boundary_of(labels)``; ``kinds``: the
    kind of each drawn shape, in drawing order; ``masks``: each shape's full (unoccluded) bool mask;
    ``background``: the background kind.
    """

    image: np.ndarray
    labels: np.ndarray
    edges: np.ndarray
    kinds: list[str] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)
    background: str = "flat"


@DATASETS.register("synthetic_contours")
class SyntheticContours(Dataset[Item]):
    """Random filled shapes over a random background, with their exact visible boundaries.

    Each scene: a background (flat colour, linear gradient or smooth low-frequency texture), then 1-6
    filled shapes in random colours, each drawn over the earlier ones; the boundary map is computed
    from the per-pixel label map of the shape on top (:func:`boundary_of`), so occluded outlines are
    absent. Then mild blur, noise and JPEG compression on the image only.

    Keywords:
        count: the number of items.
        seed: item ``i`` is drawn from ``np.random.default_rng([seed, i])``, the same every time.
        size: the side of the square output, in pixels (default 128).
        family: ``"train"`` (ellipses, rotated rectangles, convex polygons) or ``"heldout"`` (stars,
            rings, smooth blobs); the two share no shape kind.
    """

    def __init__(self, *, count: int, seed: int = 0, size: int = 128, family: str = "train") -> None:
        if family not in FAMILIES:
            raise ValueError(f"unknown shape family {family!r} (allowed: {', '.join(FAMILIES)})")
        if count < 0 or size < 16:
            raise ValueError(f"need count >= 0 and size >= 16, got count={count}, size={size}")
        self.count, self.seed, self.size, self.family = count, seed, size, family
        self.kinds = FAMILIES[family]

    def __len__(self) -> int:
        return self.count

    def sample(self, i: int) -> ContourSample:
        """The full scene of item ``i`` (see :class:`ContourSample`)."""
        i = _check_index(i, self.count)
        rng = np.random.default_rng([self.seed, i])
        s = self.size
        bg = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
        img = _background(rng, s, bg)
        labels = np.zeros((s, s), np.int32)
        kinds, masks = [], []
        for k in range(int(rng.integers(1, 7))):
            kind = self.kinds[int(rng.integers(len(self.kinds)))]
            mask = SHAPES[kind](rng, s)
            img[mask] = _colour(rng, img[mask])
            labels[mask] = k + 1
            kinds.append(kind)
            masks.append(mask)
        return ContourSample(_degrade(img, rng), labels, boundary_of(labels), kinds, masks, bg)

    def __getitem__(self, i: int) -> Item:
        smp = self.sample(i)
        return {"image": normalise(smp.image), "edges": _edges_tensor(smp.edges)}


# ---------------------------------------------------------------------------------------- Fashion-MNIST

MASK_THRESHOLD = 0.1  # of the image's maximum, at the native 28x28


@DATASETS.register("fashion_mnist_contours")
class FashionMNISTContours(Dataset[Item]):
    """Fashion-MNIST images with the outline of the object, and the class label.

    The 28x28 image is upsampled (bilinear) to ``size`` and replicated to 3 channels. The object mask
    is found at the native 28x28: pixels above ``MASK_THRESHOLD`` of the maximum, closed by one pixel
    (dark print inside a garment is no boundary). That 0/1 mask is upsampled bilinearly and cut at 0.5,
    so its border lies midway between the last object pixel and the first background pixel: where the
    upsampled image's edge is steepest, not at the foot of its ramp. The boundary is
    ``boundary_of(mask, border=0)``: the mask pixels with a 4-neighbour outside the mask, where pixels
    beyond the image count as outside (an object touching the frame still gets a closed outline).
    Items also hold ``"label"``: the int64 class index (0-9, names in :data:`idsight.data.fashion_mnist.CLASSES`). The decoded
    files are cached per process. No randomness: item ``i`` is always the ``i``-th image of the split.

    Keywords:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000).
        root: the folder of the four ``*-idx?-ubyte.gz`` files (Debian's ``dataset-fashion-mnist``).
        size: the side of the square output, in pixels (default 112).
        count: use the first ``count`` images of the split, or all of them (``None``).
    """

    def __init__(
        self,
        *,
        split: str = "train",
        root: str | Path = FASHION_MNIST_ROOT,
        size: int = 112,
        count: int | None = None,
    ) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.root = Path(root)
        self.images, self.labels = load_split(split, self.root)
        n = len(self.labels)
        if count is not None and not 0 <= count <= n:
            raise ValueError(f"count={count} is out of range: the {split} split has {n} images")
        self.split, self.size, self.count = split, size, n if count is None else count

    def __len__(self) -> int:
        return self.count

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Item ``i`` as arrays: grey image (H, W) float32 in [0, 1], bool mask, bool edges, label."""
        i = _check_index(i, self.count)
        s = self.size
        grey = cv2.resize(self.images[i].astype(np.float32) / 255.0, (s, s), interpolation=cv2.INTER_LINEAR)
        grey = np.clip(grey, 0.0, 1.0)
        native = self.images[i]
        top = int(native.max())
        small = (native > MASK_THRESHOLD * top).astype(np.uint8) if top > 0 else np.zeros_like(native)
        small = cv2.morphologyEx(small, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
        mask = cv2.resize(small.astype(np.float32), (s, s), interpolation=cv2.INTER_LINEAR) >= 0.5
        return grey, mask, boundary_of(mask.astype(np.uint8), border=0), int(self.labels[i])

    def __getitem__(self, i: int) -> Item:
        grey, _, edges, label = self.sample(i)
        return {
            "image": normalise(np.repeat(grey[..., None], 3, axis=2)),
            "edges": _edges_tensor(edges),
            "label": torch.tensor(label, dtype=torch.int64),
        }


# ------------------------------------------------------------------------------------ BSDS-style folders

IMAGE_SUFFIXES: Final[tuple[str, ...]] = (".jpg", ".jpeg", ".png")
CONSENSUS: Final[tuple[str, ...]] = ("mean", "majority")


def _read_map(path: Path) -> np.ndarray:
    """A boundary map file -> (H, W) bool, non-zero = boundary (any colour channel; alpha ignored)."""
    try:
        with Image.open(path) as im:
            im.load()
            a = np.asarray(im.convert("RGB") if im.mode == "P" else im)
    except FileNotFoundError:
        raise BadImageError("no such file", path=path) from None
    except Exception as e:
        raise BadImageError(f"not a readable boundary map ({type(e).__name__}: {e})", path=path) from None
    if a.ndim == 3:
        a = a[..., : 1 if a.shape[2] <= 2 else 3].max(axis=2)  # L/LA: the grey; RGB/RGBA: the colours
    return np.asarray(a != 0)


def _resize_map(m: np.ndarray, size: int) -> np.ndarray:
    """Resize a bool map, keeping thin lines: area average (max-pool-like when shrinking), then > 0."""
    if m.shape == (size, size):
        return m
    return np.asarray(cv2.resize(m.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA) > 0)


@DATASETS.register("contour_folder")
class ContourFolder(Dataset[Item]):
    """A BSDS-style folder: ``root/images/<stem>.<jpg|jpeg|png>`` with, per image, its ground truth as
    ``root/groundTruth/<stem>.png`` (one annotator) or ``root/groundTruth/<stem>/*.png`` (several).

    Each ground-truth map is the size of its image, non-zero = boundary. ``"edges"`` combines the
    annotators: ``"mean"`` gives the fraction of annotators marking each pixel, ``"majority"`` gives 1
    where at least half of them do. :meth:`annotator_maps` gives the individual maps for evaluation.
    A missing ground truth is reported when the data set is built; an unreadable image or map, or a map
    whose size differs from its image, when the item is read; each error names the file.

    Keywords:
        root: the folder holding ``images/`` and ``groundTruth/``.
        size: resize the image and the maps to ``size`` x ``size`` (``None``: keep the stored size, which
            must then be the same for every image to batch them). A resized map is re-binarised (any
            covered boundary pixel counts), so thin edges are not lost.
        consensus: ``"mean"`` (default) or ``"majority"``.
        count: use the first ``count`` images in name order, or all of them (``None``).
    """

    def __init__(
        self,
        *,
        root: str | Path,
        size: int | None = None,
        consensus: str = "mean",
        count: int | None = None,
    ) -> None:
        if consensus not in CONSENSUS:
            raise ValueError(f"unknown consensus {consensus!r} (allowed: {', '.join(CONSENSUS)})")
        if size is not None and size < 1:
            raise ValueError(f"size must be >= 1 or None, got {size}")
        self.root, self.size, self.consensus = Path(root), size, consensus
        images_dir, truth_dir = self.root / "images", self.root / "groundTruth"
        for d in (images_dir, truth_dir):
            if not d.is_dir():
                raise BadDataError("folder not found (expected a BSDS-style images/ + groundTruth/)", path=d)
        images = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not images:
            raise BadDataError(f"no images ({', '.join(IMAGE_SUFFIXES)})", path=images_dir)
        self.items: list[tuple[Path, list[Path]]] = []
        seen: dict[str, Path] = {}
        for img in images:
            if img.stem in seen:
                raise BadDataError(
                    f"two images share the stem {img.stem!r} (also {seen[img.stem]})", path=img
                )
            seen[img.stem] = img
            self.items.append((img, self._truth_files(img, truth_dir)))
        if count is not None:
            if not 0 <= count <= len(self.items):
                raise ValueError(f"count={count} is out of range: {self.root} holds {len(self.items)} images")
            self.items = self.items[:count]

    @staticmethod
    def _truth_files(image: Path, truth_dir: Path) -> list[Path]:
        single, multi = truth_dir / f"{image.stem}.png", truth_dir / image.stem
        if single.is_file() and multi.is_dir():
            raise BadDataError(f"ambiguous ground truth: both {single} and {multi}/ exist", path=image)
        if single.is_file():
            return [single]
        files = sorted(multi.glob("*.png")) if multi.is_dir() else []
        if not files:
            raise BadDataError(f"no ground truth: expected {single} or PNG maps in {multi}/", path=image)
        return files

    def __len__(self) -> int:
        return len(self.items)

    def _load(self, i: int) -> tuple[np.ndarray, list[np.ndarray]]:
        image_path, map_paths = self.items[_check_index(i, len(self.items))]
        image = load_image(image_path, min_side=1)
        h, w = image.shape[:2]
        maps = []
        for p in map_paths:
            m = _read_map(p)
            if m.shape != (h, w):
                raise BadDataError(
                    f"boundary map is {m.shape[1]}x{m.shape[0]}, its image {image_path.name} is {w}x{h}",
                    path=p,
                )
            maps.append(m)
        if self.size is not None and (h, w) != (self.size, self.size):
            image = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
            maps = [_resize_map(m, self.size) for m in maps]
        return image, maps

    def annotator_maps(self, i: int) -> list[np.ndarray]:
        """Each annotator's bool boundary map of item ``i``, at the output size."""
        return self._load(i)[1]

    def __getitem__(self, i: int) -> Item:
        image, maps = self._load(i)
        stack = np.stack(maps).astype(np.float32)
        if self.consensus == "mean":
            edges = stack.mean(0)
        else:
            edges = (2 * stack.sum(0) >= len(maps)).astype(np.float32)
        return {"image": normalise(image), "edges": _edges_tensor(edges)}


class _ContourItems(Protocol):
    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> dict[str, Any]: ...


def write_contour_folder(dataset: _ContourItems, out: str | Path, count: int) -> Path:
    """Write the first ``count`` items of a contour data set in the layout :class:`ContourFolder` reads.

    ``out/images/<i:06d>.png``: the de-normalised image; ``out/groundTruth/<i:06d>.png``: one map per
    image, 255 where ``edges > 0`` (a fractional consensus is stored as "any annotator"). Binary edges,
    as every generated set has, read back exactly. Returns ``out``; existing files of the same names
    are overwritten.
    """
    out = Path(out)
    if not 0 <= count <= len(dataset):
        raise ValueError(f"count={count} is out of range: the data set has {len(dataset)} items")
    images_dir, truth_dir = out / "images", out / "groundTruth"
    try:
        images_dir.mkdir(parents=True, exist_ok=True)
        truth_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the folder ({e.strerror or e})", path=out) from None
    for i in range(count):
        item = dataset[i]
        image = denormalise(item["image"])
        edges = (item["edges"][0].detach().cpu().numpy() > 0).astype(np.uint8) * 255
        for arr, path in ((image, images_dir / f"{i:06d}.png"), (edges, truth_dir / f"{i:06d}.png")):
            try:
                Image.fromarray(arr).save(path)
            except OSError as e:
                raise OutputError(f"cannot write the file ({e.strerror or e})", path=path) from None
    return out
