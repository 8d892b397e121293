"""The fixed held-out set of the promotion gate, and ``idsight models promote``.

The set is generated, deterministic and never trained on: ``HOLDOUT`` photos per template from seeds
>= 7000, drawn from *all* font families (the training faces and the shifted ones), so a version that
only learned the shifted domain, or forgot the original one, shows it. A new version becomes the
default only if its field exact match on this set is not lower than the current default's.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

from idsight import hub
from idsight.artifact import load_artifact, read_meta, save_artifact, sha256_file
from idsight.errors import IdsightError
from idsight.templates import TEMPLATE_NAMES

HOLDOUT: dict[str, Any] = {"per_template": 40, "seed": 7001, "photo": True, "font_pool": "all"}


class GateRefused(IdsightError):
    """The candidate scores lower than the current default on the held-out set."""


def holdout_root() -> Path:
    return hub.user_dir().parent / "holdout"


def holdout_dirs(spec: dict[str, Any] | None = None) -> list[str]:
    """The held-out card folders (generated on first use, then reused)."""
    from idsight.data.synth import cards_complete, write_cards

    s = {**HOLDOUT, **(spec or {})}
    dirs = []
    for i, tpl in enumerate(TEMPLATE_NAMES):
        d = holdout_root() / f"{tpl}-s{s['seed'] + i}-{s['font_pool']}-n{s['per_template']}"
        if not cards_complete(d, s["per_template"]):
            write_cards(
                tpl, s["per_template"], d, photo=s["photo"], seed=s["seed"] + i, font_pool=s["font_pool"]
            )
        dirs.append(str(d))
    return dirs


def score_holdout(model: str | Path, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """Field exact match, CER and per-field accuracy of ``model`` on the held-out set (1 thread)."""
    import torch

    from idsight.ocr.predictor import CardReader
    from idsight.train.evaluate import evaluate_reader

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        metrics = evaluate_reader(CardReader.load(model), holdout_dirs(spec))
    finally:
        torch.set_num_threads(threads)
    return {**metrics, "spec": {**HOLDOUT, **(spec or {})}}


def record_holdout(path: Path) -> dict[str, Any]:
    """Score an artifact on the held-out set and store the result in its metadata."""
    metrics = score_holdout(path)
    state, meta = load_artifact(path)
    meta.setdefault("metrics", {})["holdout"] = metrics
    save_artifact(path, state, meta, dtype=meta.get("storage_dtype", "float16"))
    print(
        f"[holdout] {path.name}: field exact match {metrics['field_exact_match']:.4f}, CER {metrics['cer']:.4f}",
        flush=True,
    )
    return metrics


def promote(
    candidate: str | Path, *, name: str | None = None, spec: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Gate ``candidate`` against the current default; on success install it as the new default.

    Returns ``{"candidate", "current", "promoted", "path"}``; raises :class:`GateRefused` on a regression.
    """
    cand_path = hub.resolve(candidate)
    target_name = hub.check_name(name or cand_path.stem)  # before anything is scored or written
    read_meta(cand_path)  # a corrupt candidate fails here, before any scoring
    current_path = hub.resolve("default")
    cand = score_holdout(cand_path, spec)
    cur = score_holdout(current_path, spec)
    report = {
        "candidate": {
            "name": cand_path.stem,
            "field_exact_match": cand["field_exact_match"],
            "cer": cand["cer"],
        },
        "current": {
            "name": current_path.stem,
            "field_exact_match": cur["field_exact_match"],
            "cer": cur["cer"],
        },
        "holdout": cand["spec"],
    }
    if cand["field_exact_match"] < cur["field_exact_match"]:
        raise GateRefused(
            f"refused: {cand_path.stem} scores {cand['field_exact_match']:.2%} on the held-out set, "
            f"below the current default {current_path.stem} ({cur['field_exact_match']:.2%})",
            path=cand_path,
        )
    dest = hub.user_dir() / f"{target_name}{hub.SUFFIX}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    state, meta = load_artifact(cand_path)
    meta.setdefault("metrics", {})["holdout"] = cand
    meta["gate"] = {
        **report,
        "previous_default": {"name": current_path.stem, "sha256": sha256_file(current_path)},
        "promoted": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    tmp = dest.with_suffix(".tmp")
    save_artifact(tmp, state, meta, dtype=meta.get("storage_dtype", "float16"))
    shutil.move(tmp, dest)
    (hub.user_dir() / "DEFAULT.tmp").write_text(target_name + "\n")
    (hub.user_dir() / "DEFAULT.tmp").replace(hub.user_dir() / "DEFAULT")
    return {**report, "promoted": True, "path": str(dest)}


def gate_line(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False)
