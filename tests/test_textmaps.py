"""Class-agnostic text maps: targets from line boxes, quads back from maps, composed-card batches."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from idsight.data.textmaps import INPUT_SIZE, STRIDE, ComposedTextMaps, split_stacked, text_map, text_quads


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(10, 500), st.integers(10, 300), st.integers(60, 300), st.integers(14, 40)),
        min_size=1,
        max_size=4,
    )
)
def test_map_and_quads_round_trip(specs: list[tuple[int, int, int, int]]) -> None:
    boxes, y = [], 10
    for x, _, w, h in specs:  # stacked lines with gaps, like a card's
        boxes.append([float(x), float(y), float(x + w), float(y + h)])
        y += h + max(8, h // 2)
    if y > INPUT_SIZE[1] or any(b[2] > INPUT_SIZE[0] - 4 for b in boxes):
        return
    target = text_map(boxes, INPUT_SIZE)
    assert target.shape == (INPUT_SIZE[1] // STRIDE, INPUT_SIZE[0] // STRIDE)
    quads = text_quads(target)
    assert len(quads) == len(boxes)
    found = sorted(([*q.min(0), *q.max(0)] for q, _ in quads), key=lambda b: b[1])
    for (x0, y0, x1, y1), (a, b, c, d) in zip(boxes, found, strict=True):
        tol = 0.15 * (y1 - y0) + 2 * STRIDE
        assert abs(a - x0) <= tol and abs(c - x1) <= tol and abs(b - y0) <= tol and abs(d - y1) <= tol


def test_composed_maps_batch_and_a_detector_learns_them() -> None:
    from idsight.models.detector import unet_tiny
    from idsight.tasks.detection import LineDetection

    ds = ComposedTextMaps(count=4, seed=11, doc_types=("td1", "kr-rrc"))
    x, y = ds[0]
    assert x.shape == (3, INPUT_SIZE[1], INPUT_SIZE[0]) and y.shape == (
        1,
        INPUT_SIZE[1] // 2,
        INPUT_SIZE[0] // 2,
    )
    assert 0.02 < float(y.mean()) < 0.5  # text covers some, not all, of a card
    assert torch.equal(ds[0][1], y)  # the same item for the same seed
    batch = ComposedTextMaps.collate([ds[i] for i in range(4)])
    torch.manual_seed(0)
    net, task = unet_tiny(num_classes=1), LineDetection(pos_weight=2.0)
    opt = torch.optim.AdamW(net.parameters(), lr=5e-3)
    losses = []
    for _ in range(25):
        out = task(net, batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"]))
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])


def test_height_scale_shrinks_each_line_about_its_centre() -> None:
    target = text_map([[100.0, 100.0, 400.0, 140.0]], INPUT_SIZE)
    (full, _), (half, _) = text_quads(target)[0], text_quads(target, height_scale=0.5)[0]
    h_full, h_half = np.ptp(full[:, 1]), np.ptp(half[:, 1])
    assert abs(h_half - 0.5 * h_full) <= STRIDE
    assert abs(full[:, 1].mean() - half[:, 1].mean()) <= 1.0  # about the same centre line
    assert abs(np.ptp(full[:, 0]) - np.ptp(half[:, 0])) <= 0.5 * h_full  # width barely moves


def test_stacked_lines_bridged_by_a_few_pixels_are_parted() -> None:
    boxes = [[40.0, 40.0 + 30 * i, 200.0, 56.0 + 30 * i] for i in range(4)]  # ordinary lines
    boxes += [[40.0, 200.0, 600.0, 216.0], [40.0, 222.0, 600.0, 238.0]]  # two close MRZ-like lines
    target = text_map(boxes, INPUT_SIZE)
    assert len(text_quads(target)) == 6
    bridged = target.copy()
    bridged[104:115, 22:26] = 0.9  # a few columns join the two close lines
    assert len(split_stacked((bridged > 0.4).astype(np.uint8), bridged).nonzero()[0]) > 0
    quads = text_quads(bridged)
    assert len(quads) == 6
    heights = sorted(float(np.ptp(q[:, 1])) for q, _ in quads)
    assert heights[-1] < 1.5 * heights[0]  # no box spans both lines


def test_a_tall_single_line_is_not_parted() -> None:
    boxes = [[40.0, 40.0 + 30 * i, 200.0, 56.0 + 30 * i] for i in range(4)] + [[40.0, 200.0, 600.0, 260.0]]
    target = text_map(boxes, INPUT_SIZE)
    target[110:120, 30:290] *= 0.8  # uneven, but no valley between two lines
    assert len(text_quads(target)) == 5
