"""idsight's own class-agnostic text-line detector: the card's mask localiser, then a DBNet-style map
of every text line on the rectified card, and the lines' quadrilaterals mapped back into the photo.

Registered as the ``db`` text detector of the layout-free reader. Its networks are built from
(architecture, weights) records, so a one-file reader artifact carries them.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from idsight.data.textmaps import INPUT_SIZE, MEAN, STD, text_quads
from idsight.ocr.layoutfree import TEXT_DETECTORS, Quad
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
    robust fit (``MaskLocalizer``'s ``open_frac``; 0 in files made before it)."""

    def __init__(
        self,
        *,
        net: nn.Module,
        localizer: nn.Module | None = None,
        threshold: float = 0.4,
        height_scale: float = 1.0,
        mask_open: float = 0.0,
        threads: int = 1,
    ) -> None:
        self.net = net.eval()
        self.localizer = (
            MaskLocalizer(model=SimpleNamespace(localizer=localizer), open_frac=mask_open)
            if localizer is not None
            else None
        )
        self.threshold, self.height_scale = threshold, height_scale
        torch.set_num_threads(threads)

    def corners(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        loc = self.localizer(image) if self.localizer is not None else None
        if loc is None:
            return np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        return landscape(loc.corners)

    @torch.inference_mode()
    def __call__(self, image: np.ndarray) -> list[tuple[Quad, float]]:
        src = self.corners(image)
        w, h = INPUT_SIZE
        dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        m = cv2.getPerspectiveTransform(src, dst)
        card = cv2.warpPerspective(
            image, m, INPUT_SIZE, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
        )
        prob = self.net(to_tensor(card, MEAN, STD)[None])["maps"].sigmoid()[0, 0].numpy()
        inv = np.linalg.inv(m)
        out = []
        for quad, score in text_quads(prob, threshold=self.threshold, height_scale=self.height_scale):
            back = cv2.perspectiveTransform(quad[None].astype(np.float32), inv)[0]
            out.append((back, score))
        return out
