"""Placing a rectified card in an image: flat scans and photos, with the homography of the placement."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from idsight.templates import CARD_SIZE

CARD_W, CARD_H = CARD_SIZE
CARD_CORNERS = np.array([[0, 0], [CARD_W, 0], [CARD_W, CARD_H], [0, CARD_H]], np.float64)
# pixel-index <-> continuous coordinates (pixel edges at integers, as used in records)
_HALF = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]], np.float64)
_MINUS_HALF = np.linalg.inv(_HALF)


@dataclass
class Scene:
    """An image holding the card and ``homography`` mapping card-frame points to image points."""

    image: np.ndarray
    homography: np.ndarray
    background: str


def apply_homography(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map Nx2 points through 3x3 ``h``."""
    pts = np.asarray(points, np.float64)
    out = np.c_[pts, np.ones(len(pts))] @ h.T
    return out[:, :2] / out[:, 2:3]


def warp_to(image: np.ndarray, h: np.ndarray, size: tuple[int, int], **kw: Any) -> np.ndarray:
    """``cv2.warpPerspective`` for a homography in continuous (pixel-edge) coordinates."""
    return cv2.warpPerspective(image, _MINUS_HALF @ h @ _HALF, size, flags=cv2.INTER_LINEAR, **kw)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip (RGB uint8)."""
    ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        return image
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    assert decoded is not None
    return decoded[:, :, ::-1].copy()


def add_noise(image: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Additive Gaussian noise."""
    noise = rng.standard_normal(image.shape, dtype=np.float32) * sigma
    return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def flat_scan(card: np.ndarray, rng: np.random.Generator) -> Scene:
    """The card alone, rescaled by 0.8-1.5, with mild noise and JPEG artefacts."""
    scale = rng.uniform(0.8, 1.5)
    w, h = round(CARD_W * scale), round(CARD_H * scale)
    image = cv2.resize(card, (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    image = jpeg(add_noise(image, rng, rng.uniform(0, 4)), int(rng.integers(80, 97)))
    homography = np.diag([w / CARD_W, h / CARD_H, 1.0])
    return Scene(image, homography, "none")


@lru_cache(maxsize=1)
def _sample_backgrounds() -> tuple[tuple[str, np.ndarray], ...]:
    from skimage import data

    out = []
    for name in ("coffee", "chelsea", "rocket", "brick", "grass", "gravel"):
        img = getattr(data, name)()
        out.append((name, img if img.ndim == 3 else np.repeat(img[:, :, None], 3, axis=2)))
    try:
        from sklearn.datasets import load_sample_images

        out += [(f"sklearn{i}", img) for i, img in enumerate(load_sample_images().images)]
    except ImportError:
        pass
    return tuple(out)


def _procedural(size: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Desk-like textures: wood grain, cloth weave or a plain matte surface."""
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(60, 200, 3).astype(np.float32)
    kind = ("wood", "cloth", "matte")[int(rng.integers(3))]
    if kind == "wood":
        warp = 12 * np.sin(xs / rng.uniform(80, 200)) + ys
        t = 0.5 + 0.5 * np.sin(warp / rng.uniform(3, 9) + 2 * np.sin(xs / 37))
    elif kind == "cloth":
        period = rng.uniform(3, 7)
        t = 0.5 + 0.25 * (np.sin(xs / period) + np.sin(ys / period))
    else:
        t = np.full((h, w), 0.5, np.float32)
    texture = base * (0.75 + 0.5 * t[..., None])
    return add_noise(np.clip(texture, 0, 255).astype(np.uint8), rng, rng.uniform(2, 8)), kind


def background(size: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A background of ``size`` (w, h): a sample photo (random crop, resized) or a procedural texture."""
    if rng.random() < 0.4:
        return _procedural(size, rng)
    name, img = _sample_backgrounds()[int(rng.integers(len(_sample_backgrounds())))]
    h, w = img.shape[:2]
    frac = rng.uniform(0.6, 1.0)
    cw, ch = int(w * frac), int(h * frac)
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    crop = img[y : y + ch, x : x + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return cv2.resize(np.ascontiguousarray(crop), size, interpolation=cv2.INTER_LINEAR), name


def _placement(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Destination corners (4x2) of the card: scaled, rotated, perspective-jittered, fully inside."""
    w, h = size
    angle = np.deg2rad(rng.uniform(-15, 15))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centred = CARD_CORNERS - [CARD_W / 2, CARD_H / 2]
    for _ in range(20):
        width = w * rng.uniform(0.35, 0.8)
        quad = centred * (width / CARD_W) @ rot.T
        quad = quad + rng.uniform(-0.06, 0.06, (4, 2)) * width  # perspective
        lo, hi = quad.min(axis=0), quad.max(axis=0)
        margin = 0.02 * w
        if (hi - lo < np.array([w, h]) - 2 * margin).all():
            cx = rng.uniform(margin - lo[0], w - margin - hi[0])
            cy = rng.uniform(margin - lo[1], h - margin - hi[1])
            return quad + [cx, cy]
    raise RuntimeError("could not place the card inside the image")


def _lighting(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uneven lighting gradient, optional glare blob."""
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    t = (xs / w - 0.5) * np.cos(angle) + (ys / h - 0.5) * np.sin(angle)
    gain = 1.0 + rng.uniform(0.1, 0.45) * t + rng.uniform(-0.15, 0.1)
    out = image.astype(np.float32) * gain[..., None]
    if rng.random() < 0.35:
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.05, 0.2) * w
        glare = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * r * r)) * rng.uniform(60, 160)
        out += glare[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def photo_scene(card: np.ndarray, rng: np.random.Generator) -> Scene:
    """The card on a background photo with perspective, lighting, blur, noise and JPEG."""
    w = int(rng.integers(1000, 1601))
    h = int(w * rng.uniform(0.6, 1.0))
    image, source = background((w, h), rng)
    corners = _placement((w, h), rng)
    homography = cv2.getPerspectiveTransform(CARD_CORNERS.astype(np.float32), corners.astype(np.float32))
    warped = warp_to(card, homography, (w, h))
    mask = warp_to(np.full(card.shape[:2], 255, np.uint8), homography, (w, h))
    shadow = cv2.GaussianBlur(mask, (0, 0), rng.uniform(4, 12)).astype(np.float32) / 255.0
    offset = np.roll(shadow, (int(rng.integers(3, 12)), int(rng.integers(3, 12))), axis=(0, 1))
    dark = image.astype(np.float32) * (1 - 0.35 * offset[..., None])
    alpha = mask.astype(np.float32)[..., None] / 255.0
    image = (dark * (1 - alpha) + warped.astype(np.float32) * alpha).astype(np.uint8)
    image = _lighting(image, rng)
    if rng.random() < 0.7:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.4))
    image = jpeg(add_noise(image, rng, rng.uniform(1, 7)), int(rng.integers(55, 95)))
    return Scene(image, homography, source)
