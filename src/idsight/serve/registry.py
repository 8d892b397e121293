"""Which model serves which job, loaded once at start-up, and swapped without a restart.

A service config (YAML) names one model per job: a shipped or installed model name, or an artifact
path. ``ModelSet`` loads every named model when the service starts and never per request. ``reload``
loads the new version first and then swaps it in under a lock: requests already running keep the
version they started with, and the old one is freed once the last of them finishes.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from idsight import DEFAULT_READER
from idsight.errors import BadConfigError, IdsightError

JOBS = ("cards", "faces", "classify", "contours")


class Batching(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_batch: Annotated[int, Field(ge=1, le=256)] = 8
    max_wait_ms: Annotated[float, Field(ge=0.0, le=1000.0)] = 5.0


class FaceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    far: Annotated[float, Field(gt=0.0, lt=1.0)] = 1e-3
    aligner: Annotated[str, Field(pattern="^(dlib|opencv)$")] = "dlib"


def _default_models() -> dict[str, str | None]:
    return {"cards": DEFAULT_READER}


class ServeConfig(BaseModel):
    """The service config: ``models`` (job -> model name or path; a job left out is not served),
    ``batching``, ``faces`` (the FAR whose stored threshold decides, the face detector), ``reviews_db``
    (the review store that ``POST /v1/reviews`` writes to) and ``review_retention_days`` (reads older
    than that are purged from it, at start-up and every hour; null keeps them)."""

    model_config = ConfigDict(extra="forbid")
    models: dict[str, str | None] = Field(default_factory=lambda: _default_models())
    batching: Batching = Batching()
    faces: FaceSettings = FaceSettings()
    reviews_db: str | None = None
    review_retention_days: float | None = Field(default=None, ge=0)

    def served(self) -> dict[str, str]:
        return {job: name for job, name in self.models.items() if name}


def load_config(path: str | Path | None) -> ServeConfig:
    """The config at ``path`` (None: the defaults: the layout-free student reads cards)."""
    if path is None:
        return ServeConfig()
    from idsight.train.config import read_yaml

    p = Path(path)
    raw = read_yaml(p)  # one line naming the file: missing, unreadable, not YAML, not a mapping
    try:
        cfg = ServeConfig.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise BadConfigError(f"{where}: {err['msg']}", path=p) from None
    unknown = sorted(set(cfg.models) - set(JOBS))
    if unknown:
        raise BadConfigError(f"models.{unknown[0]}: unknown job (known: {', '.join(JOBS)})", path=p)
    return cfg


@dataclass
class Loaded:
    """One model version in service: what answers a job's requests."""

    job: str
    name: str
    path: Path
    sha256: str
    model: Any
    loaded_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def record(self) -> dict[str, str]:
        return {"model": self.name, "sha256": self.sha256, "loaded_at": self.loaded_at}


def load_job(job: str, name: str, cfg: ServeConfig) -> Loaded:
    """Load the model ``name`` for ``job`` (an IdsightError naming the file when it does not fit)."""
    from idsight import hub
    from idsight.artifact import sha256_file

    path = hub.resolve(name)
    if job == "cards":
        from idsight.ocr.readers import load_reader

        model: Any = load_reader(path)
    elif job == "faces":
        from idsight.faces.recognizer import FaceVerifier

        model = FaceVerifier(path, aligner=cfg.faces.aligner)
    elif job == "classify":
        from idsight.contours.classify import load_classifier

        model = load_classifier(path)
    elif job == "contours":
        from idsight.contours.extractor import load_extractor

        model = load_extractor(path, head=True)
    else:
        raise IdsightError(f"unknown job {job!r} (known: {', '.join(JOBS)})")
    return Loaded(job, path.stem, path, sha256_file(path), model)


class NotServed(IdsightError):
    """A job that the service config names no model for."""


class ModelSet:
    """The loaded model of every configured job; ``get`` is what a request holds while it runs."""

    def __init__(self, cfg: ServeConfig) -> None:
        self.cfg = cfg
        self._lock = threading.Lock()
        self._loaded = {job: load_job(job, name, cfg) for job, name in cfg.served().items()}

    def get(self, job: str) -> Loaded:
        with self._lock:
            loaded = self._loaded.get(job)
        if loaded is None:
            raise NotServed(f"no model serves {job!r} here (the service config names none)")
        return loaded

    def reload(self, job: str, name: str | None = None) -> Loaded:
        """Load ``name`` (default: the job's current model file, read again) and swap it in."""
        if job not in JOBS:
            raise IdsightError(f"unknown job {job!r} (known: {', '.join(JOBS)})")
        with self._lock:
            current = self._loaded.get(job)
        target = name or (str(current.path) if current is not None else None)
        if target is None:
            raise NotServed(f"no model serves {job!r} here; name one to load")
        new = load_job(job, target, self.cfg)  # outside the lock: requests go on meanwhile
        with self._lock:
            self._loaded[job] = new
        return new

    def versions(self) -> dict[str, dict[str, str]]:
        with self._lock:
            return {job: loaded.record() for job, loaded in self._loaded.items()}
