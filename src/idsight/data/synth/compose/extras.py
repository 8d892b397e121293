"""Free-standing pieces placed where the card has room: seals, a ghost portrait, a signature, a serial
number, the Hanja name (kr-rrc). Text among them is recorded with role ``other``."""

from __future__ import annotations

import numpy as np

from idsight.data.synth.compose import art, chrome, fontpool
from idsight.data.synth.compose.content import Content
from idsight.data.synth.compose.layout import Ink
from idsight.data.synth.compose.painter import Box, Painter, overlaps, render


def _seal(
    painter: Painter, canvas: np.ndarray, photo: Box | None, issuer: Box | None, rng: np.random.Generator
) -> None:
    if issuer is not None:  # over the end of the issuing authority, as on kr-rrc cards
        r = (issuer[3] - issuer[1]) * rng.uniform(0.9, 1.3)
        art.seal(canvas, (issuer[2] + r * 0.4, (issuer[1] + issuer[3]) / 2), r, rng)
    elif photo is not None and rng.random() < 0.3:  # over a corner of the portrait
        r = (photo[2] - photo[0]) * 0.22
        cx, cy = photo[2] - r * 0.5, photo[3] - r * 0.5
        if not any(
            overlaps((int(cx - r), int(cy - r), int(cx + r), int(cy + r)), p.box) for p in painter.planned
        ):
            art.seal(canvas, (cx, cy), r, rng)


def _hanja(painter: Painter, content: Content, ink: Ink, cap: float) -> None:
    name = next((p for p in painter.planned if p.field == "name" and p.role == "value"), None)
    if name is None or not content.hanja:
        return
    try:
        face = fontpool.face_for(content.hanja, ink.value, ink.pool)
    except ValueError:  # no face of the pool prints these Hanja
        return
    g = render(f"({content.hanja})", face, cap * 0.8)
    x0, y0, x1, y1 = name.box
    chrome.place_free(painter, g, [(x1 + cap * 0.5, y1 - g.h)], ink.value_color, "other")


def place_extras(
    painter: Painter,
    canvas: np.ndarray,
    content: Content,
    ink: Ink,
    photo: Box | None,
    issuer: Box | None,
    cap: float,
    rng: np.random.Generator,
) -> None:
    """Seal, Hanja name, signature, serial number and ghost portrait (each where there is room)."""
    w, h = painter.size
    _seal(painter, canvas, photo, issuer, rng)
    _hanja(painter, content, ink, cap)
    if rng.random() < 0.55:
        g = chrome.signature(content, ink.signature, ink.pool, cap * rng.uniform(0.9, 1.3), rng)
        spots = [(photo[0] + rng.uniform(0, 20), photo[3] + cap * 0.5)] if photo else []
        spots += [(rng.uniform(0.45, 0.8) * w, rng.uniform(0.55, 0.85) * h) for _ in range(6)]
        chrome.place_free(painter, g, spots, (25, 30, 90), "other")
    if rng.random() < 0.5:
        text = chrome.serial_text(content.doc_type, rng)
        g = render(text, fontpool.face_for(text, ink.label, ink.pool), cap * rng.uniform(0.5, 0.7))
        spots = [(w - g.w - 14, 10), (14, h - g.h - 8), (w - g.w - 14, h - g.h - 8), (14, 10)]
        color = (170, 40, 40) if rng.random() < 0.4 else ink.label_color
        chrome.place_free(painter, g, spots[int(rng.integers(4)) :] + spots, color, "other")
    if photo is not None and rng.random() < 0.25:
        gw, gh = (photo[2] - photo[0]) // 3, (photo[3] - photo[1]) // 3
        for _ in range(6):
            gx, gy = int(rng.uniform(0.5, 0.95) * w - gw), int(rng.uniform(0.3, 0.9) * h - gh)
            if painter.is_free((gx, gy, gx + gw, gy + gh), pad=8):
                art.portrait(canvas, (gx, gy, gx + gw, gy + gh), rng, ghost=True)
                painter.blocked.append((gx, gy, gx + gw, gy + gh))
                break
