"""Labelled image sets, bounded colour augmentation, offline augmentation, the mixture data set, and the
classifier's artifact through `idsight train`, `idsight classify` and `idsight augment`."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import idsight.data.images  # noqa: F401  (registers the data sets)
import idsight.data.mixture  # noqa: F401
from idsight.cli.main import app
from idsight.data.augment import AugmentConfig, build_augment, colour_transforms
from idsight.data.images import CsvImageSet, FashionMNISTImages, ImageFolderSet, letterbox, write_augmented
from idsight.errors import BadDataError
from idsight.registry import DATASETS

FIXTURE = Path(__file__).resolve().parents[1] / "examples" / "clothing-gender"
FASHION = Path("/usr/share/datasets/fashion-mnist")


def _folder(tmp: Path, counts: dict[str, int]) -> Path:
    rng = np.random.default_rng(0)
    for name, n in counts.items():
        (tmp / name).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(tmp / name / f"{i}.png"), rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    return tmp


def test_image_folder_items_and_errors(tmp_path: Path) -> None:
    root = _folder(tmp_path / "tree", {"cat": 3, "dog": 2})
    ds = DATASETS.build("image_folder", root=str(root), size=24)
    assert ds.classes == ("cat", "dog") and len(ds) == 5
    item = ds[0]
    assert item["image"].shape == (3, 24, 24) and item["image"].dtype == torch.float32
    assert sorted(int(ds[i]["label"]) for i in range(5)) == [0, 0, 0, 1, 1]
    (root / "empty").mkdir()
    with pytest.raises(BadDataError, match="class folder has no images") as e:
        ImageFolderSet(root=root)
    assert str(root / "empty") in str(e.value)
    shutil.rmtree(root / "empty")
    with pytest.raises(BadDataError, match=r"labels not among the classes \['cat', 'bird'\]: \['dog'\]"):
        ImageFolderSet(root=root, classes=["cat", "bird"])
    with pytest.raises(BadDataError, match="no such image folder"):
        ImageFolderSet(root=tmp_path / "nowhere")


def test_csv_items_and_errors(tmp_path: Path) -> None:
    ds = CsvImageSet(csv_file=FIXTURE / "labels.csv", size=32)
    assert ds.classes == ("female", "male", "unisex") and len(ds) == 24
    assert ds[0]["image"].shape == (3, 32, 32)
    rows = list(csv.reader((FIXTURE / "labels.csv").open()))
    bad = tmp_path / "labels.csv"
    with bad.open("w", newline="") as fh:
        csv.writer(fh).writerows([*rows, ["images/gone.png", "male"], ["images/lost.png", "female"]])
    with pytest.raises(BadDataError, match=r"names 2 missing files: images/gone.png, images/lost.png") as e:
        CsvImageSet(csv_file=bad, root=FIXTURE)
    assert str(bad) in str(e.value)
    bad.write_text("file,class\na.png,x\n")
    with pytest.raises(BadDataError, match="header `path,label`"):
        CsvImageSet(csv_file=bad)
    with pytest.raises(BadDataError, match="labels not among the classes"):
        CsvImageSet(csv_file=FIXTURE / "labels.csv", classes=["female", "male"])


def test_letterbox_keeps_the_aspect() -> None:
    img = np.zeros((10, 40, 3), np.uint8)
    img[:, :, 0] = 200
    out = letterbox(img, 20)
    assert out.shape == (20, 20, 3) and (out[..., 0] == 200).all()  # padding replicates the edge


@pytest.mark.skipif(not FASHION.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_fashion_mnist_images() -> None:
    ds = FashionMNISTImages(split="train", offset=55_000, size=40)
    assert len(ds) == 5_000 and ds.classes[9] == "Ankle boot"
    item = ds[0]
    assert item["image"].shape == (3, 40, 40) and torch.equal(
        item["image"][0] * 0.229, item["image"][0] * 0.229
    )
    assert FashionMNISTImages(split="test", count=3)[0]["label"] == 9  # the first test image is a boot


@settings(max_examples=30, deadline=None)
@given(limit=st.integers(1, 60), seed=st.integers(0, 2**31 - 1))
def test_channel_shift_stays_within_its_limit(limit: int, seed: int) -> None:
    pipe = __import__("albumentations").Compose(
        colour_transforms(AugmentConfig(channel_swap=0, channel_shift=limit))
    )
    pipe.set_random_seed(seed)
    img = np.full((8, 8, 3), 128, np.uint8)
    img[..., 1] = 90
    out = pipe(image=img)["image"].astype(int)
    shift = out - img.astype(int)
    assert (np.abs(shift) <= limit).all()
    assert all(len(np.unique(shift[..., c])) == 1 for c in range(3))  # one shift per channel


def test_channel_swaps_stay_within_their_fraction() -> None:
    pipe = __import__("albumentations").Compose(
        colour_transforms(AugmentConfig(channel_swap=0.1, channel_shift=0))
    )
    pipe.set_random_seed(0)
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 10, 20, 30
    swapped = sum(not np.array_equal(pipe(image=img)["image"], img) for _ in range(2000))
    # a swap may permute back to the identity (1 in 6), so the changed share is at most the fraction
    assert 0.05 * 2000 < swapped < 0.13 * 2000


def test_augment_pipeline_shapes() -> None:
    pipe = build_augment(32, {"rotate": 30, "noise": 1.0, "sharpen": 1.0})
    out = pipe(image=np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8))["image"]
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    with pytest.raises(ValueError, match="channel_swap"):
        AugmentConfig(channel_swap=1.5)


def test_offline_augmentation_round_trip(tmp_path: Path) -> None:
    ds = CsvImageSet(csv_file=FIXTURE / "labels.csv", size=24, augment={"channel_swap": 0.5}, count=6)
    root = write_augmented(ds, tmp_path / "big", copies=2)
    back = ImageFolderSet(root=root, size=24)
    assert len(back) == 18 and set(back.classes) <= {"female", "male", "unisex"}
    with pytest.raises(ValueError, match="no augmentation pipeline"):
        write_augmented(CsvImageSet(csv_file=FIXTURE / "labels.csv"), tmp_path / "x", copies=1)


def test_mixture_keeps_common_keys_and_is_deterministic() -> None:
    parts = [
        {"name": "synthetic_contours", "kwargs": {"size": 32, "count": 10}, "weight": 1},
        {"name": "image_csv", "kwargs": {"csv_file": str(FIXTURE / "labels.csv"), "size": 32}, "weight": 3},
    ]
    mix = DATASETS.build("mixture", parts=parts, count=40, seed=3)
    assert mix.keys == ["image"] and len(mix) == 40
    assert torch.equal(mix[7]["image"], DATASETS.build("mixture", parts=parts, count=40, seed=3)[7]["image"])
    with pytest.raises(ValueError, match="weights"):
        DATASETS.build("mixture", parts=[{**parts[0], "weight": 0}], count=1)


def test_train_classify_and_augment_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The clothing-gender config trains from its fixture to one file; `idsight classify` reads it
    alone; bad inputs get one line and exit 2."""
    from idsight.artifact import save_artifact
    from idsight.contours.classify import load_classifier
    from idsight.models.contour import contour_small
    from idsight.train.component import train_component

    ext = tmp_path / "contours.safetensors"
    save_artifact(
        ext,
        contour_small().state_dict(),
        {"task": "contour_detection", "arch": {"name": "contour_small", "kwargs": {}}},
        dtype="float32",
    )
    cfg = Path(__file__).resolve().parents[1] / "configs" / "classify_clothing_gender.yaml"
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    overrides = [
        f"model.kwargs.contour={ext}",
        "model.kwargs.input_size=32",
        "data.kwargs.size=32",
        "trainer.max_epochs=1",
        f"out_dir={tmp_path / 'run'}",
    ]
    model = train_component(cfg, overrides=overrides)
    assert model is not None and model.is_file()
    net = load_classifier(model)
    assert net.classes == ("female", "male", "unisex") and net.input_size == 32
    runner = CliRunner()
    images = sorted((FIXTURE / "images").iterdir())[:2]
    res = runner.invoke(app, ["classify", *map(str, images), "--model", str(model)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert [r["image"] for r in rows] == list(map(str, images))
    assert all(r["label"] in net.classes and abs(sum(r["probabilities"].values()) - 1) < 1e-3 for r in rows)
    res = runner.invoke(app, ["classify", str(tmp_path / "nope.png"), "--model", str(model)])
    assert res.exit_code == 2 and "nope.png" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["classify", str(images[0]), "--model", str(ext)])
    assert res.exit_code == 2 and "not a contour-fused classifier" in res.output
    res = runner.invoke(
        app,
        [
            "augment",
            str(FIXTURE / "labels.csv"),
            "--out",
            str(tmp_path / "aug"),
            "--copies",
            "1",
            "--size",
            "24",
        ],
    )
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "aug").rglob("*.png"))) == 48
    res = runner.invoke(app, ["augment", str(FIXTURE / "labels.csv"), "--out", str(tmp_path / "aug")])
    assert res.exit_code == 2 and "not an empty folder" in res.output
    assert os.environ.get("IDSIGHT_DEBUG") is None
