"""Image loading: every input image goes through here.

``load_image(path)`` and ``decode_image(data, name=...)`` return an ``(H, W, 3)`` uint8 RGB array or
raise :class:`~idsight.errors.BadImageError` with one line naming the file and the problem:
missing / empty / not an image / truncated or corrupt / too many pixels (decompression bomb,
refused from the header before any pixel is decoded) / too small.

Accepted: grayscale (``1``, ``L``, ``I;16``, ``I``, ``F``), palette, CMYK, alpha (composited over
white); the EXIF orientation is applied.
"""

from __future__ import annotations

import io
import threading
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from idsight.errors import BadImageError

DEFAULT_MAX_PIXELS = 50_000_000  # 50 MP
MIN_SIDE = 64
MAX_FILE_BYTES = 200 * 1024 * 1024

# LOAD_TRUNCATED_IMAGES is a Pillow global; we force it off while decoding (and restore it).
_LOCK = threading.Lock()


def load_image(
    path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int = MIN_SIDE
) -> np.ndarray:
    """Read an image file into an ``(H, W, 3)`` uint8 RGB array; see the module docstring."""
    p = Path(path)
    if not p.exists():
        raise BadImageError("no such file", path=p)
    if not p.is_file():
        raise BadImageError("not a regular file", path=p)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BadImageError(
                f"file is {size / 2**20:.0f} MiB, above the {MAX_FILE_BYTES // 2**20} MiB limit", path=p
            )
        data = p.read_bytes()
    except OSError as e:
        raise BadImageError(f"cannot read file ({e.strerror or e})", path=p) from None
    return decode_image(data, name=str(p), max_pixels=max_pixels, min_side=min_side)


def decode_image(
    data: bytes, *, name: str, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int = MIN_SIDE
) -> np.ndarray:
    """Decode encoded image bytes (e.g. an upload); ``name`` is used in error messages.

    The pixel limit is checked against the header before decoding. Pillow's own bomb guard
    (``Image.MAX_IMAGE_PIXELS``) also applies, with its warning turned into an error, so the
    effective limit is ``min(max_pixels, Image.MAX_IMAGE_PIXELS)``.
    """
    if len(data) == 0:
        raise BadImageError("empty file (0 bytes)", path=name)
    with _LOCK:
        saved = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im = _open_checked(data, name, max_pixels, min_side)
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = saved
    try:
        im = ImageOps.exif_transpose(im) or im
    except Exception:  # a broken EXIF block: keep the pixels as stored
        pass
    return _to_rgb(im, name)


def _open_checked(data: bytes, name: str, max_pixels: int, min_side: int) -> Image.Image:
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise BadImageError(f"not an image ({_sniff(data)})", path=name) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise BadImageError(f"image too large, refused as a decompression bomb ({e})", path=name) from None
    except Exception as e:
        raise BadImageError(f"corrupt image header ({_why(e)})", path=name) from None
    w, h = im.size
    if w * h > max_pixels:
        raise BadImageError(
            f"image is {w}x{h} = {w * h / 1e6:.1f} MP, above the {max_pixels / 1e6:g} MP limit "
            "(refused as a possible decompression bomb)",
            path=name,
        )
    if min(w, h) < min_side:
        raise BadImageError(f"image is {w}x{h}, too small (each side must be >= {min_side} px)", path=name)
    fmt = im.format or "image"
    try:
        im.verify()
        im = Image.open(io.BytesIO(data))  # verify() leaves the image unusable: reopen
        im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise BadImageError(f"image too large, refused as a decompression bomb ({e})", path=name) from None
    except Exception as e:
        raise BadImageError(f"truncated or corrupt {fmt} file ({_why(e)})", path=name) from None
    return im


def _to_rgb(im: Image.Image, name: str) -> np.ndarray:
    mode = im.mode
    try:
        if mode in ("I", "F") or mode.startswith("I;16"):
            a = np.asarray(im).astype(np.float64)
            if mode == "F" and a.size and np.nanmax(a) <= 1.0:
                a = a * 255.0
            elif a.size and a.max() > 255:
                a = a / (256.0 if a.max() <= 65535 else a.max() / 255.0)
            g = np.clip(np.nan_to_num(a), 0, 255).astype(np.uint8)
            return np.ascontiguousarray(np.repeat(g[:, :, None], 3, axis=2))
        if "A" in im.getbands() or "a" in im.getbands() or (mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, rgba)
        out = im.convert("RGB") if im.mode != "RGB" else im
    except Exception as e:
        raise BadImageError(f"unsupported colour mode {mode!r} ({_why(e)})", path=name) from None
    return np.ascontiguousarray(np.asarray(out, dtype=np.uint8))


def _sniff(data: bytes) -> str:
    head = data[:16]
    if head.startswith(b"%PDF"):
        return "a PDF document; export the page as an image first"
    if head.startswith((b"PK\x03\x04", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!")):
        return "an archive"
    sample = data[:512]
    if b"\x00" not in sample:
        try:
            sample.decode("utf-8")
            return "a text file"
        except UnicodeDecodeError as e:
            if e.start >= len(sample) - 3:  # a multi-byte character cut by the sample
                return "a text file"
    return "unknown or unsupported format"


def _why(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to ``size`` (W, H) for a network input, fast on large images.

    A bilinear step to twice the target, then a 2:1 area average: close to ``INTER_AREA`` (which costs
    several milliseconds on a photo) at a fraction of the time. Used the same way in training and reading.
    """
    w, h = size
    if image.shape[1] > 2 * w and image.shape[0] > 2 * h:
        image = cv2.resize(image, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


def lut_planes(img: np.ndarray, lut: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) uint8 -> (3, H, W) float32 ``lut[c][img[..., c]]``: per-channel normalisation by
    table lookup (each network's table is its formula evaluated once on the 256 byte values).
    ``out``: a (3, H, W) float32 array (or view) to write into, e.g. one crop's place in a batch."""
    if out is None:
        out = np.empty((3, img.shape[0], img.shape[1]), np.float32)
    for c in range(3):
        np.take(lut[c], img[:, :, c], out=out[c], mode="clip")  # (bytes: always in range)
    return out
