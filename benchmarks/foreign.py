"""Benchmark: read a folder of cards that idsight did not draw, with idsight and its peers, in one run.

    .venv/bin/python benchmarks/foreign.py ../shared/foreign-cards --engines student,teacher,rapidocr,tesseract
    .venv/bin/python benchmarks/foreign.py --composed heldout --count 40   # leave-design-out cards

``--composed POOL`` reads cards of idsight's composer instead (``idsight synth composed``): ``heldout``
draws only the held-out design and font families, which no training sees (the leave-design-out
score); ``train`` draws the others. The folder holds images and a ``truth.jsonl`` (``{"image", "template", "fields"}`` per card). Scoring is
strict: a field counts when its text equals the truth after ``idsight.metrics.field_text`` (Unicode
NFC, whitespace collapsed; the MRZ line by line with spaces removed), as calibration and the demo score. Engines:
- ``open-student`` (what ``idsight read`` uses), ``open-teacher``, ``student`` / ``teacher`` (the card
  readers) or any model name or file: ``idsight read`` with that model; ``MODEL@onnx`` or
  ``MODEL@onnx-int8`` reads in that runtime;
- ``rapidocr``: PP-OCR's detector and recogniser (as shipped in ``rapidocr``) inside idsight's
  layout-free reader (line quads straightened, orientation found, then ``idsight.ocr.content``:
  document type and fields from the lines' text and geometry);
- ``tesseract``: Tesseract (``kor+eng``, psm 6) lines -> the same content assignment.
Prints one JSON document (per engine: field exact match overall and per field, per-field CER, MRZ
exact match, document type accuracy, median ms per card on ``--threads`` threads).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from distill import emit  # noqa: E402  (benchmarks/ is not a package)

from idsight.metrics import cer, field_match, field_text, latency_summary  # noqa: E402

MODELS = {
    "student": "idsight-reader-student",
    "teacher": "idsight-reader-teacher",
    "open-student": "idsight-reader-open-student",
    "open-teacher": "models/idsight-reader-open-teacher.safetensors",
}
Reader = Callable[[np.ndarray, str], tuple[str, dict[str, str]]]  # image, name -> (type, {field: text})


def score(
    cards: list[dict[str, Any]], preds: list[tuple[str, dict[str, str]]], ms: list[float]
) -> dict[str, Any]:
    per: dict[str, list[bool]] = {}
    texts: dict[str, tuple[list[str], list[str]]] = {}
    types = []
    for card, (doc_type, fields) in zip(cards, preds, strict=True):
        types.append(doc_type == card["template"])
        for k, want in card["fields"].items():
            key = f"{card['template']}.{k}"
            per.setdefault(key, []).append(field_match(k, fields.get(k), want))
            got_t, want_t = texts.setdefault(key, ([], []))
            got_t.append(field_text(k, fields.get(k)))
            want_t.append(field_text(k, want))
    hits = [x for v in per.values() for x in v]
    mrz = [x for k, v in per.items() if k.endswith(".mrz") for x in v]
    return {
        "cards": len(cards),
        "field_exact": round(sum(hits) / max(1, len(hits)), 4),
        "mrz_exact": round(sum(mrz) / len(mrz), 4) if mrz else None,
        "document_type_accuracy": round(sum(types) / max(1, len(types)), 4),
        "per_field_exact": {k: round(sum(v) / len(v), 4) for k, v in sorted(per.items())},
        "per_field_cer": {k: round(cer(g, w), 4) for k, (g, w) in sorted(texts.items())},
        "latency_ms": latency_summary(ms),
    }


def idsight_reader(model: str, threads: int) -> Reader:
    from idsight.errors import IdsightError
    from idsight.ocr.readers import load_reader

    model, _, runtime = model.partition("@")  # "MODEL@onnx-int8": that runtime
    reader = load_reader(MODELS.get(model, model), threads=threads, runtime=runtime or "torch")

    def read(image: np.ndarray, name: str) -> tuple[str, dict[str, str]]:
        try:
            d = reader.read(image, name=name).to_dict()
        except IdsightError:
            return "none", {}
        return d["template"], {k: v["text"] for k, v in d["fields"].items()}

    return read


def content_reader(engine: str, threads: int) -> Reader:
    import peers as P

    from idsight.ocr.content.assign import TextLine
    from idsight.ocr.content.decide import read_fields

    if engine == "rapidocr":  # PP-OCR's detector and recogniser in idsight's layout-free reader
        from idsight.ocr.layoutfree import LINE_RECOGNIZERS, TEXT_DETECTORS, LayoutFreeReader

        lf = LayoutFreeReader(
            detector=TEXT_DETECTORS.build("ppocr", threads=threads),
            recognizer=LINE_RECOGNIZERS.build("ppocr", threads=threads),
        )

        def read_lf(image: np.ndarray, name: str) -> tuple[str, dict[str, str]]:
            d = lf.read(image, name=name).to_dict()
            return d["template"], {k: v["text"] for k, v in d["fields"].items()}

        return read_lf

    def lines_of(image: np.ndarray) -> list[Any]:
        return P.tesseract_lines(image, lang="kor+eng", psm=6)

    def read(image: np.ndarray, name: str) -> tuple[str, dict[str, str]]:
        lines = [TextLine(t, tuple(map(float, b)), float(c)) for t, b, c in lines_of(image)]  # type: ignore[arg-type]
        d = read_fields(lines)
        fields = {k: v.value for k, v in d.assignment.fields.items()} if d.assignment else {}
        return d.doc_type, fields

    return read


def make_reader(engine: str, threads: int) -> Reader:
    if engine in ("rapidocr", "tesseract"):
        return content_reader(engine, threads)
    return idsight_reader(engine, threads)


def run(folder: Path, engines: list[str], *, threads: int = 1, limit: int = 0) -> dict[str, Any]:
    import cv2
    import torch

    from idsight.data.io import load_image

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    cards = [
        json.loads(line) for line in (folder / "truth.jsonl").read_text(encoding="utf-8").splitlines() if line
    ]
    if limit:
        counts: Counter[str] = Counter()
        kept = []
        for c in cards:
            if counts[c["template"]] < limit:
                kept.append(c)
                counts[c["template"]] += 1
        cards = kept
    images = [load_image(folder / c["image"]) for c in cards]
    out: dict[str, Any] = {"set": str(folder), "cards": len(cards), "threads": threads, "engines": {}}
    for engine in engines:
        reader = make_reader(engine, threads)
        reader(images[0], cards[0]["image"])  # warm-up, untimed
        preds, ms = [], []
        for card, image in zip(cards, images, strict=True):
            t0 = time.perf_counter()
            preds.append(reader(image, card["image"]))
            ms.append((time.perf_counter() - t0) * 1000)
        result = score(cards, preds, ms)
        by_type = {}
        for t in sorted({c["template"] for c in cards}):
            idx = [i for i, c in enumerate(cards) if c["template"] == t]
            by_type[t] = score([cards[i] for i in idx], [preds[i] for i in idx], [ms[i] for i in idx])
            by_type[t] = {
                k: by_type[t][k] for k in ("cards", "field_exact", "mrz_exact", "document_type_accuracy")
            }
        result["by_type"] = by_type
        out["engines"][engine] = result
        print(
            f"[{engine}] fields {result['field_exact']:.3f}  type {result['document_type_accuracy']:.3f}  "
            f"median {result['latency_ms']['median']:.0f} ms",
            file=sys.stderr,
            flush=True,
        )
    return out


def composed_set(pool: str, count: int, seed: int, root: Path) -> Path:
    """``count`` composed cards per document type from ``pool`` (designs and fonts), with truth.jsonl."""
    from idsight.data.synth.compose import DOC_TYPES, write_composed

    labels = write_composed(
        list(DOC_TYPES), len(DOC_TYPES) * count, root, seed=seed, design_pool=pool, font_pool=pool
    )
    rows = [json.loads(x) for x in labels.read_text(encoding="utf-8").splitlines() if x]
    truth = [{"image": r["image"], "template": r["doc_type"], "fields": r["fields"]} for r in rows]
    (root / "truth.jsonl").write_text(
        "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in truth), "utf-8"
    )
    return root


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, nargs="?", help="a folder with images and truth.jsonl")
    ap.add_argument("--composed", choices=("train", "heldout"), help="read composed cards of this pool")
    ap.add_argument("--count", type=int, default=40, help="with --composed: cards per document type")
    ap.add_argument("--seed", type=int, default=9500, help="with --composed: the cards' seed")
    ap.add_argument("--engines", default="student,teacher,rapidocr,tesseract")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="cards per document type (0: all)")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_THREAD_LIMIT", str(args.threads))
    engines = [e for e in args.engines.split(",") if e]
    if args.composed:
        with tempfile.TemporaryDirectory(prefix="idsight-composed-") as tmp:
            folder = composed_set(args.composed, args.count, args.seed, Path(tmp))
            doc = run(folder, engines, threads=args.threads, limit=args.limit)
        doc["set"] = f"composed:{args.composed} (seed {args.seed}, {args.count} per document type; generated)"
    elif args.folder is None or not (args.folder / "truth.jsonl").is_file():
        print(f"error: {args.folder}: no truth.jsonl (give a folder, or --composed POOL)", file=sys.stderr)
        return 2
    else:
        doc = run(args.folder, engines, threads=args.threads, limit=args.limit)
    emit(doc, args.out, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
