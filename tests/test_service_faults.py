"""A real `idsight serve` process killed while clients post reviews: after a restart every review the
service acknowledged is in the store, whole, and nothing else is (no partial rows)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from idsight.review import ReviewStore


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(config: Path, port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "idsight", "serve", "--config", str(config), "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail(f"the service did not start: {proc.stderr.read().decode() if proc.stderr else ''}")


def test_killed_mid_load_keeps_every_acknowledged_review_and_no_partial_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'reviews.db'}"
    result = {
        "image": "c.png",
        "template": "td1",
        "fields": {
            k: {"text": "X", "confidence": 0.9, "box": None} for k in ("sex", "nationality", "surname")
        },
    }
    with ReviewStore(url) as st:
        ids = [
            st.add_read(result, model_name="m", model_sha256="ab" * 32, crops={"sex": b"\x89PNG\r\n\x1a\n"})
            for _ in range(400)
        ]
    config = tmp_path / "serve.yaml"
    config.write_text(f"models: {{}}\nreviews_db: {url}\n", encoding="utf-8")
    port = _free_port()
    proc = _start(config, port)
    acknowledged: list[str] = []
    lock = threading.Lock()
    fields = {k: {"status": "corrected", "text": "Y"} for k in ("sex", "nationality", "surname")}

    def client(part: list[str]) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as c:
            for rid in part:
                try:
                    r = c.post("/v1/reviews", json={"read_id": rid, "reviewer": "ana", "fields": fields})
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code == 200:
                    with lock:
                        acknowledged.append(rid)

    threads = [threading.Thread(target=client, args=(ids[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)  # mid-load, no shutdown of any kind
    proc.wait(timeout=10)
    for t in threads:
        t.join(timeout=30)
    assert 40 <= len(acknowledged) < len(ids), "the kill should land mid-load"

    proc = _start(config, port)  # a restart on the same store
    try:
        with ReviewStore(url, create=False) as st:
            reviewed = {r.id: r for r in st.iter_reads(reviewed_only=True)}
        assert set(acknowledged) <= set(reviewed)  # every acknowledged review survived
        for read in reviewed.values():  # and every stored review is whole: one submission, all fields
            assert len(read.reviews) == 1 and set(read.reviews[0].fields) == set(fields)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as c:
            rest = next(i for i in ids if i not in reviewed)
            r = c.post("/v1/reviews", json={"read_id": rest, "reviewer": "ana", "fields": fields})
            assert r.status_code == 200
    finally:
        proc.kill()
        proc.wait(timeout=10)
