"""``compose_card``: a card of a random design — family, fonts, colours, artwork, then text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from idsight.data.synth import design
from idsight.data.synth.compose import art, chrome, fontpool, vocab
from idsight.data.synth.compose.content import Content, sample_content
from idsight.data.synth.compose.extras import place_extras
from idsight.data.synth.compose.families import Family, pick_family
from idsight.data.synth.compose.layout import BodyStyle, Ink, layout_body
from idsight.data.synth.compose.model import ComposedCard, card_size, check_doc_type, check_pool
from idsight.data.synth.compose.painter import Box, Painter

T = TypeVar("T")


def _choice(rng: np.random.Generator, options: Sequence[T]) -> T:
    return options[int(rng.integers(len(options)))]


def _ink(doc: str, pool: str, rng: np.random.Generator) -> Ink:
    faces = fontpool.korean_faces(pool) if doc == "kr-rrc" else fontpool.latin_faces(pool)
    value = fontpool.pick(rng, faces, bold=0.35)
    label = value if rng.random() < 0.3 else fontpool.pick(rng, faces, bold=0.15)
    title = fontpool.pick(rng, faces, bold=0.7)
    sign = fontpool.pick(rng, fontpool.script_faces(pool))
    hue = rng.random()
    label_color = art.hsv(hue, rng.uniform(0.2, 0.7), rng.uniform(0.3, 0.5))
    if rng.random() < 0.4:
        label_color = (80, 80, 85)
    title_color = art.hsv(hue + rng.uniform(-0.1, 0.1), rng.uniform(0.4, 0.9), rng.uniform(0.25, 0.5))
    if rng.random() < 0.3:
        title_color = design.ink_color(rng)
    return Ink(value, label, title, sign, pool, design.ink_color(rng), label_color, title_color)


class _Frame:
    """The free area of the card as zones are taken from it (top, bottom, left, right edges)."""

    def __init__(self, size: tuple[int, int], margin: int) -> None:
        w, h = size
        self.left, self.right, self.top, self.bottom = (
            float(margin),
            float(w - margin),
            margin * 0.7,
            h - margin * 0.7,
        )


def _mrz(
    painter: Painter, canvas: np.ndarray, content: Content, fr: _Frame, rng: np.random.Generator
) -> None:
    w = painter.size[0]
    x = w * rng.uniform(0.035, 0.06)
    glyphs = chrome.mrz_glyphs(content.mrz, (w - 2 * x) * rng.uniform(0.97, 1.0))
    pitch = glyphs[0].h * rng.uniform(1.4, 1.7)
    top = chrome.plan_mrz(painter, glyphs, x, fr.bottom, pitch, design.ink_color(rng))
    if rng.random() < 0.4:  # a plain strip behind the MRZ
        canvas[int(top - pitch * 0.35) :, :] = design.pastel(rng, 240, 256)
    fr.bottom = top - pitch * 0.6


def _side_band(painter: Painter, canvas: np.ndarray, fr: _Frame, rng: np.random.Generator) -> None:
    w, h = painter.size
    width = int(w * rng.uniform(0.07, 0.11))
    x = 0 if rng.random() < 0.5 else w - width
    art.band(
        canvas,
        (x, 0, x + width, h),
        art.hsv(rng.random(), rng.uniform(0.2, 0.6), rng.uniform(0.55, 0.85)),
        rng,
    )
    art.emblem(canvas, (x + width / 2, h * rng.uniform(0.3, 0.7)), width * 0.4, rng, 0.7)
    painter.blocked.append((x, 0, x + width, h))
    if x == 0:
        fr.left += width
    else:
        fr.right -= width


def _header(
    painter: Painter, canvas: np.ndarray, content: Content, family: Family, fr: _Frame, ink: Ink, cap: float,
    rng: np.random.Generator,
) -> str:  # fmt: skip
    """The title block at the top, on a band, or at the bottom of the free area; returns its alignment."""
    w, h = painter.size
    head = chrome.header_lines(content, cap, rng)
    most = h * (0.16 if content.mrz else 0.2)  # the title block's share of the card
    if chrome.header_height(head) > most:
        shrink = most / chrome.header_height(head)
        head = [(text, role, c * shrink) for text, role, c in head]
    head_h = chrome.header_height(head)
    align = _choice(rng, family.title_align)
    if family.title_place == "bottom":
        zone = (int(fr.left), int(fr.bottom - head_h), int(fr.right), int(fr.bottom))
        fr.bottom -= head_h + cap * 0.5
    else:
        zone = (int(fr.left), int(fr.top), int(fr.right), int(fr.top + head_h))
        fr.top += head_h + cap * 0.4
    if family.title_place == "band":
        band_h = int(fr.top)
        color = art.hsv(rng.random(), rng.uniform(0.4, 0.85), rng.uniform(0.3, 0.55))
        art.band(canvas, (0, 0, w, band_h), color, rng)
        painter.blocked.append((0, 0, w, band_h))
        fr.top = band_h + cap * 0.5
    chrome.plan_header(painter, head, zone, align, ink, family.title_place == "band")
    return align


def _portrait(
    painter: Painter, canvas: np.ndarray, side: str, fr: _Frame, cap: float, rng: np.random.Generator
) -> Box | None:
    if side == "none":
        return None
    h = painter.size[1]
    ph = int(min(fr.bottom - fr.top, h * rng.uniform(0.42, 0.56)))
    pw = int(ph * rng.uniform(0.72, 0.8))
    px = int(fr.left) if side == "left" else int(fr.right) - pw
    py = int(fr.top + (fr.bottom - fr.top - ph) * rng.uniform(0.0, 0.3))
    photo = (px, py, px + pw, py + ph)
    painter.blocked.append(photo)
    art.portrait(canvas, photo, rng)
    gap = cap * rng.uniform(0.8, 1.6)
    if side == "left":
        fr.left = px + pw + gap
    else:
        fr.right = px - gap
    return photo


def compose_card(
    doc_type: str,
    rng: np.random.Generator,
    *,
    design_pool: str = "train",
    font_pool: str = "train",
    paper: str | None = None,
) -> ComposedCard:
    """A rectified card of ``doc_type`` (``kr-rrc``, ``td1``, ``td3``) in a random design of ``design_pool``
    printed in fonts of ``font_pool``; ``paper="white"`` forces a white / very light card."""
    check_doc_type(doc_type)
    check_pool(design_pool, "design")
    check_pool(font_pool, "font")
    family = pick_family(design_pool, rng)
    w, h = size = card_size(doc_type)
    content = sample_content(doc_type, rng, vocab.pick_scheme(doc_type, rng, family.schemes))
    ink = _ink(doc_type, font_pool, rng)
    canvas, paper_kind = art.background(size, rng, paper == "white" or bool(rng.random() < family.light))
    painter = Painter(size)
    fr = _Frame(size, int(rng.integers(18, 34)))
    value_cap = float(rng.uniform(17, 24) * rng.uniform(*family.size) * (0.95 if doc_type == "td3" else 1.0))
    label_cap = float(max(12.0, value_cap * rng.uniform(0.55, 0.75)))
    if family.side_band:
        _side_band(painter, canvas, fr, rng)
    if content.mrz:
        _mrz(painter, canvas, content, fr, rng)
    footer = []
    if doc_type == "kr-rrc" and family.title_place != "bottom" and rng.random() < family.kr_footer:
        footer = [i for i in content.items if i.field in ("issue_date", "issuer")]  # centred at the bottom
        fr.bottom -= value_cap * 3.6
    align = _header(painter, canvas, content, family, fr, ink, float(value_cap * rng.uniform(1.3, 1.9)), rng)
    if rng.random() < 0.4:
        center = (w * rng.uniform(0.3, 0.8), h * rng.uniform(0.3, 0.7))
        art.emblem(canvas, center, h * rng.uniform(0.15, 0.3), rng, rng.uniform(0.08, 0.2))
    if rng.random() < 0.3:
        hx, hy = int(w * rng.uniform(0.4, 0.8)), int(h * rng.uniform(0.2, 0.6))
        art.hologram(canvas, (hx, hy, min(w, hx + int(h * 0.3)), min(h, hy + int(h * 0.3))), rng)
    side = _choice(rng, family.photo)
    photo = _portrait(painter, canvas, side, fr, value_cap, rng)
    mode = _choice(rng, family.labels)
    items = [i for i in content.items if i not in footer and (mode != "none" or i.field is not None)]
    style = BodyStyle(
        mode, _choice(rng, family.columns), value_cap, label_cap, bool(rng.random() < family.justify),
        family.centred, bool(rng.random() < 0.6),
    )  # fmt: skip
    body = (int(fr.left), int(fr.top), int(fr.right), int(fr.bottom))
    cells, style = layout_body(painter, items, body, style, ink, rng)
    if family.frames:
        color = art.hsv(rng.random(), 0.3, rng.uniform(0.45, 0.7))
        for x0, y0, x1, y1 in cells:
            art.frame(canvas, (x0 - 6, y0 - 6, min(w - 2, x1 + 4), y1 + 2), color)
    issuer = None
    if footer:
        zone = (int(fr.left), int(fr.bottom + value_cap), int(fr.right), h)
        issuer = chrome.plan_footer(painter, footer, zone, value_cap, ink)
    elif doc_type == "kr-rrc":
        issuer = next((p.box for p in painter.planned if p.field == "issuer" and p.role == "value"), None)
    place_extras(painter, canvas, content, ink, photo, issuer, value_cap, rng)
    background = canvas.copy()
    lines = painter.paint(canvas)
    info = {"family": family.name, "pool": design_pool, "photo": side, "label_place": mode, "columns": style.columns,
            "title": f"{family.title_place}-{align}", "paper": paper_kind, "footer": bool(footer)}  # fmt: skip
    fonts = {"pool": font_pool, "value": ink.value.name, "label": ink.label.name, "title": ink.title.name,
             "signature": ink.signature.name, "mrz": fontpool.mrz_face().name,
             "used": sorted({ln["font"] for ln in lines})}  # fmt: skip
    return ComposedCard(doc_type, canvas, content.values, lines, info | content.style, fonts, background)
