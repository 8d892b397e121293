"""Evaluate an assembled card reader on labelled card folders; record the metrics in its artifact."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from idsight.artifact import load_artifact, save_artifact
from idsight.data.cards import load_records
from idsight.errors import IdsightError
from idsight.metrics import cer, field_accuracy


def read_records(reader: Any, records: list[tuple[Path, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Read each labelled card once: predicted fields (None when rejected or the template is wrong)."""
    out = []
    for d, rec in records:
        try:
            res = reader.read_path(d / rec["image"])
            ok = res.template == rec["template"]
            fields = {k: v["text"] for k, v in res.fields.items()} if ok else None
            out.append(
                {"pred": fields, "template_ok": ok, "ms": res.timings_ms["total"], "gt": rec["fields"]}
            )
        except IdsightError:
            out.append({"pred": None, "template_ok": False, "ms": None, "gt": rec["fields"]})
    return out


def score(reads: list[dict[str, Any]]) -> dict[str, Any]:
    """Field exact match (per field and overall), CER, template accuracy and median latency."""
    preds, gts = [r["pred"] for r in reads], [r["gt"] for r in reads]
    acc = field_accuracy(preds, gts)
    flat_p = [(p or {}).get(k, "") for p, g in zip(preds, gts, strict=True) for k in g]
    flat_g = [v for g in gts for v in g.values()]
    totals = [r["ms"] for r in reads if r["ms"] is not None]
    return {
        "field_exact_match": round(acc["overall"], 4),
        "per_field": {k: round(v, 4) for k, v in acc["per_field"].items()},
        "cer": round(cer(flat_p, flat_g), 4),
        "template_accuracy": round(sum(r["template_ok"] for r in reads) / max(1, len(reads)), 4),
        "cards": len(reads),
        "latency_ms_median": round(float(np.median(totals)), 1) if totals else None,
    }


def evaluate_reader(reader: Any, dirs: list[str] | list[Path], *, limit: int | None = None) -> dict[str, Any]:
    """Read the labelled cards in ``dirs`` and score them (see ``score``)."""
    t0 = time.perf_counter()
    metrics = score(read_records(reader, load_records(list(dirs))[:limit]))
    return {**metrics, "seconds": round(time.perf_counter() - t0, 1)}


HEAD_CARDS = 6  # cards per folder re-read by tests/test_shipped_models.py


def record_reader_metrics(path: Path, dirs: list[str]) -> dict[str, Any]:
    """Evaluate the artifact at ``path`` on ``dirs`` and store the result in its metadata.

    Besides the whole validation set, the first HEAD_CARDS cards of each folder are scored on their
    own (``val_head``) so that a test can regenerate exactly those cards and check the number.
    """
    from idsight.ocr.predictor import CardReader

    reader = CardReader.load(path)
    t0 = time.perf_counter()
    reads: list[dict[str, Any]] = []
    head: list[dict[str, Any]] = []
    for d in dirs:  # one folder at a time, so the first HEAD_CARDS of each are known
        folder = read_records(reader, load_records([d]))
        reads += folder
        head += folder[:HEAD_CARDS]
    metrics = {**score(reads), "seconds": round(time.perf_counter() - t0, 1)}
    head_metrics = score(head)
    state, meta = load_artifact(path)
    meta.setdefault("metrics", {})["val"] = {**metrics, "data": [Path(d).name for d in dirs]}
    meta["metrics"]["val_head"] = {
        "cards_per_folder": HEAD_CARDS,
        "folders": [Path(d).name for d in dirs],
        "field_exact_match": head_metrics["field_exact_match"],
        "cer": head_metrics["cer"],
    }
    save_artifact(path, state, meta, dtype=meta.get("storage_dtype", "float16"))
    print(
        f"[recipe] {path.name}: val field exact match {metrics['field_exact_match']:.4f}, CER {metrics['cer']:.4f}"
    )
    return metrics
