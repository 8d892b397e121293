"""The main job on built-in data: generate held-out sample cards, read them, tabulate accuracy."""

from __future__ import annotations

import tempfile
from pathlib import Path

from rich.table import Table

from idsight.cli.common import out
from idsight.templates import TEMPLATE_NAMES


def run_demo(*, count: int, seed: int, model: str, out_dir: Path | None) -> dict[str, dict]:
    import torch

    from idsight.data.synth import write_cards
    from idsight.ocr.predictor import CardReader
    from idsight.train.evaluate import evaluate_reader

    torch.set_num_threads(1)
    reader = CardReader.load(model)
    root = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="idsight-demo-"))
    t = Table(title=f"{count} generated photos per template (seed {seed}), model {reader.name}, 1 CPU thread")
    for c in ("template", "field", "exact match"):
        t.add_column(c, justify="right" if c == "exact match" else "left")
    results = {}
    for template in TEMPLATE_NAMES:
        write_cards(template, count, root / template, photo=True, seed=seed)
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
    out.print(f"cards and labels are in {root}")
    return results
