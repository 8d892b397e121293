"""Benchmark: where a card's reading time goes, part by part, for the teacher and the student.

    .venv/bin/python benchmarks/reader_profile.py --count 40 --seed 9001 --runtime onnx --out profile.json

Prints one JSON document to stdout (progress and a table go to stderr). Each model reads the same
held-out generated photo cards (``--count`` per template, the folders of ``benchmarks/distill.py``),
one model after the other, on ``--threads`` threads (PyTorch, onnxruntime and OpenCV). The reader's
parts are timed by wrapping them, without nesting: the four networks, the resizes and warps, the
normalisation tables, the localiser's side fitting and edge refinement, line batching, CTC decoding,
box extraction and cleanup; ``other`` is the rest of the read (Python glue, small NumPy steps).
Reported per part: milliseconds per card, mean over the cards (the localiser's fallback passes on
doubtful cards are included); and the median total per card. This explains the speed ratio of
``distill.py --part teacher_vs_student``; it is not a second measurement of it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from idsight.models.reader import PARTS

sys.path.insert(0, str(Path(__file__).resolve().parent))

from distill import DATA_NOTE, _environment, emit, log, make_cards, parse_overrides  # noqa: E402  (not a package)

SHARED = (
    "mask input (resize)",
    "overview resize",
    "normalisation tables",
    "side fitting",
    "edge refinement",
    "overview warp",
    "line warps",
    "line resizes",
    "line batch",
    "CTC decoding",
    "line boxes from maps",
    "cleanup",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="idsight-reader-teacher,idsight-reader-student")
    ap.add_argument("--templates", default="kr-rrc,td1")
    ap.add_argument("--count", type=int, default=40, help="cards per template")
    ap.add_argument("--seed", type=int, default=9001)
    ap.add_argument("--runtime", default="onnx", help="torch or onnx")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--preprocessing",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override every reader's preprocessing, e.g. line_warp=direct (repeatable)",
    )
    ap.add_argument("--cache-dir", type=Path, default=Path("runs/bench/cards"))
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    return ap.parse_args(argv)


class Timers:
    """Accumulates wall time per label; ``wrap`` replaces ``owner.name`` with a timed version."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = defaultdict(float)
        self._undo: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        fn: Callable[..., Any] = getattr(owner, name)

        def timed(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.ms[label] += (time.perf_counter() - t0) * 1e3

        self._undo.append((owner, name, fn))
        setattr(owner, name, timed)

    def restore(self) -> None:
        for owner, name, fn in reversed(self._undo):
            setattr(owner, name, fn)
        self._undo.clear()


def instrument(reader: Any, timers: Timers) -> None:
    import idsight.ocr.localize as L
    import idsight.ocr.predictor as P

    timers.wrap(L, "shrink", "mask input (resize)")
    timers.wrap(P, "shrink", "overview resize")
    timers.wrap(L, "lut_planes", "normalisation tables")
    timers.wrap(P, "lut_planes", "normalisation tables")
    timers.wrap(L, "_fit_sides", "side fitting")
    timers.wrap(L, "refine_quad", "edge refinement")
    timers.wrap(L.CardView, "overview", "overview warp")
    timers.wrap(L.CardView, "region", "line warps")
    timers.wrap(P, "fit_height", "line resizes")
    timers.wrap(P, "line_batch", "line batch")
    timers.wrap(P, "ctc_decode_lines", "CTC decoding")
    timers.wrap(P, "maps_to_boxes", "line boxes from maps")
    timers.wrap(reader, "cleanup", "cleanup")
    for part in PARTS:
        timers.wrap(reader.nets, part, f"network: {part}")
    reader.localizer.net = reader.nets.localizer  # (the localiser holds its own reference)


def profile(name: str, images: list[Any], args: argparse.Namespace) -> dict[str, Any]:
    from idsight.ocr.predictor import CardReader

    reader = CardReader.load(name, runtime=args.runtime, preprocessing=parse_overrides(args.preprocessing))
    timers = Timers()
    instrument(reader, timers)
    try:
        reader.read(images[0])  # warm-up, untimed
        timers.ms.clear()
        totals = []
        for image in images:
            t0 = time.perf_counter()
            try:
                reader.read(image)
            except Exception as e:  # noqa: BLE001  (a rejected card still took its time)
                log(f"  {name}: {e}")
            totals.append((time.perf_counter() - t0) * 1e3)
    finally:
        timers.restore()
    n = len(images)
    parts = {k: round(v / n, 3) for k, v in sorted(timers.ms.items())}
    mean_total = statistics.mean(totals)
    nets = sum(v for k, v in parts.items() if k.startswith("network:"))
    shared = sum(v for k, v in parts.items() if not k.startswith("network:"))
    return {
        "model": name,
        "cards": n,
        "median_total_ms": round(statistics.median(totals), 3),
        "mean_total_ms": round(mean_total, 3),
        "ms_per_card": {**parts, "other": round(mean_total - nets - shared, 3)},
        "networks_ms": round(nets, 3),
        "outside_networks_ms": round(mean_total - nets, 3),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import cv2
    import torch

    from idsight.data.io import load_image
    from idsight.ocr.runtime import reading_process

    reading_process()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    cards = [
        p
        for t in args.templates.split(",")
        if t
        for p, _ in make_cards(t, args.count, args.seed, args.cache_dir, "train")
    ]
    images = [load_image(p) for p in cards]
    results = []
    for name in [m for m in args.models.split(",") if m]:
        log(f"[profile] {name}: {len(images)} cards, {args.runtime}, {args.threads} thread(s)")
        results.append(profile(name, images, args))
    doc = {
        "benchmark": "reader_profile",
        "command": "python " + " ".join(["benchmarks/reader_profile.py", *(argv or sys.argv[1:])]),
        "data": DATA_NOTE,
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "environment": _environment(),
        "results": results,
    }
    labels = [*[f"network: {p}" for p in PARTS], *SHARED, "other"]
    log(f"{'part (ms per card, mean)':28s}" + "".join(f"{r['model'][-14:]:>16s}" for r in results))
    for k in labels:
        log(f"{k:28s}" + "".join(f"{r['ms_per_card'].get(k, 0.0):16.2f}" for r in results))
    log(f"{'median total':28s}" + "".join(f"{r['median_total_ms']:16.2f}" for r in results))
    emit(doc, args.out, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
