"""Card artwork: pastel gradients, guilloche patterns, face photos and stamps."""

from __future__ import annotations

from functools import lru_cache
from typing import cast

import cv2
import numpy as np
from PIL import Image, ImageDraw

Color = tuple[int, int, int]
FACE_ASPECT = 4 / 3  # height / width of an ID photo


def pastel(rng: np.random.Generator, lo: int = 205, hi: int = 250) -> Color:
    """A light, low-saturation colour."""
    r, g, b = (int(v) for v in rng.integers(lo, hi, 3))
    return r, g, b


def ink_color(rng: np.random.Generator) -> Color:
    """A dark printing colour (near-black, dark blue or dark brown)."""
    base = np.array([(20, 20, 25), (25, 30, 70), (55, 35, 25), (35, 35, 35)][int(rng.integers(4))])
    r, g, b = (int(v) for v in np.clip(base + rng.integers(-12, 13, 3), 0, 255))
    return r, g, b


def gradient(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A linear two-colour pastel gradient (HxWx3 uint8) in a random direction."""
    w, h = size
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    t = xs * np.cos(angle) / w + ys * np.sin(angle) / h
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    a, b = np.array(pastel(rng), np.float32), np.array(pastel(rng), np.float32)
    return (a + (b - a) * t[..., None]).astype(np.uint8)


def _tint(base: Color, rng: np.random.Generator, amount: int) -> Color:
    r, g, b = (int(np.clip(c - rng.integers(amount // 2, amount + 1), 0, 255)) for c in base)
    return r, g, b


def draw_guilloche(image: Image.Image, rng: np.random.Generator, *, strength: int = 40) -> None:
    """Low-contrast security-print lines: stacked sine waves and one or two rosettes (in place)."""
    draw = ImageDraw.Draw(image)
    w, h = image.size
    base = cast(Color, image.getpixel((w // 2, h // 2)))
    xs = np.linspace(0, w, 200)
    period, amp = rng.uniform(60, 220), rng.uniform(6, 30)
    for i in range(int(rng.integers(10, 24))):
        y = h * i / 20 + amp * np.sin(2 * np.pi * xs / period + i * rng.uniform(0.2, 0.6))
        draw.line(list(zip(xs.tolist(), y.tolist(), strict=True)), fill=_tint(base, rng, strength), width=1)
    for _ in range(int(rng.integers(1, 3))):
        cx, cy, radius = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(70, 200)
        k, d = int(rng.integers(5, 13)), rng.uniform(0.3, 0.7)
        t = np.linspace(0, 2 * np.pi, 900)
        for j in range(int(rng.integers(3, 7))):
            r = radius * (1 - 0.08 * j)
            px = cx + r * ((1 - d) * np.cos(t) + d * np.cos(k * t))
            py = cy + r * ((1 - d) * np.sin(t) - d * np.sin(k * t))
            draw.line(
                list(zip(px.tolist(), py.tolist(), strict=True)), fill=_tint(base, rng, strength), width=1
            )


@lru_cache(maxsize=1)
def _face_photos() -> tuple[np.ndarray, ...]:
    """Real face crops from scikit-image sample data (astronaut + the first 100 LFW faces), RGB."""
    from skimage import data

    faces = [data.astronaut()[0:267, 120:320]]
    try:
        lfw = data.lfw_subset()[:100]
    except Exception:  # the LFW subset may be missing from a minimal install
        lfw = np.zeros((0, 25, 25))
    for face in lfw:
        gray = (np.clip(face, 0, 1) * 255).astype(np.uint8)
        faces.append(np.repeat(gray[:, :, None], 3, axis=2))
    return tuple(faces)


def silhouette(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A drawn placeholder portrait (head and shoulders) of ``size`` (w, h)."""
    w, h = size
    image = Image.new("RGB", size, pastel(rng, 170, 230))
    draw = ImageDraw.Draw(image)
    shade = _tint((140, 140, 150), rng, 60)
    draw.ellipse((w * 0.3, h * 0.15, w * 0.7, h * 0.55), fill=shade)
    draw.ellipse((w * 0.1, h * 0.6, w * 0.9, h * 1.3), fill=shade)
    return np.asarray(image)


def face_image(size: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A portrait of ``size`` (w, h): a real face photo usually, a silhouette sometimes."""
    photos = _face_photos()
    if rng.random() < 0.1:
        return silhouette(size, rng), "silhouette"
    index = int(rng.integers(len(photos)))
    face = cv2.resize(photos[index], size, interpolation=cv2.INTER_CUBIC)
    if rng.random() < 0.3:  # printed ID photos are often toned
        tone = np.array(pastel(rng, 200, 256), np.float32) / 255.0
        face = (face.mean(axis=2, keepdims=True) * tone).astype(np.uint8)
    return face, "astronaut" if index == 0 else f"lfw{index - 1}"


def draw_stamp_np(
    canvas: np.ndarray, center: tuple[float, float], radius: float, rng: np.random.Generator
) -> None:
    """A red official seal (circle with an inner square) drawn into ``canvas`` (HxWx3 uint8) in place."""
    cx, cy, r = round(center[0]), round(center[1]), round(radius)
    red = (int(rng.integers(180, 230)), int(rng.integers(40, 90)), int(rng.integers(40, 90)))
    cv2.circle(canvas, (cx, cy), r, red, 3, cv2.LINE_AA)
    inner = round(radius * 0.55)
    cv2.rectangle(canvas, (cx - inner, cy - inner), (cx + inner, cy + inner), red, 2, cv2.LINE_AA)
