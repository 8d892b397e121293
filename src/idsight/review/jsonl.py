"""JSON in and out of the review store: a ``ReadResult.to_dict()`` checked into a new record
(``check_new_read``), and the JSON Lines export, one read per line, every column, crops base64-encoded.

``dump_read`` is canonical (sorted keys, no spaces, UTC ISO timestamps), so importing an export into an
empty store and exporting again gives a byte-identical file. ``load_read`` raises ValueError (or
KeyError/TypeError) on anything malformed; the store turns that into a ReviewError naming the line.
"""

from __future__ import annotations

import base64
import json
import os
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from idsight.review.layouts import doc_layout, known_doc_types
from idsight.review.models import (
    PNG_MAGIC,
    STATUSES,
    FieldReview,
    Read,
    Review,
    check_correction_length,
    check_reviewer,
    utc,
)

FORMAT = "idsight-review/1"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _time(dt: datetime) -> str:
    return utc(dt).isoformat()


def dump_read(read: Read) -> str:
    obj: dict[str, Any] = {
        "format": FORMAT,
        "id": read.id,
        "template": read.template,
        "source": read.source,
        "model_name": read.model_name,
        "model_sha256": read.model_sha256,
        "created_at": _time(read.created_at),
        "fields": read.fields,
        "checks": read.checks,
        "corrections": read.corrections,
        "version": read.version,
        "crops": {k: _b64(v) for k, v in read.crops.items()},
        "image_png": None if read.image_png is None else _b64(read.image_png),
        "reviews": [
            {
                "id": r.id,
                "seq": r.seq,
                "reviewer": r.reviewer,
                "created_at": _time(r.created_at),
                "fields": {k: {"status": v.status, "text": v.text} for k, v in r.fields.items()},
            }
            for r in read.reviews
        ],
    }
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _get(obj: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{key!r} has the wrong type ({type(value).__name__})")
    return value


def _parse_time(obj: dict[str, Any], key: str) -> datetime:
    dt = datetime.fromisoformat(_get(obj, key, str))
    if dt.tzinfo is None:
        raise ValueError(f"{key!r} has no time zone")
    return utc(dt)


def _unb64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{what} is not a base64 string")
    return base64.b64decode(value.encode("ascii"), validate=True)


def _load_review(obj: Any, read_id: str) -> Review:
    if not isinstance(obj, dict):
        raise TypeError("a review is not an object")
    fields: dict[str, FieldReview] = {}
    for name, verdict in _get(obj, "fields", dict).items():
        status, text = verdict["status"], verdict["text"]
        if status not in STATUSES or not (text is None or isinstance(text, str)):
            raise ValueError(f"review field {name!r} is invalid")
        fields[name] = FieldReview(status, text)
    return Review(
        id=_get(obj, "id", str),
        read_id=read_id,
        seq=_get(obj, "seq", int),
        reviewer=_get(obj, "reviewer", str),
        created_at=_parse_time(obj, "created_at"),
        fields=fields,
    )


def load_read(line: str) -> Read:
    obj = json.loads(line)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} record")
    read_id = _get(obj, "id", str)
    image = obj["image_png"]
    return Read(
        id=read_id,
        template=_get(obj, "template", str),
        source=_get(obj, "source", str),
        model_name=_get(obj, "model_name", str),
        model_sha256=_get(obj, "model_sha256", str),
        created_at=_parse_time(obj, "created_at"),
        fields=_get(obj, "fields", dict),
        checks=_get(obj, "checks", dict),
        corrections=_get(obj, "corrections", list),
        version=_get(obj, "version", int),
        crops={k: _unb64(v, f"crop {k!r}") for k, v in _get(obj, "crops", dict).items()},
        image_png=None if image is None else _unb64(image, "image_png"),
        reviews=[_load_review(r, read_id) for r in _get(obj, "reviews", list)],
    )


def _at_most(value: str, limit: int, what: str) -> None:
    if len(value) > limit:
        raise ValueError(f"{what} is {len(value)} characters long (at most {limit})")


def check_limits(read: Read) -> None:
    """The limits of the store's columns and of review checks, so an import is the same on every database."""
    _at_most(read.id, 32, "the read id")
    _at_most(read.model_name, 200, "the model name")
    for review in read.reviews:
        _at_most(review.id, 32, "a review id")
        try:
            check_reviewer(review.reviewer)
            for name, verdict in review.fields.items():
                _at_most(name, 64, "a field name")
                if verdict.text is not None:
                    check_correction_length(name, verdict.text)
        except ValueError as err:
            raise ValueError(f"review {review.id}: {err}") from None


def write_file(path: str | os.PathLike[str], reads: Iterable[Read]) -> int:
    """Write ``reads`` one per line (via a temporary file, then renamed); returns how many.

    A file that cannot be written there is an OutputError naming it. On any failure the temporary file
    is removed and an existing file at ``path`` is left as it was.
    """
    import contextlib

    from idsight.errors import OutputError

    target = Path(path)
    if not target.parent.is_dir():
        raise OutputError(f"no such folder {str(target.parent)!r}", path=target)
    tmp = target.with_name(target.name + ".tmp")
    count = 0
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for read in reads:
                f.write(dump_read(read) + "\n")
                count += 1
        tmp.replace(target)
    except OSError as err:
        raise OutputError(f"cannot write the file ({err.strerror or err})", path=target) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return count


def load_file(path: str | os.PathLike[str], *, allow_images: bool) -> list[Read]:
    """All reads of an export; ValueError naming the line for anything malformed or disallowed."""
    reads: list[Read] = []
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    read = load_read(line)
                except (ValueError, KeyError, TypeError) as err:
                    raise ValueError(f"line {n}: not a review store record ({err})") from None
                try:
                    check_limits(read)
                except ValueError as err:
                    raise ValueError(f"line {n}: {err}; nothing imported") from None
                if read.image_png is not None and not allow_images:
                    raise ValueError(
                        f"line {n}: holds a card image but the store was opened without keep_images=True "
                        "(pass drop_images=True to import without images)"
                    )
                reads.append(read)
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read the file ({err})") from None
    if len({r.id for r in reads}) != len(reads):
        raise ValueError("the file lists a read id twice")
    return reads


def _plain(value: Any, what: str) -> Any:
    """``value`` as plain JSON data (tuples become lists), so it round-trips through JSON exactly."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} is not plain JSON data ({err})") from None


def check_new_read(
    result: Mapping[str, Any],
    model_name: str,
    model_sha256: str,
    crops: Mapping[str, bytes],
    image_png: bytes | None,
) -> Read:
    """Validate a ``ReadResult.to_dict()`` and its crops; ValueError with one clear message if wrong."""
    template = doc_layout(str(result.get("template")))
    if template is None:
        known = ", ".join(known_doc_types())
        raise ValueError(f"unknown template {result.get('template')!r} (known: {known})")
    fields = _plain(result.get("fields"), "result['fields']")
    if not isinstance(fields, dict) or not all(isinstance(v, dict) for v in fields.values()):
        raise ValueError("result['fields'] must map field names to {text, confidence, box}")
    names = [f.name for f in template.fields]
    unknown = sorted(set(fields) - set(names))
    if unknown:
        raise ValueError(
            f"template {template.name!r} has no field {unknown[0]!r} (fields: {', '.join(names)})"
        )
    if not isinstance(model_name, str) or not model_name.strip():
        raise ValueError("model_name is required")
    if not isinstance(model_sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", model_sha256):
        raise ValueError(f"model_sha256 must be 64 lowercase hex digits, got {model_sha256!r}")
    for key, png in crops.items():
        if key not in template.line_keys:
            raise ValueError(
                f"crop key {key!r} is not a line of {template.name!r} ({', '.join(template.line_keys)})"
            )
        if not isinstance(png, bytes) or not png.startswith(PNG_MAGIC):
            raise ValueError(f"crop {key!r} is not PNG data")
    if image_png is not None and (not isinstance(image_png, bytes) or not image_png.startswith(PNG_MAGIC)):
        raise ValueError("image_png is not PNG data")
    return Read(
        id=uuid.uuid4().hex,
        template=template.name,
        source=str(result.get("image", "")),
        model_name=model_name,
        model_sha256=model_sha256,
        created_at=datetime.now(UTC),
        fields=fields,
        checks=_plain(result.get("checks") or {}, "result['checks']"),
        corrections=_plain(result.get("corrections") or [], "result['corrections']"),
        version=0,
        crops=dict(crops),
        image_png=image_png,
    )
