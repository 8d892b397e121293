"""Face embedders behind one interface, and batch embedding of an image set into an embedding store.

An embedder maps aligned RGB uint8 face crops to L2-normalised float32 rows: ``embedder.embed(faces)``
returns ``(N, embedder.dim)``. Registered in :data:`idsight.registry.EMBEDDERS`:

* ``idsight``: a trained idsight face model (``idsight train configs/faces_visir.yaml``), one file,
  the branch of the chosen ``spectrum``;
* ``dlib``: dlib's ResNet face encoder (128-d, trained on real faces), from the ``dlib-bin`` and
  ``face_recognition_models`` packages (``pip install idsight[faces]``); faces are resized to its
  150 px chip.

:func:`embed_images` embeds ``(path, label)`` rows into an :class:`~idsight.faces.store.EmbeddingStore`.
Under ``torchrun`` each rank embeds its contiguous shard (:func:`~idsight.faces.centres.shard_range`)
into ``<out>.shards/<rank>``; rank 0 concatenates the shards in rank order into ``out``, which is
byte-identical to a one-process run.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from idsight.errors import BadModelError, MissingDependencyError
from idsight.faces.centres import shard_range
from idsight.faces.store import DTYPES, LABELS, META, PATHS, EmbeddingStore
from idsight.registry import EMBEDDERS


class FaceEmbedder(Protocol):
    name: str
    dim: int

    def embed(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        """Aligned RGB uint8 faces -> ``(N, dim)`` float32, L2-normalised rows."""
        ...


def dlib_modules(user: str, alternative: str = "") -> tuple[Any, Any]:
    """``dlib`` and ``face_recognition_models`` (its weights), or one line saying what to install."""
    try:
        import dlib

        with warnings.catch_warnings():  # it imports pkg_resources, deprecated
            warnings.simplefilter("ignore")
            import face_recognition_models
    except ImportError as err:
        raise MissingDependencyError(
            f"{user} needs dlib-bin and face_recognition_models ({err.name} is missing): "
            f"pip install 'idsight[faces]'{alternative}"
        ) from None
    return dlib, face_recognition_models


def _normalised(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)


class IdsightEmbedder:
    """One branch of a trained :class:`~idsight.models.faces.VisIRFaceNet` artifact."""

    name = "idsight"

    def __init__(self, model: str | Path, spectrum: str = "vis") -> None:
        from idsight.faces.recognizer import load_face_model

        self.net = load_face_model(model)
        if spectrum not in ("vis", "nir"):
            raise ValueError(f"spectrum must be vis or nir, not {spectrum!r}")
        self.spectrum = spectrum
        self.dim = self.net.embedding_dim

    def embed(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        from idsight.data.faces import face_tensor

        if not faces:
            return np.zeros((0, self.dim), np.float32)
        x = torch.stack([face_tensor(f, self.net.input_size) for f in faces])
        return self.net.embed(x, spectrum=self.spectrum).numpy().astype(np.float32)


class DlibEmbedder:
    """dlib's 128-d ResNet face encoder (``face_recognition_models``' weights)."""

    name = "dlib"
    dim = 128
    CHIP = 150

    def __init__(self) -> None:
        dlib, face_recognition_models = dlib_modules("the dlib embedder")
        self.encoder = dlib.face_recognition_model_v1(
            face_recognition_models.face_recognition_model_location()
        )

    def embed(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        import cv2

        if not faces:
            return np.zeros((0, self.dim), np.float32)
        chips = [
            np.ascontiguousarray(cv2.resize(f, (self.CHIP, self.CHIP), interpolation=cv2.INTER_AREA))
            for f in faces
        ]
        return _normalised(np.array(self.encoder.compute_face_descriptor(chips)))


@EMBEDDERS.register("idsight")
def idsight_embedder(*, model: str | Path, spectrum: str = "vis") -> IdsightEmbedder:
    return IdsightEmbedder(model, spectrum)


@EMBEDDERS.register("dlib")
def dlib_embedder() -> DlibEmbedder:
    return DlibEmbedder()


def build_embedder(spec: str, *, spectrum: str = "vis") -> FaceEmbedder:
    """``dlib``, or the path of an idsight face model."""
    if spec in EMBEDDERS and spec != "idsight":
        return EMBEDDERS.build(spec)  # type: ignore[no-any-return]
    if not Path(spec).is_file():
        raise BadModelError(
            f"no such face model, and not a registered embedder ({', '.join(EMBEDDERS.names())})",
            path=spec,
        )
    return EMBEDDERS.build("idsight", model=spec, spectrum=spectrum)  # type: ignore[no-any-return]


def _write_rows(
    embedder: FaceEmbedder,
    rows: Sequence[tuple[str, int]],
    out: Path,
    *,
    identities: list[str] | None,
    num_classes: int,
    batch_size: int,
    load: Callable[[str], np.ndarray],
    dtype: str,
    progress: Callable[[int], None] | None,
) -> EmbeddingStore:
    with EmbeddingStore.create(
        out, embedder.dim, dtype, identities=identities if identities is not None else num_classes
    ) as writer:
        for lo in range(0, len(rows), batch_size):
            batch = rows[lo : lo + batch_size]
            emb = embedder.embed([load(p) for p, _ in batch])
            writer.append(emb, np.array([lab for _, lab in batch], np.int64), [p for p, _ in batch])
            if progress is not None:
                progress(len(batch))
    return EmbeddingStore.open(out)


def _concatenate(parts: Sequence[Path], out: Path) -> None:
    """Concatenate shard stores (same dim, dtype, identities) into one, in order."""
    metas = [json.loads((p / META).read_text()) for p in parts]
    first = metas[0]
    out.mkdir(parents=True, exist_ok=True)
    for name in (DTYPES[first["dtype"]][1], LABELS, PATHS):
        with (out / name).open("wb") as dst:
            for p in parts:
                with (p / name).open("rb") as src:
                    shutil.copyfileobj(src, dst, 1 << 20)
    (out / META).write_text(json.dumps({**first, "n": sum(m["n"] for m in metas)}))


def embed_images(
    embedder: FaceEmbedder,
    rows: Sequence[tuple[str, int]],
    out: str | Path,
    *,
    identities: list[str] | None,
    num_classes: int,
    batch_size: int = 64,
    load: Callable[[str], np.ndarray] | None = None,
    dtype: str = "float16",
    shard: tuple[int, int] = (0, 1),
    barrier: Callable[[], Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> EmbeddingStore:
    """Embed ``rows`` (image path, label) into the store ``out``; see the module docstring for sharding.

    ``load(path)`` reads an aligned RGB face (default: :func:`idsight.data.io.load_image`). With
    ``shard=(rank, world)``, ``barrier`` (e.g. ``torch.distributed.barrier``) must synchronise the ranks;
    every rank returns the merged store.
    """
    from idsight.data.io import load_image

    reader = load or (lambda p: load_image(p, min_side=8))
    out = Path(out)
    rank, world = shard
    if world == 1:
        return _write_rows(
            embedder, rows, out, identities=identities, num_classes=num_classes,
            batch_size=batch_size, load=reader, dtype=dtype, progress=progress,
        )  # fmt: skip
    if barrier is None:
        raise ValueError("sharded embedding needs a barrier across the ranks")
    shards = out.with_name(out.name + ".shards")
    lo, hi = shard_range(len(rows), rank, world)
    _write_rows(
        embedder, rows[lo:hi], shards / str(rank), identities=identities, num_classes=num_classes,
        batch_size=batch_size, load=reader, dtype=dtype, progress=progress,
    )  # fmt: skip
    barrier()
    if rank == 0:
        _concatenate([shards / str(r) for r in range(world)], out)
        shutil.rmtree(shards)
    barrier()
    return EmbeddingStore.open(out)


def face_rows(root: str | Path) -> tuple[list[tuple[str, int]], list[str]]:
    """``(path, label)`` rows and identity names of a one-folder-per-identity tree."""
    from idsight.data.faces import FaceFolder

    data = FaceFolder(root=root)
    return [(str(p), lab) for p, lab in data.items], data.identities
