"""Write every stage's output for one read, for a person to look at (``idsight read --inspect DIR``)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from idsight.ocr.localize import Localization, rectify
from idsight.ocr.predictor import ReadResult


def write_inspection(image: np.ndarray, res: ReadResult, out_dir: Path) -> list[Path]:
    """Corners + field boxes + character cuts drawn on the input, the rectified card, and a JSON of
    each stage's output (localisation, per-line text with per-character spans and alternatives)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(res.image).stem
    vis = image.copy()
    corners = np.asarray(res.corners, dtype=np.float32)
    t = max(2, round(max(image.shape[:2]) / 500))
    cv2.polylines(vis, [corners.astype(np.int32)], True, (0, 200, 0), t)
    for line in res.lines.values():
        if line.box is None:
            continue
        x0, y0, x1, y1 = (int(round(v)) for v in line.box)
        cv2.rectangle(vis, (x0, y0), (x1, y1), (230, 40, 40), t)
        for c in line.chars:  # the character segmentation from the CTC alignment
            cv2.line(vis, (int(c.x0), y1), (int(c.x0), y1 + 3 * t), (40, 40, 230), max(1, t // 2))
    card = rectify(image, Localization(corners, 1.0, "given"))
    paths = [
        out_dir / f"{stem}.stages.png",
        out_dir / f"{stem}.rectified.png",
        out_dir / f"{stem}.stages.json",
    ]
    cv2.imwrite(str(paths[0]), cv2.cvtColor(vis, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(paths[1]), cv2.cvtColor(card, cv2.COLOR_RGB2BGR))
    doc = {
        **res.to_dict(),
        "corners": res.corners,
        "lines": {k: {n: x for n, x in asdict(v).items() if n != "crop"} for k, v in res.lines.items()},
    }
    paths[2].write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return paths
