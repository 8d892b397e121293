"""Face data readers: identity folders, paired visible / infrared trees with protocol lists, and
InsightFace RecordIO read without mxnet (byte layout checked against the format, not only a round trip)."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import idsight.data.faces  # noqa: F401  (registers the data sets)
from idsight.data.faces import FacePairs, FaceRecordIO
from idsight.data.recordio import MAGIC, RecordReader, pack_header, unpack_header, write_records
from idsight.errors import BadDataError
from idsight.registry import DATASETS


def _face(seed: int, size: int = 112) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), rng.integers(40, 200, 3), np.uint8)
    cv2.circle(img, (size // 2, size // 2), size // 3, [int(v) for v in rng.integers(0, 255, 3)], -1)
    return img


def _jpeg(img: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))[1].tobytes()


def test_record_bytes_follow_the_recordio_layout(tmp_path: Path) -> None:
    payload = b"abcde"  # 5 bytes: padded to 8
    write_records(tmp_path / "a.rec", tmp_path / "a.idx", [(0, payload), (7, b"wxyz")])
    raw = (tmp_path / "a.rec").read_bytes()
    first = struct.pack("<II", MAGIC, 5) + payload + b"\0\0\0"
    assert raw == first + struct.pack("<II", MAGIC, 4) + b"wxyz"
    assert (tmp_path / "a.idx").read_text() == f"0\t0\n7\t{len(first)}\n"
    reader = RecordReader(tmp_path / "a.rec")
    assert reader.read(7) == b"wxyz" and reader.read(0) == payload


def test_a_payload_holding_the_magic_is_split_and_joined(tmp_path: Path) -> None:
    magic = struct.pack("<I", MAGIC)
    payload = b"head" + magic + b"mid" + magic + b"tail!"
    write_records(tmp_path / "m.rec", tmp_path / "m.idx", [(0, payload)])
    raw = (tmp_path / "m.rec").read_bytes()
    words = [struct.unpack_from("<I", raw, off)[0] >> 29 for off in (4, 16, 28)]
    assert words == [1, 2, 3]  # first, middle, last part
    assert RecordReader(tmp_path / "m.rec").read(0) == payload


def test_insightface_header() -> None:
    labels, rest = unpack_header(pack_header(3.0, b"img"))
    assert labels == [3.0] and rest == b"img"
    labels, rest = unpack_header(pack_header([11.0, 14.0], b""))
    assert labels == [11.0, 14.0] and rest == b""
    assert len(pack_header(3.0, b"")) == 24
    with pytest.raises(BadDataError, match="shorter than its 24-byte header"):
        unpack_header(b"short")


def _insightface_set(tmp: Path, labels: list[int]) -> Path:
    n = len(labels)
    records = [(0, pack_header([float(n + 1), float(n + 1 + len(set(labels)))], b""))]
    records += [(i + 1, pack_header(float(lab), _jpeg(_face(i)))) for i, lab in enumerate(labels)]
    records += [(n + 1 + k, pack_header([0.0, 1.0], b"")) for k in range(len(set(labels)))]  # identity ranges
    write_records(tmp / "train.rec", tmp / "train.idx", records)
    return tmp / "train.rec"


def test_recordio_face_set_reads_by_index_in_workers(tmp_path: Path) -> None:
    rec = _insightface_set(tmp_path, [0, 0, 1, 2, 2, 2])
    ds = DATASETS.build("face_recordio", rec=str(rec))
    assert isinstance(ds, FaceRecordIO) and len(ds) == 6  # identity-range records are not images
    rgb, label = ds.record(3)
    assert rgb.shape == (112, 112, 3) and label == 2
    assert np.abs(rgb.astype(int) - _face(3).astype(int)).mean() < 3  # the JPEG of face 3
    item = ds[0]
    assert (
        item["image"].shape == (3, 112, 112)
        and -1 <= float(item["image"].min()) <= float(item["image"].max()) <= 1
    )
    batches = list(DataLoader(ds, batch_size=3, num_workers=2))
    assert torch.cat([b["label"] for b in batches]).tolist() == [0, 0, 1, 2, 2, 2]


def test_recordio_errors_name_the_file(tmp_path: Path) -> None:
    rec = _insightface_set(tmp_path, [0, 1])
    idx = tmp_path / "train.idx"
    good = idx.read_text()
    idx.write_text(good + "oops\n")
    with pytest.raises(BadDataError, match="line 6 is not `key<TAB>offset`") as e:
        RecordReader(rec)
    assert "train.idx" in str(e.value)
    idx.write_text("\n".join(good.splitlines()[:1] + good.splitlines()[2:]) + "\n")  # record 1 gone
    with pytest.raises(BadDataError, match="1 is not in the index"):
        FaceRecordIO(rec=rec)
    idx.write_text(good)
    rec.write_bytes(rec.read_bytes()[:60])
    with pytest.raises(BadDataError, match="cut short|no RecordIO magic") as e:
        FaceRecordIO(rec=rec)[1]
    assert "train.rec" in str(e.value)
    with pytest.raises(BadDataError, match="no such file"):
        RecordReader(tmp_path / "none.rec")


def _tree(root: Path, ids: dict[str, dict[str, int]]) -> Path:
    k = 0
    for name, spectra in ids.items():
        for s, n in spectra.items():
            (root / name / s).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                cv2.imwrite(str(root / name / s / f"{i:03d}.jpg"), _face(k, 64))
                k += 1
    return root


def test_face_folder_and_pairs(tmp_path: Path) -> None:
    root = _tree(tmp_path / "nirvis", {"id_b": {"vis": 2, "nir": 3}, "id_a": {"vis": 1, "nir": 1}})
    pairs = FacePairs(root=root)
    assert pairs.identities == ["id_a", "id_b"] and len(pairs) == 7
    spectra = [(int(pairs[i]["label"]), int(pairs[i]["spectrum"])) for i in range(len(pairs))]
    assert sorted(spectra) == [(0, 0), (0, 1), (1, 0), (1, 0), (1, 1), (1, 1), (1, 1)]
    assert pairs[0]["image"].shape == (3, 112, 112)  # resized to the aligned size
    assert len(FacePairs(root=root, spectra=["nir"])) == 4
    (tmp_path / "probe.txt").write_text(
        "id_b\\nir\\000.jpg 1\nid_a/vis/000.jpg 0\n"
    )  # Windows separators too
    probe = FacePairs(root=root, protocol=tmp_path / "probe.txt")
    assert sorted(str(p.relative_to(root)) for p, _, _ in probe.items) == [
        "id_a/vis/000.jpg",
        "id_b/nir/000.jpg",
    ]
    (tmp_path / "bad.txt").write_text("id_a/vis/009.jpg\n")
    with pytest.raises(BadDataError, match="names 1 missing images") as e:
        FacePairs(root=root, protocol=tmp_path / "bad.txt")
    assert "bad.txt" in str(e.value)
    (root / "id_c" / "vis").mkdir(parents=True)
    with pytest.raises(BadDataError, match="identity has no vis images"):
        FacePairs(root=root)
    folder = DATASETS.build("face_folder", root=str(root / "id_b"))  # vis/ and nir/ as two "identities"
    assert folder.identities == ["nir", "vis"] and len(folder) == 5
    (root / "id_b" / "empty").mkdir()
    with pytest.raises(BadDataError, match="identity folder has no images"):
        DATASETS.build("face_folder", root=str(root / "id_b"))
