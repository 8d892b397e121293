"""Fashion-MNIST (Debian's ``dataset-fashion-mnist``): its IDX files, read without any other package.

``load_split(split)`` gives the uint8 images (N, 28, 28) and int labels (N,) of ``"train"`` (60,000) or
``"test"`` (10,000), decoded once per process and shared read-only; :data:`CLASSES` names the labels.
"""

from __future__ import annotations

import functools
import gzip
import zlib
from pathlib import Path
from typing import Final

import numpy as np

from idsight.errors import BadDataError

FASHION_MNIST_ROOT: Final[Path] = Path("/usr/share/datasets/fashion-mnist")
CLASSES: Final[tuple[str, ...]] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_IDX_TYPES: Final[dict[int, str]] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
SPLIT_FILES: Final[dict[str, tuple[str, str]]] = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """Parse an IDX file (gzip-compressed or plain, detected from its first bytes) into an array.

    The header is two zero bytes, a type code (0x08 ubyte, 0x09 byte, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions, then each dimension as a big-endian uint32;
    the data follow, big-endian. Raises :class:`BadDataError` naming the file when it is missing,
    not valid gzip, has a wrong magic number, or is truncated or too long.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise BadDataError("no such file", path=p) from None
    except OSError as e:  # includes gzip.BadGzipFile
        raise BadDataError(f"cannot read IDX file ({e.strerror or e})", path=p) from None
    except (EOFError, zlib.error) as e:
        raise BadDataError(f"truncated or corrupt gzip stream ({e})", path=p) from None
    if len(raw) < 4:
        raise BadDataError(f"not an IDX file: {len(raw)} bytes, shorter than the 4-byte magic number", path=p)
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise BadDataError(f"not an IDX file: bad magic number 0x{raw[:4].hex()}", path=p)
    dtype, ndim = np.dtype(_IDX_TYPES[raw[2]]), raw[3]
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise BadDataError(f"truncated IDX header: {len(raw)} bytes, the header needs {start}", path=p)
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    need = start + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != need:
        what = "truncated" if len(raw) < need else "too long"
        raise BadDataError(
            f"{what} IDX file: {len(raw)} bytes, a {'x'.join(map(str, shape))} {dtype} array needs {need}",
            path=p,
        )
    return np.frombuffer(raw, dtype, offset=start).reshape(shape).astype(dtype.newbyteorder("="))


@functools.lru_cache(maxsize=16)
def _cached_idx(path: str) -> np.ndarray:
    arr = read_idx(path)
    arr.flags.writeable = False  # shared by every data set of this process
    return arr


def load_split(split: str, root: str | Path = FASHION_MNIST_ROOT) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels of one split, checked to match; cached per process, read-only."""
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown split {split!r} (allowed: {', '.join(SPLIT_FILES)})")
    base = Path(root)
    if not base.is_dir():
        raise BadDataError(
            "Fashion-MNIST folder not found; install it with `apt-get install dataset-fashion-mnist` "
            "or pass root=",
            path=base,
        )
    images_file, labels_file = (base / name for name in SPLIT_FILES[split])
    images, labels = _cached_idx(str(images_file)), _cached_idx(str(labels_file))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise BadDataError(f"images {images.shape} and labels {labels.shape} do not match", path=images_file)
    return images, labels
