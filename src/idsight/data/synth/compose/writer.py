"""``write_composed``: a deterministic data set of composed cards (images + ``labels.jsonl``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from idsight.data.synth.compose.card import compose_card
from idsight.data.synth.compose.model import DOC_TYPES, ComposedCard, check_doc_type, check_pool
from idsight.data.synth.compose.scenes import Placed, place_card
from idsight.errors import UnknownNameError

_SALT = 0x636F6D70  # keeps these streams apart from the fixed-layout writer's ``card_rng``


def compose_rng(seed: int, index: int, doc_type: str, stream: int) -> np.random.Generator:
    """Generator of image ``index`` (stream 0: the card, 1: the scene); independent of count and order."""
    return np.random.default_rng([seed, index, DOC_TYPES.index(doc_type), stream, _SALT])


def _pts(points: np.ndarray) -> list[list[float]]:
    return [[round(float(x), 2), round(float(y), 2)] for x, y in points]


def record(card: ComposedCard, placed: Placed) -> dict[str, Any]:
    """The ground truth of one image (without ``image``, ``index`` and ``seed``)."""
    lines = [
        dict(line, box=[int(v) for v in line["box"]], quad=_pts(q))
        for line, q in zip(card.lines, placed.quads, strict=True)
    ]
    return {
        "doc_type": card.doc_type,
        "family": card.design["family"],
        "design": card.design,
        "fonts": card.fonts,
        "scene": placed.kind,
        "background": placed.background,
        "rotation": placed.rotation,
        "image_size": [int(placed.image.shape[1]), int(placed.image.shape[0])],
        "card_size": list(card.size),
        "corners": _pts(placed.corners),
        "fields": dict(card.values),
        "lines": lines,
    }


def compose_sample(
    doc_type: str,
    seed: int,
    index: int,
    *,
    design_pool: str = "train",
    font_pool: str = "train",
    photo_fraction: float = 0.5,
    white_fraction: float = 0.15,
    rotate_fraction: float = 0.1,
) -> tuple[ComposedCard, Placed]:
    """Image ``index`` of a set: its card and scene (what ``write_composed`` writes)."""
    scene_rng = compose_rng(seed, index, doc_type, 1)
    kind = "flat"
    if scene_rng.random() < photo_fraction:
        kind = "white-desk" if scene_rng.random() < white_fraction else "photo"
    card_rng = compose_rng(seed, index, doc_type, 0)
    paper = "white" if kind == "white-desk" else None
    card = compose_card(doc_type, card_rng, design_pool=design_pool, font_pool=font_pool, paper=paper)
    return card, place_card(card, scene_rng, kind=kind, rotate_fraction=rotate_fraction)


def write_composed(
    doc_types: Sequence[str],
    count: int,
    out_dir: str | Path,
    *,
    seed: int = 0,
    design_pool: str = "train",
    font_pool: str = "train",
    photo_fraction: float = 0.5,
    white_fraction: float = 0.15,
    rotate_fraction: float = 0.1,
) -> Path:
    """Write ``count`` images (document types in turn) and ``labels.jsonl`` to ``out_dir``; photos as
    JPEG (quality 90), flat scans as PNG. Same arguments, same bytes. Returns the labels path."""
    if not doc_types:
        raise UnknownNameError(f"no document type given (known: {', '.join(DOC_TYPES)})")
    for doc in doc_types:
        check_doc_type(doc)
    check_pool(design_pool, "design")
    check_pool(font_pool, "font")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels = out / "labels.jsonl"
    with labels.open("w", encoding="utf-8") as fh:
        for index in range(count):
            doc = doc_types[index % len(doc_types)]
            card, placed = compose_sample(
                doc, seed, index, design_pool=design_pool, font_pool=font_pool, photo_fraction=photo_fraction,
                white_fraction=white_fraction, rotate_fraction=rotate_fraction,
            )  # fmt: skip
            flat = placed.kind == "flat"
            name = f"{index:06d}.{'png' if flat else 'jpg'}"
            params = [cv2.IMWRITE_PNG_COMPRESSION, 3] if flat else [cv2.IMWRITE_JPEG_QUALITY, 90]
            cv2.imwrite(str(out / name), placed.image[:, :, ::-1], params)
            rec = {"image": name, "seed": seed, "index": index} | record(card, placed)
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return labels
