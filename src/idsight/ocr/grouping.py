"""Which text lines belong to which card, when a photo shows more than one.

Lines of one card lie close together; two cards are parted by background. ``card_groups`` links two
lines when their boxes come within ``gap`` line heights of each other (single linkage), merges groups
whose boxes overlap (the columns of one layout), and returns the groups, the largest box first. A group counts as a card only with at least ``min_lines`` lines;
smaller groups (a stray caption, a sticker) stay with the nearest card, so that a single card is
never split by a sparse region.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Box = tuple[float, float, float, float]


def _box(quad: np.ndarray) -> Box:
    q = np.asarray(quad, dtype=np.float64).reshape(-1, 2)
    return float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()), float(q[:, 1].max())


def _gap(a: Box, b: Box) -> float:
    dx = max(0.0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0.0, max(a[1], b[1]) - min(a[3], b[3]))
    return float(np.hypot(dx, dy))


def _union(boxes: Sequence[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _merge_overlapping(groups: list[list[int]], boxes: Sequence[Box]) -> list[list[int]]:
    """Groups whose boxes overlap are one card (the columns of one layout); two cards do not overlap."""
    merged = True
    while merged:
        merged = False
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                ua, ub = _union([boxes[i] for i in groups[a]]), _union([boxes[i] for i in groups[b]])
                if ua[0] < ub[2] and ub[0] < ua[2] and ua[1] < ub[3] and ub[1] < ua[3]:
                    groups[a] = groups[a] + groups.pop(b)
                    merged = True
                    break
            if merged:
                break
    return groups


def card_groups(quads: Sequence[np.ndarray], *, gap: float = 5.0, min_lines: int = 4) -> list[list[int]]:
    """Indices of ``quads`` per card, the card with the largest box first (one group for one card)."""
    n = len(quads)
    if n < 2 * min_lines:
        return [list(range(n))]
    boxes = [_box(q) for q in quads]
    height = float(np.median([min(b[2] - b[0], b[3] - b[1]) for b in boxes]))
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if _gap(boxes[i], boxes[j]) <= gap * height:
                parent[find(i)] = find(j)
    found: dict[int, list[int]] = {}
    for i in range(n):
        found.setdefault(find(i), []).append(i)
    groups = _merge_overlapping(list(found.values()), boxes)
    cards = [g for g in groups if len(g) >= min_lines]
    if len(cards) < 2:
        return [list(range(n))]
    for g in groups:  # small groups join the nearest card
        if len(g) < min_lines:
            near = min(
                cards, key=lambda c: _gap(_union([boxes[i] for i in g]), _union([boxes[i] for i in c]))
            )
            near.extend(g)

    def area(g: list[int]) -> float:
        b = _union([boxes[i] for i in g])
        return (b[2] - b[0]) * (b[3] - b[1])

    return [sorted(g) for g in sorted(cards, key=area, reverse=True)]


def group_box(quads: Sequence[np.ndarray], group: Sequence[int]) -> list[int]:
    """The axis-aligned box of a group's lines, in whole pixels."""
    b = _union([_box(quads[i]) for i in group])
    return [int(b[0]), int(b[1]), int(np.ceil(b[2])), int(np.ceil(b[3]))]
