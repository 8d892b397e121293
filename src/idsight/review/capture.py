"""From reads to the store, and from reviews back to training lines.

``capture`` stores a :class:`~idsight.ocr.predictor.ReadResult` with the recogniser's line crops (what
training from reviews needs) and, per field, the line texts the model read. ``line_targets`` turns a
reviewed read into one target text per line crop: a confirmed field keeps the model's text, a corrected
one is split over its lines (MRZ lines at ``\\n``; a two-line address at the model's own word split).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import cv2
import numpy as np

from idsight.ocr.cleanup.dates import format_dmy, format_kr
from idsight.ocr.layoutfree import LayoutFreeResult
from idsight.review.layouts import doc_layout
from idsight.review.models import Read
from idsight.review.store import ReviewError, ReviewStore
from idsight.templates import get_template


def png_bytes(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - cv2 encodes any uint8 image
        raise ValueError("could not encode a PNG")
    return buf.tobytes()


def result_record(result: Any) -> dict[str, Any]:
    """``result.to_dict()`` with each field's per-line texts (``lines``), as the store keeps it."""
    d = result.to_dict()
    tpl = get_template(result.template)
    for spec in tpl.fields:
        if spec.name in d["fields"]:
            d["fields"][spec.name]["lines"] = {
                k: result.lines[k].text for k in spec.lines if k in result.lines
            }
    return d


def layout_free_record(result: LayoutFreeResult) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A layout-free read as the store keeps it, and its line crops. Each field's lines (top to bottom)
    take the line keys of its document type in order; ``print: free`` marks fields whose print style
    is the card's own (a corrected date then gives no line target: how the card prints it is unknown)."""
    d = result.to_dict()
    layout = doc_layout(result.doc_type)
    if layout is None:
        raise ReviewError(f"document type {result.doc_type!r} is not one a review can hold")
    crops: dict[str, bytes] = {}
    for spec in layout.fields:
        if spec.name not in d["fields"]:
            continue
        d["fields"][spec.name]["print"] = "free"
        texts: dict[str, str] = {}
        for key, i in zip(spec.lines, result.field_lines.get(spec.name, []), strict=False):
            crops[key] = png_bytes(result.line_crop(i))
            texts[key] = result.texts[i]
        d["fields"][spec.name]["lines"] = texts
    return d, crops


def capture(
    store: ReviewStore,
    result: Any,
    *,
    model_name: str,
    model_sha256: str,
    image: np.ndarray | None = None,
) -> str:
    """Add a read (the card reader's or a layout-free reader's) and its line crops to the store; the
    image only if the store keeps images."""
    if isinstance(result, LayoutFreeResult):
        record, crops = layout_free_record(result)
    else:
        record = result_record(result)
        crops = {k: png_bytes(line.crop) for k, line in result.lines.items() if line.crop is not None}
    image_png = png_bytes(image) if image is not None and store.keep_images else None
    return store.add_read(
        record,
        model_name=model_name,
        model_sha256=model_sha256,
        crops=crops,
        image_png=image_png,
    )


def split_lines(text: str, keys: tuple[str, ...], predicted: dict[str, str], joiner: str) -> dict[str, str]:
    """Split a field's final text over its line crops ``keys`` (those present, in order)."""
    if len(keys) == 1:
        return {keys[0]: text}
    if joiner == "\n":
        parts = text.split("\n")
        return dict(zip(keys, parts, strict=False)) if len(parts) == len(keys) else {}
    words = text.split()
    out: dict[str, str] = {}
    start = 0
    for i, k in enumerate(keys):  # each line but the last takes as many words as the model read on it
        n = len(words) - start if i == len(keys) - 1 else len(predicted.get(k, "").split())
        out[k] = " ".join(words[start : start + n])
        start += n
    return out if all(out.values()) else {}


_PRINTED_DATE = {"date_kr": format_kr, "date_dmy": format_dmy}


def printed_text(kind: str, text: str) -> str:
    """A field value as printed on its line: dates are kept ISO (``2017-09-23``) but printed per template
    (``2017. 9. 23.``, ``23 09 2017``); a value that is not an ISO date is kept as it is."""
    fmt = _PRINTED_DATE.get(kind)
    if fmt is None:
        return text
    try:
        return fmt(dt.date.fromisoformat(text))
    except ValueError:
        return text


def line_targets(read: Read) -> dict[str, str | None]:
    """Per stored crop: its reviewed text, or None when its field was not reviewed (KD only)."""
    final = read.final_texts()
    tpl = doc_layout(read.template)
    out: dict[str, str | None] = {k: None for k in read.crops}
    for spec in tpl.fields if tpl is not None else ():
        if spec.name not in final:
            continue
        record = read.fields.get(spec.name) or {}
        if record.get("print") == "free" and spec.kind.startswith("date"):
            continue  # printed in the card's own style, which a review does not say
        keys = tuple(k for k in spec.lines if k in read.crops)
        if not keys:
            continue
        predicted = record.get("lines") or {}
        out.update(split_lines(printed_text(spec.kind, final[spec.name]), keys, predicted, spec.joiner))
    return out
