"""Class-agnostic text maps of composed cards, for a DBNet-style line detector.

Every line the card composer drew (values, labels, titles, MRZ, other text) becomes one shrunk
rectangle of 1s in a probability map at the detector's output stride; the detector learns where text
is, not which field it is. ``text_quads`` turns a predicted map back into line quadrilaterals by
growing each connected region by the same margin (the "unclip" of DBNet); ``split_stacked`` first
parts lines whose regions touch (two close MRZ lines bridged by a few pixels).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from idsight.ocr.predictor import to_tensor
from idsight.registry import DATASETS

INPUT_SIZE = (640, 416)  # (W, H) of the detector's input, rectified card or page; multiples of 32
STRIDE = 2
SHRINK = 0.25  # each side of a line box moves in by this fraction of the box height
MEAN, STD = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]


def text_map(
    boxes: list[list[float]], frame: tuple[int, int], *, size: tuple[int, int] = INPUT_SIZE
) -> np.ndarray:
    """The (H/stride, W/stride) float32 target for line ``boxes`` given in a ``frame`` (W, H)."""
    w, h = size[0] // STRIDE, size[1] // STRIDE
    sx, sy = w / frame[0], h / frame[1]
    out = np.zeros((h, w), np.float32)
    for x0, y0, x1, y1 in boxes:
        m = SHRINK * (y1 - y0)
        a, b = (x0 + m) * sx, (y0 + m) * sy
        c, d = (x1 - m) * sx, (y1 - m) * sy
        a, b, c, d = int(np.floor(a)), int(np.floor(b)), int(np.ceil(c)), int(np.ceil(d))
        out[max(0, b) : max(b + 1, d), max(0, a) : max(a + 1, c)] = 1.0
    return out


def split_stacked(mask: np.ndarray, prob: np.ndarray, *, valley: float = 0.35) -> np.ndarray:
    """``mask`` with stacked lines parted: a region at least twice as tall (plus 2) as the median
    region whose row profile (its map summed across its width) falls under ``valley`` of its peak
    between two rows of text loses those valley rows. A region of one line has no such valley (a
    tall title, a slightly tilted line), and is kept whole."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    if n <= 2:
        return mask
    heights = stats[1:, cv2.CC_STAT_HEIGHT]
    out = mask.copy()
    for i in np.nonzero(heights >= 2 * np.median(heights) + 2)[0] + 1:
        x, y, w, h = stats[i, :4]
        inside = labels[y : y + h, x : x + w] == i
        rows = np.where(inside, prob[y : y + h, x : x + w], 0.0).sum(1) / w
        text = np.nonzero(rows >= 0.5 * rows.max())[0]
        low = rows < valley * rows.max()
        low[: text[0]] = low[text[-1] + 1 :] = False  # only between rows of text
        if low.any():
            out[y : y + h, x : x + w][inside & low[:, None]] = 0
    return out


def text_quads(
    prob: np.ndarray, *, threshold: float = 0.4, min_area: int = 3, height_scale: float = 1.0
) -> list[tuple[np.ndarray, float]]:
    """Line quadrilaterals (input pixels) and mean scores from a probability map (H/stride, W/stride).
    ``height_scale`` scales each line's grown height: a map that spills over its shrunk core at
    ``threshold`` grows into boxes taller than the line, whose text the recogniser then sees small."""
    mask = split_stacked((prob > threshold).astype(np.uint8), prob)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    out = []
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] < min_area:
            continue
        ys, xs = np.nonzero(labels == i)
        pts = np.stack([xs, ys], -1).astype(np.float32) + 0.5
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(pts)
        if rw < rh:  # keep the long side as the width
            rw, rh, angle = rh, rw, angle + 90
        core_h = rh + 1.0  # pixel centres -> pixel extent
        full_h = height_scale * core_h / (1 - 2 * SHRINK)  # undo the shrink: the same margin on every side
        margin = (full_h - core_h) / 2
        rect = ((cx, cy), (rw + 1.0 + 2 * margin, full_h), angle)
        quad = cv2.boxPoints(rect).astype(np.float32) * STRIDE
        out.append((quad, float(prob[labels == i].mean())))
    return out


def collate_maps(items: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """``(image, target map)`` pairs -> the ``{"image", "maps"}`` batch that ``line_detection`` trains on."""
    return {"image": torch.stack([x for x, _ in items]), "maps": torch.stack([y for _, y in items])}


@DATASETS.register("composed_text_maps")
class ComposedTextMaps(Dataset):
    """Composed cards (``idsight.data.synth.compose``) of ``doc_types``, resized to the detector input,
    with a little of the misalignment a real rectification leaves (shift, scale, tilt) and photometric
    noise; ``(image tensor, text map)`` per index, the same for the same ``seed``."""

    def __init__(
        self,
        *,
        count: int,
        seed: int = 0,
        doc_types: tuple[str, ...] = ("kr-rrc", "td1", "td3"),
        design_pool: str = "train",
        font_pool: str = "train",
        jitter: float = 0.03,
    ) -> None:
        self.count, self.seed, self.doc_types = count, seed, tuple(doc_types)
        self.design_pool, self.font_pool, self.jitter = design_pool, font_pool, jitter

    def __len__(self) -> int:
        return self.count

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        from idsight.data.synth.compose import compose_card

        rng = np.random.default_rng([self.seed, i])
        doc = self.doc_types[int(rng.integers(len(self.doc_types)))]
        card = compose_card(doc, rng, design_pool=self.design_pool, font_pool=self.font_pool)
        w, h = card.size
        j = self.jitter
        src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        scale = np.array(INPUT_SIZE, np.float32) / np.array([w, h], np.float32)
        dst = (src * scale + rng.normal(0, j, (4, 2)) * np.array(INPUT_SIZE)).astype(np.float32)
        m = cv2.getPerspectiveTransform(src, dst)
        image = cv2.warpPerspective(card.image, m, INPUT_SIZE, borderMode=cv2.BORDER_REPLICATE)
        image = np.clip(image.astype(np.float32) * rng.uniform(0.7, 1.2) + rng.uniform(-30, 30), 0, 255)
        image = image.astype(np.uint8)
        if rng.random() < 0.4:
            image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.2))
        boxes = []
        for line in card.lines:
            x0, y0, x1, y1 = line["box"]
            corners = np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], np.float32)
            pts = cv2.perspectiveTransform(corners, m)[0]
            boxes.append([*pts.min(0).tolist(), *pts.max(0).tolist()])
        return image, text_map(boxes, INPUT_SIZE)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, target = self.sample(i)
        return to_tensor(image, MEAN, STD), torch.from_numpy(target)[None]

    collate = staticmethod(collate_maps)
