"""``render_card``: one synthetic card image with its ground-truth record (docs/design.md)."""

from __future__ import annotations

import numpy as np

from idsight.data.synth.card import CardRender, render_canonical
from idsight.data.synth.scene import CARD_CORNERS, Scene, apply_homography, flat_scan, photo_scene
from idsight.templates import Template, get_template


def _round(points: np.ndarray) -> list[list[float]]:
    return [[round(float(x), 2), round(float(y), 2)] for x, y in points]


def box_corners(box: list[int] | tuple[int, ...]) -> np.ndarray:
    """TL, TR, BR, BL of an axis-aligned ``[x0, y0, x1, y1]`` box."""
    x0, y0, x1, y1 = box
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def build_record(template: Template, card: CardRender, scene: Scene, *, photo: bool) -> dict:
    """The ground-truth record (without ``image``, ``index`` and ``seed``, which the writer adds)."""
    h = scene.homography
    lines, quads = {}, {}
    for key, (text, box) in card.lines.items():
        quads[key] = apply_homography(h, box_corners(box))
        lines[key] = {"text": text, "box": [int(v) for v in box], "quad": _round(quads[key])}
    field_boxes = {}
    for spec in template.fields:
        present = [quads[k] for k in spec.lines if k in quads]
        pts = np.concatenate(present)
        field_boxes[spec.name] = [round(float(v), 2) for v in (*pts.min(axis=0), *pts.max(axis=0))]
    return {
        "template": template.name,
        "photo": photo,
        "image_size": [int(scene.image.shape[1]), int(scene.image.shape[0])],
        "corners": _round(apply_homography(h, CARD_CORNERS)),
        "fields": dict(card.values.fields),
        "lines": lines,
        "field_boxes": field_boxes,
        "style": card.style | {"background": scene.background},
    }


def render_card(
    template: Template | str,
    rng: np.random.Generator,
    *,
    photo: bool = False,
    font_pool: str = "train",
    edge_cases: float = 0.15,
) -> tuple[np.ndarray, dict]:
    """Render one card: (HxWx3 uint8 RGB image, ground-truth record).

    ``photo=False`` gives a flat scan (corners = image corners); ``photo=True`` composites the card
    onto a background with perspective and camera degradations. The rectified card is drawn before
    any scene randomness is drawn, so the same ``rng`` state gives the same card in both modes.
    """
    tpl = get_template(template) if isinstance(template, str) else template
    card = render_canonical(tpl, rng, font_pool=font_pool, edge_cases=edge_cases)
    scene = photo_scene(card.image, rng) if photo else flat_scan(card.image, rng)
    return scene.image, build_record(tpl, card, scene, photo=photo)
