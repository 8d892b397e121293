"""The body of a card: field items (label + value lines) in rows of cells, sized to fit their box."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from idsight.data.synth.compose.content import Item
from idsight.data.synth.compose.fontpool import Face, face_for, printable
from idsight.data.synth.compose.painter import Box, Glyphs, Painter, render

MIN_VALUE_CAP = 11.0
MIN_LABEL_CAP = 11.0
LABEL_PITCH = 1.4  # label line pitch / label cap height
VALUE_PITCH = 1.45
LABEL_GAP = 0.35  # gap under the labels / value cap height


@dataclass
class Ink:
    """Faces and colours of a card's text."""

    value: Face
    label: Face
    title: Face
    signature: Face
    pool: str
    value_color: tuple[int, int, int]
    label_color: tuple[int, int, int]
    title_color: tuple[int, int, int]


@dataclass
class BodyStyle:
    mode: str  # above | beside | none
    columns: int
    value_cap: float
    label_cap: float
    justify: bool
    centred: bool
    tab: bool  # beside: values aligned in one column


def is_wide(item: Item) -> bool:
    """Addresses, issuers and long texts get a row of their own."""
    return item.wide or max(len(t) for t in item.lines) > 18


def rows_of(items: list[Item], columns: int) -> list[list[Item]]:
    rows: list[list[Item]] = []
    current: list[Item] = []
    for item in items:
        if is_wide(item) or columns == 1:
            if current:
                rows.append(current)
                current = []
            rows.append([item])
            continue
        current.append(item)
        if len(current) == columns:
            rows.append(current)
            current = []
    if current:
        rows.append(current)
    return rows


def _item_height(item: Item, mode: str, v: float, lab: float) -> float:
    values = (len(item.lines) - 1) * v * VALUE_PITCH + v * 1.25
    labels = len(item.labels) * lab * LABEL_PITCH if mode != "none" else 0.0
    if mode == "above" and labels:
        return labels + LABEL_GAP * v + values
    return max(labels, values)


def _total(rows: list[list[Item]], mode: str, v: float, lab: float) -> tuple[list[float], float]:
    heights = [max(_item_height(i, mode, v, lab) for i in row) for row in rows]
    return heights, sum(heights) + 0.6 * v * (len(rows) - 1)


def _sizes(rows: list[list[Item]], style: BodyStyle, height: float) -> tuple[float, float, float]:
    """Value and label cap heights that make the rows fill about 60-90 % of ``height``; the total."""
    v, lab = style.value_cap, style.label_cap
    ratio = lab / v
    for _ in range(8):
        _, total = _total(rows, style.mode, v, lab)
        if total > height * 0.92 and v > MIN_VALUE_CAP:
            factor = max(0.75, height * 0.9 / total)
        elif total < height * 0.72 and v < style.value_cap * 1.4:
            factor = min(1.2, height * 0.82 / total, style.value_cap * 1.4 / v)
        else:
            break
        v = max(MIN_VALUE_CAP, v * factor)
        lab = max(MIN_LABEL_CAP, v * ratio)
    return v, lab, _total(rows, style.mode, v, lab)[1]


def fit(
    items: list[Item], style: BodyStyle, width: float, height: float
) -> tuple[list[list[Item]], BodyStyle]:
    """Rows and text sizes that fit ``height``: text shrinks (down to 80 %) before another column is
    opened; past that, sizes shrink further and labelled extras are dropped."""
    items = list(items)
    columns = style.columns
    while True:
        rows = rows_of(items, columns)
        v, lab, total = _sizes(rows, style, height)
        if v < style.value_cap * 0.8 and columns < 3 and width / (columns + 1) >= 190:
            columns += 1
            continue
        extras = [i for i in items if i.field is None]
        if total <= height or not extras:
            return rows, BodyStyle(style.mode, columns, v, lab, style.justify, style.centred, style.tab)
        items.remove(extras[-1])


def layout_body(
    painter: Painter, items: list[Item], box: Box, style: BodyStyle, ink: Ink, rng: np.random.Generator
) -> tuple[list[Box], BodyStyle]:
    """Plan the items inside ``box``; returns each cell's box (for frames) and the style used."""
    x0, y0, x1, y1 = box
    rows, style = fit(items, style, x1 - x0, y1 - y0)
    v, lab, mode = style.value_cap, style.label_cap, style.mode
    heights, total = _total(rows, mode, v, lab)
    gap = 0.6 * v
    spare = max(0.0, (y1 - y0) - total)
    if style.justify and len(rows) > 1:
        step = min(spare / (len(rows) - 1), 2.5 * v)
        gap += step
        spare -= step * (len(rows) - 1)
    y = y0 + spare * float(rng.uniform(0.1, 0.6))
    col_gap = max(14.0, 1.2 * v)
    cell_w = (x1 - x0 - (style.columns - 1) * col_gap) / style.columns
    tab = 0.0
    if mode == "beside" and style.tab:
        widths = [render(*printable(t, ink.label, ink.pool), lab).w for i in items for t in i.labels]
        tab = min(max(widths, default=0) + 0.6 * v, 0.45 * (x1 - x0 if style.columns == 1 else cell_w))
    cells = []
    for row, row_h in zip(rows, heights, strict=True):
        width = (x1 - x0) if len(row) == 1 and (is_wide(row[0]) or style.columns == 1) else cell_w
        for k, item in enumerate(row):
            cx = x0 + k * (cell_w + col_gap)
            _item(painter, item, cx, y, width, style, ink, tab)
            cells.append((int(cx), int(y), int(cx + width), int(y + row_h)))
        y += row_h + gap
    return cells, style


def _below(cap_y: float, g: Glyphs, above: float | None, gap: float) -> float:
    """``cap_y``, moved down where ``g``'s ink (ascenders, accents) would come within ``gap`` of the
    ink bottom ``above`` of the line over it."""
    return cap_y if above is None else max(cap_y, above + gap - g.top)


def _item(
    painter: Painter, item: Item, x: float, y: float, width: float, style: BodyStyle, ink: Ink, tab: float
) -> None:
    v, lab, mode = style.value_cap, style.label_cap, style.mode
    role = "value" if item.field else "other"
    label_role = "label" if item.field else "other"
    align = "center" if style.centred and mode != "beside" else "left"
    vx, vw, vy = x, width, y
    labels = item.labels if mode != "none" else []
    above: float | None = None  # ink bottom of the line over the next one
    if mode == "above" and labels:
        for k, text in enumerate(labels):
            g = render(*printable(text, ink.label, ink.pool), lab, width)
            cap_y = _below(y + k * lab * LABEL_PITCH, g, above, 0.2 * lab)
            box = painter.place(
                g, x, cap_y, ink.label_color, label_role, item.field, align=align, width=width
            )
            above = box[3]
        vy = y + len(labels) * lab * LABEL_PITCH + LABEL_GAP * v
    elif mode == "beside" and labels:
        used = 0.0
        block = len(labels) * lab * LABEL_PITCH
        ly = y + v - lab if len(labels) == 1 else y + (v * 1.25 - block) / 2
        for k, text in enumerate(labels):
            max_w = tab - 0.5 * v if tab else 0.45 * width
            g = render(*printable(text, ink.label, ink.pool), lab, max_w)
            box = painter.place(
                g,
                x,
                _below(ly + k * lab * LABEL_PITCH, g, above, 0.2 * lab),
                ink.label_color,
                label_role,
                item.field,
            )
            above = box[3]
            used = max(used, g.w)
        indent = tab if tab else used + 0.6 * v
        vx, vw = x + indent, width - indent
        above = None
    for k, text in enumerate(item.lines):
        g = render(text, face_for(text, ink.value, ink.pool), v, vw)
        cap_y = _below(vy + k * v * VALUE_PITCH, g, above, 0.2 * v)
        box = painter.place(g, vx, cap_y, ink.value_color, role, item.field, align=align, width=vw)
        above = box[3]
