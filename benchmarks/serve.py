"""Benchmark: the service under load, on real server processes on loopback.

    .venv/bin/python benchmarks/serve.py --out benchmarks/results/serve.json

Cards are GENERATED (idsight's composer, held-out design and font families). Runs, each against a
fresh ``idsight serve`` process (one CPU thread for its networks) with ``--clients`` concurrent
clients for ``--seconds``:

* ``batched``: ``/v1/cards:read`` with micro-batching (max_batch 8, max_wait 5 ms);
* ``unbatched``: the same with max_batch 1;
* ``per_request_loading``: the anti-pattern, a service that loads the reader file on every request
  (this module's own small app), as a user who wires a model into a web handler might;
* ``rapidocr``: the peer a user would otherwise wire up, RapidOCR's Python API on the same images, in
  this process, one thread, one image after another (cards per second per core);
* ``memory``: the RSS of a server process before and after ``--memory-requests`` requests.

Throughput, p50/p99 latency and 5xx counts per run; JSON out. The server and the clients share this
machine's cores, which the ``cpu_count`` field records.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, File, UploadFile

sys.path.insert(0, str(Path(__file__).resolve().parent))

from distill import emit  # noqa: E402  (benchmarks/ is not a package)

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    """A server subprocess on a free loopback port, ready once ``/readyz`` (or ``/healthz``) answers."""

    def __init__(self, argv: list[str], ready: str = "/readyz") -> None:
        self.port = free_port()
        env = {**os.environ, "OMP_NUM_THREADS": "1", "NO_ALBUMENTATIONS_UPDATE": "1", "HF_HUB_OFFLINE": "1"}
        self.proc = subprocess.Popen(
            [*argv, "--port", str(self.port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        import httpx

        t0 = time.monotonic()
        while time.monotonic() - t0 < 120:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited: {self.proc.stderr.read().decode()[-500:] if self.proc.stderr else ''}"
                )
            try:
                if httpx.get(self.url + ready, timeout=2).status_code == 200:
                    self.start_s = time.monotonic() - t0
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("server did not become ready in 120 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def load(url: str, images: list[bytes], *, clients: int, seconds: float, path: str) -> dict[str, Any]:
    """``clients`` threads post images round-robin for ``seconds``; latencies and status counts."""
    import httpx

    lat: list[float] = []
    codes: dict[int, int] = {}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(k: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as c:
            i = k
            while time.monotonic() < stop:
                t = time.perf_counter()
                try:
                    status = c.post(
                        path, files={"image": (f"card{i % len(images)}.png", images[i % len(images)])}
                    ).status_code
                except httpx.HTTPError:
                    status = 599  # no answer: counted with the 5xx
                dt = time.perf_counter() - t
                with lock:
                    lat.append(dt)
                    codes[status] = codes.get(status, 0) + 1
                i += clients

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    a = np.array(lat) * 1000
    return {
        "requests": len(lat),
        "seconds": round(wall, 2),
        "per_second": round(len(lat) / wall, 3),
        "p50_ms": round(float(np.percentile(a, 50)), 1) if len(a) else None,
        "p99_ms": round(float(np.percentile(a, 99)), 1) if len(a) else None,
        "status": {str(k): v for k, v in sorted(codes.items())},
        "errors_5xx": sum(v for k, v in codes.items() if k >= 500),
    }


def serve_config(tmp: Path, name: str, **batching: Any) -> Path:
    import yaml

    cfg = {
        "models": {
            "cards": "idsight-reader-open-student",
            "contours": "models/idsight-contours-small.safetensors",
        }
    }
    f = tmp / f"{name}.yaml"
    f.write_text(yaml.safe_dump({**cfg, "batching": batching}), encoding="utf-8")
    return f


def per_request_app() -> Any:
    """The anti-pattern: the reader file is loaded inside the handler, on every request."""
    from idsight.data.io import decode_image
    from idsight.ocr.readers import load_reader

    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    @app.post("/v1/cards:read")
    async def read(image: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008
        reader = load_reader("idsight-reader-open-student")
        return reader.read(decode_image(await image.read(), name="upload"), name="upload").to_dict()

    return app


def rapidocr_peer(images: list[np.ndarray]) -> dict[str, Any]:
    from rapidocr import RapidOCR

    engine = RapidOCR(
        params={"Global.log_level": "warning", "EngineConfig.onnxruntime.intra_op_num_threads": 1}
    )
    engine(images[0][:, :, ::-1])  # warm-up
    lat = []
    for img in images:
        t = time.perf_counter()
        engine(np.ascontiguousarray(img[:, :, ::-1]))
        lat.append(time.perf_counter() - t)
    a = np.array(lat) * 1000
    return {
        "images": len(images),
        "per_second_per_core": round(1000 / float(a.mean()), 3),
        "p50_ms": round(float(np.percentile(a, 50)), 1),
        "p99_ms": round(float(np.percentile(a, 99)), 1),
        "threads": 1,
    }


def memory(tmp: Path, requests: int) -> dict[str, Any]:
    """RSS of a server before and after ``requests`` small /v1/contours requests (one client)."""
    import cv2
    import httpx

    srv = Server([PYTHON, "-m", "idsight", "serve", "--config", str(serve_config(tmp, "mem", max_batch=8))])
    try:
        rgb = np.zeros((64, 96, 3), np.uint8)
        cv2.circle(rgb, (48, 32), 20, (255, 255, 255), -1)
        png = cv2.imencode(".png", rgb)[1].tobytes()
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            for _ in range(50):  # warm-up: allocator pools, lazy imports
                c.post("/v1/contours", files={"image": ("x.png", png)})
            before = rss_mb(srv.proc.pid)
            codes: dict[int, int] = {}
            for _ in range(requests):
                r = c.post("/v1/contours", files={"image": ("x.png", png)})
                codes[r.status_code] = codes.get(r.status_code, 0) + 1
            after = rss_mb(srv.proc.pid)
    finally:
        srv.stop()
    return {
        "requests": requests,
        "rss_before_mb": round(before, 1),
        "rss_after_mb": round(after, 1),
        "growth_mb": round(after - before, 1),
        "status": {str(k): v for k, v in codes.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cards", type=int, default=24, help="generated cards to post, round-robin")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--memory-requests", type=int, default=2000)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--per-request-app", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.per_request_app:  # the server side of the per_request_loading run
        import uvicorn

        uvicorn.run(per_request_app(), host="127.0.0.1", port=args.port, log_level="warning")
        return

    from idsight.data.io import load_image
    from idsight.data.synth.compose import DOC_TYPES, write_composed

    doc: dict[str, Any] = {
        "benchmark": "serve",
        "command": "python benchmarks/serve.py " + " ".join(sys.argv[1:]),
        "data": "generated cards (idsight's composer, held-out design and font families); loopback HTTP",
        "cpu_count": os.cpu_count(),
        "config": {"cards": args.cards, "clients": args.clients, "seconds": args.seconds},
        "runs": {},
    }
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        labels = write_composed(
            list(DOC_TYPES), args.cards, tmp / "cards", seed=9700, design_pool="heldout", font_pool="heldout"
        )
        names = [json.loads(x)["image"] for x in labels.read_text(encoding="utf-8").splitlines()]
        images = [(tmp / "cards" / n).read_bytes() for n in names]
        runs = {
            "batched": ([PYTHON, "-m", "idsight", "serve", "--config", str(serve_config(tmp, "b", max_batch=8, max_wait_ms=5))], "/readyz"),
            "unbatched": ([PYTHON, "-m", "idsight", "serve", "--config", str(serve_config(tmp, "u", max_batch=1, max_wait_ms=0))], "/readyz"),
            "per_request_loading": ([PYTHON, str(Path(__file__).resolve()), "--per-request-app"], "/healthz"),
        }  # fmt: skip
        for name, (argv, ready) in runs.items():
            srv = Server(argv, ready)
            try:
                doc["runs"][name] = {"startup_s": round(srv.start_s, 1)} | load(
                    srv.url, images, clients=args.clients, seconds=args.seconds, path="/v1/cards:read"
                )
            finally:
                srv.stop()
            print(name, json.dumps(doc["runs"][name]), file=sys.stderr)
        doc["runs"]["rapidocr"] = rapidocr_peer([load_image(tmp / "cards" / n) for n in names])
        if args.memory_requests:
            doc["memory"] = memory(tmp, args.memory_requests)
    r = doc["runs"]
    doc["one_time_vs_per_request_loading"] = round(
        r["batched"]["per_second"] / max(1e-9, r["per_request_loading"]["per_second"]), 2
    )
    doc["batched_vs_rapidocr_per_core"] = round(
        r["batched"]["per_second"] / max(1e-9, r["rapidocr"]["per_second_per_core"]), 2
    )
    emit(doc, args.out, indent=1)


if __name__ == "__main__":
    main()
