"""Card artwork: backgrounds, bands, frames, emblems, holograms, seals and portraits (no text)."""

from __future__ import annotations

import colorsys

import cv2
import numpy as np
from PIL import Image

from idsight.data.synth import design

Color = tuple[int, int, int]
Box = tuple[int, int, int, int]


def hsv(h: float, s: float, v: float) -> Color:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return int(r * 255), int(g * 255), int(b * 255)


def background(size: tuple[int, int], rng: np.random.Generator, light: bool) -> tuple[np.ndarray, str]:
    """A pastel gradient or flat tint with guilloche, or (``light``) a white / very light card."""
    w, h = size
    if light:
        tone = np.array(design.pastel(rng, 238, 256), np.float32)
        canvas = np.broadcast_to(tone, (h, w, 3)).astype(np.uint8)
        kind = "white"
    elif rng.random() < 0.7:
        canvas, kind = design.gradient(size, rng), "gradient"
    else:
        canvas = np.broadcast_to(np.array(design.pastel(rng, 200, 250), np.uint8), (h, w, 3)).copy()
        kind = "tint"
    image = Image.fromarray(np.ascontiguousarray(canvas))
    if rng.random() < (0.35 if light else 0.8):
        design.draw_guilloche(
            image, rng, strength=int(rng.integers(6, 16) if light else rng.integers(15, 55))
        )
        kind += "+guilloche"
    return np.array(image), kind


def emblem(
    canvas: np.ndarray, center: tuple[float, float], radius: float, rng: np.random.Generator, alpha: float
) -> None:
    """A faint national-emblem-like figure: rings and a star, blended at ``alpha``."""
    layer = canvas.copy()
    color = hsv(rng.random(), rng.uniform(0.2, 0.6), rng.uniform(0.4, 0.8))
    cx, cy, r = int(center[0]), int(center[1]), int(radius)
    for k in range(int(rng.integers(2, 5))):
        cv2.circle(layer, (cx, cy), max(2, int(r * (1 - 0.12 * k))), color, 2, cv2.LINE_AA)
    n = int(rng.integers(5, 13))
    t = np.linspace(0, 2 * np.pi, 2 * n, endpoint=False) + rng.uniform(0, np.pi)
    rad = np.where(np.arange(2 * n) % 2 == 0, r * 0.7, r * 0.3)
    star = np.stack([cx + rad * np.cos(t), cy + rad * np.sin(t)], axis=1).astype(np.int32)
    cv2.polylines(layer, [star], True, color, 2, cv2.LINE_AA)
    cv2.addWeighted(layer, alpha, canvas, 1 - alpha, 0, dst=canvas)


def hologram(canvas: np.ndarray, box: Box, rng: np.random.Generator) -> None:
    """An iridescent patch (rainbow rings) blended into ``box``."""
    x0, y0, x1, y1 = box
    h, w = y1 - y0, x1 - x0
    if h < 8 or w < 8:
        return
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = w * rng.uniform(0.3, 0.7), h * rng.uniform(0.3, 0.7)
    d = np.hypot(xs - cx, ys - cy)
    hue = (d / rng.uniform(6, 20) + xs / w) % 1.0
    rgb = np.stack([np.sin(2 * np.pi * (hue + k / 3)) * 0.5 + 0.5 for k in range(3)], axis=2) * 255
    fade = np.clip(1 - d / (0.5 * min(w, h)), 0, 1)[..., None] * rng.uniform(0.12, 0.3)
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    canvas[y0:y1, x0:x1] = (region * (1 - fade) + rgb * fade).astype(np.uint8)


def band(canvas: np.ndarray, box: Box, color: Color, rng: np.random.Generator) -> None:
    """A filled band, flat or shaded along its length."""
    x0, y0, x1, y1 = box
    region = np.empty((y1 - y0, x1 - x0, 3), np.float32)
    region[:] = color
    if rng.random() < 0.5:
        t = np.linspace(0.8, 1.15, x1 - x0 if x1 - x0 > y1 - y0 else y1 - y0, dtype=np.float32)
        region *= t[None, :, None] if x1 - x0 > y1 - y0 else t[:, None, None]
    canvas[y0:y1, x0:x1] = np.clip(region, 0, 255).astype(np.uint8)


def frame(canvas: np.ndarray, box: Box, color: Color, thickness: int = 1) -> None:
    cv2.rectangle(canvas, (box[0], box[1]), (box[2] - 1, box[3] - 1), color, thickness, cv2.LINE_AA)


def rule(canvas: np.ndarray, y: int, x0: int, x1: int, color: Color, thickness: int = 2) -> None:
    cv2.line(canvas, (x0, y), (x1, y), color, thickness, cv2.LINE_AA)


def portrait(canvas: np.ndarray, box: Box, rng: np.random.Generator, *, ghost: bool = False) -> str:
    """A face photo in ``box``; a ghost image is a small faded grey copy blended into the card."""
    x0, y0, x1, y1 = box
    face, source = design.face_image((x1 - x0, y1 - y0), rng)
    if ghost:
        grey = face.mean(axis=2, keepdims=True).astype(np.float32)
        region = canvas[y0:y1, x0:x1].astype(np.float32)
        a = rng.uniform(0.25, 0.45)
        canvas[y0:y1, x0:x1] = (region * (1 - a) + grey * a).astype(np.uint8)
        return source
    canvas[y0:y1, x0:x1] = face
    if rng.random() < 0.4:
        frame(canvas, box, (90, 90, 90), 1)
    return source


def seal(canvas: np.ndarray, center: tuple[float, float], radius: float, rng: np.random.Generator) -> None:
    """A red official seal (the fixed-layout generator's) or a round coloured stamp of rings."""
    if rng.random() < 0.6:
        design.draw_stamp_np(canvas, center, radius, rng)
        return
    color = hsv(rng.choice([0.0, 0.6, 0.95]), rng.uniform(0.5, 0.8), rng.uniform(0.5, 0.8))
    cx, cy = int(center[0]), int(center[1])
    cv2.circle(canvas, (cx, cy), int(radius), color, 2, cv2.LINE_AA)
    cv2.circle(canvas, (cx, cy), int(radius * 0.75), color, 1, cv2.LINE_AA)
    emblem(canvas, center, radius * 0.6, rng, 0.8)
