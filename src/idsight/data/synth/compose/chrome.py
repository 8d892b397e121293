"""Text around the field body: title block, MRZ, the kr-rrc footer, and free-standing extras
(signature, serial number, Hanja name) that go wherever the card has room."""

from __future__ import annotations

import cv2
import numpy as np

from idsight.data.synth.compose import vocab
from idsight.data.synth.compose.content import Content, Item
from idsight.data.synth.compose.fontpool import Face, face_for, mrz_face, printable
from idsight.data.synth.compose.layout import Ink
from idsight.data.synth.compose.painter import INK_THRESHOLD, Box, Glyphs, Painter, render

TITLE_PITCH = 1.45


def header_lines(content: Content, cap: float, rng: np.random.Generator) -> list[tuple[str, str, float]]:
    """(text, role, cap height) of the title block, top to bottom: one or two titles and perhaps the
    issuing state."""
    titles = vocab.titles(content.doc_type)
    if content.doc_type != "kr-rrc" and "ko" not in content.style.get("label_scheme", ""):
        titles = [t for t in titles if not any("\uac00" <= c <= "\ud7a3" for c in t)]
    first = titles[int(rng.integers(len(titles)))]
    lines = [(first, "title", cap)]
    if rng.random() < 0.3:
        second = titles[int(rng.integers(len(titles)))]
        if second != first:
            lines.append((second, "title", cap * 0.7))
    if rng.random() < 0.65:
        heading = (content.heading, "other", cap * rng.uniform(0.45, 0.65))
        lines.insert(0 if rng.random() < 0.7 else len(lines), heading)
    return lines


def header_height(lines: list[tuple[str, str, float]]) -> float:
    return sum(cap * TITLE_PITCH for _, _, cap in lines)


def plan_header(
    painter: Painter, lines: list[tuple[str, str, float]], zone: Box, align: str, ink: Ink, on_band: bool
) -> None:
    x0, y0, x1, y1 = zone
    y = y0 + max(0.0, (y1 - y0) - header_height(lines)) / 2
    light = (248, 248, 244)
    above = None  # ink bottom of the previous line: accents and ascenders never reach into it
    for text, role, cap in lines:
        g = render(*printable(text, ink.title if role == "title" else ink.label, ink.pool), cap, x1 - x0)
        color = light if on_band else ink.title_color if role == "title" else ink.label_color
        cap_y = y + cap * 0.1 if above is None else max(y + cap * 0.1, above + cap * 0.15 - g.top)
        above = painter.place(g, x0, cap_y, color, role, align=align, width=x1 - x0)[3]
        y = cap_y - cap * 0.1 + cap * TITLE_PITCH


def mrz_glyphs(lines: list[str], width: float) -> list[Glyphs]:
    """The MRZ lines in OCR-B, sized so that they span ``width``."""
    face = mrz_face()
    probe = render(lines[0], face, 20.0)
    cap = 20.0 * width / max(probe.w, 1)
    return [render(text, face, cap) for text in lines]


def plan_mrz(painter: Painter, glyphs: list[Glyphs], x: float, bottom: float, pitch: float, color) -> float:
    """Plan the MRZ lines upwards from ``bottom``; returns the top of the zone."""
    cap_y = bottom - len(glyphs) * pitch
    for k, g in enumerate(glyphs):
        painter.place(g, x, cap_y + k * pitch, color, "mrz", "mrz")
    return cap_y


def plan_footer(painter: Painter, items: list[Item], zone: Box, cap: float, ink: Ink) -> Box | None:
    """kr-rrc: issue date over issuer, centred and unlabelled; returns the issuer's box."""
    x0, y0, x1, y1 = zone
    issuer_box = None
    y = float(y0)
    for item in items:
        for text in item.lines:
            size = cap * (1.05 if item.field == "issuer" else 0.9)
            g = render(text, face_for(text, ink.value, ink.pool), size, x1 - x0)
            box = painter.place(g, x0, y, ink.value_color, "value", item.field, align="center", width=x1 - x0)
            if item.field == "issuer":
                issuer_box = box
            y += size * 1.6
    return issuer_box


def shear(g: Glyphs, amount: float, angle: float) -> Glyphs:
    """A slanted, slightly rotated copy (signatures), cropped to its ink again."""
    h, w = g.mask.shape
    pad = int(abs(amount) * h + h * abs(np.sin(angle))) + 4
    m = cv2.getRotationMatrix2D((w / 2 + pad, h / 2 + pad), np.degrees(angle), 1.0)
    m[0, 1] -= amount
    m[0, 2] += amount * (h / 2 + pad)
    big = cv2.copyMakeBorder(g.mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    out = cv2.warpAffine(big, m, (big.shape[1], big.shape[0]), flags=cv2.INTER_LINEAR)
    rows = np.flatnonzero(out.max(axis=1) >= INK_THRESHOLD)
    cols = np.flatnonzero(out.max(axis=0) >= INK_THRESHOLD)
    crop = out[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] if rows.size else out[:0, :0]
    return Glyphs(g.text, np.ascontiguousarray(crop), 0, g.face)


def place_free(
    painter: Painter, g: Glyphs, spots: list[tuple[float, float]], color, role: str, name: str | None = None
) -> Box | None:
    """Plan ``g`` at the first spot (top-left of its ink) where it touches nothing; None if none is free."""
    for x, y in spots:
        box = (int(x), int(y), int(x) + g.w, int(y) + g.h)
        if painter.is_free(box, pad=6):
            return painter.place(g, x, y - g.top, color, role, name)
    return None


def signature(content: Content, face: Face, pool: str, cap: float, rng: np.random.Generator) -> Glyphs:
    text = content.holder
    g = render(text, face_for(text, face, pool), cap)
    return shear(g, float(rng.uniform(0.15, 0.45)), float(rng.uniform(-0.12, 0.05)))


def serial_text(doc: str, rng: np.random.Generator) -> str:
    digits = "".join(str(int(d)) for d in rng.integers(0, 10, 12))
    if doc == "kr-rrc":
        return f"{digits[:4]}-{digits[4:8]}-{digits[8:]}" if rng.random() < 0.5 else digits[:10]
    letters = "".join(chr(65 + int(c)) for c in rng.integers(0, 26, 2))
    return (f"No. {digits[:7]}", f"{letters}{digits[:7]}", f"CAN {digits[:6]}")[int(rng.integers(3))]
