"""Drawing one text line and measuring its tight (ink) box."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from idsight.data.synth.fonts import load_font


def text_mask(text: str, font: ImageFont.FreeTypeFont) -> np.ndarray:
    """Anti-aliased ink mask (uint8, 0..255) cropped to the tight box of ``text``."""
    x0, y0, x1, y1 = font.getbbox(text)
    pad = 2
    canvas = Image.new("L", (int(x1 - x0 + 2 * pad), int(y1 - y0 + 2 * pad)), 0)
    ImageDraw.Draw(canvas).text((pad - x0, pad - y0), text, font=font, fill=255)
    mask = np.asarray(canvas)
    rows, cols = np.flatnonzero(mask.max(axis=1)), np.flatnonzero(mask.max(axis=0))
    if rows.size == 0:
        return mask[:0, :0]
    return mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def fitted_mask(
    text: str, path: str, size: int, max_width: float, *, min_size: int = 8
) -> tuple[np.ndarray, int]:
    """Mask of ``text`` at ``size``, shrunk until it is at most ``max_width`` wide; returns (mask, size)."""
    mask = text_mask(text, load_font(path, size))
    while mask.shape[1] > max_width and size > min_size:
        size = max(min_size, min(size - 1, int(size * max_width / mask.shape[1])))
        mask = text_mask(text, load_font(path, size))
    return mask, size


@lru_cache(maxsize=1024)
def _ink_ratio(path: str, probe_text: str) -> float:
    probe = 64
    return max(text_mask(probe_text, load_font(path, probe)).shape[0], 1) / probe


def size_for_height(text: str, path: str, height: float) -> int:
    """Font size whose ink height for ``text`` is about ``height`` pixels (Hangul or capitals)."""
    probe_text = "한" if any("\uac00" <= c <= "\ud7a3" for c in text) else "H0"
    return max(8, round(height / _ink_ratio(path, probe_text)))


def paste_ink(canvas: np.ndarray, mask: np.ndarray, x: int, y: int, color: tuple[int, int, int]) -> list[int]:
    """Alpha-blend ``color`` through ``mask`` at (x, y) into ``canvas`` (HxWx3 uint8, in place).

    Returns the pasted box ``[x0, y0, x1, y1]`` clipped to the canvas.
    """
    h, w = canvas.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + mask.shape[1], w), min(y + mask.shape[0], h)
    if x1 <= x0 or y1 <= y0:
        return [x0, y0, x0, y0]
    alpha = mask[y0 - y : y1 - y, x0 - x : x1 - x, None].astype(np.float32) / 255.0
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    canvas[y0:y1, x0:x1] = (region * (1 - alpha) + np.asarray(color, np.float32) * alpha + 0.5).astype(
        np.uint8
    )
    return [x0, y0, x1, y1]
