"""Review store: reads, reviews, optimistic concurrency, JSONL round trip, foreign databases, writers."""

from __future__ import annotations

import multiprocessing as mp
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from idsight.review import ReviewConflict, ReviewError, ReviewStore

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00fake"
SHA = "ab" * 32


def kr_result(name: str = "홍길동") -> dict[str, Any]:
    box = [1.0, 2.0, 3.0, 4.0]
    return {
        "image": "card.jpg",
        "template": "kr-rrc",
        "fields": {
            "name": {"text": name, "confidence": 0.9812, "box": box},
            "rrn": {"text": "850315-1234567", "confidence": 0.5, "box": box},
            "address": {"text": "서울특별시 종로구", "confidence": 0.75, "box": None},
        },
        "checks": {"rrn_valid": False},
        "corrections": [{"field": "rrn", "from": "850315-I234567", "to": "850315-1234567", "reason": "ocr"}],
        "timings_ms": {"total": 12.5},
    }


def add(store: ReviewStore, name: str = "홍길동", image: bytes | None = None) -> str:
    crops = {"name": PNG + name.encode(), "rrn": PNG}
    return store.add_read(
        kr_result(name), model_name="reader-s", model_sha256=SHA, crops=crops, image_png=image
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ReviewStore]:
    with ReviewStore(f"sqlite:///{tmp_path / 'reviews.db'}") as s:
        yield s


def test_add_get_queue_and_images(store: ReviewStore, tmp_path: Path) -> None:
    rid = add(store, image=PNG + b"card")
    read = store.get(rid)
    assert len(rid) == 32 and read.template == "kr-rrc" and read.version == 0
    assert read.fields["name"]["text"] == "홍길동" and read.fields["name"]["box"] == [1.0, 2.0, 3.0, 4.0]
    assert read.crops == {"name": PNG + "홍길동".encode(), "rrn": PNG}
    assert read.image_png is None  # keep_images=False: the card image is never stored
    assert read.model_sha256 == SHA and read.created_at.tzinfo is not None
    assert [r.id for r in store.queue()] == [rid]
    with ReviewStore(f"sqlite:///{tmp_path / 'img.db'}", keep_images=True) as kept:
        assert kept.get(add(kept, image=PNG + b"card")).image_png == PNG + b"card"


def test_reviews_training_and_second_opinion(store: ReviewStore) -> None:
    a, b, c = add(store, "김철수"), add(store, "이영희"), add(store)
    first = store.submit_review(
        a,
        "ann",
        {
            "name": {"status": "confirmed", "text": None},
            "rrn": {"status": "corrected", "text": "850315-1234568"},
        },
    )
    assert first.seq == 1 and store.get(a).version == 1
    store.submit_review(b, "bob", {"name": {"status": "corrected", "text": "이영회"}}, expected_version=0)
    # no expected_version on a reviewed read: a second opinion, kept; the latest wins per field
    store.submit_review(a, "cat", {"rrn": {"status": "confirmed", "text": "850315-1234567"}})
    assert [r.reviewer for r in store.get(a).reviews] == ["ann", "cat"]
    assert [r.id for r in store.queue()] == [c]
    final = {read.id: texts for read, texts in store.reviews_for_training()}
    assert final == {a: {"name": "김철수", "rrn": "850315-1234567"}, b: {"name": "이영회"}}


def test_conflicting_reviewers(store: ReviewStore) -> None:
    rid = add(store)
    version = store.get(rid).version  # both reviewers loaded version 0
    store.submit_review(rid, "ann", {"name": {"status": "confirmed", "text": None}}, expected_version=version)
    with pytest.raises(ReviewConflict, match="changed since version 0"):
        store.submit_review(
            rid, "bob", {"name": {"status": "corrected", "text": "홍길순"}}, expected_version=version
        )
    assert [r.reviewer for r in store.get(rid).reviews] == ["ann"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"nmae": {"status": "confirmed"}}, "unknown field 'nmae'"),
        ({"name": {"status": "ok"}}, "invalid status 'ok'"),
        ({"name": {"status": "corrected", "text": None}}, "needs its text"),
        ({"name": {"status": "confirmed", "text": "다른"}}, "!= the reading"),
        ({"issuer": {"status": "confirmed"}}, "nothing to confirm"),
        ({"name": {"status": "corrected", "text": "홍길é동ß"}}, r"'ß' \(U\+00DF\), 'é' \(U\+00E9\)"),
    ],
)
def test_invalid_reviews(store: ReviewStore, fields: dict[str, Any], message: str) -> None:
    from idsight.data.charset import CHARSET

    rid = add(store)
    with pytest.raises(ReviewError, match=message):
        store.submit_review(rid, "ann", fields, charset=CHARSET)
    assert store.get(rid).reviews == [] and store.get(rid).version == 0  # nothing half-written


def test_unknown_read_and_bad_inputs(store: ReviewStore) -> None:
    with pytest.raises(ReviewError, match="unknown read id 'nope'"):
        store.submit_review("nope", "ann", {"name": {"status": "confirmed"}})
    with pytest.raises(ReviewError, match="unknown read id"):
        store.get("nope")
    with pytest.raises(ReviewError, match="not a line"):
        store.add_read(kr_result(), model_name="m", model_sha256=SHA, crops={"mrz_1": PNG})
    with pytest.raises(ReviewError, match="not PNG"):
        store.add_read(kr_result(), model_name="m", model_sha256=SHA, crops={"name": b"GIF89a"})
    with pytest.raises(ReviewError, match="64 lowercase hex"):
        store.add_read(kr_result(), model_name="m", model_sha256="v1", crops={})


def test_foreign_and_broken_databases(tmp_path: Path) -> None:
    with pytest.raises(ReviewError, match="nosuchdb://x: unknown database kind"):
        ReviewStore("nosuchdb://x")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(ReviewError, match=f"sqlite:///{junk}: .*not a database"):
        ReviewStore(f"sqlite:///{junk}")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    with pytest.raises(ReviewError, match="not an idsight review store .*invoices"):
        ReviewStore(f"sqlite:///{other}")
    with sqlite3.connect(other) as conn:  # refused, not modified
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")] == [
            "invoices"
        ]
    newer = tmp_path / "newer.db"
    ReviewStore(f"sqlite:///{newer}").close()
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE idsight_review_version SET version_num = '9999'")
    with pytest.raises(ReviewError, match="revision 9999 is unknown"):
        ReviewStore(f"sqlite:///{newer}")
    with pytest.raises(ReviewError) as err:
        ReviewStore("postgresql://ann:s3cret@127.0.0.1:1/none")
    assert "s3cret" not in str(err.value) and "ann:***@" in str(err.value)


def test_jsonl_round_trip_is_exact(tmp_path: Path) -> None:
    with ReviewStore(f"sqlite:///{tmp_path / 'a.db'}", keep_images=True) as a:
        ids = [
            add(a, n, image=PNG + n.encode() if n != "박민수" else None)
            for n in ("김철수", "이영희", "박민수")
        ]
        a.submit_review(ids[0], "ann", {"name": {"status": "corrected", "text": "김철순"}})
        a.submit_review(ids[0], "bob", {"rrn": {"status": "confirmed", "text": None}})
        assert a.export_jsonl(tmp_path / "a.jsonl") == 3
    with ReviewStore(f"sqlite:///{tmp_path / 'b.db'}", keep_images=True) as b:
        assert b.import_jsonl(tmp_path / "a.jsonl") == 3
        b.export_jsonl(tmp_path / "b.jsonl")
        with pytest.raises(ReviewError, match="already in the store"):
            b.import_jsonl(tmp_path / "a.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    with ReviewStore(f"sqlite:///{tmp_path / 'c.db'}") as c:
        with pytest.raises(ReviewError, match="line 1: holds a card image"):
            c.import_jsonl(tmp_path / "a.jsonl")
        assert c.import_jsonl(tmp_path / "a.jsonl", drop_images=True) == 3
        assert c.get(ids[0]).image_png is None and c.get(ids[0]).reviews[0].fields["name"].text == "김철순"
    (tmp_path / "bad.jsonl").write_text('{"format": "idsight-review/1"}\n')
    with (
        ReviewStore(f"sqlite:///{tmp_path / 'd.db'}") as d,
        pytest.raises(ReviewError, match="bad.jsonl: line 1"),
    ):
        d.import_jsonl(tmp_path / "bad.jsonl")


def test_migrations_match_models(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from idsight.review.migrations import VERSION_TABLE
    from idsight.review.models import Base

    url = f"sqlite:///{tmp_path / 'm.db'}"
    ReviewStore(url).close()
    with create_engine(url).connect() as conn:
        assert (
            compare_metadata(
                MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}), Base.metadata
            )
            == []
        )


def _writer(url: str, worker: int) -> None:
    with ReviewStore(url) as store:
        for _ in range(25):
            rid = add(store, f"작업{worker}")
            store.submit_review(rid, f"w{worker}", {"name": {"status": "confirmed"}}, expected_version=0)


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    with ReviewStore(url) as store:
        done = list(store.reviews_for_training())
        assert len(done) == 100 and store.queue() == []
        assert sorted(r.reviews[0].reviewer for r, _ in done) == sorted(
            f"w{w}" for w in range(4) for _ in range(25)
        )


@pytest.mark.skipif(
    not os.environ.get("IDSIGHT_TEST_PG_URL"), reason="set IDSIGHT_TEST_PG_URL to run against PostgreSQL"
)
def test_postgresql(tmp_path: Path) -> None:
    with ReviewStore(os.environ["IDSIGHT_TEST_PG_URL"], keep_images=True) as store:
        rid = add(store, image=PNG)
        assert store.get(rid).image_png == PNG and rid in {r.id for r in store.queue(limit=100000)}
        store.submit_review(
            rid, "ann", {"name": {"status": "corrected", "text": "홍길순"}}, expected_version=0
        )
        with pytest.raises(ReviewConflict):
            store.submit_review(rid, "bob", {"name": {"status": "confirmed"}}, expected_version=0)
        final = {read.id: texts for read, texts in store.reviews_for_training()}
        assert final[rid] == {"name": "홍길순"}
        store.export_jsonl(tmp_path / "pg.jsonl")
        assert rid in (tmp_path / "pg.jsonl").read_text(encoding="utf-8")
