"""The review page: API contract, HTML, figures, CLI, and a keyboard-only review in a real browser."""

from __future__ import annotations

import io
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape
from PIL import Image, ImageDraw, ImageFont
from typer.testing import CliRunner

from idsight.data.charset import CHARSET
from idsight.review import FieldReview, Read, Review, ReviewError, ReviewStore
from idsight.review.jsonl import dump_read
from idsight.serve.review_app import create_app
from idsight.templates import CARD_SIZE, get_template

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHA_A, SHA_B = "a" * 64, "b" * 64
FONT = "/usr/share/fonts/truetype/nanum/NanumGothic.ttf"

# (text, confidence) per field, as the reader would return them; multi-line fields split per line key
KR = {
    "name": ("홍길동", 0.98),
    "rrn": ("850315-1234567", 0.62),
    "address": ("서울특별시 종로구 세종대로 175", 0.93),
    "issue_date": ("2019-05-20", 0.97),
    "issuer": ("서울특별시 종로구청장", 0.95),
}
KR_LINES = {"address_1": "서울특별시 종로구", "address_2": "세종대로 175"}
MRZ = ["I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"]
TD1 = {
    "document_number": ("D23145890", 0.99),
    "surname": ("ERIKSSON", 0.96),
    "given_names": ("ANNA MARIA", 0.91),
    "sex": ("F", 0.99),
    "nationality": ("UTO", 0.97),
    "date_of_birth": ("12 08 1974", 0.94),
    "date_of_expiry": ("15 04 2012", 0.88),
    "mrz": ("\n".join(MRZ), 0.81),
}


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype(FONT, size)
    except OSError:
        return ImageFont.load_default(size)


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def make_card(
    template: str, fields: dict[str, tuple[str, float]]
) -> tuple[dict[str, Any], dict[str, bytes], bytes]:
    """A rendered card: (``ReadResult.to_dict()``-like result, PNG crop per line key, card PNG)."""
    spec = get_template(template)
    lines = {**KR_LINES, **{f"mrz_{i + 1}": t for i, t in enumerate(MRZ)}}
    card = Image.new("RGB", CARD_SIZE, (228, 236, 242))
    draw = ImageDraw.Draw(card)
    draw.rounded_rectangle((8, 8, CARD_SIZE[0] - 8, CARD_SIZE[1] - 8), 24, outline=(90, 110, 140), width=3)
    draw.text((40, 30), spec.title, fill=(30, 40, 60), font=_font(34))
    crops: dict[str, bytes] = {}
    result_fields: dict[str, Any] = {}
    for f in spec.fields:
        boxes = [spec.layout[k] for k in f.lines]
        for key, (x0, y0, _x1, y1) in zip(f.lines, boxes, strict=True):
            text = lines.get(key, fields[f.name][0])
            draw.text((x0 + 4, y0 + 2), text, fill=(15, 15, 20), font=_font(int((y1 - y0) * 0.7)))
        for key, box in zip(f.lines, boxes, strict=True):
            crops[key] = _png(card.crop(box))
        box = [float(min(b[0] for b in boxes)), float(min(b[1] for b in boxes))]
        box += [float(max(b[2] for b in boxes)), float(max(b[3] for b in boxes))]
        text, conf = fields[f.name]
        result_fields[f.name] = {"text": text, "confidence": conf, "box": box}
    result = {
        "image": f"{template}-0001.jpg",
        "template": template,
        "fields": result_fields,
        "checks": {"template_confidence": 0.99},
        "corrections": [],
        "timings_ms": {"total": 41.0},
    }
    return result, crops, _png(card)


def add_card(store: ReviewStore, template: str, *, image: bool, sha: str = SHA_A) -> str:
    result, crops, card = make_card(template, KR if template == "kr-rrc" else TD1)
    return store.add_read(
        result, model_name="reader-s", model_sha256=sha, crops=crops, image_png=card if image else None
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ReviewStore]:
    with ReviewStore(f"sqlite:///{tmp_path / 'reviews.db'}", keep_images=True) as s:
        yield s


@pytest.fixture
def reads(store: ReviewStore) -> tuple[str, str]:
    """A kr-rrc read with its card image, then a td1 read without one."""
    return add_card(store, "kr-rrc", image=True), add_card(store, "td1", image=False)


@pytest.fixture
def client(store: ReviewStore) -> Iterator[TestClient]:
    with TestClient(create_app(store, allowed_hosts=["testserver"])) as c:  # TestClient's Host header
        yield c


def one_line_detail(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and detail.strip() == detail
    return detail


def test_queue_and_health(client: TestClient, store: ReviewStore, reads: tuple[str, str]) -> None:
    kr, td = reads
    assert client.get("/healthz").text == "ok"
    page = client.get("/api/queue").json()
    queue = page["reads"]
    assert [r["id"] for r in queue] == [kr, td] and page["next"] is None
    assert queue[0]["low_confidence_fields"] == ["rrn"]
    assert queue[1]["low_confidence_fields"] == ["date_of_expiry", "mrz"]
    html = client.get("/").text
    assert f'href="/reads/{kr}?reviewer=reviewer"' in html and f"/reads/{td}" in html
    store.submit_review(kr, "ann", {"name": {"status": "confirmed"}})
    assert [r["id"] for r in client.get("/api/queue").json()["reads"]] == [td]


def test_review_page_shows_fields_crops_and_highlights(client: TestClient, reads: tuple[str, str]) -> None:
    kr, td = reads
    html = client.get(f"/reads/{kr}").text
    for name, (text, conf) in KR.items():
        low = " low" if conf < 0.9 else ""
        assert f'<div class="field{low}" data-field="{name}"' in html
        assert f'id="f-{name}-0" name="{name}" value="{text}"' in html
        assert f"{conf:.2f}" in html
    assert html.count("autofocus") == 1 and re.search(r'id="f-name-0"[^>]*autofocus', html)
    for key in ("name", "rrn", "address_1", "address_2", "issue_date", "issuer"):
        assert f'src="/api/reads/{kr}/crops/{key}.png"' in html
    assert f'src="/api/reads/{kr}/image.png"' in html and 'viewBox="0 0 856 540"' in html
    assert html.count("<rect ") == 5 and '<g class="box low" data-field="rrn">' in html
    html = client.get(f"/reads/{td}").text  # no image kept: a note; the MRZ gets one input per line
    assert 'id="no-image"' in html and "did not keep card images" in html and "<svg" not in html
    for i, line in enumerate(MRZ):
        assert f'id="f-mrz-{i}" name="mrz" value="{escape(line)}"' in html
    assert '<div class="field low" data-field="mrz" data-joiner="\n"' in html
    page = client.get("/reads/nope")
    assert page.status_code == 404 and "unknown read id" in page.text


def test_read_json_crops_and_image(client: TestClient, store: ReviewStore, reads: tuple[str, str]) -> None:
    kr, td = reads
    data = client.get(f"/api/reads/{kr}").json()
    assert data["fields"]["rrn"] == {**data["fields"]["rrn"], "text": "850315-1234567", "low": True}
    assert data["image"] == f"/api/reads/{kr}/image.png" and data["version"] == 0
    crop = client.get(data["crops"]["address_2"])
    assert crop.headers["content-type"] == "image/png"
    assert crop.content == store.get(kr).crops["address_2"]
    assert Image.open(io.BytesIO(crop.content)).size == (540, 35)
    image = client.get(f"/api/reads/{kr}/image.png")
    assert Image.open(io.BytesIO(image.content)).size == CARD_SIZE
    assert "no crop 'mrz_1'" in one_line_detail(client.get(f"/api/reads/{kr}/crops/mrz_1.png"), 404)
    assert "not kept" in one_line_detail(client.get(f"/api/reads/{td}/image.png"), 404)
    assert client.get(f"/api/reads/{td}").json()["image"] is None
    assert "unknown read id 'nope'" in one_line_detail(client.get("/api/reads/nope"), 404)


def test_submit_confirms_and_corrects(client: TestClient, store: ReviewStore, reads: tuple[str, str]) -> None:
    kr, _ = reads
    body = {
        "reviewer": "ann",
        "expected_version": 0,
        "fields": {
            "name": {"status": "confirmed", "text": None},
            "rrn": {"status": "corrected", "text": "850315-1234568"},
        },
    }
    r = client.post(f"/api/reads/{kr}/review", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["seq"] == 1 and r.json()["version"] == 1 and r.json()["reviewer"] == "ann"
    read = store.get(kr)
    assert read.version == 1 and [v.reviewer for v in read.reviews] == ["ann"]
    assert read.reviews[0].fields == {
        "name": FieldReview("confirmed", None),
        "rrn": FieldReview("corrected", "850315-1234568"),
    }
    assert read.final_texts() == {"name": "홍길동", "rrn": "850315-1234568"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"fields": {"name": {"status": "corrected", "text": "홍길é동"}}},
            r"outside the charset: 'é' \(U\+00E9\)",
        ),
        ({"fields": {"name": {"status": "corrected", "text": "hong"}}}, "outside the charset: 'g'"),
        ({"fields": {"nmae": {"status": "confirmed"}}}, "unknown field 'nmae'"),
        ({"fields": {"name": {"status": "ok"}}}, "invalid status 'ok'"),
        ({"fields": {}}, "no fields given"),
        ({"reviewer": " "}, "a reviewer name is required"),
        ({"reviewer": None}, "reviewer: Field required"),
        ({"expected_version": "zero"}, "expected_version: Input should be a valid integer"),
        ({"fields": {"name": {"status": "confirmed", "colour": 1}}}, "fields.name.colour: Extra inputs"),
    ],
)
def test_bad_submissions_are_422_and_store_nothing(
    client: TestClient, store: ReviewStore, reads: tuple[str, str], body: dict[str, Any], message: str
) -> None:
    kr, _ = reads
    full = {"reviewer": "ann", "expected_version": 0, "fields": {"name": {"status": "confirmed"}}, **body}
    full = {k: v for k, v in full.items() if v is not None}
    assert re.search(message, one_line_detail(client.post(f"/api/reads/{kr}/review", json=full), 422))
    assert store.get(kr).reviews == [] and store.get(kr).version == 0


def test_unknown_read_is_404(client: TestClient, reads: tuple[str, str]) -> None:
    body = {"reviewer": "ann", "fields": {"name": {"status": "confirmed"}}}
    assert one_line_detail(client.post("/api/reads/nope/review", json=body), 404) == "unknown read id 'nope'"


def test_stale_version_is_409_and_no_version_is_a_second_opinion(
    client: TestClient, store: ReviewStore, reads: tuple[str, str]
) -> None:
    kr, _ = reads
    ann = {"reviewer": "ann", "expected_version": 0, "fields": {"rrn": {"status": "confirmed"}}}
    bob = {"reviewer": "bob", "expected_version": 0, "fields": {"rrn": {"status": "corrected", "text": "1"}}}
    assert client.post(f"/api/reads/{kr}/review", json=ann).status_code == 200
    detail = one_line_detail(client.post(f"/api/reads/{kr}/review", json=bob), 409)
    assert "changed since version 0" in detail
    assert [(r.reviewer, r.fields["rrn"].status) for r in store.get(kr).reviews] == [("ann", "confirmed")]
    bob["expected_version"] = None
    assert client.post(f"/api/reads/{kr}/review", json=bob).json()["seq"] == 2
    assert [r.reviewer for r in store.get(kr).reviews] == ["ann", "bob"]
    assert store.get(kr).final_texts() == {"rrn": "1"}


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn in a thread, on a free port of 127.0.0.1."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_two_reviewers_at_once(store: ReviewStore, reads: tuple[str, str]) -> None:
    kr, _ = reads
    barrier = threading.Barrier(2)
    codes: dict[str, int] = {}

    def submit(base: str, who: str, text: str) -> None:
        body = {
            "reviewer": who,
            "expected_version": 0,
            "fields": {"rrn": {"status": "corrected", "text": text}},
        }
        with httpx.Client(base_url=base, timeout=30) as http:
            barrier.wait()
            codes[who] = http.post(f"/api/reads/{kr}/review", json=body).status_code

    with live_server(create_app(store)) as base:
        workers = [
            threading.Thread(target=submit, args=(base, w, t)) for w, t in (("ann", "1"), ("bob", "2"))
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join(30)
    assert sorted(codes.values()) == [200, 409]
    (winner,) = [w for w, code in codes.items() if code == 200]
    assert [(r.reviewer, r.seq) for r in store.get(kr).reviews] == [(winner, 1)]


def _review(read_id: str, seq: int, day: str, fields: dict[str, str | None]) -> Review:
    verdicts = {k: FieldReview("confirmed" if v is None else "corrected", v) for k, v in fields.items()}
    when = datetime.fromisoformat(f"{day}T10:{seq:02d}:00+00:00")
    return Review(f"{read_id}r{seq}", read_id, seq, "ann", when, verdicts)


def _read(read_id: str, template: str, sha: str, reviews: list[Review]) -> Read:
    return Read(
        id=read_id,
        template=template,
        source=f"{read_id}.jpg",
        model_name="reader-s" if sha == SHA_A else "reader-t",
        model_sha256=sha,
        created_at=datetime(2024, 3, 1, 9, tzinfo=UTC),
        fields={
            k: {"text": t, "confidence": c, "box": None}
            for k, (t, c) in (KR if template == "kr-rrc" else TD1).items()
        },
        checks={},
        corrections=[],
        version=len(reviews),
        reviews=reviews,
    )


def test_figures_accuracy(client: TestClient, store: ReviewStore, tmp_path: Path) -> None:
    assert client.get("/api/figures/accuracy").json() == {"series": []}
    assert "no reviews yet" in client.get("/figures").text
    records = [  # latest verdict per field counts, on the day it was given
        _read("r1", "kr-rrc", SHA_A, [
            _review("r1", 1, "2024-03-01", {"name": None, "rrn": "850315-1234568"}),
            _review("r1", 2, "2024-03-02", {"rrn": None}),
        ]),
        _read("r2", "kr-rrc", SHA_A, [_review("r2", 1, "2024-03-02", {"name": None, "rrn": "1", "address": None})]),
        _read("r3", "td1", SHA_B, [
            _review("r3", 1, "2024-03-02", {"surname": None, "given_names": "ANNA", "mrz": "X", "sex": None}),
        ]),
        _read("r4", "td1", SHA_B, []),
    ]  # fmt: skip
    (tmp_path / "hand.jsonl").write_text("".join(dump_read(r) + "\n" for r in records), encoding="utf-8")
    assert store.import_jsonl(tmp_path / "hand.jsonl") == 4
    series = client.get("/api/figures/accuracy").json()["series"]
    assert series == [
        {
            "model_name": "reader-s",
            "model_sha256": SHA_A,
            "label": "reader-s @ aaaaaaaaaaaa",
            "points": [
                {"day": "2024-03-01", "confirmed": 1, "reviewed": 1, "accuracy": 1.0},
                {"day": "2024-03-02", "confirmed": 3, "reviewed": 4, "accuracy": 0.75},
            ],
        },
        {
            "model_name": "reader-t",
            "model_sha256": SHA_B,
            "label": "reader-t @ bbbbbbbbbbbb",
            "points": [{"day": "2024-03-02", "confirmed": 2, "reviewed": 4, "accuracy": 0.5}],
        },
    ]
    html = client.get("/figures").text
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert "reader-s @ aaaaaaaaaaaa" in svg and "reader-t @ bbbbbbbbbbbb" in svg and "<path" in svg
    assert "<td>0.750</td>" in html and "<td>0.500</td>" in html
    plot = client.get("/figures/accuracy.svg")
    assert plot.headers["content-type"].startswith("image/svg+xml") and plot.text.startswith("<svg")


def test_app_opens_a_url_once(tmp_path: Path) -> None:
    with pytest.raises(ReviewError, match="notadb://x: unknown database kind"):
        create_app("notadb://x")
    with TestClient(create_app(f"sqlite:///{tmp_path / 'r.db'}"), base_url="http://localhost:8765") as c:
        assert c.get("/api/queue").json() == {"reads": [], "next": None}


def _cli(*args: str) -> Any:
    from idsight.cli.main import app

    return CliRunner().invoke(app, list(args))


def test_cli_bad_database_is_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database " * 200)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    for url in ("notadb://x", f"sqlite:///{junk}", f"sqlite:///{foreign}"):
        for cmd in (["serve"], ["export", str(tmp_path / "o.jsonl")], ["import", str(tmp_path / "o.jsonl")]):
            (tmp_path / "o.jsonl").touch()
            result = _cli("review", *cmd, "--db", url)
            assert result.exit_code == 2, result.output
            assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
            assert result.stderr.startswith("error: ") and url in result.stderr


def test_cli_export_import_round_trip(store: ReviewStore, reads: tuple[str, str], tmp_path: Path) -> None:
    kr, td = reads
    store.submit_review(
        kr, "ann", {"rrn": {"status": "corrected", "text": "850315-1234568"}}, charset=CHARSET
    )
    a, b, c = (tmp_path / n for n in ("a.jsonl", "b.jsonl", "c.jsonl"))
    result = _cli("review", "export", str(a), "--db", store.url)
    assert result.exit_code == 0 and "wrote 2 reads" in result.stdout
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    refused = _cli("review", "import", str(a), "--db", copy)  # holds a card image: refused, one line
    assert refused.exit_code == 2 and "holds a card image" in refused.stderr
    assert _cli("review", "import", str(a), "--db", copy, "--keep-images").exit_code == 0
    assert _cli("review", "export", str(b), "--db", copy).exit_code == 0
    assert a.read_bytes() == b.read_bytes()
    again = _cli("review", "import", str(a), "--db", copy, "--keep-images")
    assert again.exit_code == 2 and "already in the store" in again.stderr
    missing = _cli("review", "import", str(c), "--db", copy)
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    with ReviewStore(copy) as s:
        assert s.get(kr).final_texts() == {"rrn": "850315-1234568"} and [r.id for r in s.queue()] == [td]


def test_cli_serve_runs_uvicorn(store: ReviewStore, reads: tuple[str, str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "idsight", "review", "serve", "--db", store.url, "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).text == "ok":
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "idsight review serve did not start"
                time.sleep(0.2)
        queue = httpx.get(f"http://127.0.0.1:{port}/api/queue").json()["reads"]
        assert [r["id"] for r in queue] == list(reads)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert f"http://127.0.0.1:{port}/" in out and "Traceback" not in out


def test_browser_keyboard_review(store: ReviewStore, reads: tuple[str, str]) -> None:
    """Playwright + Debian's chromium: open the queue, correct a field with the keyboard alone, submit."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: install Debian's chromium (scripts/install.sh)"
    from playwright.sync_api import sync_playwright

    kr, td = reads
    js_errors: list[str] = []
    with live_server(create_app(store)) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.on("pageerror", lambda e: js_errors.append(str(e)))
            page.goto(f"{base}/?reviewer=ann")
            assert page.locator("a.read").count() == 2
            page.locator("a.read").first.focus()
            page.keyboard.press("Enter")  # open the first read
            page.wait_for_url(f"{base}/reads/{kr}?reviewer=ann")
            focused = "() => document.activeElement.id"
            assert page.evaluate(focused) == "f-name-0"  # the first field has the focus
            page.keyboard.press("Tab")
            assert page.evaluate(focused) == "f-rrn-0"
            page.keyboard.press("ControlOrMeta+A")
            page.keyboard.type("850315-123456é")  # out of the charset: refused, shown, nothing stored
            page.keyboard.press("Enter")
            error = page.locator("#error")
            error.wait_for(state="visible")
            assert "422" in error.inner_text() and "'é' (U+00E9)" in error.inner_text()
            assert store.get(kr).reviews == []
            page.keyboard.press("ControlOrMeta+A")
            page.keyboard.type("850315-1234568")
            page.keyboard.press("Enter")
            page.wait_for_url(f"{base}/reads/{td}?reviewer=ann")  # on to the next read of the queue
        finally:
            browser.close()
    assert js_errors == []
    (review,) = store.get(kr).reviews
    assert review.reviewer == "ann"
    assert review.fields == {
        "name": FieldReview("confirmed", None),
        "rrn": FieldReview("corrected", "850315-1234568"),
        "address": FieldReview("confirmed", None),
        "issue_date": FieldReview("confirmed", None),
        "issuer": FieldReview("confirmed", None),
    }
    assert store.get(td).reviews == []
