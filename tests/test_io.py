"""idsight.data.io: every bad input raises BadImageError naming the file; accepted modes become RGB."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from idsight.data.io import decode_image, load_image
from idsight.errors import BadImageError, IdsightError


def _save(img: Image.Image, path: Path, **kw) -> Path:
    img.save(path, **kw)
    return path


def _rgb_card(w: int = 200, h: int = 120) -> Image.Image:
    a = np.zeros((h, w, 3), np.uint8)
    a[:, : w // 2] = (200, 30, 30)
    a[:, w // 2 :] = (30, 30, 200)
    return Image.fromarray(a)


def _bad(path: Path, fragment: str, **kw) -> BadImageError:
    with pytest.raises(BadImageError) as ei:
        load_image(path, **kw)
    msg = str(ei.value)
    assert str(path) in msg, msg
    assert fragment in msg, msg
    assert "\n" not in msg
    assert ei.value.path == str(path)
    return ei.value


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _write_huge_1bit_png(path: Path, w: int, h: int) -> None:
    """A real, valid 1-bit grayscale PNG of w x h, written row by row (never held in memory)."""
    row = b"\x00" + b"\x00" * ((w + 7) // 8)
    comp = zlib.compressobj(9)
    chunks = [comp.compress(row * 1000) for _ in range(h // 1000)]
    chunks.append(comp.compress(row * (h % 1000)))
    chunks.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", b"".join(chunks))
        + _png_chunk(b"IEND", b"")
    )


# ---- failures ---------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    err = _bad(tmp_path / "nope.jpg", "no such file")
    assert isinstance(err, IdsightError)


def test_directory(tmp_path):
    _bad(tmp_path, "not a regular file")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    _bad(p, "empty file")


def test_text_file(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("이름: 홍길동\nthis is not an image\n", encoding="utf-8")
    _bad(p, "not an image (a text file)")


def test_pdf_file(tmp_path):
    p = tmp_path / "scan.pdf"
    p.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
    _bad(p, "PDF")


def test_random_bytes(tmp_path):
    p = tmp_path / "noise.png"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _bad(p, "not an image")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated(tmp_path, fmt):
    full = tmp_path / f"full.{fmt.lower()}"
    noise = np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    _save(Image.fromarray(noise), full, format=fmt)
    data = full.read_bytes()
    p = tmp_path / f"cut.{fmt.lower()}"
    p.write_bytes(data[: len(data) // 2])
    _bad(p, "truncated or corrupt")


def test_corrupt_png_crc(tmp_path):
    full = _save(_rgb_card(), tmp_path / "ok.png")
    data = bytearray(full.read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 10] ^= 0xFF  # flip a byte inside the compressed data: CRC mismatch
    p = tmp_path / "crc.png"
    p.write_bytes(bytes(data))
    _bad(p, "truncated or corrupt")


def test_decompression_bomb_refused_from_header(tmp_path):
    p = tmp_path / "bomb.png"
    _write_huge_1bit_png(p, 20_000, 20_000)
    assert p.stat().st_size < 1_000_000  # tiny file, 400 MP
    t0 = time.perf_counter()
    _bad(p, "decompression bomb")
    assert time.perf_counter() - t0 < 1.0  # header only: the pixels are never decoded


def test_pixel_limit_is_configurable(tmp_path):
    p = _save(_rgb_card(1000, 600), tmp_path / "big.png")
    _bad(p, "0.5 MP limit", max_pixels=500_000)
    assert load_image(p).shape == (600, 1000, 3)


def test_pillow_bomb_warning_is_an_error(tmp_path, monkeypatch):
    # above Pillow's MAX_IMAGE_PIXELS (warning zone) but below our limit: still refused
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)
    p = _save(_rgb_card(400, 300), tmp_path / "warn.png")
    _bad(p, "decompression bomb", max_pixels=10**9)


def test_too_small(tmp_path):
    p = _save(_rgb_card(200, 40), tmp_path / "strip.png")
    _bad(p, "too small")


def test_decode_bytes_errors_name_the_upload():
    with pytest.raises(BadImageError, match=r"^upload\.jpg: empty file"):
        decode_image(b"", name="upload.jpg")
    with pytest.raises(BadImageError, match=r"^upload\.jpg: not an image"):
        decode_image(b"hello world", name="upload.jpg")


# ---- accepted conversions ---------------------------------------------------------------------


def test_rgb_roundtrip_png(tmp_path):
    img = _rgb_card()
    a = load_image(_save(img, tmp_path / "c.png"))
    assert a.dtype == np.uint8 and a.shape == (120, 200, 3) and a.flags.c_contiguous
    assert np.array_equal(a, np.asarray(img))


def test_decode_bytes_matches_load(tmp_path):
    p = _save(_rgb_card(), tmp_path / "c.jpg", quality=95)
    assert np.array_equal(decode_image(p.read_bytes(), name="c.jpg"), load_image(p))


@pytest.mark.parametrize("mode", ["L", "LA", "1", "P"])
def test_gray_and_palette_modes(tmp_path, mode):
    img = _rgb_card().convert(mode)
    a = load_image(_save(img, tmp_path / f"m{mode}.png"))
    assert a.shape == (120, 200, 3) and a.dtype == np.uint8
    if mode in ("L", "LA", "1"):
        assert np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 1], a[..., 2])


def test_16bit_gray_is_scaled(tmp_path):
    img = Image.fromarray(np.full((80, 100), 40000, np.uint16))
    p = _save(img, tmp_path / "g16.png")
    assert Image.open(p).mode.startswith("I")
    a = load_image(p)
    assert a.shape == (80, 100, 3)
    assert abs(int(a[0, 0, 0]) - 40000 // 256) <= 1


def test_cmyk_jpeg(tmp_path):
    p = _save(_rgb_card().convert("CMYK"), tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(p).mode == "CMYK"
    a = load_image(p)
    assert a.shape == (120, 200, 3)
    r, _, b = a[60, 20].astype(int)
    assert r > 150 and b < 100  # still red on the left, not inverted


def test_rgba_over_white(tmp_path):
    a = np.zeros((100, 100, 4), np.uint8)
    a[:, :50] = (255, 0, 0, 255)  # opaque red; right half fully transparent black
    out = load_image(_save(Image.fromarray(a, "RGBA"), tmp_path / "rgba.png"))
    assert tuple(out[50, 10]) == (255, 0, 0)
    assert tuple(out[50, 90]) == (255, 255, 255)


def test_palette_transparency_over_white(tmp_path):
    img = Image.new("P", (80, 80), 0)
    img.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    img.paste(1, (0, 0, 40, 80))
    p = _save(img, tmp_path / "pt.png", transparency=0)
    out = load_image(p)
    assert tuple(out[40, 10]) == (0, 255, 0)
    assert tuple(out[40, 70]) == (255, 255, 255)


def test_exif_orientation_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs 90 degrees clockwise
    p = _save(_rgb_card(200, 120), tmp_path / "rot.jpg", exif=exif, quality=95)
    a = load_image(p)
    assert a.shape == (200, 120, 3)  # portrait after transpose
    assert a[20, 60, 0] > 150 and a[180, 60, 2] > 150  # left half (red) is now on top


def test_first_frame_of_animation(tmp_path):
    frames = [_rgb_card(), _rgb_card().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    p = tmp_path / "anim.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:])
    assert load_image(p).shape == (120, 200, 3)


def test_bytes_io_roundtrip():
    buf = io.BytesIO()
    _rgb_card().save(buf, format="WEBP", quality=90)
    assert decode_image(buf.getvalue(), name="x.webp").shape == (120, 200, 3)
