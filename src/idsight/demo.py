"""The main job on built-in data: generate held-out sample cards, read them, tabulate accuracy."""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
from rich.table import Table

from idsight.cli.common import err, out
from idsight.errors import IdsightError
from idsight.templates import TEMPLATE_NAMES


def run_demo(*, count: int, seed: int, model: str, out_dir: Path | None) -> dict[str, float]:
    import torch

    from idsight.data.synth import write_cards
    from idsight.ocr.predictor import CardReader

    torch.set_num_threads(1)
    reader = CardReader.load(model)
    root = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="idsight-demo-"))
    hits: dict[tuple[str, str], list[bool]] = defaultdict(list)
    totals: list[float] = []
    for template in TEMPLATE_NAMES:
        d = root / template
        write_cards(template, count, d, photo=True, seed=seed)
        for line in (d / "labels.jsonl").read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            try:
                res = reader.read_path(d / rec["image"])
                got = {k: v["text"] for k, v in res.fields.items()} if res.template == template else {}
                totals.append(res.timings_ms["total"])
            except IdsightError as e:
                err.print(f"[yellow]warning:[/] {e}")
                got = {}
            for k, v in rec["fields"].items():
                hits[(template, k)].append(got.get(k) == v)
    t = Table(
        title=f"Field exact match on {count} generated photos per template (seed {seed}, model {reader.name})"
    )
    t.add_column("template")
    t.add_column("field")
    t.add_column("accuracy", justify="right")
    summary: dict[str, float] = {}
    for (tpl, k), v in hits.items():
        acc = float(np.mean(v))
        summary[f"{tpl}/{k}"] = acc
        t.add_row(tpl, k, f"{100 * acc:.1f}%")
    overall = float(np.mean([x for v in hits.values() for x in v]))
    summary["overall"] = overall
    t.add_row("all", "all", f"{100 * overall:.1f}%", style="bold")
    out.print(t)
    if totals:
        out.print(f"median latency per card: {np.median(totals):.0f} ms (1 thread); cards in {root}")
    return summary
