"""``render_line_sample``: single printed lines with photo-like degradations, for recogniser training."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image

from idsight.data.synth import design, fonts
from idsight.data.synth.compose import art
from idsight.data.synth.scene import add_noise, jpeg
from idsight.data.synth.text import paste_ink, size_for_height, text_mask
from idsight.data.synth.values import sample_card_values
from idsight.templates import CARD_SIZE, TEMPLATE_NAMES, Template

N_BACKGROUNDS = 12
MAX_TEXT_WIDTH = 1000


@lru_cache(maxsize=1)
def _backgrounds() -> tuple[np.ndarray, ...]:
    """Card-like backgrounds (gradient + guilloche), made once with a fixed seed."""
    rng = np.random.default_rng(20240131)
    out = []
    for _ in range(N_BACKGROUNDS):
        image = Image.fromarray(design.gradient(CARD_SIZE, rng))
        design.draw_guilloche(image, rng, strength=int(rng.integers(20, 55)))
        out.append(np.asarray(image))
    return tuple(out)


def _background_patch(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    bg = _backgrounds()[int(rng.integers(N_BACKGROUNDS))]
    bh, bw = bg.shape[:2]
    if w > bw or h > bh:
        return cv2.resize(bg, (max(w, bw), max(h, bh)))[:h, :w].copy()
    x, y = int(rng.integers(0, bw - w + 1)), int(rng.integers(0, bh - h + 1))
    return bg[y : y + h, x : x + w].copy()


def _font_path(rng: np.random.Generator, template: str, line: str, pool: str) -> str:
    if template == "kr-rrc":
        return fonts.pick(rng, fonts.korean_faces(pool)).path
    if line.startswith("mrz"):
        return fonts.OCRB_PATH.as_posix()
    return fonts.pick(rng, fonts.latin_faces(pool)).path


def _degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness/contrast, blur, down-up scaling, noise and JPEG."""
    out = image.astype(np.float32) * rng.uniform(0.7, 1.2) + rng.uniform(-35, 30)
    image = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.3))
    if rng.random() < 0.4:
        h, w = image.shape[:2]
        f = rng.uniform(0.4, 0.9)
        small = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        image = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    image = add_noise(image, rng, rng.uniform(0, 8))
    if rng.random() < 0.6:
        image = jpeg(image, int(rng.integers(40, 96)))
    return image


def render_line_sample(
    rng: np.random.Generator,
    *,
    template: Template | str | None = None,
    font_pool: str = "train",
    lines: Sequence[str] | None = None,
    pad_x: tuple[float, float] = (0.02, 0.2),
    pad_y: tuple[float, float] = (0.02, 0.1),
) -> tuple[np.ndarray, str, str]:
    """One random line: (HxWx3 uint8 crop, printed text, line key ``"<template>/<line>"``).

    The line (one of ``lines`` where the card has it, else any) is drawn with its template's font
    family on a card-like background, rotated (±2°) and sheared, cropped around the text with padding
    drawn per side from ``pad_y`` (vertical) and ``pad_x`` (horizontal), as fractions of the text
    height, then degraded.
    """
    name = template if isinstance(template, str) else template.name if template else None
    name = name or TEMPLATE_NAMES[int(rng.integers(len(TEMPLATE_NAMES)))]
    values = sample_card_values(name, rng)
    keys = [k for k in values.lines if lines is None or k in lines] or list(values.lines)
    line = keys[int(rng.integers(len(keys)))]
    text = values.lines[line]
    path = _font_path(rng, name, line, font_pool)
    mask = text_mask(text, fonts.load_font(path, size_for_height(text, path, rng.uniform(16, 44))))
    if mask.shape[1] > MAX_TEXT_WIDTH:
        mask = cv2.resize(mask, (MAX_TEXT_WIDTH, max(1, mask.shape[0] * MAX_TEXT_WIDTH // mask.shape[1])))
    crop = place_line(rng, mask, rotate=2.0, shear=0.15, pad_x=pad_x, pad_y=pad_y)
    return crop, text, f"{name}/{line}"


def _draw_rules(rng: np.random.Generator, canvas: np.ndarray, margin: int, th: int, tw: int) -> None:
    """Box sides and rules around the text at ``(margin, margin)`` (``tw`` x ``th``), each side with
    its own chance, near enough to fall inside a line crop's padding (up to 0.3 of the text height
    beside it, 0.15 above or below), 1 px to a twelfth of the height thick."""
    colour = tuple(int(c) for c in rng.integers(40, 170, 3))
    thick = int(rng.integers(1, max(2, th // 12 + 1)))
    side, over = rng.uniform(0.03, 0.3, 2) * th, rng.uniform(0.0, 0.15, 2) * th
    clear = thick // 2 + 1  # a rule's pixels stay off the text
    top, bottom = margin - int(over[0]) - clear, margin + th + int(over[1]) + clear
    left, right = margin - int(side[0]) - clear, margin + tw + int(side[1]) + clear
    h, w = canvas.shape[:2]
    if rng.random() < 0.6:
        cv2.line(canvas, (left, max(0, top - th)), (left, min(h - 1, bottom + th)), colour, thick)
    if rng.random() < 0.3:
        cv2.line(canvas, (right, max(0, top - th)), (right, min(h - 1, bottom + th)), colour, thick)
    if rng.random() < 0.4:
        cv2.line(canvas, (0, top), (w - 1, top), colour, thick)
    if rng.random() < 0.4:
        cv2.line(canvas, (0, bottom), (w - 1, bottom), colour, thick)


def place_line(
    rng: np.random.Generator,
    mask: np.ndarray,
    *,
    rotate: float,
    shear: float,
    pad_x: tuple[float, float],
    pad_y: tuple[float, float],
    plain: float = 0.0,
    rules: float = 0.0,
    seals: float = 0.0,
) -> np.ndarray:
    """An ink ``mask`` on a card-like background (a plain light one with probability ``plain``),
    rotated by up to ``rotate`` degrees and sheared by up to ``shear``, cropped around the text with
    padding drawn per side from ``pad_y`` / ``pad_x`` (fractions of the text height), then degraded.
    With probability ``rules``, the lines that cards print near text are drawn too: a field box's
    sides, a rule above or below, a bar before the text (they are not characters). With probability
    ``seals``, a seal or stamp is printed under the end of the text, as over an issuing authority's
    last syllables."""
    th, tw = mask.shape
    margin = th + 4
    canvas = _background_patch(rng, tw + 2 * margin, th + 2 * margin)
    if plain > 0 and rng.random() < plain:  # plain light cards (scans, white-on-white)
        canvas[:] = np.clip(rng.normal(235, 12, 3), 150, 255).astype(np.uint8)
    if rules > 0 and rng.random() < rules:
        _draw_rules(rng, canvas, margin, th, tw)
    if seals > 0 and rng.random() < seals:
        r = th * rng.uniform(0.8, 1.4)
        centre_x = margin + tw + r * rng.uniform(-0.6, 0.5)
        art.seal(canvas, (centre_x, margin + th * rng.uniform(0.3, 0.7)), r, rng)
    paste_ink(canvas, mask, margin, margin, design.ink_color(rng))
    centre = (canvas.shape[1] / 2, canvas.shape[0] / 2)
    affine = cv2.getRotationMatrix2D(centre, rng.uniform(-rotate, rotate), 1.0)
    if shear > 0:
        k = rng.uniform(-shear, shear)  # x += k * (y - centre_y): slanted, like a tilted camera
        affine[0, 1] += k
        affine[0, 2] -= k * centre[1]
    warped = cv2.warpAffine(
        canvas, affine, (canvas.shape[1], canvas.shape[0]), borderMode=cv2.BORDER_REPLICATE
    )
    corners = np.array(
        [
            [margin, margin, 1],
            [margin + tw, margin, 1],
            [margin + tw, margin + th, 1],
            [margin, margin + th, 1],
        ]
    )
    pts = corners @ affine.T
    py = rng.uniform(*pad_y, 2) * th
    px = rng.uniform(*pad_x, 2) * th
    x0 = max(0, int(pts[:, 0].min() - px[0]))
    x1 = min(warped.shape[1], max(x0 + 1, int(np.ceil(pts[:, 0].max() + px[1]))))
    y0 = max(0, int(pts[:, 1].min() - py[0]))
    y1 = min(warped.shape[0], max(y0 + 1, int(np.ceil(pts[:, 1].max() + py[1]))))
    return _degrade(warped[y0:y1, x0:x1], rng)
