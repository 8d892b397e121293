"""Benchmark: an open-charset line recogniser on generated lines in seen and held-out font families.

    .venv/bin/python benchmarks/recognize_lines.py --model runs/recognizer_open_teacher/model.safetensors

Lines come from ``idsight.data.synth.textlines`` (seed 9700, never a training seed): random KS X 1001
syllables, names, addresses, accented Latin, dates, codes, MRZ and labels. ``train`` fonts are those
training draws; ``heldout`` are the composer's held-out families (NanumMyeongjo, DejaVuSerif), never
seen in training. Prints JSON: line exact match and CER per font pool and per kind of text.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from distill import emit  # noqa: E402  (benchmarks/ is not a package)

from idsight.metrics import cer


def evaluate(model: str, count: int, seed: int, threads: int) -> dict:
    from idsight.data.synth.textlines import render_text_line, sample_text
    from idsight.ocr.layoutfree import CRNNRecognizer

    rec = CRNNRecognizer(model=model, threads=threads)
    out: dict = {"model": model, "count": count, "seed": seed, "data": "generated lines", "pools": {}}
    for pool in ("train", "heldout"):
        crops, texts, kinds = [], [], []
        for i in range(count):
            rng = np.random.default_rng([seed, i])
            text, kind = sample_text(rng)
            crop, text = render_text_line(rng, text, kind, font_pool=pool)
            crops.append(crop)
            texts.append(text)
            kinds.append(kind)
        t0 = time.perf_counter()
        got = [t for t, _ in rec(crops)]
        ms = (time.perf_counter() - t0) * 1000 / count
        by_kind = {}
        for k in sorted(set(kinds)):
            idx = [i for i, x in enumerate(kinds) if x == k]
            by_kind[k] = {
                "lines": len(idx),
                "exact": round(float(np.mean([got[i] == texts[i] for i in idx])), 4),
                "cer": round(cer([got[i] for i in idx], [texts[i] for i in idx]), 4),
            }
        out["pools"][pool] = {
            "exact": round(float(np.mean([g == t for g, t in zip(got, texts, strict=True)])), 4),
            "cer": round(cer(got, texts), 4),
            "ms_per_line": round(ms, 2),
            "by_kind": by_kind,
        }
        print(
            f"[{pool}] exact {out['pools'][pool]['exact']:.3f} cer {out['pools'][pool]['cer']:.4f}",
            file=sys.stderr,
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a line recogniser artifact")
    ap.add_argument("--count", type=int, default=400, help="lines per font pool")
    ap.add_argument("--seed", type=int, default=9700)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    doc = evaluate(args.model, args.count, args.seed, args.threads)
    emit(doc, args.out, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
