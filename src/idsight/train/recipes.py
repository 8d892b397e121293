"""The card-reader recipe: generate synthetic cards, train the three networks with the shared
engine, assemble them into one ``ReaderModel`` and write one artifact with its provenance.

A recipe is a composition: data generation (``idsight.data.synth``), ``fit`` per component, an
evaluation of the assembled reader, and ``save_artifact``. No training loop lives here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from idsight import __version__
from idsight.artifact import load_artifact, read_meta, save_artifact
from idsight.data.charset import CHARSET
from idsight.data.synth.writer import cards_complete
from idsight.errors import BadConfigError
from idsight.templates import TEMPLATE_NAMES
from idsight.train.config import TrainConfig, read_yaml, validate_config


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class SynthData(_Strict):
    """Generated training data; folders are reused when already complete."""

    seed: int = Field(
        default=0, ge=0, lt=1000, description="training seeds stay below 1000; benchmarks use >= 9000"
    )
    cards_per_template: int = Field(default=600, ge=1)
    photo_fraction: float = Field(default=0.5, ge=0, le=1)
    val_cards_per_template: int = Field(default=60, ge=1)
    font_pool: Literal["train", "shifted", "all"] = "train"
    root: str = "runs/data"


class ReaderRecipe(_Strict):
    name: str
    role: Literal["teacher", "student"]
    storage_dtype: Literal["float16", "float32"] = "float16"
    data: SynthData = Field(default_factory=lambda: SynthData())
    localizer: TrainConfig
    classifier: TrainConfig
    detector: TrainConfig
    recognizer: TrainConfig
    out: str = "runs/models"
    teacher: str | None = Field(
        default=None, description="teacher artifact (name or path) for distillation tasks and copied parts"
    )
    copy_from_teacher: list[Literal["localizer", "classifier", "detector", "recognizer"]] = Field(
        default_factory=list, description="parts taken as they are from the teacher (already light)"
    )


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> ReaderRecipe:
    """Read a recipe YAML, apply ``a.b=value`` overrides, validate (BadConfigError naming the file)."""
    return validate_config(ReaderRecipe, read_yaml(path), overrides, source=Path(path))


def generate_data(cfg: SynthData) -> dict[str, list[str]]:
    """Write (or reuse) train/val card folders; returns {"train": dirs, "val": dirs}."""
    from idsight.data.synth import write_cards

    root = Path(cfg.root)
    dirs: dict[str, list[str]] = {"train": [], "val": []}
    n_photo = round(cfg.cards_per_template * cfg.photo_fraction)
    plan = []
    base = cfg.seed * 10
    for tpl in TEMPLATE_NAMES:
        plan += [
            ("train", tpl, cfg.cards_per_template - n_photo, False, base + 1),
            ("train", tpl, n_photo, True, base + 2),
            ("val", tpl, cfg.val_cards_per_template, True, base + 3),
        ]
    for split, tpl, n, photo, seed in plan:
        if n <= 0:
            continue
        d = root / f"{tpl}-{'photo' if photo else 'flat'}-s{seed}-{cfg.font_pool}-n{n}"
        if not cards_complete(d, n) and _rank() > 0:  # under torchrun, rank 0 writes the data
            _wait_for(d, n)
        elif not cards_complete(d, n):
            print(
                f"[data] generating {n} {tpl} {'photos' if photo else 'scans'} (seed {seed}) -> {d}",
                flush=True,
            )
            write_cards(tpl, n, d, photo=photo, seed=seed, font_pool=cfg.font_pool)
        dirs[split].append(str(d))
    return dirs


def _load_teacher(recipe: ReaderRecipe) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The teacher artifact's weights and metadata, when the recipe names one."""
    if recipe.teacher is None:
        if recipe.copy_from_teacher:
            raise BadConfigError("copy_from_teacher needs a 'teacher' artifact")
        return None
    from idsight import hub

    state, meta = load_artifact(hub.resolve(recipe.teacher))
    if meta.get("charset", CHARSET) != CHARSET:
        raise BadConfigError(
            f"teacher {recipe.teacher!r} was trained with a different charset "
            f"({len(meta.get('charset', ''))} vs {len(CHARSET)} characters)"
        )
    return state, meta


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _wait_for(d: Path, n: int, timeout_s: float = 6 * 3600) -> None:
    t0 = time.monotonic()
    while not cards_complete(d, n):
        if time.monotonic() - t0 > timeout_s:
            raise BadConfigError(f"timed out waiting for rank 0 to write {d}")
        time.sleep(2)


def _with_dirs(cfg: TrainConfig, dirs: dict[str, list[str]], out_dir: Path) -> TrainConfig:
    data = cfg.data.model_copy(deep=True)
    data.train = {**data.train, "dirs": dirs["train"]}
    if data.val is not None:
        data.val = {**data.val, "dirs": dirs["val"], "augment": False}
    return cfg.model_copy(update={"data": data, "out_dir": str(out_dir)}, deep=True)


def best_weights(result: Any) -> dict[str, torch.Tensor]:
    if result.best_path:
        state = torch.load(result.best_path, map_location="cpu", weights_only=True)["state_dict"]
        return {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    return {k: v.detach().clone() for k, v in result.module.model.state_dict().items()}


def _parent(recipe: ReaderRecipe, teacher: Any) -> dict[str, Any] | None:
    """The teacher a student was distilled from (name and sha256), or None for a teacher."""
    if teacher is None or recipe.teacher is None:
        return None
    from idsight import hub

    return parent_record(hub.resolve(recipe.teacher), "distilled from")


def parent_record(
    path: Path, relation: str | None = None, meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An artifact's record of a model it came from: name, sha256, how (``relation``) and, given that
    model's ``meta``, how it was made and its own parent (the whole chain back to a recipe)."""
    from idsight.artifact import sha256_file

    rec: dict[str, Any] = {"name": path.stem, "sha256": sha256_file(path)}
    if relation is not None:
        rec["relation"] = relation
    if meta is not None:
        rec.update(provenance=meta.get("provenance"), parent=meta.get("parent"))
    return rec


def git_commit() -> str | None:
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                check=True,
                cwd=Path(__file__).parent,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.CalledProcessError):
        return None


def provenance(args: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """How an artifact was made: the ``idsight`` command (``args``, default this process's), the git
    commit, the versions and the time, plus ``extra``."""
    return {
        "command": "idsight " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if args is None else args)),
        **extra,
        "git_commit": git_commit(),
        "idsight_version": __version__,
        "torch_version": torch.__version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _config_key(cfg: TrainConfig) -> str:
    blob = json.dumps(cfg.resolved(), sort_keys=True) + CHARSET
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def train_reader(
    config: str | Path,
    *,
    overrides: list[str] | tuple[str, ...] = (),
    out: Path | None = None,
    only: str | None = None,
) -> Path | None:
    """Train every part (reusing parts already trained with the same config) and write the artifact.

    With ``only``, train just that part (always afresh) and stop before assembling. Returns the path
    written, or None on the other ranks of a torchrun job (rank 0 writes).
    """
    from idsight.models.reader import PARTS, build_reader
    from idsight.ocr.predictor import DEFAULT_PREPROCESSING
    from idsight.train.engine import fit

    recipe = load_recipe(config, overrides)
    dirs = generate_data(recipe.data)
    run_dir = Path(recipe.out) / recipe.name
    arch: dict[str, Any] = {}
    state: dict[str, torch.Tensor] = {}
    component_metrics: dict[str, dict[str, Any]] = {}
    wanted = list(PARTS) if only is None else [only]
    teacher = _load_teacher(recipe)
    for part in PARTS:
        cfg = _with_dirs(getattr(recipe, part), dirs, run_dir / part)
        if part == "recognizer" and not cfg.model.kwargs.get("num_classes"):
            cfg.model.kwargs["num_classes"] = len(CHARSET) + 1
        if cfg.task.name == "distillation":
            cfg.task.kwargs.setdefault("teacher", recipe.teacher)
        arch[part] = {"name": cfg.model.name, "kwargs": cfg.model.kwargs}
        if part in recipe.copy_from_teacher and teacher is not None:
            tstate, tmeta = teacher
            arch[part] = tmeta["arch"][part]
            prefix = f"{part}."
            state.update({k: v.float() for k, v in tstate.items() if k.startswith(prefix)})
            component_metrics[part] = {"copied_from": str(recipe.teacher)}
            continue
        cache = run_dir / "parts" / f"{part}.safetensors"
        key = _config_key(cfg)
        if part not in wanted:
            continue
        if only is None and cache.is_file() and read_meta(cache).get("key") == key:
            print(f"[recipe] reusing trained {part} from {cache}", flush=True)
            weights, pmeta = load_artifact(cache)
        else:
            print(f"[recipe] training {part}: {cfg.model.name} / {cfg.task.name}", flush=True)
            res = fit(cfg)
            weights = best_weights(res)
            pmeta = {
                "key": key,
                "metrics": {k: round(v, 5) for k, v in res.metrics.items() if k.startswith("val/")},
                "epochs": res.epochs_run,
                "seconds": round(res.seconds, 1),
                "world_size": int(os.environ.get("WORLD_SIZE", "1")),
            }
            if _rank() == 0:  # DDP ranks hold the same weights; one writes them
                save_artifact(cache, weights, pmeta, dtype="float32")
        state.update({f"{part}.{k}": v for k, v in weights.items()})
        component_metrics[part] = {
            **pmeta["metrics"],
            "epochs": pmeta["epochs"],
            "train_seconds": pmeta["seconds"],
            "world_size": pmeta.get("world_size", 1),
        }
    if _rank() > 0:  # under torchrun only rank 0 writes, assembles and evaluates
        return None
    if only is not None:
        return run_dir / "parts" / f"{only}.safetensors"
    model = build_reader(arch)
    model.load_state_dict(state, strict=True)
    meta = {
        "task": "card_reader",
        "role": recipe.role,
        "arch": arch,
        "charset": CHARSET,
        "preprocessing": DEFAULT_PREPROCESSING,
        "config": recipe.model_dump(mode="json"),  # the resolved config, every default filled in
        "provenance": provenance(
            ["train", str(config), *sum((["--set", o] for o in overrides), [])],
            argv=sys.argv,
            data={"seed": recipe.data.seed, "dirs": dirs},
        ),
        "metrics": {"components": component_metrics},
        "parent": _parent(recipe, teacher),
    }
    path = Path(out) if out else run_dir / f"{recipe.name}.safetensors"
    model.to_artifact(path, meta, dtype=recipe.storage_dtype)
    from idsight.train.evaluate import record_reader_metrics

    record_reader_metrics(path, dirs["val"])
    return path
