"""Text as ink masks with tight boxes, planned first and pasted last (over the finished artwork)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw

from idsight.data.synth.compose.fontpool import Face
from idsight.data.synth.fonts import load_font
from idsight.data.synth.text import paste_ink, size_for_height

INK_THRESHOLD = 24  # mask values below this are not ink: tight boxes bound the visible strokes
Box = tuple[int, int, int, int]


@dataclass
class Glyphs:
    text: str
    mask: np.ndarray  # uint8, cropped to the ink
    top: int  # ink top below the cap top (negative for accents above capitals)
    face: Face

    @property
    def w(self) -> int:
        return int(self.mask.shape[1])

    @property
    def h(self) -> int:
        return int(self.mask.shape[0])


def _is_hangul(text: str) -> bool:
    return any("\uac00" <= c <= "\ud7a3" for c in text)


@lru_cache(maxsize=4096)
def _cap_top(path: str, size: int, ref: str) -> int:
    return int(load_font(path, size).getbbox(ref)[1])


def _draw(text: str, face: Face, size: int) -> tuple[np.ndarray, int]:
    font = load_font(face.path, size)
    x0, y0, x1, y1 = (int(v) for v in font.getbbox(text))
    pad = 2
    canvas = Image.new("L", (x1 - x0 + 2 * pad, y1 - y0 + 2 * pad), 0)
    ImageDraw.Draw(canvas).text((pad - x0, pad - y0), text, font=font, fill=255)
    mask = np.asarray(canvas)
    rows = np.flatnonzero(mask.max(axis=1) >= INK_THRESHOLD)
    cols = np.flatnonzero(mask.max(axis=0) >= INK_THRESHOLD)
    if rows.size == 0:
        return mask[:0, :0], 0
    ref = "한" if _is_hangul(text) else "H"
    top = y0 + int(rows[0]) - pad - _cap_top(face.path, size, ref)
    return mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], top


def render(text: str, face: Face, cap: float, max_w: float | None = None, *, condense: float = 0.8) -> Glyphs:
    """``text`` with a cap (or Hangul) height of about ``cap`` px. Wider than ``max_w``, it is set
    smaller (so that condensing to ``condense`` of its width fits, but not below 60 % of the size),
    then condensed to ``max_w``."""
    size = size_for_height(text, face.path, cap)
    mask, top = _draw(text, face, size)
    if max_w is not None and mask.shape[1] > max_w:
        if mask.shape[1] * condense > max_w:  # smaller, but not below 60 % (then squeezed harder)
            size = max(8, int(size * 0.6), int(size * max_w / (mask.shape[1] * condense)))
            mask, top = _draw(text, face, size)
        if mask.shape[1] > max_w:
            mask = cv2.resize(mask, (max(1, int(max_w)), mask.shape[0]), interpolation=cv2.INTER_AREA)
    return Glyphs(text, mask, top, face)


@dataclass
class Planned:
    glyphs: Glyphs
    x: int
    y: int
    color: tuple[int, int, int]
    role: str
    field: str | None

    @property
    def box(self) -> Box:
        return self.x, self.y, self.x + self.glyphs.w, self.y + self.glyphs.h


def overlaps(a: Box, b: Box, pad: int = 0) -> bool:
    return a[0] < b[2] + pad and b[0] < a[2] + pad and a[1] < b[3] + pad and b[1] < a[3] + pad


@dataclass
class Painter:
    size: tuple[int, int]
    planned: list[Planned] = field(default_factory=list)
    blocked: list[Box] = field(default_factory=list)  # photos and other art text must avoid

    def place(
        self,
        g: Glyphs,
        x: float,
        cap_y: float,
        color: tuple[int, int, int],
        role: str,
        name: str | None = None,
        *,
        align: str = "left",
        width: float = 0.0,
    ) -> Box:
        """Plan ``g`` with its cap top at ``cap_y``; ``x`` is the left edge of a cell of ``width``
        (``align`` left, center or right within it). Returns the ink box."""
        if align == "center":
            x += (width - g.w) / 2
        elif align == "right":
            x += width - g.w
        w, h = self.size
        px = int(round(min(max(x, 1), w - 1 - g.w)))
        py = int(round(min(max(cap_y + g.top, 1), h - 1 - g.h)))
        item = Planned(g, px, py, color, role, name)
        self.planned.append(item)
        return item.box

    def is_free(self, box: Box, pad: int = 4) -> bool:
        w, h = self.size
        if box[0] < 0 or box[1] < 0 or box[2] > w or box[3] > h:
            return False
        return not any(overlaps(box, p.box, pad) for p in self.planned) and not any(
            overlaps(box, b, pad) for b in self.blocked
        )

    def paint(self, canvas: np.ndarray) -> list[dict[str, Any]]:
        """Paste every planned line into ``canvas`` (in place); returns the line records."""
        lines = []
        for p in self.planned:
            if p.glyphs.w == 0:
                continue
            box = paste_ink(canvas, p.glyphs.mask, p.x, p.y, p.color)
            lines.append(
                {
                    "text": p.glyphs.text,
                    "box": box,
                    "role": p.role,
                    "field": p.field,
                    "font": p.glyphs.face.name,
                }
            )
        return lines
