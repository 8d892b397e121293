"""The curation run (idsight curate), face embedders, alignment, calibration and idsight faces verify."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import idsight.data.faces  # noqa: F401  (registers the data sets)
import idsight.errors
import idsight.models  # noqa: F401  (registers the builders)
from idsight.cli.main import app
from idsight.data.synth.faces import identity_split, source_faces, vary
from idsight.errors import BadImageError
from idsight.faces.embed import DlibEmbedder, embed_images
from idsight.faces.pipeline import CurateOptions, run_curation
from idsight.faces.store import EmbeddingStore

runner = CliRunner()


class PixelEmbedder:
    """A deterministic stand-in: the 8x8 grey thumbnail, centred and normalised (64-d)."""

    name, dim = "pixels", 64

    def embed(self, faces: list[np.ndarray]) -> np.ndarray:
        rows = []
        for f in faces:
            g = cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (8, 8), interpolation=cv2.INTER_AREA)
            v = g.astype(np.float32).ravel()
            v -= v.mean()
            rows.append(v / max(1e-6, float(np.linalg.norm(v))))
        return np.stack(rows)


def _write_faces(root: Path, identities: int = 3, views: int = 4, outlier: bool = True) -> Path:
    """Varied views of real source faces, one folder per identity; identity 0 also holds one view of
    another person (the outlier the base filter should drop)."""
    faces, _ = identity_split(source_faces())
    rng = np.random.default_rng(0)
    for k in range(identities):
        folder = root / f"id{k}"
        folder.mkdir(parents=True)
        for v in range(views):
            img = cv2.resize(vary(faces[k].rgb, rng), (64, 64))
            cv2.imwrite(str(folder / f"v{v}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    if outlier:
        img = cv2.resize(vary(faces[40].rgb, rng), (64, 64))
        cv2.imwrite(str(root / "id0" / "z_other.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return root


def _manifest(out: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]


def test_curation_run_writes_manifest_report_and_augmented_views(tmp_path: Path) -> None:
    data = _write_faces(tmp_path / "faces")
    out = tmp_path / "cur"
    res = run_curation(data, out, PixelEmbedder(), CurateOptions(t=0.5, copies=2, band=(0.3, 0.999)))
    assert res is not None
    rows = _manifest(out)
    base = [r for r in rows if r["source"] == "base"]
    aug = [r for r in rows if r["source"] == "augmented"]
    assert len(base) == 13 and {r["stage"] for r in base} <= {"base_kept", "base_dropped"}
    kept = [r for r in base if r["stage"] == "base_kept"]
    assert len(aug) == 2 * len(kept)  # two views of each kept image, none of the dropped ones
    assert all(Path(str(r["path"])).is_file() for r in aug)
    # the other person's face is the least typical image of id0
    id0 = sorted((r for r in base if r["identity"] == "id0"), key=lambda r: float(r["similarity"]))  # type: ignore[arg-type]
    assert id0[0]["path"].endswith("z_other.png")  # type: ignore[union-attr]
    for f in ("report.json", "similarity.png", "centres.npy", "identities.json"):
        assert (out / f).is_file()
    # the curated set trains: items of the kept rows, with online augmentation
    ds = idsight.data.faces.CuratedFaces(curation=out, size=32, augment={"rotate": 5.0})
    assert len(ds) == sum(r["stage"] in ("base_kept", "augmented_kept") for r in rows)
    item = ds[0]
    assert item["image"].shape == (3, 32, 32) and 0 <= int(item["label"]) < 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rank(rank: int, world: int, port: int, data: str, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    import torch.distributed as dist

    try:
        opts = CurateOptions(t=0.5, copies=1, band=(0.3, 0.999), target=4, centre=True)
        run_curation(data, out, PixelEmbedder(), opts)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_two_gloo_ranks_give_the_same_curation_as_one(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    data = _write_faces(tmp_path / "faces", identities=3, views=5)
    one, two = tmp_path / "one", tmp_path / "two"
    opts = CurateOptions(t=0.5, copies=1, band=(0.3, 0.999), target=4, centre=True)
    run_curation(data, one, PixelEmbedder(), opts)
    mp.spawn(_rank, args=(2, _free_port(), str(data), str(two)), nprocs=2, join=True)
    a, b = _manifest(one), _manifest(two)
    assert [(r["stage"], r["label"]) for r in a] == [(r["stage"], r["label"]) for r in b]
    np.testing.assert_allclose([r["similarity"] for r in a], [r["similarity"] for r in b], atol=1e-6)
    np.testing.assert_allclose(np.load(one / "centres.npy"), np.load(two / "centres.npy"), atol=1e-6)
    np.testing.assert_allclose(np.load(one / "mean.npy"), np.load(two / "mean.npy"), atol=1e-6)
    assert not (two / "base.store.shards").exists()
    assert EmbeddingStore.open(two / "base.store").n == EmbeddingStore.open(one / "base.store").n


def test_dlib_encoder_separates_people() -> None:
    faces, _ = identity_split(source_faces())
    rng = np.random.default_rng(1)
    views = [cv2.resize(vary(faces[k].rgb, rng), (112, 112)) for k in (0, 0, 5, 5)]
    emb = DlibEmbedder().embed(views)
    assert emb.shape == (4, 128)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    same = (emb[0] @ emb[1] + emb[2] @ emb[3]) / 2
    other = (emb[0] @ emb[2] + emb[1] @ emb[3]) / 2
    assert same > other


def test_embed_images_names_an_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(BadImageError, match="x.png"):
        embed_images(PixelEmbedder(), [(str(bad), 0)], tmp_path / "s", identities=["a"], num_classes=1)


def test_curate_cli(tmp_path: Path) -> None:
    data = _write_faces(tmp_path / "faces", identities=2, views=3, outlier=False)
    res = runner.invoke(
        app, ["curate", str(data), "--out", str(tmp_path / "c"), "--embedder", "dlib", "--copies", "1"]
    )
    assert res.exit_code == 0, res.output
    got = json.loads(res.output.strip().splitlines()[-1])
    assert got["stages"]["augmented_kept"] + got["stages"]["augmented_dropped"] == got["stages"]["base_kept"]
    assert got["stages"]["base_kept"] + got["stages"]["base_dropped"] == 6
    res = runner.invoke(
        app, ["curate", str(tmp_path / "nope"), "--out", str(tmp_path / "c2"), "--embedder", "dlib"]
    )
    assert res.exit_code == 2 and "nope: no such folder" in res.output
    res = runner.invoke(
        app, ["curate", str(data), "--out", str(tmp_path / "c3"), "--embedder", "missing.safetensors"]
    )
    assert res.exit_code == 2 and "missing.safetensors" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("backend", ["dlib", "opencv"])
def test_alignment_puts_the_eyes_on_the_template(backend: str) -> None:
    from skimage import data

    from idsight.faces.align import LEFT_EYE, RIGHT_EYE, FaceAligner

    aligner = FaceAligner(backend)
    img = data.astronaut()
    face = aligner.detect(img)[0]
    assert face.points is not None
    crop = aligner.align(img, face)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    # the detector finds the face again in the crop, eyes where the template puts them
    again = FaceAligner("dlib").detect(cv2.resize(crop, (224, 224)))
    assert again and again[0].points is not None
    eyes = again[0].points[:2] / 2
    np.testing.assert_allclose(eyes, np.array([LEFT_EYE, RIGHT_EYE]), atol=6)
    with pytest.raises(BadImageError, match="blank.png: no face found"):
        aligner.best(np.full((120, 120, 3), 200, np.uint8), path="blank.png")


def _face_model(path: Path) -> Path:
    from idsight.artifact import save_artifact
    from idsight.registry import MODELS

    kwargs = {"num_classes": 3, "backbone": "mobilenetv3_small_050", "input_size": 64}
    torch.manual_seed(0)
    net = MODELS.build("vis_ir_facenet", **kwargs).eval()
    save_artifact(path, net.state_dict(), {"arch": {"name": "vis_ir_facenet", "kwargs": kwargs}})
    return path


def test_calibrate_then_verify(tmp_path: Path) -> None:
    model = _face_model(tmp_path / "face.safetensors")
    faces, _ = identity_split(source_faces())
    rng = np.random.default_rng(2)
    a, b = (tmp_path / n for n in ("a.png", "b.png"))
    for p in (a, b):
        cv2.imwrite(str(p), cv2.cvtColor(cv2.resize(vary(faces[0].rgb, rng), (64, 64)), cv2.COLOR_RGB2BGR))
    args = ["faces", "verify", "--card", str(a), "--face", str(b), "--model", str(model), "--aligned"]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "run idsight faces calibrate" in res.output
    res = runner.invoke(app, ["faces", "calibrate", "--model", str(model), "--views", "2"])
    assert res.exit_code == 0, res.output
    table = json.loads(res.output)["thresholds"]
    assert set(table) == {"vis-vis", "nir-nir", "nir-vis"} and set(table["nir-vis"]) == {"0.01", "0.001"}
    for spectrum, pairing in (("vis", "vis-vis"), ("nir", "nir-vis")):
        res = runner.invoke(app, [*args, "--spectrum", spectrum, "--far", "0.01"])
        assert res.exit_code == 0, res.output
        got = json.loads(res.output)
        assert got["pairing"] == pairing and got["threshold"] == table[pairing]["0.01"]
        assert got["decision"] == ("match" if got["score"] > got["threshold"] else "no match")
    blank = tmp_path / "card.png"
    cv2.imwrite(str(blank), np.full((200, 316, 3), 230, np.uint8))
    res = runner.invoke(
        app,
        ["faces", "verify", "--card", str(blank), "--face", str(b), "--model", str(model), "--far", "0.01"],
    )
    assert res.exit_code == 2 and "card.png: no face found on the card" in res.output


def test_card_face_finds_the_portrait_on_a_generated_card(tmp_path: Path) -> None:
    from idsight.data.io import load_image
    from idsight.faces.align import FaceAligner, card_face

    res = runner.invoke(app, ["synth", "composed", "--count", "1", "--out", str(tmp_path), "--seed", "3"])
    assert res.exit_code == 0, res.output
    card = load_image(tmp_path / "000000.png")
    crop = card_face(card, FaceAligner("dlib"))
    assert crop.shape == (112, 112, 3)
    # the crop is a face: dlib finds one again in it, centred
    again = FaceAligner("dlib").detect(cv2.resize(crop, (224, 224)))
    assert again and abs((again[0].box[0] + again[0].box[2]) / 2 - 112) < 30


def test_curate_cli_bad_parameters_and_pre_model(tmp_path: Path) -> None:
    data = _write_faces(tmp_path / "faces", identities=2, views=3, outlier=False)
    res = runner.invoke(
        app, ["curate", str(data), "--out", str(tmp_path / "b"), "--embedder", "dlib", "--band", "0.9", "0.8"]
    )
    assert res.exit_code == 2 and "a < b" in res.output and not (tmp_path / "b" / "base.store").exists()
    res = runner.invoke(
        app, ["curate", str(data), "--out", str(tmp_path / "b"), "--embedder", "dlib", "--t", "1.5"]
    )
    assert res.exit_code == 2 and "t must be a number in [-1, 1]" in res.output
    # no embedder: idsight's own recogniser is trained on the data first (a tiny recipe here)
    tiny = [
        "trainer.max_epochs=1", "model.kwargs.backbone=mobilenetv3_small_050", "model.kwargs.pretrained=null",
        "model.kwargs.input_size=32", "data.kwargs.size=32", "data.batch_size=4",
    ]  # fmt: skip
    args = ["curate", str(data), "--out", str(tmp_path / "p"), "--copies", "0"]
    res = runner.invoke(app, [*args, *sum((["--pre-model-set", o] for o in tiny), [])])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "p" / "pre-model.safetensors").is_file()
    rows = _manifest(tmp_path / "p")
    assert len(rows) == 6 and {r["source"] for r in rows} == {"base"}


def test_several_faces_policy() -> None:
    from skimage import data

    from idsight.faces.align import FaceAligner

    img = data.astronaut()
    small = np.zeros((512, 410, 3), np.uint8)
    small[:410] = cv2.resize(img, (410, 410))
    two = np.hstack([img, small])  # the astronaut twice, the second smaller
    aligner = FaceAligner("dlib")
    assert len([f for f in aligner.detect(two) if f.score > 0.5]) >= 2
    assert aligner.best(two).shape == (112, 112, 3)  # the largest
    with pytest.raises(BadImageError, match="two.png: .*faces found; give an image of one face"):
        aligner.best(two, path="two.png", several="refuse")


def test_centring_matches_numpy_and_spreads_a_narrow_cone(tmp_path: Path) -> None:
    from idsight.faces.centres import class_centres, mean_embedding, similarities

    rng = np.random.default_rng(0)
    common = 5 * rng.standard_normal(16)  # every row near one direction, as dlib's descriptors are
    labels = np.repeat(np.arange(4), 5)
    x = common + rng.standard_normal((4, 16))[labels] + 0.3 * rng.standard_normal((20, 16))
    with EmbeddingStore.create(tmp_path / "s", 16, "float32", identities=4) as w:
        w.append(x, labels, [f"r{i}" for i in range(20)])
    store = EmbeddingStore.open(tmp_path / "s")
    mean = mean_embedding(store, chunk=7)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    np.testing.assert_allclose(mean, xn.mean(0), atol=1e-6)
    y = (xn - mean) / np.linalg.norm(xn - mean, axis=1, keepdims=True)
    c = np.stack([y[labels == k].mean(0) for k in range(4)])
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    centres = class_centres(store, chunk=7, offset=mean)
    np.testing.assert_allclose(centres, c, atol=1e-5)
    cos = np.concatenate([v for _, v in similarities(store, centres, chunk=7, offset=mean)])
    np.testing.assert_allclose(cos, (y * c[labels]).sum(1), atol=1e-5)
    raw = class_centres(store)
    other_raw = float(raw[0] @ raw[1])
    assert other_raw > 0.8 and float(centres[0] @ centres[1]) < other_raw - 0.5  # spread apart


def test_an_identity_with_one_image_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    data = _write_faces(tmp_path / "faces", identities=2, views=3, outlier=False)
    lone = data / "lone"
    lone.mkdir()
    (data / "id0" / "v0.png").rename(lone / "only.png")
    said: list[str] = []
    res = run_curation(
        data, tmp_path / "c", PixelEmbedder(), CurateOptions(t=0.5, copies=0), progress=said.append
    )
    assert res is not None and any("1 identities have one image (first: lone)" in s for s in said)
    report = json.loads((tmp_path / "c" / "report.json").read_text())
    assert report["single_image_identities"] == {"count": 1, "first": ["lone"]}
    assert len(_manifest(tmp_path / "c")) == 6
    (data / "empty").mkdir()
    with pytest.raises(idsight.errors.BadDataError, match="empty: identity folder has no images"):
        run_curation(data, tmp_path / "d", PixelEmbedder(), CurateOptions(copies=0))
