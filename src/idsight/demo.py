"""The main job on built-in data: read cards, review a shifted batch, distil, gate, promote, compare.

1. Read cards of design families and font families that no training saw (composed at random,
   ``idsight synth composed --design-pool heldout --font-pool heldout``) with the layout-free student
   (what ``idsight read`` uses) and the card reader, then generated held-out photos of the fixed
   templates with the card reader (per-field tables).
2. Read a batch of cards printed in font families the student never saw ("shifted") into a review
   store, and let a simulated reviewer confirm right fields and correct wrong ones.
3. Distil a new student from the teacher and those reviews (``idsight distill``).
4. Gate it on the fixed held-out set and promote it (in the demo's own model home, so the user's
   default is untouched).
5. Print the before/after table on held-out shifted cards and on the gate's set.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from idsight.cli.common import out
from idsight.templates import TEMPLATE_NAMES

DEMO_LR = 3e-4  # step 3 fine-tunes the shipped student: see review_loop
REPLAY = 4  # generated cards of the original fonts replayed per reviewed card, against forgetting
REPLAY_LINES = 15  # rendered lines of the original fonts (names, addresses, MRZ) per reviewed card


def _read_table(reader: Any, root: Path, count: int, seed: int) -> dict[str, dict]:
    from idsight.data.synth import write_cards
    from idsight.train.evaluate import evaluate_reader

    t = Table(
        title=f"1. {count} generated photos per fixed template (seed {seed}), model {reader.name}, 1 CPU thread"
    )
    for c in ("template", "field", "exact match"):
        t.add_column(c, justify="right" if c == "exact match" else "left")
    results = {}
    for i, template in enumerate(TEMPLATE_NAMES):
        write_cards(template, count, root / template, photo=True, seed=seed + i)
        r = evaluate_reader(reader, [root / template])
        results[template] = r
        for field, acc in r["per_field"].items():
            t.add_row(template, field, f"{100 * acc:.1f}%")
        t.add_row(
            template,
            f"all (CER {100 * r['cer']:.2f}%, {r['latency_ms_median']} ms/card)",
            f"{100 * r['field_exact_match']:.1f}%",
            style="bold",
        )
    out.print(t)
    return results


def _unseen_designs_table(readers: list[Any], root: Path, count: int, seed: int) -> dict[str, Any]:
    """Read ``count`` composed cards per document type of the held-out design and font families with
    each reader; ``{reader name: {document type: fields exact}}``."""
    import json

    from idsight.data.io import load_image
    from idsight.data.synth.compose import DOC_TYPES, write_composed
    from idsight.errors import IdsightError
    from idsight.metrics import field_match

    labels = write_composed(
        list(DOC_TYPES), count * len(DOC_TYPES), root, seed=seed, design_pool="heldout", font_pool="heldout"
    )
    records = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]

    t = Table(title=f"1. Cards of design and font families no training saw ({count} per type; generated)")
    for c in ("model", "document type", "fields exact", "type right"):
        t.add_column(c)
    results: dict[str, Any] = {}
    for reader in readers:
        name = Path(reader.name).stem
        per: dict[str, list[bool]] = {}
        types: dict[str, list[bool]] = {}
        for rec in records:
            try:
                d = reader.read(load_image(root / rec["image"]), name=rec["image"]).to_dict()
            except IdsightError:
                d = {"template": "none", "fields": {}}
            types.setdefault(rec["doc_type"], []).append(d["template"] == rec["doc_type"])
            got = (
                {k: v.get("text") for k, v in d["fields"].items()} if d["template"] == rec["doc_type"] else {}
            )
            for k, v in rec["fields"].items():
                per.setdefault(rec["doc_type"], []).append(field_match(k, got.get(k), v))
        for doc in DOC_TYPES:
            f, ty = per.get(doc, []), types.get(doc, [])
            t.add_row(
                name,
                doc,
                f"{100 * sum(f) / max(1, len(f)):.1f}%",
                f"{100 * sum(ty) / max(1, len(ty)):.1f}%",
            )
        results[name] = {k: sum(v) / max(1, len(v)) for k, v in per.items()}
    out.print(t)
    return results


def run_demo(
    *,
    count: int,
    seed: int,
    model: str,
    out_dir: Path | None,
    loop: bool = True,
    review_cards: int = 60,
    epochs: int = 6,
    holdout_cards: int | None = None,
) -> dict[str, Any]:
    import torch

    from idsight import DEFAULT_READER
    from idsight.ocr.predictor import CardReader
    from idsight.ocr.readers import load_reader

    torch.set_num_threads(1)
    t0 = time.monotonic()
    reader = CardReader.load(model)
    layout_free = load_reader(DEFAULT_READER)  # what `idsight read` reads with unless told
    root = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="idsight-demo-"))
    unseen = _unseen_designs_table([layout_free, reader], root / "unseen", 5, seed)
    results: dict[str, Any] = {"unseen_designs": unseen}
    results["read"] = _read_table(reader, root / "read", count, seed)
    if loop:
        results["loop"] = review_loop(
            root,
            model=model,
            review_cards=review_cards,
            seed=seed,
            epochs=epochs,
            holdout_cards=holdout_cards,
        )
    out.print(f"done in {time.monotonic() - t0:.0f} s; cards, review store and models are in {root}")
    return results


def review_loop(
    root: Path, *, model: str, review_cards: int, seed: int, epochs: int, holdout_cards: int | None = None
) -> dict[str, Any]:
    """Steps 2-5 (see the module docstring)."""
    import torch

    from idsight import hub
    from idsight.artifact import sha256_file
    from idsight.data.synth import write_cards
    from idsight.errors import IdsightError
    from idsight.ocr.predictor import CardReader
    from idsight.review.capture import capture
    from idsight.review.simulate import simulate_reviews, truth_by_image
    from idsight.review.store import ReviewStore
    from idsight.train.distill import DistillConfig, distill, distill_argv, line_replay
    from idsight.train.evaluate import evaluate_reader
    from idsight.train.holdout import promote

    student_path = hub.resolve(model)
    os.environ["IDSIGHT_HOME"] = str(root / "home")  # promotion lands in the demo's own model home
    (hub.user_dir() / "DEFAULT").unlink(missing_ok=True)  # each run gates against the shipped default
    # 2. a shifted batch, read and reviewed
    batch = [root / "shifted" / t for t in TEMPLATE_NAMES]
    for i, d in enumerate(batch):
        write_cards(
            TEMPLATE_NAMES[i], review_cards // 2, d, photo=True, seed=seed + 100 + i, font_pool="shifted"
        )
    db = root / "reviews.db"
    db.unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    reader = CardReader.load(student_path)
    sha = sha256_file(student_path)
    with ReviewStore(url) as store:
        for d in batch:
            for img in sorted(d.glob("*.jpg")):
                try:
                    capture(store, reader.read_path(img), model_name=student_path.stem, model_sha256=sha)
                except IdsightError:
                    pass  # a card the reader rejects is not queued
        counts = simulate_reviews(store, truth_by_image(batch))
    out.print(
        f"2. read {review_cards} shifted-font cards into {url}; the simulated reviewer confirmed "
        f"{counts['fields'] - counts['corrected']} fields and corrected {counts['corrected']}"
    )
    # 3. distil a new student
    new = root / "models" / "idsight-reader-student-reviewed.safetensors"
    # generated cards of the original domain, with their ground truth, are replayed against forgetting
    # A low learning rate: the shipped student is already a good reader of the original fonts, and a
    # few hundred reviewed lines at the default rate (1e-3) move it away from that more than they teach.
    cfg = DistillConfig(
        student=str(student_path),
        reviews=url,
        synthetic=REPLAY * review_cards,
        **line_replay(REPLAY_LINES * review_cards),
        seed=0,
        holdout=False,
    )
    cfg.trainer.max_epochs = epochs
    cfg.optim.lr = DEMO_LR
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    t1 = time.monotonic()
    distill(cfg, new, argv=distill_argv(cfg, new))
    torch.set_num_threads(1)
    out.print(f"3. distilled {new.name} in {time.monotonic() - t1:.0f} s")
    # 4. gate + promote
    try:
        gate = promote(new, spec={"per_template": holdout_cards} if holdout_cards else None)
        out.print(
            f"4. gate passed ({gate['candidate']['field_exact_match']:.2%} >= "
            f"{gate['current']['field_exact_match']:.2%} on the held-out set); promoted to {gate['path']}"
        )
    except IdsightError as e:
        gate = {"refused": str(e)}
        out.print(f"4. gate refused the new version: {e}")
    # 5. before/after on held-out shifted cards
    evals = [root / "shifted-eval" / t for t in TEMPLATE_NAMES]
    for i, d in enumerate(evals):
        write_cards(
            TEMPLATE_NAMES[i], review_cards // 2, d, photo=True, seed=seed + 200 + i, font_pool="shifted"
        )
    before = evaluate_reader(CardReader.load(student_path), evals)
    after = evaluate_reader(CardReader.load(new), evals)
    t = Table(title="5. held-out shifted-font cards: before and after learning from the reviews")
    for c in ("field", "before", "after"):
        t.add_column(c, justify="left" if c == "field" else "right")
    for f in before["per_field"]:
        t.add_row(f, f"{100 * before['per_field'][f]:.1f}%", f"{100 * after['per_field'][f]:.1f}%")
    t.add_row(
        "all fields",
        f"{100 * before['field_exact_match']:.1f}%",
        f"{100 * after['field_exact_match']:.1f}%",
        style="bold",
    )
    t.add_row("CER", f"{100 * before['cer']:.2f}%", f"{100 * after['cer']:.2f}%")
    if "candidate" in gate:
        t.add_row(
            "gate's held-out set",
            f"{100 * gate['current']['field_exact_match']:.1f}%",
            f"{100 * gate['candidate']['field_exact_match']:.1f}%",
        )
    out.print(t)
    return {"reviews": counts, "gate": gate, "before": before, "after": after}
