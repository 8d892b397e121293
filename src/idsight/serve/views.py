"""What the review pages and the JSON API show of a stored read: plain data, no web framework here."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from idsight.review import Read, Review
from idsight.templates import TEMPLATES


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


def field_views(read: Read, low_confidence: float) -> list[FieldView]:
    """The template's fields in reading order (then any other field the read holds)."""
    spec = TEMPLATES.get(read.template)
    layout = [(f.name, f.lines, f.joiner) for f in spec.fields] if spec else []
    known = {name for name, _, _ in layout}
    layout += [(name, (name,), " ") for name in read.fields if name not in known]
    views = []
    for name, lines, joiner in layout:
        value = read.fields.get(name)
        value = value if isinstance(value, dict) else {}
        text = value.get("text")
        text = text if isinstance(text, str) else None
        conf = value.get("confidence")
        conf = float(conf) if isinstance(conf, int | float) else None
        box = value.get("box")
        box = [float(v) for v in box] if isinstance(box, list) and len(box) == 4 else None
        if joiner == "\n":
            values = text.split("\n") if text is not None else [""] * len(lines)
        else:
            values = [text or ""]
        low = text is None or conf is None or conf < low_confidence
        crops = [k for k in lines if k in read.crops]
        views.append(FieldView(name, text, conf, low, box, crops, joiner, values))
    return views


def review_json(review: Review) -> dict[str, Any]:
    return {
        "id": review.id,
        "read_id": review.read_id,
        "seq": review.seq,
        "reviewer": review.reviewer,
        "created_at": review.created_at.isoformat(),
        "fields": {k: {"status": v.status, "text": v.text} for k, v in review.fields.items()},
    }


def summary_json(read: Read, low_confidence: float) -> dict[str, Any]:
    return {
        "id": read.id,
        "template": read.template,
        "source": read.source,
        "model_name": read.model_name,
        "model_sha256": read.model_sha256,
        "created_at": read.created_at.isoformat(),
        "version": read.version,
        "low_confidence_fields": [f.name for f in field_views(read, low_confidence) if f.low],
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
