"""Card localisation and rectification (stage 1).

The classical localiser finds the card's four corners from edges and contours, then a
perspective warp maps them onto the canonical card frame. A learned localiser can be registered
under another name in ``LOCALIZERS`` and selected in the reader.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

from idsight.data.io import lut_planes, shrink
from idsight.registry import LOCALIZERS
from idsight.templates import CARD_SIZE

CARD_ASPECT = CARD_SIZE[0] / CARD_SIZE[1]
# the mask network's input normalisation, ``x / 127.5 - 1`` in float32, for every byte value
MASK_LUT = torch.arange(256, dtype=torch.float32).div(127.5).sub(1.0).expand(3, 256).numpy()


@dataclass
class Localization:
    corners: np.ndarray  # (4, 2) float32, TL TR BR BL in image pixels
    score: float  # 0..1: how card-like the found quadrilateral is
    method: str  # "mask", "mask@THR", "contour" or "full_frame"

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

    def __init__(self, *, model: Any = None, work_size: int = 640, min_score: float = 0.35) -> None:
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
    return _warp(image, loc.homography(), CARD_SIZE)


def _warp(image: np.ndarray, h: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    # (OpenCV's warps treat INTER_AREA as bilinear; the flag is kept so every warp here is the same)
    return cv2.warpPerspective(image, h, size, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


class CardView:
    """The rectified card without building it whole: what the reader needs is warped on demand.

    ``overview(size)`` is the card warped straight to a small size (for the networks that look at the
    whole card), and ``region(x0, y0, x1, y1)`` a full-resolution piece of the canonical frame, pixel
    for pixel what slicing :func:`rectify`'s output would give (up to OpenCV's fixed-point rounding).
    """

    def __init__(self, image: np.ndarray, loc: Localization) -> None:
        self.image = image
        self.h = loc.homography()
        self.size = CARD_SIZE
        self._overviews: dict[tuple[int, int], np.ndarray] = {}

    def overview(self, size: tuple[int, int]) -> np.ndarray:
        """The whole card at ``size`` (W, H), no larger than the canonical frame."""
        w, h = min(size[0], CARD_SIZE[0]), min(size[1], CARD_SIZE[1])
        if (w, h) not in self._overviews:
            scale = np.diag([w / CARD_SIZE[0], h / CARD_SIZE[1], 1.0])
            self._overviews[(w, h)] = _warp(self.image, scale @ self.h, (w, h))
        return self._overviews[(w, h)]

    def region(self, x0: int, y0: int, x1: int, y1: int, *, out: tuple[int, int] | None = None) -> np.ndarray:
        """Pixels ``[y0:y1, x0:x1]`` of the full-resolution rectified card, or that window warped
        straight to ``out`` (W, H) pixels."""
        w, h = max(1, x1 - x0), max(1, y1 - y0)
        sx, sy = (1.0, 1.0) if out is None else (out[0] / w, out[1] / h)
        # pixel centres map to pixel centres, as cv2.resize maps them (exactly a shift at scale 1)
        tx, ty = sx * (0.5 - x0) - 0.5, sy * (0.5 - y0) - 0.5
        shift = np.array([[sx, 0.0, tx], [0.0, sy, ty], [0.0, 0.0, 1.0]])
        return _warp(self.image, shift @ self.h, (w, h) if out is None else out)


def _fit_quad(contour: np.ndarray) -> np.ndarray:
    """The four-corner polygon that best follows a (convex) contour."""
    hull = cv2.convexHull(contour)
    peri = cv2.arcLength(hull, True)
    for eps in (0.01, 0.02, 0.03, 0.05, 0.08):
        approx = cv2.approxPolyDP(hull, eps * peri, True)
        if len(approx) == 4:
            return approx.reshape(4, 2).astype(np.float32)
        if len(approx) < 4:
            break
    return cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float32)


def _fit_sides(contour: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Refit each side of ``quad`` as a robust line through the contour points nearest to it
    (leaving out the rounded corners), and intersect neighbouring sides."""
    pts = contour.reshape(-1, 2).astype(np.float32)
    q = order_corners(quad)
    lines = []
    for i in range(4):
        a, b = q[i], q[(i + 1) % 4]
        d = b - a
        length = float(np.linalg.norm(d)) or 1.0
        d = d / length
        rel = pts - a
        t = rel @ d
        dist = np.abs(rel[:, 0] * d[1] - rel[:, 1] * d[0])
        sel = (t > 0.15 * length) & (t < 0.85 * length) & (dist < 0.08 * length)
        if sel.sum() < 5:
            return q
        lines.append(cv2.fitLine(pts[sel], cv2.DIST_HUBER, 0, 0.01, 0.01).ravel())
    out = q.copy()
    for i in range(4):
        p = _line_intersection(lines[(i - 1) % 4], lines[i])
        if p is None:
            return q
        out[i] = p
    return out


def _best_overlap(contour: np.ndarray, component: np.ndarray) -> np.ndarray:
    """Of the hull's four-corner polygon and the minimum-area rectangle of ``contour`` (each also with
    its sides refitted), the quadrilateral whose area best overlaps ``component`` (IoU)."""
    fits = [_fit_quad(contour), cv2.boxPoints(cv2.minAreaRect(contour)).astype(np.float32)]
    fits += [_fit_sides(contour, q) for q in fits]

    def iou(q: np.ndarray) -> float:
        poly = np.zeros_like(component)
        cv2.fillPoly(poly, [np.round(q * 4).astype(np.int32)], 1, shift=2)
        return float((poly & component).sum()) / max(1.0, float((poly | component).sum()))

    return max(fits, key=iou)


def _line_intersection(l1: np.ndarray, l2: np.ndarray) -> np.ndarray | None:
    (vx1, vy1, x1, y1), (vx2, vy2, x2, y2) = l1, l2
    a = np.array([[vx1, -vx2], [vy1, -vy2]], dtype=np.float64)
    if abs(np.linalg.det(a)) < 1e-6:
        return None
    t = np.linalg.solve(a, np.array([x2 - x1, y2 - y1], dtype=np.float64))
    return np.array([x1 + t[0] * vx1, y1 + t[0] * vy1], dtype=np.float32)


class EdgeImage:
    """The lightly smoothed grey image :func:`refine_quad` samples (grey, then a 3x3 Gaussian), made
    only around the points asked for: a card's four edge bands are a small part of a photo, and
    converting and smoothing all of it cost the reader about a millisecond per card.

    ``sample`` gives exactly what ``cv2.remap`` of the whole smoothed image gives (replicated
    border): each window keeps a 3-pixel margin, so the smoothing inside it sees the same
    neighbours, and a window is cut at the image's border only where the points reach it.
    """

    def __init__(self, image: np.ndarray) -> None:
        self.image = image
        self.shape: tuple[int, int] = (image.shape[0], image.shape[1])

    def smoothed(self, piece: np.ndarray) -> np.ndarray:
        grey = piece if piece.ndim == 2 else cv2.cvtColor(piece, cv2.COLOR_RGB2GRAY)
        return cv2.GaussianBlur(grey, (3, 3), 0)

    def sample(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Bilinear samples at ``(xs, ys)`` (float32 arrays of one shape), borders replicated."""
        h, w = self.shape
        x0, x1 = _window(float(xs.min()), float(xs.max()), w)
        y0, y1 = _window(float(ys.min()), float(ys.max()), h)
        piece = self.smoothed(self.image[y0:y1, x0:x1])
        return cv2.remap(piece, xs - x0, ys - y0, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _window(lo: float, hi: float, size: int) -> tuple[int, int]:
    """``[a, b)`` holding pixels ``floor(lo) - 3 .. floor(hi) + 4`` (clipped), at least 4 wide."""
    a = max(0, min(int(np.floor(lo)) - 3, size - 4))
    b = min(size, max(int(np.floor(hi)) + 5, a + 4))
    return a, b


def refine_quad(gray: np.ndarray | EdgeImage, quad: np.ndarray, band: float, samples: int = 48) -> np.ndarray:
    """Move each side of ``quad`` onto the strongest straight edge within ``band`` pixels.

    Along each side, intensity profiles are taken across it; the edge point is where the profile
    changes most (with one polarity per side), and a robust line is fitted to those points.
    Sides that lie on the image border (flat scans) stay where they are. ``gray``: a grey image
    (sampled as it is) or an :class:`EdgeImage` (smoothed grey, made where sampled).
    """
    h, w = gray.shape[:2]
    q = order_corners(quad)
    lines = []
    offs = np.linspace(-band, band, int(2 * band) + 1)
    for i in range(4):
        a, b = q[i], q[(i + 1) % 4]
        d = b - a
        length = float(np.linalg.norm(d))
        if length < 8:
            return q
        d /= length
        n = np.array([-d[1], d[0]], dtype=np.float32)
        ts = np.linspace(0.08, 0.92, samples)
        pts = a[None] + ts[:, None] * (b - a)[None]
        grid = pts[:, None, :] + offs[None, :, None] * n[None, None, :]
        on_border = np.all(
            (grid[:, [0, -1], 0] < 2)
            | (grid[:, [0, -1], 0] > w - 3)
            | (grid[:, [0, -1], 1] < 2)
            | (grid[:, [0, -1], 1] > h - 3)
        )
        gx, gy = grid[..., 0].astype(np.float32), grid[..., 1].astype(np.float32)
        if isinstance(gray, EdgeImage):
            prof = gray.sample(gx, gy)
        else:
            prof = cv2.remap(gray, gx, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        der = np.diff(prof.astype(np.float32), axis=1)
        # prefer edges near the coarse side: text and background edges lie further away
        mids = (offs[:-1] + offs[1:]) / 2
        prior = np.exp(-0.5 * (mids / (0.5 * band)) ** 2)[None]
        sign = 1.0 if np.abs(der.max(axis=1)).sum() >= np.abs(der.min(axis=1)).sum() else -1.0
        k = np.argmax(sign * der * prior, axis=1)
        strength = (sign * der)[np.arange(len(k)), k]
        keep = strength > max(4.0, 0.35 * float(np.median(strength)))
        if on_border or keep.sum() < samples // 4:
            lines.append(cv2.fitLine(pts.astype(np.float32), cv2.DIST_L2, 0, 0.01, 0.01).ravel())
            continue
        edge = pts[keep] + ((offs[k[keep]] + offs[k[keep] + 1]) / 2)[:, None] * n[None]
        lines.append(cv2.fitLine(edge.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel())
    out = q.copy()
    for i in range(4):
        p = _line_intersection(lines[(i - 1) % 4], lines[i])
        if p is not None and np.linalg.norm(p - q[i]) < 2.5 * band:
            out[i] = p
    return out


def locate(localizer: Any, image: np.ndarray) -> tuple[Localization | None, Iterator[Localization]]:
    """``localizer.locate(image)`` where it has one; otherwise its call, and its ``alternatives``
    (if any) called only once the iterator is read."""
    if hasattr(localizer, "locate"):
        return localizer.locate(image)

    def alternatives() -> Iterator[Localization]:
        yield from getattr(localizer, "alternatives", lambda _: [])(image)

    return localizer(image), alternatives()


@LOCALIZERS.register("mask")
class MaskLocalizer:
    """A learned card mask (the reader's ``localizer`` network) -> quadrilateral -> edge refinement.

    ``alternatives`` gives other readings of the same image (the mask cut at other thresholds, and
    the classical contour localiser) for the reader to try when the first quadrilateral does not
    look like a card to its classifier: glare can merge a corner with the background, or hide one.

    ``open_frac`` > 0 fits robustly: the mask is first opened with a disc of that fraction of its
    shorter side (cutting off bright background that the mask let in beside the card), and of the
    hull's four-corner polygon and the minimum-area rectangle, each with its sides refitted, the one
    that best overlaps the opened mask is kept. 0 fits the plain mask's hull (the card readers).
    """

    def __init__(
        self,
        *,
        model: Any,
        size: tuple[int, int] = (256, 160),
        thr: float = 0.5,
        alt_thrs: tuple[float, ...] = (0.7, 0.3, 0.85),
        min_area: float = 0.02,
        band: float = 1.0,
        open_frac: float = 0.0,
    ) -> None:
        if model is None or not hasattr(model, "localizer"):
            raise ValueError("the mask localiser needs a reader model with a 'localizer' network")
        self.net = model.localizer
        self.size = size
        self.thr = thr
        self.alt_thrs = alt_thrs
        self.min_area = min_area
        self.band = band  # edge search half-width, in mask pixels
        self.open_frac = open_frac
        self.contour = ContourLocalizer()

    @torch.inference_mode()
    def _prob(self, image: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(lut_planes(shrink(image, self.size), MASK_LUT))[None]
        return self.net(x)["maps"].sigmoid()[0, 0].numpy()

    def __call__(self, image: np.ndarray) -> Localization | None:
        return self.locate(image)[0]

    def alternatives(self, image: np.ndarray) -> list[Localization]:
        return list(self.locate(image)[1])

    def locate(self, image: np.ndarray) -> tuple[Localization | None, Iterator[Localization]]:
        """The quadrilateral, and the alternatives as a lazy iterator that reuses this call's mask
        and edge image (a reader asks for them only on a doubtful card)."""
        gray, prob = EdgeImage(image), self._prob(image)

        def alternatives() -> Iterator[Localization]:
            for t in self.alt_thrs:
                if (loc := self._fit(gray, prob, t)) is not None:
                    yield loc
            if (loc := self.contour(image)) is not None:
                yield loc

        return self._fit(gray, prob, self.thr), alternatives()

    def _fit(self, gray: EdgeImage, prob: np.ndarray, thr: float) -> Localization | None:
        """The quadrilateral of the mask cut at ``thr``, refined on the image's edges (``gray``)."""
        h, w = gray.shape[:2]
        mask: np.ndarray = (prob > thr).astype(np.uint8)
        if self.open_frac > 0:
            d = max(3, round(self.open_frac * min(mask.shape))) | 1
            mask = cv2.morphologyEx(
                mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d))
            )
        n, lab, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if n < 2:
            return None
        k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        if stats[k, cv2.CC_STAT_AREA] < self.min_area * mask.size:
            return None
        component = (lab == k).astype(np.uint8)
        contours, _ = cv2.findContours(component, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        sx, sy = w / prob.shape[1], h / prob.shape[0]
        contour = max(contours, key=cv2.contourArea).astype(np.float32) + 0.5
        if self.open_frac > 0:
            quad = _best_overlap(contour, component) * np.array([sx, sy], np.float32)
        else:
            contour[..., 0] *= sx
            contour[..., 1] *= sy
            quad = _fit_sides(contour, _fit_quad(contour))
        quad = order_corners(np.clip(quad, 0, [w, h]))
        quad = refine_quad(gray, quad, band=self.band * max(sx, sy))
        score = float(prob[component > 0].mean())
        method = "mask" if thr == self.thr else f"mask@{thr:g}"
        return Localization(quad, score, method)
