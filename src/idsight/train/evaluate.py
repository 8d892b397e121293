"""Evaluate an assembled card reader on labelled card folders; record the metrics in its artifact."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from idsight.artifact import load_artifact, save_artifact
from idsight.data.cards import load_records
from idsight.errors import IdsightError
from idsight.metrics import cer, field_accuracy


def evaluate_reader(reader: Any, dirs: list[str] | list[Path], *, limit: int | None = None) -> dict[str, Any]:
    """Field exact match (per field and overall), CER and template accuracy over labelled cards."""
    records = load_records(list(dirs))[:limit]
    preds: list[dict[str, str] | None] = []
    gts: list[dict[str, str]] = []
    tpl_ok = 0
    totals: list[float] = []
    t0 = time.perf_counter()
    for d, rec in records:
        try:
            res = reader.read_path(d / rec["image"])
            totals.append(res.timings_ms["total"])
            ok = res.template == rec["template"]
            tpl_ok += ok
            preds.append({k: v["text"] for k, v in res.fields.items()} if ok else None)
        except IdsightError:
            preds.append(None)
        gts.append(rec["fields"])
    acc = field_accuracy(preds, gts)
    flat_p = [(p or {}).get(k, "") for p, g in zip(preds, gts, strict=True) for k in g]
    flat_g = [v for g in gts for v in g.values()]
    return {
        "field_exact_match": round(acc["overall"], 4),
        "per_field": {k: round(v, 4) for k, v in acc["per_field"].items()},
        "cer": round(cer(flat_p, flat_g), 4),
        "template_accuracy": round(tpl_ok / max(1, len(records)), 4),
        "cards": len(records),
        "latency_ms_median": round(float(np.median(totals)), 1) if totals else None,
        "seconds": round(time.perf_counter() - t0, 1),
    }


HEAD_CARDS = 6  # cards per template re-read by tests/test_shipped_models.py


def head_dirs(dirs: list[str], root: Path) -> list[Path]:
    """Copies of the first HEAD_CARDS cards of each folder (the same seeds regenerate them)."""
    out = []
    for d in map(Path, dirs):
        lines = (d / "labels.jsonl").read_text(encoding="utf-8").splitlines()[:HEAD_CARDS]
        h = root / d.name
        h.mkdir(parents=True, exist_ok=True)
        (h / "labels.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        for line in lines:
            name = json.loads(line)["image"]
            (h / name).write_bytes((d / name).read_bytes())
        out.append(h)
    return out


def record_reader_metrics(path: Path, dirs: list[str], **kw: Any) -> dict[str, Any]:
    """Evaluate the artifact at ``path`` on ``dirs`` and store the result in its metadata.

    Besides the whole validation set, the first HEAD_CARDS cards of each folder are scored on their
    own (``val_head``) so that a test can regenerate exactly those cards and check the number.
    """
    from idsight.ocr.predictor import CardReader

    reader = CardReader.load(path)
    metrics = evaluate_reader(reader, dirs, **kw)
    with tempfile.TemporaryDirectory() as tmp:
        head = evaluate_reader(reader, head_dirs(dirs, Path(tmp)))
    state, meta = load_artifact(path)
    meta.setdefault("metrics", {})["val"] = {**metrics, "data": [Path(d).name for d in dirs]}
    meta["metrics"]["val_head"] = {
        "cards_per_folder": HEAD_CARDS,
        "folders": [Path(d).name for d in dirs],
        "field_exact_match": head["field_exact_match"],
        "cer": head["cer"],
    }
    save_artifact(path, state, meta, dtype=meta.get("storage_dtype", "float16"))
    print(
        f"[recipe] {path.name}: val field exact match {metrics['field_exact_match']:.4f}, CER {metrics['cer']:.4f}"
    )
    return metrics
