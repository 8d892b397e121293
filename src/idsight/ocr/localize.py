"""Card localisation and rectification (stage 1).

The classical localiser finds the card's four corners from edges and contours, then a
perspective warp maps them onto the canonical card frame. A learned localiser can be registered
under another name in ``LOCALIZERS`` and selected in the reader.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from idsight.registry import LOCALIZERS
from idsight.templates import CARD_SIZE

CARD_ASPECT = CARD_SIZE[0] / CARD_SIZE[1]


@dataclass
class Localization:
    corners: np.ndarray  # (4, 2) float32, TL TR BR BL in image pixels
    score: float  # 0..1: how card-like the found quadrilateral is
    method: str  # "contour", "min_area_rect" or "full_frame"

    def homography(self) -> np.ndarray:
        """Image -> canonical card frame."""
        w, h = CARD_SIZE
        dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
        return cv2.getPerspectiveTransform(self.corners.astype(np.float32), dst)


def order_corners(pts: np.ndarray) -> np.ndarray:
    """Order four points TL, TR, BR, BL, landscape (the long side on top)."""
    pts = np.asarray(pts, dtype=np.float32).reshape(4, 2)
    c = pts.mean(axis=0)
    ang = np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0])
    pts = pts[np.argsort(ang)]  # clockwise from the left in image coordinates (y down)
    # start at the point with the smallest x + y (top-left)
    start = int(np.argmin(pts.sum(axis=1)))
    pts = np.roll(pts, -start, axis=0)
    top = np.linalg.norm(pts[1] - pts[0])
    side = np.linalg.norm(pts[3] - pts[0])
    if side > top * 1.15:  # portrait: rotate the order so the long side is on top
        pts = np.roll(pts, -1, axis=0)
    return pts


def _quad_score(quad: np.ndarray, image_area: float) -> float:
    q = order_corners(quad)
    w = (np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])) / 2
    h = (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2
    if h < 1 or w < 1:
        return 0.0
    aspect_err = abs(np.log((w / h) / CARD_ASPECT))
    area = cv2.contourArea(q.astype(np.float32))
    frac = area / image_area
    if frac < 0.04 or frac > 0.995:
        return 0.0
    return float(np.exp(-4 * aspect_err) * min(1.0, frac / 0.15))


def _candidates(gray: np.ndarray) -> list[np.ndarray]:
    quads: list[np.ndarray] = []
    med = float(np.median(gray))
    for lo, hi in ((0.5 * med, 1.2 * med), (20, 60), (40, 120)):
        edges = cv2.Canny(gray, lo, hi)
        edges = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        contours = sorted(contours, key=cv2.contourArea, reverse=True)[:8]
        for c in contours:
            hull = cv2.convexHull(c)
            peri = cv2.arcLength(hull, True)
            for eps in (0.02, 0.04):
                approx = cv2.approxPolyDP(hull, eps * peri, True)
                if len(approx) == 4:
                    quads.append(approx.reshape(4, 2).astype(np.float32))
                    break
            else:
                quads.append(cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float32))
    return quads


@LOCALIZERS.register("contour")
class ContourLocalizer:
    """Edges -> contours -> the most card-like convex quadrilateral; the full frame for flat scans."""

    def __init__(self, *, work_size: int = 640, min_score: float = 0.35) -> None:
        self.work_size = work_size
        self.min_score = min_score

    def __call__(self, image: np.ndarray) -> Localization | None:
        h, w = image.shape[:2]
        scale = self.work_size / max(h, w)
        small = cv2.resize(
            image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
        gray = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (5, 5), 0)
        area = float(small.shape[0] * small.shape[1])
        best, best_score = None, 0.0
        for q in _candidates(gray):
            s = _quad_score(q, area)
            if s > best_score:
                best, best_score = q, s
        full_aspect_err = abs(np.log((w / h) / CARD_ASPECT))
        big = best is not None and cv2.contourArea(best) > 0.6 * area
        if best is not None and best_score >= self.min_score and (big or full_aspect_err >= 0.05):
            return Localization(order_corners(best / scale), best_score, "contour")
        if full_aspect_err < 0.05:  # a flat scan: the card fills the frame
            corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
            return Localization(corners, float(np.exp(-4 * full_aspect_err)), "full_frame")
        return None


def rectify(image: np.ndarray, loc: Localization) -> np.ndarray:
    """Warp the card onto the canonical frame (CARD_SIZE)."""
    return cv2.warpPerspective(
        image, loc.homography(), CARD_SIZE, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
    )
