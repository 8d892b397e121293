"""Writing a deterministic synthetic data set: images plus ``labels.jsonl``."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from idsight.data.synth.render import render_card
from idsight.templates import TEMPLATE_NAMES, Template, get_template


def cards_complete(out_dir: str | Path, count: int) -> bool:
    """Whether ``out_dir`` already holds a written set of ``count`` cards (its ``labels.jsonl``)."""
    f = Path(out_dir) / "labels.jsonl"
    if not f.is_file():
        return False
    with f.open(encoding="utf-8") as fh:
        return sum(1 for _ in fh) == count


def card_rng(seed: int, index: int, template: str) -> np.random.Generator:
    """The generator of image ``index``: independent of count and order, disjoint across seeds."""
    return np.random.default_rng([seed, index, TEMPLATE_NAMES.index(template)])


def write_cards(
    template: Template | str,
    count: int,
    out_dir: str | Path,
    *,
    photo: bool = False,
    seed: int = 0,
    font_pool: str = "train",
) -> Path:
    """Render ``count`` cards into ``out_dir`` (``000000.jpg`` / ``.png`` ...) and ``labels.jsonl``.

    Photos are written as JPEG (quality 90), flat scans as PNG. Returns the labels path.
    """
    name = template if isinstance(template, str) else template.name
    get_template(name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels = out / "labels.jsonl"
    with labels.open("w", encoding="utf-8") as fh:
        for index in range(count):
            image, record = render_card(name, card_rng(seed, index, name), photo=photo, font_pool=font_pool)
            file_name = f"{index:06d}.{'jpg' if photo else 'png'}"
            params = [cv2.IMWRITE_JPEG_QUALITY, 90] if photo else [cv2.IMWRITE_PNG_COMPRESSION, 3]
            cv2.imwrite(str(out / file_name), image[:, :, ::-1], params)
            record = {"image": file_name, "seed": seed, "index": index} | record
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return labels
