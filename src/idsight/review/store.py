"""The review store: reads of the model, people's reviews of them, and the corrections for training.

``ReviewStore(url)`` opens (and migrates to head) an SQLite file (``sqlite:///reviews.db``) or a
PostgreSQL database (``postgresql://user:pw@host/db``, needs a driver: ``pip install 'idsight[pg]'``),
creating the store if there is none; ``create=False`` (for callers that only read) refuses a missing one.

Concurrency: every read has a ``version`` that each review submission increments. A submission with
``expected_version`` (the version the reviewer loaded) is refused with ``ReviewConflict`` when someone
else's review landed in between -- never a silent overwrite. A submission *without* ``expected_version``
on an already-reviewed read is recorded as a second opinion: both are kept, and the latest (highest
``seq``) verdict on each field is the one used for training. SQLite runs in WAL mode with a busy timeout;
writes take the write lock up front (BEGIN IMMEDIATE) and are retried on ``database is locked``.

Retention: ``purge(days)`` deletes every read older than that, with its crops, image and reviews, in
one transaction; on SQLite the freed pages are then overwritten (``VACUUM``), so no deleted name or
crop stays in the file. A database that cannot be reached raises ``StoreUnavailable``. Crops and images
can be stored encrypted with the operator's key (``idsight.review.sealing``); exports are plain.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, and_, delete, exists, func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from idsight.errors import IdsightError
from idsight.review import jsonl, migrations
from idsight.review.models import (
    MAX_QUEUE_PAGE,
    Read,
    ReadRow,
    ReadSummary,
    Review,
    ReviewFieldRow,
    ReviewRow,
    check_fields,
    check_reviewer,
    parse_queue_cursor,
    queue_cursor,
    read_from_row,
    row_from_read,
    utc,
)
from idsight.review.sealing import Sealer

T = TypeVar("T")
_RETRIES = 12
_LOAD = (
    selectinload(ReadRow.crops),
    selectinload(ReadRow.image),
    selectinload(ReadRow.reviews).selectinload(ReviewRow.fields),
)


class ReviewError(IdsightError):
    """A review store problem caused by the caller's input or database."""


class ReviewConflict(ReviewError):
    """The read changed (someone else reviewed it) since the version the reviewer loaded."""


class StoreUnavailable(ReviewError):
    """The store's database cannot be reached or used now (down, locked too long, disk trouble):
    nothing was written; the same request can succeed once it is back."""


def _message(err: BaseException) -> str:
    orig = getattr(err, "orig", None) or err
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


def _locked(err: OperationalError) -> bool:
    text = _message(err).lower()
    return "locked" in text or "busy" in text


class ReviewStore:
    """Reads, their crops and reviews in one database; see the module docstring for concurrency."""

    def __init__(
        self, url: str, *, keep_images: bool = False, create: bool = True, crypt_key: str | None = None
    ) -> None:
        """Open the store at ``url`` and migrate it to head. ``create=False``: a missing SQLite file, or
        a PostgreSQL database without the store's tables, is a ReviewError and nothing is created.
        ``crypt_key`` (default ``$IDSIGHT_REVIEW_CRYPT_KEY``): crops and images are stored encrypted
        (``idsight.review.sealing``)."""
        self.url = migrations.mask_url(url)
        self.keep_images = keep_images
        try:
            self._sealer = Sealer(crypt_key)
        except IdsightError as err:
            raise ReviewError(str(err), path=self.url) from None
        try:
            self._engine = migrations.create(url, must_exist=not create)
        except migrations.OpenError as err:
            raise ReviewError(str(err), path=self.url) from None
        try:
            self._run(lambda s: migrations.upgrade(s.connection(), create=create), write=True)
        except migrations.OpenError as err:
            self.close()
            raise ReviewError(str(err), path=self.url) from None
        except ReviewError:
            self.close()
            raise

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, fn: Callable[[Session], T], *, write: bool = False) -> T:
        """Run ``fn`` in one transaction, retrying it when SQLite reports the database locked."""
        for attempt in range(_RETRIES):
            try:
                with self._engine.connect() as conn:
                    if write:
                        conn.execution_options(idsight_write=True)
                    with Session(bind=conn, expire_on_commit=False) as session, session.begin():
                        return fn(session)
            except OperationalError as err:
                if attempt + 1 < _RETRIES and _locked(err):
                    time.sleep(random.uniform(0.01, 0.05) * 2 ** min(attempt, 6))
                    continue
                raise StoreUnavailable(f"database error: {_message(err)}", path=self.url) from err
            except (SQLAlchemyError, sqlite3.Error) as err:
                raise ReviewError(f"database error: {_message(err)}", path=self.url) from err
        raise AssertionError("unreachable")

    def add_read(
        self,
        result: Mapping[str, Any],
        *,
        model_name: str,
        model_sha256: str,
        crops: Mapping[str, bytes],
        image_png: bytes | None = None,
    ) -> str:
        """Store a read (``ReadResult.to_dict()``) with its line crops; returns the new read id.

        The whole card image is stored only when the store was opened with ``keep_images=True``.
        """
        try:
            read = jsonl.check_new_read(
                result, model_name, model_sha256, crops, image_png if self.keep_images else None
            )
        except ValueError as err:
            raise ReviewError(str(err)) from None
        sealed = self._sealer.seal_read(read)
        self._run(lambda s: s.add(row_from_read(sealed, keep_image=self.keep_images)), write=True)
        return read.id

    def queue(self, limit: int = 50) -> list[Read]:
        """Reads nobody has reviewed yet, oldest first."""
        query = (
            select(ReadRow)
            .where(~exists().where(ReviewRow.read_id == ReadRow.id))
            .order_by(ReadRow.created_at, ReadRow.id)
            .limit(limit)
            .options(*_LOAD)
        )
        return self._reads(query)

    def queue_page(self, limit: int = 50, after: str | None = None) -> tuple[list[ReadSummary], str | None]:
        """One page of the queue (unreviewed reads, oldest first) without loading crops, images or reviews.

        ``after``: the cursor the previous page returned (None: the first page); ``limit``: 1 to
        ``MAX_QUEUE_PAGE``. Returns (summaries, the next page's cursor, or None after the last page).
        """
        if not 1 <= limit <= MAX_QUEUE_PAGE:
            raise ReviewError(f"queue page size {limit} is out of range (1 to {MAX_QUEUE_PAGE})")
        query = select(
            ReadRow.id,
            ReadRow.template,
            ReadRow.source,
            ReadRow.model_name,
            ReadRow.model_sha256,
            ReadRow.created_at,
            ReadRow.fields,
            ReadRow.version,
        ).where(~exists().where(ReviewRow.read_id == ReadRow.id))
        if after is not None:
            try:
                at, rid = parse_queue_cursor(after)
            except ValueError as err:
                raise ReviewError(str(err)) from None
            query = query.where(
                or_(ReadRow.created_at > at, and_(ReadRow.created_at == at, ReadRow.id > rid))
            )
        query = query.order_by(ReadRow.created_at, ReadRow.id).limit(limit + 1)

        def fn(s: Session) -> list[ReadSummary]:
            return [
                ReadSummary(
                    r.id,
                    r.template,
                    r.source,
                    r.model_name,
                    r.model_sha256,
                    utc(r.created_at),
                    r.fields,
                    r.version,
                )
                for r in s.execute(query)
            ]

        page = self._run(fn)
        return page[:limit], queue_cursor(page[limit - 1]) if len(page) > limit else None

    def queue_size(self) -> int:
        """How many reads nobody has reviewed yet."""
        query = (
            select(func.count()).select_from(ReadRow).where(~exists().where(ReviewRow.read_id == ReadRow.id))
        )
        return self._run(lambda s: int(s.execute(query).scalar_one()))

    def _open(self, read: Read) -> Read:
        try:
            return self._sealer.open_read(read)
        except IdsightError as err:
            raise StoreUnavailable(str(err), path=self.url) from None

    def _reads(self, query: Select[Any]) -> list[Read]:
        return [self._open(r) for r in self._run(lambda s: [read_from_row(r) for r in s.scalars(query)])]

    def get(self, read_id: str) -> Read:
        def fn(s: Session) -> Read:
            row = s.get(ReadRow, read_id, options=_LOAD)
            if row is None:
                raise ReviewError(f"unknown read id {read_id!r}")
            return read_from_row(row)

        return self._open(self._run(fn))

    def submit_review(
        self,
        read_id: str,
        reviewer: str,
        fields: Mapping[str, Mapping[str, Any]],
        *,
        charset: str | None = None,
        expected_version: int | None = None,
    ) -> Review:
        """Record a review of some or all of a read's fields; returns it (``seq`` = the read's new version).

        ``fields``: ``{field: {"status": "confirmed" | "corrected", "text": str | None}}``; a correction
        needs its text, and with ``charset`` every character of it must be in the charset.
        """
        try:
            check_reviewer(reviewer)
        except ValueError as err:
            raise ReviewError(f"review of read {read_id!r}: {err}") from None
        if not fields:
            raise ReviewError(f"review of read {read_id!r}: no fields given")

        def fn(s: Session) -> Review:
            row = s.get(ReadRow, read_id)
            if row is None:
                raise ReviewError(f"unknown read id {read_id!r}")
            try:
                verdicts = check_fields(row.template, row.fields, fields, charset)
            except ValueError as err:
                raise ReviewError(f"review of read {read_id}: {err}") from None
            stmt = update(ReadRow).where(ReadRow.id == read_id)
            if expected_version is not None:
                stmt = stmt.where(ReadRow.version == expected_version)
            bumped = stmt.values(version=ReadRow.version + 1).returning(ReadRow.version)
            seq = s.execute(bumped, execution_options={"synchronize_session": False}).scalar_one_or_none()
            if seq is None:
                raise ReviewConflict(
                    f"read {read_id} changed since version {expected_version} (someone else reviewed it); "
                    "reload it and review again"
                )
            review = ReviewRow(
                id=uuid.uuid4().hex, read_id=read_id, seq=seq, reviewer=reviewer, created_at=datetime.now(UTC)
            )
            review.fields = [
                ReviewFieldRow(field=k, status=v.status, text=v.text) for k, v in verdicts.items()
            ]
            s.add(review)
            return Review(review.id, read_id, seq, reviewer, review.created_at, verdicts)

        return self._run(fn, write=True)

    def _iter_reads(self, *, reviewed_only: bool, batch: int = 100) -> Iterator[Read]:
        """All reads (oldest first), fetched in batches with short transactions."""
        after: Read | None = None
        while True:
            query = select(ReadRow).order_by(ReadRow.created_at, ReadRow.id).limit(batch).options(*_LOAD)
            if reviewed_only:
                query = query.where(exists().where(ReviewRow.read_id == ReadRow.id))
            if after is not None:
                at, rid = after.created_at, after.id
                query = query.where(
                    or_(ReadRow.created_at > at, and_(ReadRow.created_at == at, ReadRow.id > rid))
                )
            page = self._reads(query)
            yield from page
            if len(page) < batch:
                return
            after = page[-1]

    def iter_reads(self, *, reviewed_only: bool = False) -> Iterator[Read]:
        """Every read (or every reviewed one), oldest first, with crops and reviews; memory stays flat."""
        return self._iter_reads(reviewed_only=reviewed_only)

    def reviews_for_training(self) -> Iterator[tuple[Read, dict[str, str]]]:
        """(read, final text per reviewed field): confirmed -> the reading, corrected -> the correction."""
        for read in self._iter_reads(reviewed_only=True):
            yield read, read.final_texts()

    def export_jsonl(self, path: str | os.PathLike[str]) -> int:
        """Write every read (with crops, image, reviews) as JSON Lines; returns the number of reads."""
        return jsonl.write_file(path, self._iter_reads(reviewed_only=False))

    def import_jsonl(self, path: str | os.PathLike[str], *, drop_images: bool = False) -> int:
        """Add the reads of an export, all or nothing; ids already in the store are refused."""
        try:
            reads = jsonl.load_file(path, allow_images=self.keep_images or drop_images)
        except ValueError as err:
            raise ReviewError(str(err), path=path) from None
        ids = [r.id for r in reads]

        def fn(s: Session) -> None:
            for start in range(0, len(ids), 500):
                clash = s.scalars(select(ReadRow.id).where(ReadRow.id.in_(ids[start : start + 500]))).first()
                if clash is not None:
                    raise ReviewError(f"read {clash} is already in the store; nothing imported", path=path)
            s.add_all(row_from_read(self._sealer.seal_read(r), keep_image=self.keep_images) for r in reads)

        self._run(fn, write=True)
        return len(reads)

    def purge(self, days: float, *, now: datetime | None = None, dry_run: bool = False) -> int:
        """Delete the reads stored more than ``days`` days before ``now`` (default: the current time),
        with their crops, images and reviews; returns how many (with ``dry_run``: how many would go)."""
        if not days >= 0:
            raise ReviewError(f"the retention must be 0 days or more (got {days})")
        cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
        old = ReadRow.created_at < cutoff
        if dry_run:
            return self._run(lambda s: int(s.scalar(select(func.count()).where(old)) or 0))

        def fn(s: Session) -> int:
            result: CursorResult[Any] = s.execute(delete(ReadRow).where(old))  # type: ignore[assignment]
            return int(result.rowcount or 0)

        count = self._run(fn, write=True)
        if count and self._engine.dialect.name == "sqlite":
            try:
                raw = self._engine.raw_connection()  # outside any transaction (VACUUM needs that)
                try:
                    cursor = raw.cursor()
                    cursor.execute("VACUUM")
                    cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    cursor.close()
                finally:
                    raw.close()
            except (OperationalError, sqlite3.Error) as err:
                raise StoreUnavailable(
                    f"purged {count} reads, but could not overwrite the freed space: {_message(err)}",
                    path=self.url,
                ) from err
        return count

    def accuracy_by_model(self) -> list[dict[str, Any]]:
        """Per model version and UTC day: how many reviewed fields the reviewers confirmed.

        Each (read, field) counts once, with its latest verdict (as for training), in the day that verdict
        was given. Rows ``{model_name, model_sha256, day, confirmed, reviewed, accuracy}``, sorted.
        """
        query = (
            select(
                ReadRow.model_name,
                ReadRow.model_sha256,
                ReviewRow.read_id,
                ReviewRow.created_at,
                ReviewFieldRow.field,
                ReviewFieldRow.status,
            )
            .join(ReviewRow, ReviewRow.read_id == ReadRow.id)
            .join(ReviewFieldRow, ReviewFieldRow.review_id == ReviewRow.id)
            .order_by(ReviewRow.read_id, ReviewRow.seq)
        )

        def fn(s: Session) -> list[dict[str, Any]]:
            latest = {(r.read_id, r.field): r for r in s.execute(query)}
            counts: dict[tuple[str, str, str], list[int]] = {}
            for r in latest.values():
                day = utc(r.created_at).date().isoformat()
                tally = counts.setdefault((r.model_name, r.model_sha256, day), [0, 0])
                tally[0] += r.status == "confirmed"
                tally[1] += 1
            return [
                {
                    "model_name": m,
                    "model_sha256": sha,
                    "day": day,
                    "confirmed": c,
                    "reviewed": n,
                    "accuracy": c / n,
                }
                for (m, sha, day), (c, n) in sorted(counts.items())
            ]

        return self._run(fn)
