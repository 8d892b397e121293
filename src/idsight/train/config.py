"""Typed training configs loaded from YAML, with dotted command-line overrides.

A config file has the sections ``model``, ``task``, ``data``, ``optim``, ``trainer``, ``plateau`` and
the key ``out_dir``. Unknown keys are rejected everywhere except inside the free-form ``kwargs`` maps,
which are passed verbatim to the registry builders.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from idsight.errors import BadConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class ComponentConfig(_Strict):
    """A registry name and the keyword arguments of its builder."""

    name: str
    kwargs: dict[str, Any] = Field(default_factory=dict)


class DataConfig(_Strict):
    """Dataset from ``idsight.registry.DATASETS``.

    ``kwargs`` go to both splits; ``train`` / ``val`` are merged on top of them for each split.
    ``val: null`` means no validation set.
    """

    name: str
    kwargs: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, Any] = Field(default_factory=dict)
    val: dict[str, Any] | None = Field(default_factory=dict)
    batch_size: int = Field(default=32, ge=1)
    val_batch_size: int | None = Field(default=None, ge=1)
    num_workers: int = Field(default=0, ge=0)
    shuffle: bool = True
    drop_last: bool = False
    seed: int = 0


class OptimConfig(_Strict):
    name: Literal["adamw", "sgd"] = "adamw"
    lr: float = Field(default=1e-3, ge=0)
    weight_decay: float = Field(default=0.0, ge=0)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    betas: tuple[float, float] = (0.9, 0.999)
    scheduler: Literal["none", "cosine", "onecycle"] = "none"
    warmup: int = Field(default=0, ge=0, description="linear warm-up, in optimizer steps")
    min_lr: float = Field(default=0.0, ge=0, description="floor of the cosine schedule")


class TrainerConfig(_Strict):
    max_epochs: int = Field(default=10, ge=1)
    max_steps: int = Field(default=-1, ge=-1)
    limit_train_batches: int | float | None = None
    limit_val_batches: int | float | None = None
    precision: Literal["32-true", "32", "16-mixed", "bf16-mixed", "64-true"] = "32-true"
    accumulate_grad_batches: int = Field(default=1, ge=1)
    gradient_clip_val: float | None = Field(default=None, ge=0)
    deterministic: bool = False
    log_every_n_steps: int = Field(default=50, ge=1)
    accelerator: str = "auto"
    devices: int = Field(default=1, ge=1, description="single-process device count; torchrun's env wins")
    num_sanity_val_steps: int = Field(default=0, ge=-1)


class PlateauConfig(_Strict):
    """'Train until the monitored metric stops improving' (Lightning EarlyStopping).

    ``patience`` counts checks; a check happens every ``check_every`` epochs. The same metric selects the
    best checkpoint.
    """

    enabled: bool = True
    monitor: str = "val/loss"
    mode: Literal["min", "max"] = "min"
    patience: int = Field(default=3, ge=0)
    min_delta: float = Field(default=0.0, ge=0)
    check_every: int = Field(default=1, ge=1)


class TrainConfig(_Strict):
    model: ComponentConfig
    task: ComponentConfig
    data: DataConfig
    optim: OptimConfig = Field(default_factory=OptimConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    plateau: PlateauConfig = Field(default_factory=PlateauConfig)
    out_dir: str = "runs/default"

    def resolved(self) -> dict[str, Any]:
        """Plain JSON-compatible dict (every default filled in), for artifact metadata."""
        return self.model_dump(mode="json")


# PyYAML follows YAML 1.1, where ``1e-3`` is a string; accept the usual float spellings.
class _Loader(yaml.SafeLoader):
    pass


_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def _condense(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        parts.append(f"{loc}: {msg}")
    return "invalid config: " + "; ".join(parts)


def apply_override(data: dict[str, Any], override: str, *, path: object = None) -> None:
    """Apply one ``a.b.c=value`` override in place; the value is parsed as YAML."""
    key, sep, raw = override.partition("=")
    key = key.strip()
    if not sep or not key or any(not p for p in key.split(".")):
        raise BadConfigError(f"override {override!r} is not of the form section.key=value", path=path)
    try:
        value = yaml.load(raw, Loader=_Loader) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    node = data
    *parents, leaf = key.split(".")
    for i, part in enumerate(parents):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parents[: i + 1])
            raise BadConfigError(f"override {override!r}: {where} is not a section", path=path)
        node = child
    node[leaf] = value


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _nested_defaults(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with each partly given section laid over that section's default: a config whose default
    section is not the section class's defaults (``optim`` in DistillConfig: cosine, weight decay) keeps
    them when a file or ``--set optim.lr=...`` gives only some of its keys."""
    out = dict(data)
    for name, f in model.model_fields.items():
        sub = out.get(name)
        if not isinstance(sub, dict):
            continue
        if not f.is_required():
            default = f.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                out[name] = _deep_merge(default.model_dump(mode="json"), sub)
                continue
        if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel):
            out[name] = _nested_defaults(f.annotation, sub)
    return out


M = TypeVar("M", bound=BaseModel)


def validate_config(
    model: type[M], data: dict[str, Any], overrides: Sequence[str] = (), *, source: object = "<dict>"
) -> M:
    """Apply ``section.key=value`` overrides to a copy of ``data`` and validate it as ``model``."""
    data = copy.deepcopy(data)
    for ov in overrides:
        apply_override(data, ov, path=source)
    try:
        return model.model_validate(_nested_defaults(model, data))
    except ValidationError as e:
        raise BadConfigError(_condense(e), path=source) from None


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _yaml_value(v: Any) -> str:
    """``v`` written so that :func:`apply_override` reads it back as ``v``."""
    if isinstance(v, str) and v.strip():  # (apply_override reads a blank value as null)
        try:
            if yaml.load(v, Loader=_Loader) == v:
                return v
        except yaml.YAMLError:
            pass
    return json.dumps(v, ensure_ascii=False)  # JSON is YAML: lists, quoted strings, null, numbers


def overrides_from(cfg: BaseModel, base: BaseModel) -> list[str]:
    """The dotted ``key=value`` overrides that turn ``base`` into ``cfg`` (``--set`` arguments that
    rebuild ``cfg`` from the defaults, for the command an artifact records)."""
    want, have = _flat(cfg.model_dump(mode="json")), _flat(base.model_dump(mode="json"))
    return [f"{k}={_yaml_value(v)}" for k, v in want.items() if k not in have or have[k] != v]


def config_from_dict(
    data: dict[str, Any], overrides: Sequence[str] = (), *, source: object = "<dict>"
) -> TrainConfig:
    return validate_config(TrainConfig, data, overrides, source=source)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; BadConfigError (one line, naming the file) on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadConfigError("no such config file", path=path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise BadConfigError(f"cannot read config ({type(e).__name__})", path=path) from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise BadConfigError(f"not valid YAML{where}", path=path) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadConfigError("config must be a YAML mapping", path=path)
    return data


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a YAML training config, apply ``section.key=value`` overrides, validate.

    Raises BadConfigError (message prefixed with the file name, one line) on any problem.
    """
    return validate_config(TrainConfig, read_yaml(path), overrides, source=Path(path))
