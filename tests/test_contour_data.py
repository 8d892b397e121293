"""The contour (edge) data sets: synthetic shapes, Fashion-MNIST outlines and BSDS-style folders."""

from __future__ import annotations

import gzip
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from idsight.data.contours import (
    FAMILIES,
    HELDOUT_KINDS,
    MEAN,
    STD,
    TRAIN_KINDS,
    BadDataError,
    ContourFolder,
    FashionMNISTContours,
    SyntheticContours,
    boundary_of,
    denormalise,
    normalise,
    write_contour_folder,
)
from idsight.data.fashion_mnist import CLASSES, read_idx
from idsight.errors import BadImageError, IdsightError
from idsight.registry import DATASETS

FASHION = Path("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(
    not FASHION.is_dir(), reason="apt-get install dataset-fashion-mnist for the real files"
)


def _check_item(item: dict[str, torch.Tensor], size: int) -> None:
    assert item["image"].shape == (3, size, size) and item["image"].dtype == torch.float32
    assert item["edges"].shape == (1, size, size) and item["edges"].dtype == torch.float32
    assert torch.isfinite(item["image"]).all()
    assert item["edges"].min() >= 0 and item["edges"].max() <= 1
    lo = (0 - torch.tensor(MEAN)) / torch.tensor(STD)
    hi = (1 - torch.tensor(MEAN)) / torch.tensor(STD)
    img = item["image"].flatten(1)
    assert (img.min(1).values >= lo - 1e-5).all() and (img.max(1).values <= hi + 1e-5).all()


def _changes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bool maps of the horizontal and vertical 4-neighbour pairs whose labels differ."""
    return labels[:, 1:] != labels[:, :-1], labels[1:, :] != labels[:-1, :]


# ------------------------------------------------------------------------------------------ boundary_of


def test_boundary_of_square_and_frame() -> None:
    mask = np.zeros((5, 5), np.uint8)
    mask[1:4, 1:4] = 1
    ring = mask.astype(bool).copy()
    ring[2, 2] = False
    assert (boundary_of(mask) == ring).all()  # the inner border, one pixel wide

    edge = np.zeros((4, 4), np.uint8)
    edge[:, :2] = 1  # an object cut by the left frame
    assert boundary_of(edge)[:, 1].all() and not boundary_of(edge)[:, 0].any()
    closed = boundary_of(edge, border=0)
    assert closed[:, 0].all() and closed[:, 1].all() and not closed[:, 2:].any()
    with pytest.raises(ValueError):
        boundary_of(np.zeros((2, 2, 2)))


def test_boundary_of_marks_only_the_visible_outline() -> None:
    labels = np.zeros((12, 12), np.int32)
    labels[2:8, 2:8] = 1  # drawn first
    labels[4:10, 4:10] = 2  # drawn on top, hiding the lower right corner of shape 1
    edges = boundary_of(labels)
    assert not edges[5:9, 5:9].any()  # shape 1's hidden outline (row 7, column 7) is not there
    assert edges[4, 4:10].all() and edges[4:10, 4].all()  # the occluder's outline is complete
    assert edges[2, 2:8].all() and edges[2:4, 2].all()  # shape 1's visible outline
    h, v = _changes(labels)
    assert (edges[:, 1:] | edges[:, :-1])[h].all() and (edges[1:, :] | edges[:-1, :])[v].all()


# -------------------------------------------------------------------------------------------- synthetic


@pytest.mark.parametrize("family", ["train", "heldout"])
def test_synthetic_items(family: str) -> None:
    ds = DATASETS.build("synthetic_contours", count=6, seed=3, size=64, family=family)
    assert isinstance(ds, SyntheticContours) and len(ds) == 6
    for i in range(len(ds)):
        item = ds[i]
        _check_item(item, 64)
        assert set(item["edges"].unique().tolist()) <= {0.0, 1.0} and item["edges"].sum() > 0
    with pytest.raises(IndexError):
        ds[6]


def test_synthetic_is_deterministic() -> None:
    a, b = SyntheticContours(count=4, seed=7, size=48), SyntheticContours(count=4, seed=7, size=48)
    for i in range(4):
        x, y = a[i], b[i]
        assert torch.equal(x["image"], y["image"]) and torch.equal(x["edges"], y["edges"])
    assert not torch.equal(a[0]["image"], a[1]["image"])
    assert not torch.equal(a[0]["edges"], a[1]["edges"])
    assert not torch.equal(a[0]["image"], SyntheticContours(count=1, seed=8, size=48)[0]["image"])


@pytest.mark.parametrize("family", ["train", "heldout"])
def test_synthetic_boundary_is_exactly_the_visible_boundary(family: str) -> None:
    ds = SyntheticContours(count=12, seed=1, size=64, family=family)
    hidden_outline = 0
    for i in range(len(ds)):
        s = ds.sample(i)
        assert torch.equal(ds[i]["edges"][0], torch.from_numpy(s.edges.astype(np.float32)))
        assert (s.edges == boundary_of(s.labels)).all()
        lab = np.pad(s.labels, 1, mode="edge")
        centre = lab[1:-1, 1:-1]
        differs = (
            (lab[:-2, 1:-1] != centre)
            | (lab[2:, 1:-1] != centre)
            | (lab[1:-1, :-2] != centre)
            | (lab[1:-1, 2:] != centre)
        )
        assert not (s.edges & ~differs).any()  # every edge pixel is where the label map changes
        h, v = _changes(s.labels)  # and every change is marked, on one side at least
        assert (s.edges[:, 1:] | s.edges[:, :-1])[h].all() and (s.edges[1:, :] | s.edges[:-1, :])[v].all()
        # an occluded shape's hidden outline, inside the occluder, has no boundary
        for k, mask in enumerate(s.masks):
            inside = ~differs & (s.labels > k + 1)
            hidden = boundary_of(mask.astype(np.uint8)) & inside
            assert not s.edges[hidden].any()
            hidden_outline += int(hidden.sum())
    assert hidden_outline > 0  # the check above was exercised


def test_synthetic_families_are_disjoint() -> None:
    assert set(TRAIN_KINDS).isdisjoint(HELDOUT_KINDS) and set(FAMILIES) == {"train", "heldout"}
    for family, kinds in (("train", TRAIN_KINDS), ("heldout", HELDOUT_KINDS)):
        ds = SyntheticContours(count=30, seed=0, size=32, family=family)
        drawn = {k for i in range(len(ds)) for k in ds.sample(i).kinds}
        assert drawn == set(kinds)
    with pytest.raises(ValueError, match="train, heldout"):
        SyntheticContours(count=1, family="test")


# ---------------------------------------------------------------------------------------- Fashion-MNIST


@needs_fashion
def test_fashion_mnist_items() -> None:
    ds = DATASETS.build("fashion_mnist_contours", split="test", count=8)
    assert isinstance(ds, FashionMNISTContours) and len(ds) == 8 and len(CLASSES) == 10
    assert len(FashionMNISTContours(split="test")) == 10_000
    for i in range(len(ds)):
        item = ds[i]
        _check_item(item, 112)
        assert item["label"].dtype == torch.int64 and item["label"].shape == ()
        assert 0 <= int(item["label"]) <= 9
        grey = [item["image"][c] * STD[c] + MEAN[c] for c in range(3)]
        assert torch.allclose(grey[0], grey[1], atol=1e-6) and torch.allclose(grey[0], grey[2], atol=1e-6)
        _, mask, edges, label = ds.sample(i)
        assert label == int(item["label"]) and edges.sum() > 0
        assert (edges <= mask).all()  # on the mask ...
        out = ~np.pad(mask, 1, constant_values=False)
        border = out[:-2, 1:-1] | out[2:, 1:-1] | out[1:-1, :-2] | out[1:-1, 2:]
        assert (edges == (mask & border)).all()  # ... exactly its pixels with a 4-neighbour outside
    assert torch.equal(ds[3]["edges"], FashionMNISTContours(split="test", count=8)[3]["edges"])
    assert int(ds[0]["label"]) == 9  # the first test image is an ankle boot
    train = FashionMNISTContours(split="train", count=4, size=56)
    _check_item(train[0], 56)
    assert len(FashionMNISTContours(split="train")) == 60_000


@needs_fashion
def test_fashion_mnist_boundary_on_the_steep_part_of_the_edge() -> None:
    """The derived boundary lies where the upsampled image changes fastest, not at the foot of its ramp
    (where an edge detector cannot be expected to fire)."""
    ds = FashionMNISTContours(split="test", count=40, size=112)
    ratios = []
    for i in range(len(ds)):
        grey, _, edges, _ = ds.sample(i)
        mag = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
        ratios.append(mag[edges].mean() / np.percentile(mag[mag > 0], 95))
    assert np.mean(ratios) > 0.5  # a boundary at 10% of the blurred maximum gave 0.36


def test_fashion_mnist_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(BadDataError, match="apt-get install dataset-fashion-mnist") as e:
        FashionMNISTContours(root=tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(e.value)
    with pytest.raises(ValueError, match="train, test"):
        FashionMNISTContours(split="val", root=tmp_path)


def _idx(arr: np.ndarray) -> bytes:
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[arr.dtype]
    head = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes()
    return head + arr.tobytes()


def test_read_idx(tmp_path: Path) -> None:
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    plain, packed = tmp_path / "a.idx", tmp_path / "a.idx.gz"
    plain.write_bytes(_idx(arr))
    packed.write_bytes(gzip.compress(_idx(arr)))
    assert (read_idx(plain) == arr).all() and (read_idx(packed) == arr).all()
    ints = np.array([1, -2, 70000], ">i4")
    (tmp_path / "b.idx").write_bytes(_idx(ints))
    assert read_idx(tmp_path / "b.idx").tolist() == [1, -2, 70000]

    bad = {
        "short.idx": _idx(arr)[:-5],  # truncated data
        "header.idx": _idx(arr)[:9],  # truncated header
        "long.idx": _idx(arr) + b"\0",
        "magic.idx": b"\x01\x02" + _idx(arr)[2:],
        "type.idx": b"\0\0\x07" + _idx(arr)[3:],
        "short.gz": gzip.compress(_idx(arr)[:-5]),
        "cut.gz": gzip.compress(_idx(arr))[:-12],  # a truncated gzip stream
        "empty.idx": b"",
    }
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(BadDataError) as e:
            read_idx(tmp_path / name)
        assert str(tmp_path / name) in str(e.value), name
    with pytest.raises(BadDataError, match="magic"):
        read_idx(tmp_path / "magic.idx")
    with pytest.raises(BadDataError, match="truncated"):
        read_idx(tmp_path / "short.gz")
    with pytest.raises(BadDataError, match="no such file"):
        read_idx(tmp_path / "missing.idx")


@needs_fashion
def test_read_idx_real_files() -> None:
    images = read_idx(FASHION / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(FASHION / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10_000,) and set(np.unique(labels).tolist()) == set(range(10))


# ------------------------------------------------------------------------------------------ folders


def _save(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def test_normalise_round_trip() -> None:
    img = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    assert (denormalise(normalise(img)) == img).all()


def test_folder_round_trip(tmp_path: Path) -> None:
    src = SyntheticContours(count=3, seed=5, size=40, family="heldout")
    out = write_contour_folder(src, tmp_path / "held", 3)
    assert sorted(p.name for p in (out / "images").iterdir()) == ["000000.png", "000001.png", "000002.png"]
    back = DATASETS.build("contour_folder", root=out)
    assert isinstance(back, ContourFolder) and len(back) == 3
    for i in range(3):
        a, b = src[i], back[i]
        _check_item(b, 40)
        assert torch.equal(a["edges"], b["edges"])
        assert torch.allclose(a["image"], b["image"], atol=1e-5)
        assert len(back.annotator_maps(i)) == 1
    assert len(ContourFolder(root=out, count=2)) == 2
    with pytest.raises(ValueError):
        write_contour_folder(src, tmp_path / "x", 4)


@needs_fashion
def test_folder_round_trip_fashion(tmp_path: Path) -> None:
    src = FashionMNISTContours(split="test", count=2, size=56)
    back = ContourFolder(root=write_contour_folder(src, tmp_path, 2))
    assert all(torch.equal(src[i]["edges"], back[i]["edges"]) for i in range(2))


def _annotated(root: Path) -> list[np.ndarray]:
    _save(root / "images" / "a.jpg", np.full((8, 10, 3), 128, np.uint8))
    maps = [np.zeros((8, 10), np.uint8) for _ in range(3)]
    maps[0][2, :] = 255
    maps[1][2, :5] = 1
    maps[2][2, :3] = 7
    maps[2][5, 5] = 255
    for k, m in enumerate(maps):
        _save(root / "groundTruth" / "a" / f"{k}.png", m)
    return maps


def test_folder_annotators(tmp_path: Path) -> None:
    _annotated(tmp_path)
    mean = ContourFolder(root=tmp_path)[0]["edges"][0]
    expect = np.zeros((8, 10), np.float32)
    expect[2, :3], expect[2, 3:5], expect[2, 5:], expect[5, 5] = 1, 2 / 3, 1 / 3, 1 / 3
    assert torch.allclose(mean, torch.from_numpy(expect))
    majority = ContourFolder(root=tmp_path, consensus="majority")[0]["edges"][0]
    assert torch.equal(majority, torch.from_numpy((expect >= 0.5).astype(np.float32)))
    maps = ContourFolder(root=tmp_path).annotator_maps(0)
    assert len(maps) == 3 and all(m.dtype == bool and m.shape == (8, 10) for m in maps)
    with pytest.raises(ValueError, match="mean, majority"):
        ContourFolder(root=tmp_path, consensus="vote")


def test_folder_resize_keeps_thin_edges(tmp_path: Path) -> None:
    _save(tmp_path / "images" / "a.png", np.zeros((64, 64, 3), np.uint8))
    m = np.zeros((64, 64), np.uint8)
    m[33, :] = 255  # a one-pixel line, lost by a plain nearest-neighbour 4x shrink
    _save(tmp_path / "groundTruth" / "a.png", m)
    ds = ContourFolder(root=tmp_path, size=16)
    item = ds[0]
    _check_item(item, 16)
    edges = item["edges"][0]
    assert edges[8].eq(1).all() and edges.sum() == 16
    assert ds.annotator_maps(0)[0].shape == (16, 16)


def test_folder_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(BadDataError, match="folder not found"):
        ContourFolder(root=tmp_path)

    root = tmp_path / "nogt"
    _save(root / "images" / "x.png", np.zeros((8, 8, 3), np.uint8))
    (root / "groundTruth").mkdir()
    with pytest.raises(BadDataError, match="no ground truth") as e:
        ContourFolder(root=root)
    assert str(root / "images" / "x.png") in str(e.value)

    root = tmp_path / "size"
    _save(root / "images" / "x.png", np.zeros((8, 8, 3), np.uint8))
    _save(root / "groundTruth" / "x.png", np.zeros((8, 9), np.uint8))
    with pytest.raises(BadDataError, match="9x8") as e:
        ContourFolder(root=root)[0]
    assert str(root / "groundTruth" / "x.png") in str(e.value)

    root = tmp_path / "badimage"
    (root / "images").mkdir(parents=True)
    (root / "images" / "x.jpg").write_bytes(b"not a jpeg at all")
    _save(root / "groundTruth" / "x.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(BadImageError) as unreadable:
        ContourFolder(root=root)[0]
    assert str(root / "images" / "x.jpg") in str(unreadable.value)

    root = tmp_path / "badmap"
    _save(root / "images" / "x.png", np.zeros((8, 8, 3), np.uint8))
    (root / "groundTruth" / "x").mkdir(parents=True)
    (root / "groundTruth" / "x" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(IdsightError) as bad_map:
        ContourFolder(root=root)[0]
    assert str(root / "groundTruth" / "x" / "0.png") in str(bad_map.value)


# ------------------------------------------------------------------------------------------ loaders


def test_default_collate(tmp_path: Path) -> None:
    sets: list[torch.utils.data.Dataset] = [
        SyntheticContours(count=4, seed=0, size=32),
        SyntheticContours(count=4, seed=0, size=32, family="heldout"),
        ContourFolder(root=write_contour_folder(SyntheticContours(count=4, size=32), tmp_path, 4)),
    ]
    if FASHION.is_dir():
        sets.append(FashionMNISTContours(split="test", count=4, size=32))
    for ds in sets:
        batch = next(iter(DataLoader(ds, batch_size=4)))
        assert batch["image"].shape == (4, 3, 32, 32) and batch["edges"].shape == (4, 1, 32, 32)
        if isinstance(ds, FashionMNISTContours):
            assert batch["label"].shape == (4,) and batch["label"].dtype == torch.int64
