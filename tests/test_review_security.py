"""The review page's guards: Host allow-list, API key and login, same-origin writes, size limits, the
paged queue that loads no images, offline /docs, and what `idsight review serve` refuses."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from typer.testing import CliRunner

from idsight.review import FieldReview, Read, Review, ReviewError, ReviewStore, migrations
from idsight.review.jsonl import dump_read
from idsight.review.models import MAX_CORRECTION, MAX_QUEUE_PAGE, MAX_REVIEWER
from idsight.serve import security
from idsight.serve.review_app import create_app
from test_review_page import CHROMIUM, CHROMIUM_ARGS, KR, add_card, live_server, one_line_detail

KEY = "k3y-for-tests-0123456789abcdef"
BASE = "http://127.0.0.1:8765"  # a Host the app serves without being told


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ReviewStore]:
    with ReviewStore(f"sqlite:///{tmp_path / 'reviews.db'}", keep_images=True) as s:
        yield s


@pytest.fixture
def reads(store: ReviewStore) -> tuple[str, str]:
    return add_card(store, "kr-rrc", image=True), add_card(store, "td1", image=False)


@pytest.fixture
def keyed(store: ReviewStore) -> Iterator[TestClient]:
    """The app with an API key; the client sends no key unless a test adds one."""
    with TestClient(create_app(store, api_key=KEY), base_url=BASE) as c:
        yield c


@pytest.fixture
def open_client(store: ReviewStore) -> Iterator[TestClient]:
    """The app without a key (as on loopback)."""
    with TestClient(create_app(store), base_url=BASE) as c:
        yield c


def body(**fields: Any) -> dict[str, Any]:
    return {"reviewer": "ann", "expected_version": 0, "fields": {"name": {"status": "confirmed"}}, **fields}


def nothing_stored(store: ReviewStore, read_id: str) -> bool:
    read = store.get(read_id)
    return read.reviews == [] and read.version == 0


# -- Host ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1.evil.example", "", "a b"])
def test_wrong_host_is_400_and_shows_nothing(
    open_client: TestClient, reads: tuple[str, str], host: str
) -> None:
    kr, _ = reads
    for path in ("/api/queue", "/", f"/api/reads/{kr}", f"/api/reads/{kr}/image.png", "/docs", "/healthz"):
        r = open_client.get(path, headers={"host": host})
        assert "invalid Host header" in one_line_detail(r, 400)
        assert kr not in r.text and KR["rrn"][0] not in r.text
    r = open_client.post(f"/api/reads/{kr}/review", json=body(), headers={"host": host})
    assert r.status_code == 400


def test_allowed_hosts(store: ReviewStore, reads: tuple[str, str]) -> None:
    with TestClient(create_app(store, allowed_hosts=["Review.LAN", "10.1.2.3"]), base_url=BASE) as c:
        for host in ("127.0.0.1:8765", "localhost", "LOCALHOST:1", "[::1]:8765", "review.lan:80", "10.1.2.3"):
            assert c.get("/api/queue", headers={"host": host}).status_code == 200, host
        for host in ("review.lan.evil.example", "10.1.2.4", "::1"):
            assert c.get("/api/queue", headers={"host": host}).status_code == 400, host
    for bad in ("*", "http://review.lan", "review.lan:8765", "*.lan"):
        with pytest.raises(ValueError, match="not a host name or IP address"):
            create_app(store, allowed_hosts=[bad])


# -- API key and login -----------------------------------------------------------------------------
def test_no_key_is_401_or_a_login_redirect(
    keyed: TestClient, store: ReviewStore, reads: tuple[str, str]
) -> None:
    kr, _ = reads
    for path in ("/api/queue", f"/api/reads/{kr}", f"/api/reads/{kr}/image.png", "/openapi.json"):
        r = keyed.get(path)
        assert "authentication required" in one_line_detail(r, 401) and kr not in r.text
        assert r.headers["www-authenticate"] == "Bearer"
    for path, target in (("/", "%2F"), (f"/reads/{kr}?reviewer=ann", f"%2Freads%2F{kr}%3Freviewer%3Dann")):
        r = keyed.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/login?next={target}"
        assert kr not in r.text
    for path in ("/figures", "/docs"):
        assert keyed.get(path, follow_redirects=False).status_code == 303
    assert one_line_detail(keyed.post(f"/api/reads/{kr}/review", json=body()), 401)
    assert nothing_stored(store, kr)
    assert keyed.get("/healthz").text == "ok"  # public: health check, login page and its assets
    assert keyed.get("/login").status_code == 200 and keyed.get("/static/style.css").status_code == 200
    for headers in ({"X-API-Key": KEY + "x"}, {"Authorization": f"Bearer {KEY[:-1]}"}, {"X-API-Key": ""}):
        assert one_line_detail(keyed.get("/api/queue", headers=headers), 401) == "wrong API key"


def test_right_key_is_200(keyed: TestClient, store: ReviewStore, reads: tuple[str, str]) -> None:
    kr, _ = reads
    for headers in (
        {"X-API-Key": KEY},
        {"Authorization": f"Bearer {KEY}"},
        {"Authorization": f"bearer {KEY}"},
    ):
        assert [r["id"] for r in keyed.get("/api/queue", headers=headers).json()["reads"]] == list(reads)
    headers = {"X-API-Key": KEY}
    image = keyed.get(f"/api/reads/{kr}/image.png", headers=headers)
    assert image.status_code == 200 and image.content == store.get(kr).image_png
    assert keyed.get("/openapi.json", headers=headers).json()["info"]["title"] == "idsight review"
    assert keyed.post(f"/api/reads/{kr}/review", json=body(), headers=headers).json()["version"] == 1


def test_login_cookie_flow(keyed: TestClient, store: ReviewStore, reads: tuple[str, str]) -> None:
    kr, td = reads
    wrong = keyed.post("/login", data={"api_key": "nope", "next": "/"}, follow_redirects=False)
    assert wrong.status_code == 401 and "Wrong API key" in wrong.text and "set-cookie" not in wrong.headers
    target = f"/reads/{kr}?reviewer=ann"
    r = keyed.post("/login", data={"api_key": KEY, "next": target}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == target
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{security.SESSION_COOKIE}=") and KEY not in cookie
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/", f"Max-Age={security.SESSION_SECONDS}"):
        assert attribute in cookie
    assert "Secure" not in cookie  # plain http here; set over https
    page = keyed.get(target)  # the client keeps the cookie
    assert page.status_code == 200 and 'data-field="rrn"' in page.text and "Log out" in page.text
    assert [r["id"] for r in keyed.get("/api/queue").json()["reads"]] == [kr, td]
    same_origin = {"Origin": BASE}  # what the page's fetch sends
    assert keyed.post(f"/api/reads/{kr}/review", json=body(), headers=same_origin).status_code == 200
    assert keyed.post("/logout", headers=same_origin, follow_redirects=False).headers["location"] == "/login"
    assert keyed.get("/api/queue").status_code == 401  # the cookie is gone
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        r = keyed.post("/login", data={"api_key": KEY, "next": evil}, follow_redirects=False)
        assert r.headers["location"] == "/"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "123.abc",
        security.session_token("another-key-0123456789"),  # signed with another key
        security.session_token(KEY, now=time.time() - security.SESSION_SECONDS - 5),  # expired
        security.session_token(KEY).replace(".", ".0", 1),
        "9" * 40 + "." + "0" * 64,
    ],
)
def test_forged_or_expired_cookies_are_refused(keyed: TestClient, reads: tuple[str, str], token: str) -> None:
    keyed.cookies.set(security.SESSION_COOKIE, token)
    assert keyed.get("/api/queue").status_code == 401
    assert keyed.get("/", follow_redirects=False).status_code == 303


def test_bad_keys_are_refused(store: ReviewStore) -> None:
    for key, message in (
        ("", "empty"),
        ("   \n", "empty"),
        ("short", "at least 16"),
        ("a key with spaces!!", "ASCII"),
    ):
        with pytest.raises(ValueError, match=message):
            create_app(store, api_key=key)
    assert security.check_api_key(f"  {KEY}\n") == KEY


# -- Origin ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:9999"},  # another port of this machine is another origin
        {"Referer": "http://evil.example/page"},
        {"Origin": "http://[::1"},  # malformed: refused, not a server error
    ],
)
def test_cross_origin_post_is_403(
    open_client: TestClient, store: ReviewStore, reads: tuple[str, str], headers: dict[str, str]
) -> None:
    kr, _ = reads
    assert "cross-origin POST refused" in one_line_detail(
        open_client.post(f"/api/reads/{kr}/review", json=body(), headers=headers), 403
    )
    assert nothing_stored(store, kr)


def test_same_origin_and_originless_posts_pass(open_client: TestClient, reads: tuple[str, str]) -> None:
    kr, td = reads
    r = open_client.post(f"/api/reads/{kr}/review", json=body(), headers={"Referer": f"{BASE}/reads/{kr}"})
    assert r.status_code == 200
    assert open_client.post(
        f"/api/reads/{td}/review", json=body(fields={"sex": {"status": "confirmed"}})
    ).is_success
    assert (
        open_client.get("/api/queue", headers={"Origin": "http://evil.example"}).status_code == 200
    )  # a GET


# -- sizes and limits ------------------------------------------------------------------------------
def test_oversized_body_is_413_and_stores_nothing(store: ReviewStore, reads: tuple[str, str]) -> None:
    kr, _ = reads
    big = body(reviewer="a" * 2_000_000)
    with TestClient(create_app(store), base_url=BASE) as c:
        assert "at most 1048576 bytes" in one_line_detail(c.post(f"/api/reads/{kr}/review", json=big), 413)
    assert nothing_stored(store, kr)
    with TestClient(create_app(store, max_body=4096), base_url=BASE) as c:
        payload = json.dumps(body(reviewer="a" * 5000)).encode()

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
            for i in range(0, len(payload), 1000):
                yield payload[i : i + 1000]

        r = c.post(f"/api/reads/{kr}/review", content=chunks(), headers={"Content-Type": "application/json"})
        assert "at most 4096 bytes" in one_line_detail(r, 413)
        bad_length = {"Content-Length": "12x", "Content-Type": "application/json"}
        assert c.post(f"/api/reads/{kr}/review", content=b"{}", headers=bad_length).status_code == 400
        assert nothing_stored(store, kr)
        small = json.dumps(body()).encode()
        r = c.post(
            f"/api/reads/{kr}/review",
            content=iter([small[:10], small[10:]]),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 200, r.text  # a streamed body within the limit reaches the app whole


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"reviewer": "x" * 50_000}, f"reviewer name is 50000 characters long \\(at most {MAX_REVIEWER}\\)"),
        ({"reviewer": "x" * (MAX_REVIEWER + 1)}, "reviewer name is 201 characters long"),
        ({"reviewer": "ann\x00"}, r"reviewer name has control characters \(U\+0000\)"),
        ({"reviewer": "\t\n "}, "a reviewer name is required"),
        ({"fields": {"rrn": {"status": "corrected", "text": "   "}}}, "field 'rrn': the correction is empty"),
        ({"fields": {"rrn": {"status": "corrected", "text": ""}}}, "field 'rrn': the correction is empty"),
        (
            {"fields": {"rrn": {"status": "corrected", "text": "1" * (MAX_CORRECTION + 1)}}},
            f"field 'rrn': the correction is 501 characters long \\(at most {MAX_CORRECTION}\\)",
        ),
        ({"fields": {"rrn": {"status": "corrected", "text": "1\n2"}}}, "field 'rrn': .*control characters"),
        ({"fields": {"x" * 10_000: {"status": "confirmed"}}}, r"unknown field 'x+\.\.\. for template"),
    ],
)
def test_limits_are_422_and_store_nothing(
    open_client: TestClient, store: ReviewStore, reads: tuple[str, str], fields: dict[str, Any], message: str
) -> None:
    kr, _ = reads
    detail = one_line_detail(open_client.post(f"/api/reads/{kr}/review", json=body(**fields)), 422)
    assert re.search(message, detail) and len(detail) < 300
    assert nothing_stored(store, kr)
    with pytest.raises(ReviewError, match=message):  # the same check for every caller of the store
        store.submit_review(kr, body(**fields)["reviewer"], body(**fields)["fields"])


def test_limits_at_the_edge_pass(open_client: TestClient, store: ReviewStore, reads: tuple[str, str]) -> None:
    kr, td = reads
    name = "배" * MAX_REVIEWER
    r = open_client.post(f"/api/reads/{kr}/review", json=body(reviewer=name))
    assert r.status_code == 200 and store.get(kr).reviews[0].reviewer == name
    mrz = "<" * 30 + "\n" + "<" * 30 + "\n" + "<" * 30  # a multi-line field keeps its line breaks
    fields = {"mrz": {"status": "corrected", "text": mrz}}
    assert open_client.post(f"/api/reads/{td}/review", json=body(fields=fields)).status_code == 200


def _record(read_id: str, created_at: datetime, reviews: list[Review]) -> Read:
    return Read(
        id=read_id,
        template="kr-rrc",
        source=f"{read_id}.jpg",
        model_name="reader-s",
        model_sha256="a" * 64,
        created_at=created_at,
        fields={k: {"text": t, "confidence": c, "box": None} for k, (t, c) in KR.items()},
        checks={},
        corrections=[],
        version=len(reviews),
        reviews=reviews,
    )


def _reviewed(read_id: str, reviewer: str = "ann", text: str | None = None) -> Read:
    verdict = FieldReview("confirmed", None) if text is None else FieldReview("corrected", text)
    review = Review(f"{read_id}r", read_id, 1, reviewer, datetime(2024, 3, 2, tzinfo=UTC), {"rrn": verdict})
    return _record(read_id, datetime(2024, 3, 1, tzinfo=UTC), [review])


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (_reviewed("r2", reviewer="x" * 201), "line 2: review r2r: the reviewer name is 201 characters long"),
        (_reviewed("r2", reviewer=" "), "line 2: review r2r: a reviewer name is required"),
        (
            _reviewed("r2", text="1" * 501),
            "line 2: review r2r: field 'rrn': the correction is 501 characters",
        ),
        (
            _record("r" * 33, datetime(2024, 3, 1, tzinfo=UTC), []),
            "line 2: the read id is 33 characters long",
        ),
    ],
)
def test_import_refuses_over_long_values(
    store: ReviewStore, tmp_path: Path, record: Read, message: str
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(dump_read(_reviewed("r1")) + "\n" + dump_read(record) + "\n", encoding="utf-8")
    with pytest.raises(ReviewError, match=re.escape(message)) as err:
        store.import_jsonl(path)
    assert "\n" not in str(err.value) and "nothing imported" in str(err.value)
    assert list(store.iter_reads()) == []


# -- the paged queue -------------------------------------------------------------------------------
def _walk(store: ReviewStore, limit: int) -> list[list[str]]:
    pages, after = [], None
    while True:
        page, after = store.queue_page(limit, after)
        pages.append([r.id for r in page])
        if after is None:
            return pages


@settings(max_examples=30, deadline=None)
@given(
    times=st.lists(st.integers(0, 4), min_size=0, max_size=25),  # few distinct times: ties on created_at
    reviewed=st.sets(st.integers(0, 24)),
    limit=st.integers(1, 7),
)
def test_queue_pages_cover_every_unreviewed_read_once_in_order(
    times: list[int], reviewed: set[int], limit: int
) -> None:
    start = datetime(2024, 3, 1, tzinfo=UTC)
    records = [
        _reviewed(f"{i:02d}{'ab'[i % 2]}") if i in reviewed else _record(f"{(7 * i) % 25:02d}q{i}", start, [])
        for i in range(len(times))
    ]
    records = [
        dataclasses.replace(r, created_at=start + timedelta(microseconds=t))
        for r, t in zip(records, times, strict=True)
    ]
    with tempfile.TemporaryDirectory() as tmp, ReviewStore(f"sqlite:///{tmp}/q.db") as store:
        path = Path(tmp) / "in.jsonl"
        path.write_text("".join(dump_read(r) + "\n" for r in records), encoding="utf-8")
        store.import_jsonl(path)
        expected = [r.id for r in sorted(records, key=lambda r: (r.created_at, r.id)) if not r.reviews]
        pages = _walk(store, limit)
        assert [i for page in pages for i in page] == expected
        assert all(len(p) == limit for p in pages[:-1]) and len(pages[-1]) <= limit
        assert len(pages) == max(1, -(-len(expected) // limit))
        assert store.queue_size() == len(expected)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReviewStore]:
    """A new store on SQLite, and on the PostgreSQL server of ``IDSIGHT_TEST_PG_URL`` (skipped without it,
    failed with ``IDSIGHT_REQUIRE_PG=1``); the PostgreSQL database is dropped afterwards."""
    if request.param == "sqlite":
        with ReviewStore(f"sqlite:///{tmp_path / 'any.db'}", keep_images=True) as s:
            yield s
        return
    url = os.environ.get("IDSIGHT_TEST_PG_URL")
    if not url:
        why = "IDSIGHT_TEST_PG_URL is not set (bash scripts/pg-test-server start makes a server)"
        if os.environ.get("IDSIGHT_REQUIRE_PG") == "1":
            pytest.fail(f"IDSIGHT_REQUIRE_PG=1 but {why}")
        pytest.skip(why)
    name = f"idsight_test_{uuid.uuid4().hex[:12]}"
    admin = migrations.create(url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        db = make_url(url).set(database=name).render_as_string(hide_password=False)
        with ReviewStore(db, keep_images=True) as s:
            yield s
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.engine.dispose()


def test_limits_and_pages_are_the_same_on_every_database(any_store: ReviewStore, tmp_path: Path) -> None:
    start = datetime(2024, 3, 1, tzinfo=UTC)
    made = [
        _reviewed(f"r{i:02d}") if i % 3 == 0 else _record(f"u{(5 * i) % 12:02d}", start, [])
        for i in range(12)
    ]
    records = [  # three reads per instant (ties on created_at, ids out of order), every third one reviewed
        dataclasses.replace(r, created_at=start + timedelta(microseconds=i // 3)) for i, r in enumerate(made)
    ]
    (tmp_path / "in.jsonl").write_text("".join(dump_read(r) + "\n" for r in records), encoding="utf-8")
    any_store.import_jsonl(tmp_path / "in.jsonl")
    expected = [r.id for r in sorted(records, key=lambda r: (r.created_at, r.id)) if not r.reviews]
    for limit in (1, 2, 3, 7, MAX_QUEUE_PAGE):
        pages = _walk(any_store, limit)
        assert [i for page in pages for i in page] == expected and len(pages) == -(-len(expected) // limit)
    read_id = expected[0]
    for reviewer, fields, message in (
        ("x" * (MAX_REVIEWER + 1), {"rrn": {"status": "confirmed"}}, "at most 200"),
        ("ann", {"rrn": {"status": "corrected", "text": "1" * (MAX_CORRECTION + 1)}}, "at most 500"),
        ("ann", {"rrn": {"status": "corrected", "text": " \t "}}, "the correction is empty"),
    ):
        with pytest.raises(ReviewError, match=message):
            any_store.submit_review(read_id, reviewer, fields)
    longest = {"rrn": {"status": "corrected", "text": "8" * MAX_CORRECTION}}
    any_store.submit_review(read_id, "배" * MAX_REVIEWER, longest)  # the longest allowed fit the columns
    (review,) = any_store.get(read_id).reviews
    assert review.reviewer == "배" * MAX_REVIEWER and review.fields["rrn"].text == "8" * MAX_CORRECTION
    assert [r.id for r in any_store.queue_page(MAX_QUEUE_PAGE)[0]] == expected[1:]


def test_queue_api_pages(open_client: TestClient, store: ReviewStore) -> None:
    ids = [add_card(store, "kr-rrc", image=False) for _ in range(5)]
    seen, after, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"after": after} if after else {})}
        data = open_client.get("/api/queue", params=params).json()
        seen += [r["id"] for r in data["reads"]]
        pages += 1
        after = data["next"]
        if after is None:
            break
    assert seen == ids and pages == 3
    html = open_client.get("/?limit=2&reviewer=ann").text
    assert "Reads awaiting review (5)" in html and html.count('class="read"') == 2
    link = re.search(r'id="next-page" href="([^"]+)"', html)
    assert link is not None and "reviewer=ann" in link.group(1)
    second = open_client.get(link.group(1).replace("&amp;", "&")).text
    assert ids[2] in second and ids[0] not in second and "First page" in second
    last = open_client.get(
        "/api/queue",
        params={"limit": 2, "after": open_client.get("/api/queue", params={"limit": 4}).json()["next"]},
    )
    assert [r["id"] for r in last.json()["reads"]] == ids[4:] and last.json()["next"] is None
    for params in ({"limit": MAX_QUEUE_PAGE + 1}, {"limit": 0}):
        assert one_line_detail(open_client.get("/api/queue", params=params), 422).startswith("query.limit")
    assert "invalid queue cursor" in one_line_detail(
        open_client.get("/api/queue", params={"after": "@@"}), 422
    )
    assert open_client.get("/", params={"after": "bm9wZQ"}).status_code == 422


def _noise_png(size: int) -> bytes:
    buf = io.BytesIO()
    Image.frombytes("RGB", (size, size), os.urandom(size * size * 3)).save(buf, format="PNG")
    return buf.getvalue()


def test_queue_loads_no_images_or_crops(
    open_client: TestClient, store: ReviewStore, reads: tuple[str, str]
) -> None:
    kr, _ = reads
    big = _noise_png(700)  # about 1.5 MB each
    result = {"image": "big.jpg", "template": "kr-rrc", "fields": {"name": {"text": "홍", "confidence": 0.5}}}
    for _ in range(3):
        store.add_read(result, model_name="m", model_sha256="a" * 64, crops={"name": big}, image_png=big)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.lower())

    event.listen(Engine, "before_cursor_execute", record)
    try:
        queue = open_client.get("/api/queue", params={"limit": 200})
        html = open_client.get("/")
        assert queue.status_code == 200 and html.status_code == 200 and len(queue.content) < 20_000
        assert (
            len(queue.json()["reads"]) == 5 and queue.json()["reads"][2]["low_confidence_fields"][0] == "name"
        )
        queue_statements = list(statements)
        open_client.get(f"/api/reads/{kr}")  # the check sees tables when they are read
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert any(re.search(r"\bfrom reads\b", s) for s in queue_statements)
    touched = [s for s in queue_statements if re.search(r"\b(images|crops)\b", s)]
    assert touched == []
    assert any(re.search(r"\bfrom crops\b", s) for s in statements[len(queue_statements) :])


# -- /docs -----------------------------------------------------------------------------------------
def test_docs_are_served_from_local_files(keyed: TestClient) -> None:
    headers = {"X-API-Key": KEY}
    r = keyed.get("/docs", headers=headers)
    assert r.status_code == 200 and "SwaggerUIBundle" in r.text
    assert (
        "content-security-policy" in r.headers and "'unsafe-inline'" in r.headers["content-security-policy"]
    )
    assert not re.search(r"https?://|//cdn|jsdelivr|unpkg", r.text, re.IGNORECASE)
    assets = re.findall(r'<script src="([^"]+)"|<link[^>]*href="([^"]+)"', r.text)
    urls = [u for pair in assets for u in pair if u]
    assert len(urls) == 3 and all(u.startswith("/docs-assets/") for u in urls)
    for url in urls:
        asset = keyed.get(url, headers=headers)
        assert asset.status_code == 200 and len(asset.content) > 1000, url
    assert keyed.get("/openapi.json", headers=headers).json()["openapi"].startswith("3.")
    assert keyed.get("/redoc", headers=headers).status_code == 404  # redoc would load from a CDN
    assert (
        keyed.get(urls[0], follow_redirects=False).status_code == 303
    )  # behind the key like the page itself


def test_pages_forbid_other_origins(open_client: TestClient, reads: tuple[str, str]) -> None:
    r = open_client.get(f"/reads/{reads[0]}")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"


def test_browser_login_review_and_offline_docs(store: ReviewStore, reads: tuple[str, str]) -> None:
    """Chromium: log in with the key, review with the page's fetch (the cookie authenticates it), then
    /docs renders Swagger UI with every request off this server refused."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: install Debian's chromium (scripts/install.sh)"
    from playwright.sync_api import sync_playwright

    kr, td = reads
    js_errors: list[str] = []
    foreign: list[str] = []
    with live_server(create_app(store, api_key=KEY)) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context()
            page = context.new_page()
            page.on("pageerror", lambda e: js_errors.append(str(e)))
            page.on("console", lambda m: js_errors.append(m.text) if m.type == "error" else None)

            def only_local(route: Any) -> None:
                if route.request.url.startswith(base):
                    route.continue_()
                else:
                    foreign.append(route.request.url)
                    route.abort()

            page.route("**/*", only_local)
            page.goto(f"{base}/reads/{kr}?reviewer=ann")
            page.wait_for_url(re.compile(r".*/login\?next=.*"))
            assert page.evaluate("() => document.activeElement.id") == "api-key"
            page.keyboard.type(KEY)
            page.keyboard.press("Enter")
            page.wait_for_url(f"{base}/reads/{kr}?reviewer=ann")
            (cookie,) = context.cookies()
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and KEY not in cookie["value"]
            page.keyboard.press("Enter")  # confirm every field as read
            page.wait_for_url(f"{base}/reads/{td}?reviewer=ann")  # the page's fetch to the queue API worked
            page.goto(f"{base}/docs")
            page.locator(".swagger-ui .info .title").wait_for(timeout=30_000)
            assert "idsight review" in page.locator(".swagger-ui .info .title").inner_text()
            page.locator(".opblock-summary-path", has_text="/api/queue").first.wait_for()
        finally:
            browser.close()
    assert js_errors == [] and foreign == []
    (review,) = store.get(kr).reviews
    assert review.reviewer == "ann" and review.fields["rrn"] == FieldReview("confirmed", None)


# -- `idsight review serve` ------------------------------------------------------------------------
def _serve(
    monkeypatch: pytest.MonkeyPatch, *args: str, env_key: str | None = None
) -> tuple[Any, dict[str, Any]]:
    """`idsight review serve ARGS` with uvicorn.run (and the port check) replaced: (result, run's kwargs)."""
    import uvicorn

    from idsight.cli import review
    from idsight.cli.main import app

    ran: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.update(app=app, **kw))
    monkeypatch.setattr(review, "_check_port", lambda host, port: None)  # binds nothing
    if env_key is None:
        monkeypatch.delenv("IDSIGHT_REVIEW_API_KEY", raising=False)
    else:
        monkeypatch.setenv("IDSIGHT_REVIEW_API_KEY", env_key)
    return CliRunner().invoke(app, ["review", "serve", *args]), ran


def _one_error_line(result: Any) -> str:
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("error: ")
    return str(result.stderr)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "review.example.org"])
def test_cli_refuses_the_network_without_a_key(
    monkeypatch: pytest.MonkeyPatch, store: ReviewStore, host: str
) -> None:
    result, ran = _serve(monkeypatch, "--db", store.url, "--host", host)
    assert "without an API key" in _one_error_line(result) and ran == {}


def test_cli_bad_key_files(monkeypatch: pytest.MonkeyPatch, store: ReviewStore, tmp_path: Path) -> None:
    empty, short = tmp_path / "empty.key", tmp_path / "short.key"
    empty.write_text("\n")
    short.write_text("abc\n")
    for path, message in (
        (tmp_path / "missing.key", "no such API key file"),
        (empty, "empty"),
        (short, "at least 16"),
    ):
        result, ran = _serve(monkeypatch, "--db", store.url, "--host", "0.0.0.0", "--api-key-file", str(path))
        assert message in _one_error_line(result) and str(path) in result.stderr and ran == {}
    result, _ = _serve(monkeypatch, "--db", store.url, env_key="")
    assert "$IDSIGHT_REVIEW_API_KEY: the API key is empty" in _one_error_line(result)
    result, _ = _serve(monkeypatch, "--db", store.url, "--allowed-host", "*")
    assert "--allowed-host" in _one_error_line(result)


def test_cli_serves_the_network_with_a_key(
    monkeypatch: pytest.MonkeyPatch, store: ReviewStore, reads: tuple[str, str], tmp_path: Path
) -> None:
    key_file = tmp_path / "review.key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    args = (
        "--db",
        store.url,
        "--host",
        "0.0.0.0",
        "--api-key-file",
        str(key_file),
        "--allowed-host",
        "review.lan",
    )
    result, ran = _serve(monkeypatch, *args)
    assert result.exit_code == 0, result.output
    (warning,) = result.stderr.strip().splitlines()
    assert warning.startswith("warning: the review page is reachable from the network on 0.0.0.0")
    assert "review.lan" in warning and KEY not in result.output
    assert ran["host"] == "0.0.0.0"
    with TestClient(ran["app"], base_url="http://review.lan:8765") as c:
        assert c.get("/api/queue").status_code == 401
        assert [r["id"] for r in c.get("/api/queue", headers={"X-API-Key": KEY}).json()["reads"]] == list(
            reads
        )
        assert c.get("/api/queue", headers={"X-API-Key": KEY, "Host": "evil.example"}).status_code == 400
    key_file.chmod(0o644)  # readable by others: served, with a warning
    result, ran = _serve(monkeypatch, *args)
    assert result.exit_code == 0 and "readable by other users" in result.stderr


def test_cli_loopback_needs_no_key_and_takes_one_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, store: ReviewStore
) -> None:
    result, ran = _serve(monkeypatch, "--db", store.url)
    assert result.exit_code == 0 and result.stderr == "" and ran["host"] == "127.0.0.1"
    with TestClient(ran["app"], base_url=BASE) as c:
        assert c.get("/api/queue").status_code == 200
    result, ran = _serve(monkeypatch, "--db", store.url, "--host", "::", env_key=KEY)
    assert result.exit_code == 0 and "reachable from the network" in result.stderr
    with TestClient(ran["app"], base_url=BASE) as c:
        assert c.get("/api/queue").status_code == 401
        assert c.get("/api/queue", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
