"""Benchmark: find the card in a photo. Corner error of each localiser on cards whose corners are known.

    .venv/bin/python benchmarks/localize.py                       # generated held-out designs + foreign cards
    .venv/bin/python benchmarks/localize.py --count 30 --foreign ''   # generated only

Sets: ``heldout``, composed cards of the held-out design and font families (``--count`` per document
type; 85% photos, 30% of those white cards on white desks, the rest flat scans; generated), and the
foreign cards (``truth.jsonl`` with ``corners``; evaluation only). The error of a card is its worst
corner's distance from the truth, as a fraction of the card's diagonal (the corner order that fits
best, so a card found turned round is not penalised here: the reader finds the orientation).

Localisers, in the same run: ``mask`` (the layout-free student's card-mask network, plain hull fit),
``mask-robust`` (the same mask, opened and fitted by overlap: what the shipped reader uses) and
``contour`` (the classical edge and contour localiser). Prints one JSON document: per set and
localiser, the median error, the share of cards within 2% and 5% of the diagonal, and median ms.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from distill import emit  # noqa: E402  (benchmarks/ is not a package)


def corner_error(found: np.ndarray | None, truth: np.ndarray) -> float:
    """Worst-corner distance / card diagonal, over the four cyclic orders and both directions."""
    if found is None:
        return 1.0
    t = np.asarray(truth, np.float32)
    diag = float(np.linalg.norm(t[2] - t[0]))
    q = np.asarray(found, np.float32)
    return min(
        float(np.linalg.norm(np.roll(p, k, axis=0) - t, axis=1).max()) / diag
        for p in (q, q[::-1])
        for k in range(4)
    )


def summary(errors: list[float], ms: list[float]) -> dict[str, Any]:
    e = np.asarray(errors)
    return {
        "cards": len(e),
        "median_error": round(float(np.median(e)), 4),
        "within_2pct": round(float((e <= 0.02).mean()), 4),
        "within_5pct": round(float((e <= 0.05).mean()), 4),
        "median_ms": round(float(np.median(ms)), 2),
    }


def heldout_cards(count: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from idsight.data.synth.compose import DOC_TYPES
    from idsight.data.synth.compose.writer import compose_sample

    out = []
    for i in range(count * len(DOC_TYPES)):
        _, placed = compose_sample(
            DOC_TYPES[i % len(DOC_TYPES)], seed, i, design_pool="heldout", font_pool="heldout",
            photo_fraction=0.85, white_fraction=0.3,
        )  # fmt: skip
        out.append((placed.image, np.asarray(placed.corners, np.float32)))
    return out


def foreign_cards(folder: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    from idsight.data.io import load_image

    rows = [json.loads(x) for x in (folder / "truth.jsonl").read_text("utf-8").splitlines() if x]
    return [
        (load_image(folder / r["image"]), np.asarray(r["corners"], np.float32))
        for r in rows
        if "corners" in r
    ]


def localisers(model: str) -> dict[str, Any]:
    from idsight.ocr.localize import ContourLocalizer, MaskLocalizer
    from idsight.ocr.readers import load_reader

    holder = SimpleNamespace(localizer=load_reader(model).detector.localizer.net)
    return {
        "mask": MaskLocalizer(model=holder, open_frac=0.0),
        "mask-robust": MaskLocalizer(model=holder, open_frac=0.05),
        "contour": ContourLocalizer(),
    }


def run(sets: dict[str, list[tuple[np.ndarray, np.ndarray]]], model: str) -> dict[str, Any]:
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    out: dict[str, Any] = {"model": model, "threads": 1, "sets": {}}
    locs = localisers(model)  # the reader loads once for every set
    for set_name, cards in sets.items():
        out["sets"][set_name] = {}
        for name, loc in locs.items():
            errors, ms = [], []
            for image, truth in cards:
                t0 = time.perf_counter()
                found = loc(image)
                ms.append((time.perf_counter() - t0) * 1000)
                errors.append(corner_error(found.corners if found is not None else None, truth))
            out["sets"][set_name][name] = s = summary(errors, ms)
            print(
                f"[{set_name}] {name}: median {s['median_error']:.4f}, within 5% {s['within_5pct']:.3f}",
                file=sys.stderr,
            )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--model", default="idsight-reader-open-student", help="the reader whose localiser is scored"
    )
    ap.add_argument("--count", type=int, default=30, help="held-out composed cards per document type")
    ap.add_argument("--seed", type=int, default=777)
    ap.add_argument(
        "--foreign", default="../shared/foreign-cards", help="a folder with truth.jsonl ('' for none)"
    )
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    sets = {"heldout (generated)": heldout_cards(args.count, args.seed)}
    if args.foreign and (Path(args.foreign) / "truth.jsonl").is_file():
        sets["foreign"] = foreign_cards(Path(args.foreign))
    emit(run(sets, args.model), args.out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
