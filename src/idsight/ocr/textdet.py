"""idsight's own class-agnostic text-line detector: the card's mask localiser, then a DBNet-style map
of every text line on the rectified card, and the lines' quadrilaterals mapped back into the photo.

Registered as the ``db`` text detector of the layout-free reader. Its networks are built from
(architecture, weights) records, so a one-file reader artifact carries them.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from idsight.data.textmaps import INPUT_SIZE, MEAN, STD, text_quads
from idsight.ocr.layoutfree import TEXT_DETECTORS, Quad, order_quad
from idsight.ocr.localize import MaskLocalizer
from idsight.ocr.predictor import to_tensor
from idsight.registry import MODELS


def build_net(arch: dict[str, Any], state: dict[str, torch.Tensor]) -> nn.Module:
    import idsight.models  # noqa: F401  (registers the builders)

    net = MODELS.build(arch["name"], **arch["kwargs"])
    net.load_state_dict(state)
    return net.eval()


def landscape(corners: np.ndarray) -> np.ndarray:
    """Card corners with the first side a long one, so the rectified card lies landscape."""
    c = np.asarray(corners, np.float32)
    if np.linalg.norm(c[1] - c[0]) < np.linalg.norm(c[3] - c[0]):
        c = np.roll(c, -1, axis=0)
    return c


@TEXT_DETECTORS.register("db")
class CardTextDetector:
    """``net``: the text-map network (input ``INPUT_SIZE``, one map at stride 2); ``localizer``: the
    card-mask network, or None to read the whole frame as the card (flat scans); ``threshold`` and
    ``height_scale``: see :func:`idsight.data.textmaps.text_quads`; ``mask_open``: the localiser's
    robust fit (``MaskLocalizer``'s ``open_frac``; 0 in files made before it); ``skew_limit``: lines
    tilted more than this (degrees, length-weighted median) on the rectified card mean wrong corners,
    and the localiser's alternatives are tried (0: never). Correct corners leave at most 0.3 degrees on
    generated train-pool photos; new assemblies take 2."""

    def __init__(
        self,
        *,
        net: nn.Module,
        localizer: nn.Module | None = None,
        threshold: float = 0.4,
        height_scale: float = 1.0,
        mask_open: float = 0.0,
        skew_limit: float = 0.0,
        threads: int = 1,
    ) -> None:
        self.net = net.eval()
        self.localizer = (
            MaskLocalizer(model=SimpleNamespace(localizer=localizer), open_frac=mask_open)
            if localizer is not None
            else None
        )
        self.threshold, self.height_scale, self.skew_limit = threshold, height_scale, skew_limit
        torch.set_num_threads(threads)

    def corners(self, image: np.ndarray) -> np.ndarray:
        return next(self._corner_options(image, others=False))

    def _corner_options(self, image: np.ndarray, *, others: bool) -> Iterator[np.ndarray]:
        """The localiser's corners; then (with ``others``, and computed only when asked for) its
        alternatives (the mask cut at other thresholds, the classical localiser); last, the whole
        frame."""
        h, w = image.shape[:2]
        if self.localizer is not None:
            first, rest = self.localizer.locate(image)
            if first is not None:
                yield landscape(first.corners)
            if others:
                yield from (landscape(o.corners) for o in rest)
        yield np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)

    @torch.inference_mode()
    def _detect(self, image: np.ndarray, src: np.ndarray) -> tuple[list[tuple[Quad, float]], float]:
        """Line quads (photo pixels) on the card rectified from corners ``src``, and the lines' skew:
        the length-weighted median tilt (degrees) of the long lines on the rectified card, which is
        near 0 when the corners are right and grows when a wrong corner shears the card."""
        w, h = INPUT_SIZE
        dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        m = cv2.getPerspectiveTransform(src, dst)
        card = cv2.warpPerspective(
            image, m, INPUT_SIZE, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
        )
        prob = self.net(to_tensor(card, MEAN, STD)[None])["maps"].sigmoid()[0, 0].numpy()
        inv = np.linalg.inv(m)
        out, tilts, weights = [], [], []
        for quad, score in text_quads(prob, threshold=self.threshold, height_scale=self.height_scale):
            back = cv2.perspectiveTransform(quad[None].astype(np.float32), inv)[0]
            out.append((back, score))
            a, b = quad[1] - quad[0], quad[2] - quad[1]
            la, lb = float(np.hypot(*a)), float(np.hypot(*b))
            edge, long_, short = (a, la, lb) if la >= lb else (b, lb, la)
            if long_ >= 4 * short:
                tilt = abs(float(np.degrees(np.arctan2(edge[1], edge[0]))))
                tilts.append(min(tilt, 180 - tilt))
                weights.append(long_)
        return out, _weighted_median(tilts, weights) if tilts else float("inf")

    def alternatives(self, image: np.ndarray, found: list[Quad]) -> Iterator[list[tuple[Quad, float]]]:
        """The lines of every other corner option (lazily), for a reader that read ``found`` (the
        lines of this detector's call) doubtfully; an option giving the same lines is skipped."""
        seen = np.asarray([order_quad(q) for q in found], np.float32)
        for src in self._corner_options(image, others=True):
            lines, _ = self._detect(image, src)
            quads = np.asarray([order_quad(q) for q, _ in lines], np.float32)
            if quads.shape == seen.shape and np.allclose(quads, seen, atol=0.5):
                continue
            yield lines

    def __call__(self, image: np.ndarray) -> list[tuple[Quad, float]]:
        """The lines of the first corners whose card is not sheared (``skew_limit`` degrees; 0 takes
        the first corners as they are); if none, of the least sheared."""
        tried: list[tuple[float, int, int, list[tuple[Quad, float]]]] = []
        for src in self._corner_options(image, others=self.skew_limit > 0):
            lines, skew = self._detect(image, src)
            if self.skew_limit <= 0 or skew <= self.skew_limit:
                return lines
            tried.append((skew, -len(lines), len(tried), lines))
        return min(tried, key=lambda t: t[:3])[3]


def _weighted_median(values: list[float], weights: list[float]) -> float:
    order = np.argsort(values)
    v, wt = np.asarray(values)[order], np.asarray(weights)[order]
    return float(v[np.searchsorted(np.cumsum(wt), 0.5 * wt.sum())])
