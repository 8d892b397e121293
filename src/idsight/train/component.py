"""Train one network from a single ``TrainConfig`` YAML (``model``, ``task``, ``data``, ...), resuming from
its last checkpoint, and write it as a one-file artifact.

Long runs span several sittings: each call appends its command to ``<out_dir>/commands.jsonl`` and goes
on from ``<out_dir>/checkpoints/last.ckpt``; the artifact records every command that made it. Works
under ``torchrun`` (rank 0 writes).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from idsight.artifact import save_artifact
from idsight.train.config import load_config, read_yaml
from idsight.train.engine import fit
from idsight.train.recipes import best_weights, provenance


def is_component_config(path: str | Path) -> bool:
    """A single-network config (as opposed to a reader recipe with one section per part)."""
    data = read_yaml(path)
    return {"model", "task", "data"} <= set(data)


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def train_component(
    config: str | Path, *, overrides: list[str] | tuple[str, ...] = (), out: Path | None = None
) -> Path | None:
    """Train (or go on training) the network of ``config``; returns the artifact path (None off rank 0)."""
    cfg = load_config(config, overrides)
    run = Path(cfg.out_dir)
    last = run / "checkpoints" / "last.ckpt"
    args = ["train", str(config), *sum((["--set", o] for o in overrides), [])]
    log = run / "commands.jsonl"
    if _rank() == 0:
        run.mkdir(parents=True, exist_ok=True)
        entry = {
            "command": provenance(args)["command"],
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "resumed": last.is_file(),
        }
        with log.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
    res = fit(cfg, ckpt_path=str(last) if last.is_file() else None)
    if _rank() > 0:
        return None
    return _write(cfg, best_weights(res), args, log, res.metrics, res.global_step, res.epochs_run, out)


def export_checkpoint(config: str | Path, *, out: Path, checkpoint: Path | None = None) -> Path:
    """The artifact of a run's checkpoint (default: its last), without training: a usable model from a
    run that has not finished."""
    import torch

    cfg = load_config(config)
    ckpt = checkpoint or Path(cfg.out_dir) / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    weights = {k.removeprefix("model."): v for k, v in state["state_dict"].items() if k.startswith("model.")}
    log = Path(cfg.out_dir) / "commands.jsonl"
    return _write(
        cfg,
        weights,
        ["train", str(config)],
        log,
        {},
        int(state.get("global_step", 0)),
        int(state.get("epoch", 0)),
        out,
    )


def _write(
    cfg: Any,
    weights: dict[str, Any],
    args: list[str],
    log: Path,
    metrics: dict[str, float],
    step: int,
    epochs: int,
    out: Path | None,
) -> Path:
    from idsight.data.charset import CHARSETS

    charset_name = cfg.data.kwargs.get("charset")
    commands = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines()] if log.is_file() else []
    meta: dict[str, Any] = {
        "task": cfg.task.name,
        "arch": _arch(cfg.model.name, cfg.model.kwargs),
        "config": cfg.resolved(),
        "provenance": provenance(args, argv=sys.argv, commands=commands),
        "metrics": {k: round(v, 5) for k, v in metrics.items()},
        "training": {"global_step": step, "epochs": epochs},
    }
    if charset_name in CHARSETS:
        meta["charset"] = CHARSETS[charset_name]
    path = out or Path(cfg.out_dir) / "model.safetensors"
    save_artifact(path, weights, meta, dtype="float32")
    return path


def _arch(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The architecture to record: warm-start builders resolved to the plain builder they made."""
    if name in ("crnn_from_reader", "crnn_from_artifact", "from_artifact"):
        from idsight.models.recognizer import concrete_arch

        return concrete_arch(name, kwargs)
    if name == "contour_fused":
        from idsight.models.fused import recorded_arch

        return recorded_arch(kwargs)
    return {"name": name, "kwargs": kwargs}
