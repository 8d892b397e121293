"""Card masks of composed scenes, for the card localiser of the layout-free reader.

Each sample is a composed card (``idsight.data.synth.compose``, train design and font pools by
default) placed in a scene: a photo, a white card on a white desk, or a flat scan that fills the
frame. The input is the scene shrunk to the localiser's size, as ``MaskLocalizer`` feeds it; the
target is the card's quadrilateral filled in at the network's output stride.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from idsight.data.io import lut_planes, shrink
from idsight.data.textmaps import collate_maps
from idsight.ocr.localize import MASK_LUT
from idsight.registry import DATASETS

SIZE = (256, 160)  # (W, H): MaskLocalizer's input
STRIDE = 2


def card_mask(corners: np.ndarray, frame: tuple[int, int], *, size: tuple[int, int] = SIZE) -> np.ndarray:
    """The (H/stride, W/stride) float32 target: 1 inside the card ``corners`` of a ``frame`` (W, H)."""
    w, h = size[0] // STRIDE, size[1] // STRIDE
    pts = np.asarray(corners, np.float64) * np.array([w / frame[0], h / frame[1]])
    out = np.zeros((h, w), np.uint8)
    cv2.fillPoly(out, [np.round(pts * 4).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=2)
    return out.astype(np.float32)


@DATASETS.register("composed_card_masks")
class ComposedCardMasks(Dataset):
    """``(image tensor, mask)`` per index, the same for the same ``seed``; ``photo_fraction`` of the
    scenes are photos, ``white_fraction`` of those white cards on white desks, the rest flat scans."""

    def __init__(
        self,
        *,
        count: int,
        seed: int = 0,
        doc_types: tuple[str, ...] = ("kr-rrc", "td1", "td3"),
        design_pool: str = "train",
        font_pool: str = "train",
        photo_fraction: float = 0.85,
        white_fraction: float = 0.3,
    ) -> None:
        self.count, self.seed, self.doc_types = count, seed, tuple(doc_types)
        self.design_pool, self.font_pool = design_pool, font_pool
        self.photo_fraction, self.white_fraction = photo_fraction, white_fraction

    def __len__(self) -> int:
        return self.count

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """The scene (RGB, as ``idsight.data.io.load_image`` gives a photo) and its mask target."""
        from idsight.data.synth.compose.writer import compose_sample

        doc = self.doc_types[i % len(self.doc_types)]
        _, placed = compose_sample(
            doc, self.seed, i, design_pool=self.design_pool, font_pool=self.font_pool,
            photo_fraction=self.photo_fraction, white_fraction=self.white_fraction, rotate_fraction=0.1,
        )  # fmt: skip
        image = placed.image
        h, w = image.shape[:2]
        return image, card_mask(placed.corners, (w, h))

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, target = self.sample(i)
        return torch.from_numpy(lut_planes(shrink(image, SIZE), MASK_LUT)), torch.from_numpy(target)[None]

    collate = staticmethod(collate_maps)
