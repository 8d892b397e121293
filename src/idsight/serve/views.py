"""What the review pages and the JSON API show of a stored read: plain data, no web framework here."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from idsight.review import Read, ReadSummary, Review
from idsight.review.layouts import doc_layout


@dataclass(frozen=True)
class FieldView:
    """One field of a read as the review form shows it: one input per printed line for ``\\n`` joiners."""

    name: str
    text: str | None  # the reading; None when nothing was read
    confidence: float | None
    low: bool
    box: list[float] | None
    crops: list[str]  # line keys that have a crop
    joiner: str
    values: list[str]  # the inputs' initial values


def png_size(png: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk, or None if it is not one."""
    if len(png) < 24 or png[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def _layout(template: str, fields: dict[str, Any]) -> list[tuple[str, tuple[str, ...], str]]:
    """(field, line keys, joiner): the template's fields in reading order, then any other the read holds."""
    spec = doc_layout(template)
    layout = [(f.name, f.lines, f.joiner) for f in spec.fields] if spec else []
    known = {name for name, _, _ in layout}
    return layout + [(name, (name,), " ") for name in fields if name not in known]


def _reading(value: Any) -> tuple[str | None, float | None, list[float] | None]:
    """(text, confidence, box) of a stored field, each None where missing or malformed."""
    value = value if isinstance(value, dict) else {}
    text = value.get("text")
    conf = value.get("confidence")
    box = value.get("box")
    return (
        text if isinstance(text, str) else None,
        float(conf) if isinstance(conf, int | float) else None,
        [float(v) for v in box] if isinstance(box, list) and len(box) == 4 else None,
    )


def _low(text: str | None, conf: float | None, low_confidence: float) -> bool:
    return text is None or conf is None or conf < low_confidence


def field_views(read: Read, low_confidence: float) -> list[FieldView]:
    """The template's fields in reading order (then any other field the read holds)."""
    views = []
    for name, lines, joiner in _layout(read.template, read.fields):
        text, conf, box = _reading(read.fields.get(name))
        if joiner == "\n":
            values = text.split("\n") if text is not None else [""] * len(lines)
        else:
            values = [text or ""]
        crops = [k for k in lines if k in read.crops]
        views.append(
            FieldView(name, text, conf, _low(text, conf, low_confidence), box, crops, joiner, values)
        )
    return views


def low_confidence_fields(read: Read | ReadSummary, low_confidence: float) -> list[str]:
    """The fields not read, or read with confidence below ``low_confidence``, in reading order."""
    out = []
    for name, _, _ in _layout(read.template, read.fields):
        text, conf, _ = _reading(read.fields.get(name))
        if _low(text, conf, low_confidence):
            out.append(name)
    return out


def review_json(review: Review) -> dict[str, Any]:
    return {
        "id": review.id,
        "read_id": review.read_id,
        "seq": review.seq,
        "reviewer": review.reviewer,
        "created_at": review.created_at.isoformat(),
        "fields": {k: {"status": v.status, "text": v.text} for k, v in review.fields.items()},
    }


def summary_json(read: Read | ReadSummary, low_confidence: float) -> dict[str, Any]:
    return {
        "id": read.id,
        "template": read.template,
        "source": read.source,
        "model_name": read.model_name,
        "model_sha256": read.model_sha256,
        "created_at": read.created_at.isoformat(),
        "version": read.version,
        "low_confidence_fields": low_confidence_fields(read, low_confidence),
    }


def read_json(read: Read, low_confidence: float, root: str = "") -> dict[str, Any]:
    base = f"{root}/api/reads/{read.id}"
    return {
        **summary_json(read, low_confidence),
        "fields": {
            f.name: {"text": f.text, "confidence": f.confidence, "box": f.box, "low": f.low}
            for f in field_views(read, low_confidence)
        },
        "checks": read.checks,
        "corrections": read.corrections,
        "crops": {k: f"{base}/crops/{k}.png" for k in read.crops},
        "image": f"{base}/image.png" if read.image_png is not None else None,
        "reviews": [review_json(r) for r in read.reviews],
    }
