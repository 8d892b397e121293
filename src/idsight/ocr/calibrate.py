"""Calibrate a layout-free reader's text detector on generated cards of the train pools.

A DBNet-style map thresholded at 0.4 spills over the shrunk core of each line, so the grown boxes come
out taller than the line and the recogniser sees its text small. ``calibrate_detector`` reads composed
cards of the *train* design and font families (never held-out designs, never foreign cards) with each
``height_scale`` in turn, keeps the one that reads the most fields exactly, and stores it, with the
whole sweep, in the reader file's header.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from idsight.errors import BadModelError, IdsightError

SCALES = (0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9, 1.0)


def field_exact(reader: Any, folder: Path) -> float:
    """The share of fields ``reader`` reads exactly on a folder that ``write_composed`` wrote."""
    from idsight.data.io import load_image
    from idsight.errors import NoCardError
    from idsight.metrics import field_match

    rows = [json.loads(x) for x in (folder / "labels.jsonl").read_text("utf-8").splitlines() if x]
    good = total = 0
    for row in rows:
        image = load_image(folder / row["image"])
        try:
            got = {k: v["text"] for k, v in reader.read(image, name=row["image"]).fields.items()}
        except NoCardError:
            got = {}
        for k, want in row["fields"].items():
            good += field_match(k, got.get(k), want)
            total += 1
    return good / max(1, total)


def calibrate_detector(
    path: str | Path,
    *,
    scales: Sequence[float] = SCALES,
    count: int = 12,
    seed: int = 4242,
    command: str | None = None,
) -> dict[str, Any]:
    """Sweep ``height_scale`` on ``count`` composed train-pool cards per document type and store the
    best in the reader file at ``path`` (``command``, the command that calibrated it, is appended to the
    file's ``commands``). Returns the calibration record."""
    from idsight.artifact import load_artifact, save_artifact
    from idsight.data.synth.compose import DOC_TYPES, write_composed
    from idsight.ocr.layoutfree import load_line_reader

    reader = load_line_reader(path)
    detector = reader.detector
    if not hasattr(detector, "height_scale"):
        raise BadModelError("its text detector has no height scale to calibrate (PP-OCR's?)", path=path)
    if not scales or any(not 0.1 <= s <= 2.0 for s in scales):
        raise IdsightError(f"height scales must lie in [0.1, 2.0], got {list(scales)}")
    sweep: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_composed(list(DOC_TYPES), len(DOC_TYPES) * count, folder, seed=seed)
        for s in scales:
            detector.height_scale = float(s)
            sweep[f"{s:g}"] = round(field_exact(reader, folder), 4)
    best = max(scales, key=lambda s: (sweep[f"{s:g}"], -abs(s - 1.0)))
    record = {
        "height_scale": float(best),
        "field_exact": sweep,
        "set": f"composed cards, train design and font pools, {count} per document type, seed {seed} (generated)",
    }
    state, meta = load_artifact(path)
    det = dict(meta["detector"])
    det["kwargs"] = {**det.get("kwargs", {}), "height_scale": float(best)}
    meta = {**meta, "detector": det, "calibration": {**meta.get("calibration", {}), "detector": record}}
    if command:
        meta["commands"] = [*meta.get("commands", []), command]
    save_artifact(path, state, meta, dtype=str(meta.pop("storage_dtype", "float32")))
    return record
