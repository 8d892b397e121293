"""A simulated reviewer for generated cards: it confirms right fields and corrects wrong ones.

Used by the main job and ``benchmarks/distill.py``; the truth comes from the cards' ``labels.jsonl``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from idsight.review.store import ReviewStore


def truth_by_image(dirs: list[str] | list[Path]) -> dict[str, dict[str, str]]:
    """``{image path: {field: text}}`` from generated card folders."""
    from idsight.data.cards import load_records

    return {str(d / rec["image"]): rec["fields"] for d, rec in load_records(dirs)}


def simulate_reviews(
    store: ReviewStore,
    truth: dict[str, dict[str, str]],
    *,
    reviewer: str = "simulated",
    charset: str | None = None,
) -> dict[str, Any]:
    """Review every queued read whose source image has a truth; returns counts."""
    reads = fields = corrected = 0
    todo = [r for r in store.iter_reads() if not r.reviews and r.source in truth]
    for read in todo:
        gt = truth[read.source]
        verdicts: dict[str, dict[str, Any]] = {}
        for name, pred in read.fields.items():
            if name not in gt:
                continue
            if pred.get("text") == gt[name]:
                verdicts[name] = {"status": "confirmed", "text": None}
            else:
                verdicts[name] = {"status": "corrected", "text": gt[name]}
                corrected += 1
        if not verdicts:
            continue
        store.submit_review(read.id, reviewer, verdicts, charset=charset, expected_version=read.version)
        reads += 1
        fields += len(verdicts)
    return {"reads": reads, "fields": fields, "corrected": corrected}
