"""A composed card in an image: a flat scan (the card fills the frame), a photo on a desk or in a scene,
or a white card on a white desk; optionally turned by 90, 180 or 270 degrees."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from idsight.data.synth import scene
from idsight.data.synth.compose.model import ComposedCard

SCENE_KINDS = ("flat", "photo", "white-desk")


@dataclass
class Placed:
    """The image; ``homography`` maps card-frame points (pixel edges at integers) to image points;
    ``corners`` are the card's TL, TR, BR, BL as printed; ``quads`` the line boxes, as ``card.lines``."""

    image: np.ndarray
    homography: np.ndarray
    corners: np.ndarray
    quads: list[np.ndarray]
    rotation: int  # degrees clockwise the image was turned
    kind: str
    background: str


def box_quad(box: list[int] | tuple[int, ...]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


@lru_cache(maxsize=8)
def _rounded(size: tuple[int, int], radius: int) -> np.ndarray:
    """A card mask (uint8) with rounded corners."""
    w, h = size
    mask = np.full((h, w), 255, np.uint8)
    for cx, cy in (
        (radius, radius),
        (w - radius - 1, radius),
        (radius, h - radius - 1),
        (w - radius - 1, h - radius - 1),
    ):
        x0, y0 = (0 if cx == radius else w - radius), (0 if cy == radius else h - radius)
        mask[y0 : y0 + radius, x0 : x0 + radius] = 0
        cv2.circle(mask, (cx, cy), radius, 255, -1, cv2.LINE_AA)
    return mask


def _white_desk(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A white or very light surface: paper, a white table, a light counter."""
    w, h = size
    tone = rng.uniform(222, 252, 3).astype(np.float32) - rng.uniform(0, 6)
    small = rng.standard_normal((max(2, h // 16), max(2, w // 16)), dtype=np.float32)
    texture = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) * rng.uniform(0.5, 3.0)
    image = np.clip(tone + texture[..., None], 0, 255).astype(np.uint8)
    return image


def _placement(size: tuple[int, int], card: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Where the card's corners land: scaled, rotated up to 15 degrees, perspective-jittered, inside."""
    w, h = size
    cw, ch = card
    angle = np.deg2rad(rng.uniform(-15, 15))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centred = np.array([[0, 0], [cw, 0], [cw, ch], [0, ch]], np.float64) - [cw / 2, ch / 2]
    for _ in range(50):
        width = w * rng.uniform(0.35, 0.85)
        quad = centred * (width / cw) @ rot.T + rng.uniform(-0.06, 0.06, (4, 2)) * width
        lo, hi = quad.min(axis=0), quad.max(axis=0)
        margin = 0.02 * w
        if (hi - lo < np.array([w, h]) - 2 * margin).all():
            return quad + [
                rng.uniform(margin - lo[0], w - margin - hi[0]),
                rng.uniform(margin - lo[1], h - margin - hi[1]),
            ]
    return centred * (0.3 * w / cw) + [w / 2, h / 2]


def _noise(image: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Sensor noise: per-pixel luminance noise plus a little colour noise at half resolution."""
    h, w = image.shape[:2]
    grey = rng.standard_normal((h, w), dtype=np.float32) * sigma
    colour = rng.standard_normal(((h + 1) // 2, (w + 1) // 2, 3), dtype=np.float32) * (sigma * 0.4)
    noise = cv2.resize(colour, (w, h), interpolation=cv2.INTER_NEAREST) + grey[..., None]
    return cv2.add(image, noise, dtype=cv2.CV_8U)


def _light(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uneven light (a gain ramp) and sometimes a glare blob, computed on a coarse grid."""
    h, w = image.shape[:2]
    gh, gw = max(2, h // 8), max(2, w // 8)
    ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    t = (xs / gw - 0.5) * np.cos(angle) + (ys / gh - 0.5) * np.sin(angle)
    gain = 1.0 + rng.uniform(0.1, 0.45) * t + rng.uniform(-0.15, 0.1)
    glare = np.zeros_like(gain)
    if rng.random() < 0.35:
        cx, cy, r = rng.uniform(0, gw), rng.uniform(0, gh), rng.uniform(0.05, 0.2) * gw
        glare = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * r * r)) * rng.uniform(60, 160)
    gain = cv2.resize(gain, (w, h), interpolation=cv2.INTER_LINEAR)
    glare = cv2.resize(glare, (w, h), interpolation=cv2.INTER_LINEAR)
    lit = cv2.multiply(image, cv2.merge([gain, gain, gain]), dtype=cv2.CV_32F)
    return cv2.add(lit, cv2.merge([glare, glare, glare]), dtype=cv2.CV_8U)


def _photo(card: ComposedCard, rng: np.random.Generator, white: bool) -> tuple[np.ndarray, np.ndarray, str]:
    w = int(rng.integers(1000, 1601))
    h = int(w * rng.uniform(0.6, 1.0))
    if white:
        image, source = _white_desk((w, h), rng), "white-desk"
    else:
        image, source = scene.background((w, h), rng)
    cw, ch = card.size
    corners = _placement((w, h), card.size, rng)
    src = np.array([[0, 0], [cw, 0], [cw, ch], [0, ch]], np.float32)
    homography = cv2.getPerspectiveTransform(src, corners.astype(np.float32))
    warped = scene.warp_to(card.image, homography, (w, h))
    mask = scene.warp_to(_rounded(card.size, int(min(cw, ch) * 0.06)), homography, (w, h))
    small = cv2.resize(mask, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    blurred = cv2.GaussianBlur(small, (0, 0), rng.uniform(1, 3.5)).astype(np.float32) / 255.0
    shadow = cv2.resize(blurred, (w, h), interpolation=cv2.INTER_LINEAR)
    offset = np.roll(shadow, (int(rng.integers(2, 12)), int(rng.integers(2, 12))), axis=(0, 1))
    depth = rng.uniform(0.12, 0.3) if white else 0.35
    alpha = mask.astype(np.float32) / 255.0
    keep = cv2.merge([(1 - depth * offset) * (1 - alpha)] * 3)
    image = cv2.add(
        cv2.multiply(image, keep, dtype=cv2.CV_32F),
        cv2.multiply(warped, cv2.merge([alpha] * 3), dtype=cv2.CV_32F),
        dtype=cv2.CV_8U,
    )
    image = _light(image, rng)
    if rng.random() < 0.7:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.4))
    image = scene.jpeg(_noise(image, rng, rng.uniform(1, 7)), int(rng.integers(55, 95)))
    return image, homography, source


def _flat(card: ComposedCard, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    scale = rng.uniform(0.8, 1.5)
    cw, ch = card.size
    w, h = round(cw * scale), round(ch * scale)
    image = cv2.resize(card.image, (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    image = scene.jpeg(_noise(image, rng, rng.uniform(0, 4)), int(rng.integers(80, 97)))
    return image, np.diag([w / cw, h / ch, 1.0]), "none"


def _turn(image: np.ndarray, homography: np.ndarray, quarters: int) -> tuple[np.ndarray, np.ndarray]:
    """Turn the image clockwise by ``quarters`` x 90 degrees, and the homography with it."""
    for _ in range(quarters % 4):
        h = image.shape[0]
        image = np.ascontiguousarray(np.rot90(image, k=-1))
        homography = np.array([[0, -1, h], [1, 0, 0], [0, 0, 1]], np.float64) @ homography
    return image, homography


def place_card(
    card: ComposedCard, rng: np.random.Generator, *, kind: str = "photo", rotate_fraction: float = 0.0
) -> Placed:
    """``card`` in an image of ``kind`` (``flat``, ``photo``, ``white-desk``); with probability
    ``rotate_fraction`` the image is turned by 90, 180 or 270 degrees."""
    if kind not in SCENE_KINDS:
        from idsight.errors import UnknownNameError

        raise UnknownNameError(f"unknown scene kind {kind!r} (known: {', '.join(SCENE_KINDS)})")
    image, homography, source = (
        _flat(card, rng) if kind == "flat" else _photo(card, rng, kind == "white-desk")
    )
    quarters = int(rng.integers(1, 4)) if rng.random() < rotate_fraction else 0
    image, homography = _turn(image, homography, quarters)
    cw, ch = card.size
    corners = scene.apply_homography(homography, box_quad((0, 0, cw, ch)))
    quads = [scene.apply_homography(homography, box_quad(line["box"])) for line in card.lines]
    return Placed(image, homography, corners, quads, 90 * quarters, kind, source)
