"""Review store schema (SQLAlchemy 2.0 ORM, portable types for SQLite and PostgreSQL) and its records.

Timestamps are stored in UTC (SQLite drops the zone; ``utc`` re-attaches it). The alembic revisions in
``migrations/versions`` create exactly this schema (a test compares them).
"""

from __future__ import annotations

import base64
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy import UniqueConstraint as Unique
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from idsight.review.layouts import doc_layout

STATUSES = ("confirmed", "corrected")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_REVIEWER = 200  # characters of a reviewer name: the ``reviews.reviewer`` column is varchar(200)
MAX_CORRECTION = 500  # characters of one field's correction (the longest printed field is far shorter)
MAX_QUEUE_PAGE = 200  # reads in one page of the review queue


def utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class ReadRow(Base):
    """One card read by the model: what it predicted, with which model, and the crops behind it."""

    __tablename__ = "reads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex
    template: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)  # the image name the reader was given
    model_name: Mapped[str] = mapped_column(String(200))
    model_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)  # {field: {text, confidence, box}}
    checks: Mapped[dict[str, Any]] = mapped_column(JSON)
    corrections: Mapped[list[Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)  # +1 per review submission (optimistic concurrency)

    crops: Mapped[list[CropRow]] = relationship(order_by="CropRow.key", cascade="all, delete-orphan")
    image: Mapped[ImageRow | None] = relationship(cascade="all, delete-orphan")
    reviews: Mapped[list[ReviewRow]] = relationship(order_by="ReviewRow.seq", cascade="all, delete-orphan")


class CropRow(Base):
    """A line crop (PNG) of a read, keyed by line key (e.g. ``mrz_1``): what training needs."""

    __tablename__ = "crops"

    read_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("reads.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    png: Mapped[bytes] = mapped_column(LargeBinary)


class ImageRow(Base):
    """The whole card image; only written by a store opened with ``keep_images=True``."""

    __tablename__ = "images"

    read_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("reads.id", ondelete="CASCADE"), primary_key=True
    )
    png: Mapped[bytes] = mapped_column(LargeBinary)


class ReviewRow(Base):
    """One review submission; ``seq`` is the read's version it produced (latest wins for training)."""

    __tablename__ = "reviews"
    __table_args__ = (Unique("read_id", "seq", name="uq_reviews_read_seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    read_id: Mapped[str] = mapped_column(String(32), ForeignKey("reads.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    reviewer: Mapped[str] = mapped_column(String(MAX_REVIEWER))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    fields: Mapped[list[ReviewFieldRow]] = relationship(
        order_by="ReviewFieldRow.field", cascade="all, delete-orphan"
    )


class ReviewFieldRow(Base):
    """The verdict on one field within a review submission."""

    __tablename__ = "review_fields"
    __table_args__ = (
        CheckConstraint("status IN ('confirmed', 'corrected')", name="ck_review_fields_status"),
    )

    review_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True
    )
    field: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text, nullable=True)  # the correction; None when confirmed


@dataclass(frozen=True)
class FieldReview:
    status: str  # "confirmed" | "corrected"
    text: str | None  # the correction (None for "confirmed")


@dataclass(frozen=True)
class Review:
    id: str
    read_id: str
    seq: int
    reviewer: str
    created_at: datetime
    fields: dict[str, FieldReview]


@dataclass(frozen=True)
class Read:
    """A stored read with its crops, optional image and reviews (oldest first)."""

    id: str
    template: str
    source: str
    model_name: str
    model_sha256: str
    created_at: datetime
    fields: dict[str, Any]
    checks: dict[str, Any]
    corrections: list[Any]
    version: int
    crops: dict[str, bytes] = field(default_factory=dict, repr=False)
    image_png: bytes | None = field(default=None, repr=False)
    reviews: list[Review] = field(default_factory=list)

    def predicted(self, name: str) -> str | None:
        value = self.fields.get(name)
        return value.get("text") if isinstance(value, dict) else None

    def final_texts(self) -> dict[str, str]:
        """Per field: confirmed -> predicted text, corrected -> correction; unreviewed fields absent.

        Reviews are applied in ``seq`` order, so the latest opinion on a field wins.
        """
        out: dict[str, str] = {}
        for review in self.reviews:
            for name, verdict in review.fields.items():
                text = verdict.text if verdict.status == "corrected" else self.predicted(name)
                if text is not None:
                    out[name] = text
        return out


@dataclass(frozen=True)
class ReadSummary:
    """A read as the queue lists it: no crops, image or reviews (none of them is loaded)."""

    id: str
    template: str
    source: str
    model_name: str
    model_sha256: str
    created_at: datetime
    fields: dict[str, Any]
    version: int


def queue_cursor(summary: ReadSummary) -> str:
    """An opaque cursor for the queue page after ``summary``: its (created_at, id), base64url-encoded."""
    raw = f"{utc(summary.created_at).isoformat()}|{summary.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def parse_queue_cursor(cursor: str) -> tuple[datetime, str]:
    """(created_at, id) of a ``queue_cursor``; ValueError for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, read_id = raw.split("|")
        at = datetime.fromisoformat(when)
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"invalid queue cursor {_short(cursor)}") from None
    if at.tzinfo is None or not read_id or len(read_id) > 32:
        raise ValueError(f"invalid queue cursor {_short(cursor)}")
    return utc(at), read_id


def read_from_row(row: ReadRow) -> Read:
    reviews = [
        Review(
            r.id,
            r.read_id,
            r.seq,
            r.reviewer,
            utc(r.created_at),
            {f.field: FieldReview(f.status, f.text) for f in r.fields},
        )
        for r in row.reviews
    ]
    return Read(
        id=row.id,
        template=row.template,
        source=row.source,
        model_name=row.model_name,
        model_sha256=row.model_sha256,
        created_at=utc(row.created_at),
        fields=row.fields,
        checks=row.checks,
        corrections=row.corrections,
        version=row.version,
        crops={c.key: c.png for c in row.crops},
        image_png=row.image.png if row.image is not None else None,
        reviews=reviews,
    )


def row_from_read(read: Read, *, keep_image: bool) -> ReadRow:
    """The ORM rows (read, crops, image, reviews) for a record; the image only if ``keep_image``."""
    row = ReadRow(
        id=read.id,
        template=read.template,
        source=read.source,
        model_name=read.model_name,
        model_sha256=read.model_sha256,
        created_at=utc(read.created_at),
        fields=read.fields,
        checks=read.checks,
        corrections=read.corrections,
        version=read.version,
    )
    row.crops = [CropRow(key=k, png=v) for k, v in sorted(read.crops.items())]
    if keep_image and read.image_png is not None:
        row.image = ImageRow(png=read.image_png)
    for r in read.reviews:
        review = ReviewRow(id=r.id, seq=r.seq, reviewer=r.reviewer, created_at=utc(r.created_at))
        review.fields = [
            ReviewFieldRow(field=k, status=v.status, text=v.text) for k, v in sorted(r.fields.items())
        ]
        row.reviews.append(review)
    return row


def _short(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters so that an error message stays one short line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _controls(text: str, allowed: str = "") -> str:
    """The control characters of ``text`` (other than those in ``allowed``), as ``U+XXXX`` codes."""
    bad = sorted({c for c in text if unicodedata.category(c) == "Cc" and c not in allowed})
    return ", ".join(f"U+{ord(c):04X}" for c in bad)


def check_reviewer(reviewer: object) -> str:
    """``reviewer`` if it is a name: not blank, at most ``MAX_REVIEWER`` characters, no control characters."""
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise ValueError("a reviewer name is required")
    if len(reviewer) > MAX_REVIEWER:
        raise ValueError(f"the reviewer name is {len(reviewer)} characters long (at most {MAX_REVIEWER})")
    if bad := _controls(reviewer):
        raise ValueError(f"the reviewer name has control characters ({bad})")
    return reviewer


def check_correction_length(name: str, text: str) -> None:
    """At most ``MAX_CORRECTION`` characters (also checked on import, where old blank ones may stay)."""
    if len(text) > MAX_CORRECTION:
        raise ValueError(
            f"field {name!r}: the correction is {len(text)} characters long (at most {MAX_CORRECTION})"
        )


def _check_correction(name: str, text: object, joiner: str, charset: str | None) -> str:
    if not isinstance(text, str):
        raise ValueError(f"field {name!r}: a correction needs its text")
    check_correction_length(name, text)
    if not text.strip():
        raise ValueError(f"field {name!r}: the correction is empty (type the text, or leave the field out)")
    if bad := _controls(text, joiner):
        raise ValueError(f"field {name!r}: the correction has control characters ({bad})")
    if charset is not None:
        outside = sorted(set(text) - set(charset) - set(joiner))
        if outside:
            shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in outside)
            raise ValueError(f"field {name!r}: the correction has characters outside the charset: {shown}")
    return text


def check_fields(
    template: str, predicted: dict[str, Any], fields: Mapping[str, Mapping[str, Any]], charset: str | None
) -> dict[str, FieldReview]:
    """Validate a submission's verdicts against the read; ValueError with one clear message if wrong.

    A correction must be non-blank, at most ``MAX_CORRECTION`` characters, without control characters
    (but the field's line joiner) and, with ``charset``, only of the charset's characters.
    """
    spec = doc_layout(template)
    joiners = {f.name: f.joiner for f in spec.fields} if spec else {}
    known = list(joiners) or list(predicted)
    out: dict[str, FieldReview] = {}
    for name, verdict in sorted(fields.items()):
        if name not in known:
            raise ValueError(
                f"unknown field {_short(name)} for template {template!r} (fields: {', '.join(known)})"
            )
        if not isinstance(verdict, Mapping) or set(verdict) - {"status", "text"}:
            raise ValueError(
                f"field {name!r}: expected {{'status': ..., 'text': ...}}, got {_short(verdict)}"
            )
        status, text = verdict.get("status"), verdict.get("text")
        reading = predicted.get(name, {}).get("text")
        if status not in STATUSES:
            raise ValueError(
                f"field {name!r}: invalid status {_short(status)} (use 'confirmed' or 'corrected')"
            )
        if status == "corrected":
            out[name] = FieldReview(
                "corrected", _check_correction(name, text, joiners.get(name, ""), charset)
            )
            continue
        if reading is None:
            raise ValueError(f"field {name!r}: nothing was read, so nothing to confirm; send a correction")
        if text is not None and text != reading:
            raise ValueError(
                f"field {name!r}: confirmed with text {_short(text)} != the reading {_short(reading)}"
            )
        out[name] = FieldReview("confirmed", None)
    return out
