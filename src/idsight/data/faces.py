"""Face data sets: one folder per identity, paired visible / near-infrared trees, InsightFace RecordIO.

Items are ``{"image": (3, size, size) float32 in [-1, 1], "label": int64}``; paired sets add
``"spectrum"`` (0 visible, 1 infrared). Images are expected aligned (112x112 in the InsightFace
convention) and are resized when they are not. Registered in :data:`idsight.registry.DATASETS`:

* ``face_folder``: ``root/<identity>/<image>``;
* ``face_pairs``: ``root/<identity>/vis/<image>`` and ``root/<identity>/nir/<image>``, the layout of
  the public NIR-VIS sets; ``protocol`` (a list file, one relative path per line, as those sets ship
  their gallery and probe lists; ``\\`` separators accepted) restricts it to the images it names;
* ``face_recordio``: ``train.rec`` + ``train.idx`` (Glint360K, MS1MV3), read by index, streaming.

``identities`` are the label names in label order (sorted folder names; for RecordIO the numeric
labels). An identity folder with no image, a protocol naming missing files, or a bad record is one
error naming the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from idsight.data.io import decode_image, load_image
from idsight.data.recordio import RecordReader, unpack_header
from idsight.errors import BadDataError
from idsight.registry import DATASETS

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
SPECTRA = ("vis", "nir")
Item = dict[str, torch.Tensor]


def face_tensor(rgb: np.ndarray, size: int) -> torch.Tensor:
    """An RGB uint8 face as (3, size, size) float32 in [-1, 1] (InsightFace's ``(x - 127.5) / 127.5``)."""
    if rgb.shape[:2] != (size, size):
        rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float().sub(127.5).div(127.5)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _identity_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        raise BadDataError("no such face folder", path=root)
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if not folders:
        raise BadDataError("no identity folders", path=root)
    return folders


@DATASETS.register("face_folder")
class FaceFolder(Dataset[Item]):
    """``root/<identity>/<image>``, labels in sorted identity order."""

    def __init__(
        self, *, root: str | Path, size: int = 112, augment: dict[str, object] | None = None
    ) -> None:
        folders = _identity_folders(Path(root))
        self.identities = [f.name for f in folders]
        self.items: list[tuple[Path, int]] = []
        for label, folder in enumerate(folders):
            files = _images(folder)
            if not files:
                raise BadDataError(
                    f"identity folder has no images ({', '.join(IMAGE_SUFFIXES)})", path=folder
                )
            self.items += [(f, label) for f in files]
        self.size = size
        self.augment = _pipeline(size, augment)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Item:
        path, label = self.items[i]
        rgb = _resized(load_image(path, min_side=8), self.size)
        if self.augment is not None:
            rgb = self.augment(image=rgb)["image"]
        return {"image": face_tensor(rgb, self.size), "label": torch.tensor(label)}


def _pipeline(size: int, augment: dict[str, object] | None) -> Any:
    """Online augmentation (``idsight.data.augment``'s options), or None."""
    if augment is None:
        return None
    from idsight.data.augment import build_augment

    return build_augment(size, dict(augment))


def _resized(rgb: np.ndarray, size: int) -> np.ndarray:
    if rgb.shape[:2] == (size, size):
        return rgb
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)


@DATASETS.register("curated_faces")
class CuratedFaces(FaceFolder):
    """The training set of an ``idsight curate`` run: the rows of its ``manifest.jsonl`` at stage
    ``base_kept`` or ``augmented_kept``, labelled as its ``identities.json`` names them, with online
    augmentation (``augment``) as ``face_folder`` has."""

    def __init__(
        self, *, curation: str | Path, size: int = 112, augment: dict[str, object] | None = None
    ) -> None:
        import json

        root = Path(curation)
        manifest, names = root / "manifest.jsonl", root / "identities.json"
        for f in (manifest, names):
            if not f.is_file():
                raise BadDataError("not a curation folder (run idsight curate)", path=f)
        try:
            identities = json.loads(names.read_text(encoding="utf-8"))
            rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line]
            self.items = [
                (Path(r["path"]), int(r["label"]))
                for r in rows
                if r["stage"] in ("base_kept", "augmented_kept")
            ]
        except (ValueError, KeyError, TypeError) as err:
            raise BadDataError(f"malformed curation ({err})", path=manifest) from None
        if not self.items:
            raise BadDataError("the curation keeps no image", path=manifest)
        self.identities = [str(x) for x in identities] if identities else []
        self.size = size
        self.augment = _pipeline(size, augment)


def read_protocol(path: str | Path, root: str | Path) -> list[Path]:
    """The images a protocol list names (first column of each line, relative to ``root``)."""
    src, base = Path(path), Path(root)
    if not src.is_file():
        raise BadDataError("no such protocol list", path=src)
    out = []
    for line in src.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.strip():
            out.append(base / line.split()[0].replace("\\", "/"))
    missing = [str(p) for p in out if not p.is_file()]
    if missing:
        raise BadDataError(f"names {len(missing)} missing images, first {missing[0]}", path=src)
    return out


@DATASETS.register("face_pairs")
class FacePairs(Dataset[Item]):
    """``root/<identity>/{vis,nir}/<image>``; ``spectra`` picks one or both; ``protocol`` a list file."""

    def __init__(
        self,
        *,
        root: str | Path,
        spectra: Sequence[str] = SPECTRA,
        protocol: str | Path | None = None,
        size: int = 112,
    ) -> None:
        unknown = [s for s in spectra if s not in SPECTRA]
        if unknown or not spectra:
            raise ValueError(f"spectra must be some of {', '.join(SPECTRA)}, got {list(spectra)}")
        base = Path(root)
        folders = _identity_folders(base)
        self.identities = [f.name for f in folders]
        self.items: list[tuple[Path, int, int]] = []
        for label, folder in enumerate(folders):
            for s in spectra:
                sub = folder / s
                files = _images(sub) if sub.is_dir() else []
                if not files and protocol is None:
                    raise BadDataError(f"identity has no {s} images", path=sub)
                self.items += [(f, label, SPECTRA.index(s)) for f in files]
        if protocol is not None:
            keep = {p.resolve() for p in read_protocol(protocol, base)}
            self.items = [it for it in self.items if it[0].resolve() in keep]
        self.size = size

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Item:
        path, label, spectrum = self.items[i]
        return {
            "image": face_tensor(load_image(path, min_side=8), self.size),
            "label": torch.tensor(label),
            "spectrum": torch.tensor(spectrum),
        }


@DATASETS.register("face_recordio")
class FaceRecordIO(Dataset[Item]):
    """InsightFace's ``train.rec`` + ``train.idx`` (see :mod:`idsight.data.recordio`), read by index."""

    def __init__(self, *, rec: str | Path, idx: str | Path | None = None, size: int = 112) -> None:
        self.reader = RecordReader(rec, idx)
        keys = self.reader.keys()
        if not keys:
            raise BadDataError("the index lists no records", path=self.reader.idx)
        head = self.reader.read(0) if 0 in self.reader.offsets else b""
        flag = int.from_bytes(head[:4], "little") if len(head) >= 24 else 0
        if flag > 0:  # record 0 announces the image records: 1 .. labels[0] - 1
            end = int(unpack_header(head, source=self.reader.rec)[0][0])
            self.keys = list(range(1, end))
            missing = [k for k in self.keys if k not in self.reader.offsets]
            if missing:
                raise BadDataError(
                    f"record 0 announces images 1 to {end - 1}; {missing[0]} is not in the index",
                    path=self.reader.idx,
                )
        else:
            self.keys = keys
        self.size = size

    def __len__(self) -> int:
        return len(self.keys)

    def record(self, i: int) -> tuple[np.ndarray, int]:
        """The decoded face (RGB uint8) and identity label of image ``i``."""
        key = self.keys[i]
        labels, payload = unpack_header(self.reader.read(key), source=self.reader.rec)
        name = f"{self.reader.rec}#{key}"
        return decode_image(payload, name=name, min_side=8), int(labels[0])

    def __getitem__(self, i: int) -> Item:
        rgb, label = self.record(i)
        return {"image": face_tensor(rgb, self.size), "label": torch.tensor(label)}


def _flip(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.ascontiguousarray(img[:, ::-1]) if rng.random() < 0.5 else img


@DATASETS.register("generated_faces")
class GeneratedFacePairs(Dataset[Item]):
    """Visible + infrared pairs of the generated pseudo-identities, made on the fly: item ``i`` is
    identity ``i % n`` (labels 0..n-1 in ``identities`` order), a varied visible view and a simulated
    infrared view of it, a pure function of ``(seed, i)``.

    ``identities``: ``train`` or ``heldout`` (whole source photos,
    :func:`idsight.data.synth.faces.identity_split`); ``train`` splits further into ``fit`` (all but
    its last ``val_identities``) and ``val`` (those), so that training can be validated on identities
    it never fits. ``nir_setting``: ``train`` or ``heldout``; ``flip``: random horizontal flips.
    ``teacher="dlib"`` adds ``teacher``, dlib's embedding of the visible view (for distillation),
    centred on the mean of all ``count`` items', computed once and kept in ``cache`` (a folder).
    Generated data: say so wherever a result uses it."""

    def __init__(
        self,
        *,
        count: int,
        seed: int = 0,
        identities: str = "train",
        nir_setting: str = "train",
        size: int = 112,
        flip: bool = True,
        val_identities: int = 10,
        teacher: str | None = None,
        cache: str | Path | None = None,
    ) -> None:
        from idsight.data.synth.faces import NIR_SETTINGS, identity_split, source_faces

        if identities not in ("train", "heldout", "fit", "val"):
            raise ValueError(f"identities must be train, heldout, fit or val, not {identities!r}")
        if nir_setting not in NIR_SETTINGS:
            raise ValueError(f"unknown NIR setting {nir_setting!r} (known: {', '.join(NIR_SETTINGS)})")
        if teacher not in (None, "dlib"):
            raise ValueError(f"teacher must be dlib or None, not {teacher!r}")
        train, held = identity_split(source_faces())
        self.faces = {
            "train": train,
            "heldout": held,
            "fit": train[:-val_identities],
            "val": train[-val_identities:],
        }[identities]
        self.identities = [f.name for f in self.faces]
        self.count, self.seed, self.nir_setting, self.size, self.flip = count, seed, nir_setting, size, flip
        self.teacher = None if teacher is None else self._teacher(identities, cache)

    def _teacher(self, identities: str, cache: str | Path | None) -> np.ndarray:
        import hashlib

        key = f"dlib-{identities}-{self.nir_setting}-{self.seed}-{self.count}-{int(self.flip)}"
        path = None
        if cache is not None:
            path = Path(cache) / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}-{key}.npy"
            if path.is_file():
                emb = np.load(path)
                if emb.shape == (self.count, 128):
                    return _centred(emb)
        from idsight.faces.embed import DlibEmbedder

        enc = DlibEmbedder()
        rows = [enc.embed([self.raw(i)[0] for i in range(lo, min(lo + 64, self.count))])
                for lo in range(0, self.count, 64)]  # fmt: skip
        emb = np.concatenate(rows).astype(np.float32)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, emb)
        return _centred(emb)

    def __len__(self) -> int:
        return self.count

    def raw(self, i: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Item ``i`` as ``(visible RGB uint8, infrared RGB uint8, label)`` at the source's size."""
        from idsight.data.synth.faces import simulate_nir, vary

        if not 0 <= i < self.count:
            raise IndexError(i)
        rng = np.random.default_rng([self.seed, i])
        label = i % len(self.faces)
        face = self.faces[label]
        vis = vary(face.rgb, rng)
        nir = vary(simulate_nir(face.rgb, rng, setting=self.nir_setting, eyes=face.eyes), rng)
        if self.flip:
            vis, nir = _flip(vis, rng), _flip(nir, rng)
        return vis, nir, label

    def __getitem__(self, i: int) -> Item:
        vis, nir, label = self.raw(i)
        item = {
            "vis": face_tensor(vis, self.size),
            "nir": face_tensor(nir, self.size),
            "label": torch.tensor(label),
        }
        if self.teacher is not None:
            item["teacher"] = torch.from_numpy(self.teacher[i])
        return item


def _centred(emb: np.ndarray) -> np.ndarray:
    """dlib's descriptors of different people still lie within ~20 degrees of each other (cosine
    ~0.93): what tells them apart is the part off their common mean. Distilling the raw descriptors
    teaches mostly that mean, so the targets are centred on the pool's mean and re-normalised."""
    x = emb - emb.mean(0, keepdims=True)
    return (x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)).astype(np.float32)
