"""Review store: reads, reviews, optimistic concurrency, JSONL round trip, foreign databases, writers.

Every store test runs on SQLite and on PostgreSQL. The PostgreSQL ones need ``IDSIGHT_TEST_PG_URL``
(a database on a server where that user may create databases; ``bash scripts/pg-test-server start``
makes one) and skip without it, unless ``IDSIGHT_REQUIRE_PG=1`` (CI), where they fail. Each test gets
new, empty databases of its own, dropped afterwards.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from idsight.review import ReviewConflict, ReviewError, ReviewStore, migrations

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00fake"
SHA = "ab" * 32
NewUrl = Callable[[], str]


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


def pg_admin_url() -> str:
    """The PostgreSQL server under test, or a skip (a failure with IDSIGHT_REQUIRE_PG=1) saying how to get one."""
    url = os.environ.get("IDSIGHT_TEST_PG_URL")
    if not url:
        why = (
            "IDSIGHT_TEST_PG_URL is not set; set it to run the store tests on PostgreSQL too "
            '(eval "$(bash scripts/pg-test-server start)" starts a throwaway server)'
        )
        if os.environ.get("IDSIGHT_REQUIRE_PG") == "1":
            pytest.fail(f"IDSIGHT_REQUIRE_PG=1 but {why}")
        pytest.skip(why)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def new_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewUrl]:
    """Makes URLs of new, empty databases of the back end under test (on PostgreSQL: dropped after)."""
    if request.param == "sqlite":
        n = itertools.count()
        yield lambda: f"sqlite:///{tmp_path / f'db{next(n)}.db'}"
        return
    url = pg_admin_url()
    admin = migrations.create(url).execution_options(isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> str:
        name = f"idsight_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return make_url(url).set(database=name).render_as_string(hide_password=False)

    try:
        yield make
    finally:
        with admin.connect() as conn:
            for name in made:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.engine.dispose()


@pytest.fixture
def store(new_url: NewUrl) -> Iterator[ReviewStore]:
    with ReviewStore(new_url()) as s:
        yield s


def tables(url: str) -> set[str]:
    engine = migrations.create(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def execute(url: str, sql: str) -> None:
    engine = migrations.create(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def test_add_get_queue_and_images(store: ReviewStore, new_url: NewUrl) -> None:
    rid = add(store, image=PNG + b"card")
    read = store.get(rid)
    assert len(rid) == 32 and read.template == "kr-rrc" and read.version == 0
    assert read.fields["name"]["text"] == "홍길동" and read.fields["name"]["box"] == [1.0, 2.0, 3.0, 4.0]
    assert read.crops == {"name": PNG + "홍길동".encode(), "rrn": PNG}
    assert read.image_png is None  # keep_images=False: the card image is never stored
    assert read.model_sha256 == SHA and read.created_at.tzinfo is not None
    assert [r.id for r in store.queue()] == [rid]
    with ReviewStore(new_url(), keep_images=True) as kept:
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


def test_foreign_database_is_refused_and_left_alone(new_url: NewUrl) -> None:
    url = new_url()
    execute(url, "CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    for create in (True, False):
        with pytest.raises(ReviewError, match="not an idsight review store .*invoices"):
            ReviewStore(url, create=create)
    assert tables(url) == {"invoices"}  # refused, not modified


def test_newer_schema_is_refused(new_url: NewUrl) -> None:
    url = new_url()
    ReviewStore(url).close()
    execute(url, "UPDATE idsight_review_version SET version_num = '9999'")
    with pytest.raises(ReviewError, match="revision 9999 is unknown"):
        ReviewStore(url)


def test_missing_store_is_refused_unless_created(new_url: NewUrl) -> None:
    url = new_url()
    masked = migrations.mask_url(url)
    with pytest.raises(ReviewError, match="no such review store") as err:
        ReviewStore(url, create=False)
    assert str(err.value).startswith(f"{masked}: ") and "idsight review import" in str(err.value)
    if url.startswith("sqlite"):
        assert not Path(url.removeprefix("sqlite:///")).exists()  # nothing created
    else:
        assert tables(url) == set()
    with ReviewStore(url) as s:  # the default creates it
        rid = add(s)
    with ReviewStore(url, create=False) as s:  # and now it opens for reading
        assert [r.id for r in s.queue()] == [rid]


def test_bad_urls_and_files(tmp_path: Path) -> None:
    with pytest.raises(ReviewError, match="nosuchdb://x: unknown database kind"):
        ReviewStore("nosuchdb://x")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    for create in (True, False):
        with pytest.raises(ReviewError, match=f"sqlite:///{junk}: .*not a database"):
            ReviewStore(f"sqlite:///{junk}", create=create)
    with pytest.raises(ReviewError, match="no such review store"):
        ReviewStore("sqlite://", create=False)  # in memory: never there already
    with pytest.raises(ReviewError) as err:
        ReviewStore("postgresql://ann:s3cret@127.0.0.1:1/none")
    assert "s3cret" not in str(err.value) and "ann:***@" in str(err.value)


def test_postgresql_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare postgresql:// URL uses psycopg2 if installed, else psycopg 3, else says how to get it."""
    installed: set[str] = set()
    monkeypatch.setattr(migrations, "find_spec", lambda name: object() if name in installed else None)
    url = make_url("postgresql://ann@db.example/reviews")
    with pytest.raises(migrations.OpenError, match=r"pip install 'idsight\[pg\]'"):
        migrations._pg_driver(url)
    with pytest.raises(ReviewError, match=r"ann:\*\*\*@db.example/reviews: .*pip install 'idsight\[pg\]'"):
        ReviewStore("postgresql://ann:pw@db.example/reviews", create=False)
    installed.add("psycopg")
    assert migrations._pg_driver(url).drivername == "postgresql+psycopg"
    installed.add("psycopg2")
    assert migrations._pg_driver(url) is url
    explicit = make_url("postgresql+psycopg://ann@db.example/reviews")
    assert migrations._pg_driver(explicit) is explicit


def test_jsonl_round_trip_is_exact(new_url: NewUrl, tmp_path: Path) -> None:
    with ReviewStore(new_url(), keep_images=True) as a:
        ids = [
            add(a, n, image=PNG + n.encode() if n != "박민수" else None)
            for n in ("김철수", "이영희", "박민수")
        ]
        a.submit_review(ids[0], "ann", {"name": {"status": "corrected", "text": "김철순"}})
        a.submit_review(ids[0], "bob", {"rrn": {"status": "confirmed", "text": None}})
        assert a.export_jsonl(tmp_path / "a.jsonl") == 3
    with ReviewStore(new_url(), keep_images=True) as b:
        assert b.import_jsonl(tmp_path / "a.jsonl") == 3
        b.export_jsonl(tmp_path / "b.jsonl")
        with pytest.raises(ReviewError, match="already in the store"):
            b.import_jsonl(tmp_path / "a.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    with ReviewStore(new_url()) as c:
        with pytest.raises(ReviewError, match="line 1: holds a card image"):
            c.import_jsonl(tmp_path / "a.jsonl")
        assert c.import_jsonl(tmp_path / "a.jsonl", drop_images=True) == 3
        assert c.get(ids[0]).image_png is None and c.get(ids[0]).reviews[0].fields["name"].text == "김철순"
    (tmp_path / "bad.jsonl").write_text('{"format": "idsight-review/1"}\n')
    with (
        ReviewStore(new_url()) as d,
        pytest.raises(ReviewError, match="bad.jsonl: line 1"),
    ):
        d.import_jsonl(tmp_path / "bad.jsonl")


def test_migrations_match_models(new_url: NewUrl) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from idsight.review.migrations import VERSION_TABLE
    from idsight.review.models import Base

    url = new_url()
    ReviewStore(url).close()
    engine = migrations.create(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def _writer(url: str, worker: int) -> None:
    with ReviewStore(url) as store:
        for _ in range(25):
            rid = add(store, f"작업{worker}")
            store.submit_review(rid, f"w{worker}", {"name": {"status": "confirmed"}}, expected_version=0)


def test_concurrent_writers_lose_nothing(new_url: NewUrl) -> None:
    url = new_url()  # four processes create the schema and write to it at once
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    with ReviewStore(url, create=False) as store:
        done = list(store.reviews_for_training())
        assert len(done) == 100 and store.queue() == []
        assert sorted(r.reviews[0].reviewer for r, _ in done) == sorted(
            f"w{w}" for w in range(4) for _ in range(25)
        )


def test_export_failure_leaves_no_temporary_file(store: ReviewStore, tmp_path: Path) -> None:
    from idsight.errors import OutputError
    from idsight.review import jsonl

    add(store)
    target = tmp_path / "out.jsonl"
    target.write_text("an older export\n")

    def broken() -> Iterator[Any]:
        yield from store.iter_reads()
        raise ReviewError("the database went away")

    with pytest.raises(ReviewError, match="went away"):
        jsonl.write_file(target, broken())
    with pytest.raises(OutputError, match="no such folder"):
        store.export_jsonl(tmp_path / "missing" / "out.jsonl")
    assert target.read_text() == "an older export\n" and not list(tmp_path.rglob("*.tmp"))
    assert store.export_jsonl(target) == 1 and not list(tmp_path.rglob("*.tmp"))


def _set_created(url: str, read_id: str, when: Any) -> None:
    engine = migrations.create(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE reads SET created_at = :t WHERE id = :i"), {"t": when, "i": read_id})
    finally:
        engine.dispose()


def _count(url: str, table: str) -> int:
    engine = migrations.create(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def test_purge_deletes_old_reads_with_crops_and_reviews(new_url: NewUrl) -> None:
    from datetime import UTC, datetime, timedelta

    url = new_url()
    with ReviewStore(url) as st:
        old, new = add(st, "오래된이름"), add(st, "새이름")
        for rid in (old, new):
            st.submit_review(rid, "ann", {"name": {"status": "corrected", "text": "정정된이름"}})
        _set_created(url, old, datetime.now(UTC) - timedelta(days=40))
        assert st.purge(30, dry_run=True) == 1 and _count(url, "reads") == 2  # only counted
        assert st.purge(30) == 1
        assert [r.id for r in st.iter_reads()] == [new]
        assert _count(url, "crops") == 2 and _count(url, "reviews") == 1 and _count(url, "review_fields") == 1
        assert st.purge(30) == 0
        with pytest.raises(ReviewError, match="0 days or more"):
            st.purge(-1)
    if url.startswith("sqlite"):  # the freed pages are overwritten: the old name is nowhere in the files
        path = Path(url.removeprefix("sqlite:///"))
        data = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert "오래된이름".encode() not in data and "새이름".encode() in data


def test_database_down_is_store_unavailable_and_recovers(new_url: NewUrl, tmp_path: Path) -> None:
    from idsight.review import StoreUnavailable

    url = new_url()
    with ReviewStore(url) as st:
        rid = add(st)
        if url.startswith("sqlite"):  # the file's volume goes away, then comes back
            path = Path(url.removeprefix("sqlite:///"))
            st._engine.dispose()
            moved = path.rename(tmp_path / "away.db")
            path.mkdir()
        else:  # the server stops taking connections to this database and drops the open ones
            name = make_url(url).database
            execute(pg_admin_url(), f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            execute(
                pg_admin_url(),
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
            )
        with pytest.raises(StoreUnavailable, match="database error"):
            st.submit_review(rid, "ann", {"name": {"status": "confirmed"}})
        if url.startswith("sqlite"):
            path.rmdir()
            moved.rename(path)
        else:
            execute(pg_admin_url(), f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        assert st.get(rid).version == 0  # nothing was half-written
        assert st.submit_review(rid, "ann", {"name": {"status": "confirmed"}}).seq == 1


def test_crops_are_encrypted_at_rest_with_the_operators_key(
    new_url: NewUrl, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.fernet import Fernet

    from idsight.review import StoreUnavailable
    from idsight.review.sealing import KEY_ENV

    url, key = new_url(), Fernet.generate_key().decode()
    monkeypatch.delenv(KEY_ENV, raising=False)
    with ReviewStore(url) as plain:
        before = add(plain, "평문이름")  # stored before encryption was switched on
    with ReviewStore(url, keep_images=True, crypt_key=key) as st:
        rid = add(st, "암호이름", image=PNG + b"card")
        read = st.get(rid)
        assert read.crops["name"] == PNG + "암호이름".encode() and read.image_png == PNG + b"card"
        assert st.get(before).crops["name"] == PNG + "평문이름".encode()  # plain rows still read
    engine = migrations.create(url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT png FROM crops WHERE read_id = :i"), {"i": rid}).scalars().all()
    engine.dispose()
    assert stored and all(b.startswith(b"idsight-fernet1:") and "암호이름".encode() not in b for b in stored)
    with ReviewStore(url) as st, pytest.raises(StoreUnavailable, match=f"encrypted: set \\${KEY_ENV}"):
        st.get(rid)
    with ReviewStore(url, crypt_key=Fernet.generate_key().decode()) as st:
        with pytest.raises(StoreUnavailable, match="another key"):
            st.get(rid)
    monkeypatch.setenv(KEY_ENV, key)  # the key from the environment, as the CLI and service take it
    with ReviewStore(url) as st:
        assert [r.crops["name"] for r in st.iter_reads()][-1] == PNG + "암호이름".encode()
    with pytest.raises(ReviewError, match="not a Fernet key"):
        ReviewStore(url, crypt_key="not-a-key")
