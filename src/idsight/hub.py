"""Where model artifacts live: shipped inside the package, or installed in the user's model dir.

A model is named by its file stem. ``default`` resolves to the installed default (set by
``idsight models promote``) when there is one, else to the shipped default.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

from idsight.artifact import read_meta, sha256_file
from idsight.errors import BadModelError, IdsightError, UnknownNameError

SUFFIX = ".safetensors"


def shipped_dir() -> Path:
    return Path(str(resources.files("idsight") / "assets" / "models"))


def user_dir() -> Path:
    root = os.environ.get("IDSIGHT_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share", "idsight"
    )
    return Path(root) / "models"


def _default_name() -> str:
    for d in (user_dir(), shipped_dir()):
        f = d / "DEFAULT"
        if f.is_file():
            return f.read_text().strip()
    raise UnknownNameError("no default model is shipped or installed")


def _index() -> dict[str, tuple[Path, str]]:
    found: dict[str, tuple[Path, str]] = {}
    for d, source in ((shipped_dir(), "shipped"), (user_dir(), "installed")):
        if d.is_dir():
            for p in sorted(d.glob(f"*{SUFFIX}")):
                found[p.name[: -len(SUFFIX)]] = (p, source)
    return found


def resolve(name_or_path: str | Path) -> Path:
    """A shipped or installed model name, ``default``, or a path to an artifact file."""
    s = str(name_or_path)
    p = Path(s)
    if p.suffix == SUFFIX or os.sep in s or p.is_file():
        if not p.is_file():
            raise BadModelError("no such model file", path=p)
        return p
    if s == "default":
        s = _default_name()
    index = _index()
    if s not in index:
        raise UnknownNameError(f"unknown model {s!r} (known: {', '.join(sorted(index)) or 'none'})")
    return index[s][0]


def describe(path: Path, *, source: str = "file") -> dict[str, Any]:
    meta = read_meta(path)
    return {
        "name": path.name[: -len(SUFFIX)] if path.name.endswith(SUFFIX) else path.name,
        "task": meta.get("task"),
        "role": meta.get("role"),
        "parameters": meta.get("parameter_count"),
        "file_size": path.stat().st_size,
        "sha256": sha256_file(path),
        "metrics": meta.get("metrics", {}),
        "parent": meta.get("parent"),
        "data": meta.get("data"),  # what a distilled version learned from (review count and ids' hash)
        "gate": meta.get("gate"),
        "source": source,
        "path": str(path),
    }


def list_models() -> list[dict[str, Any]]:
    out = []
    try:
        default = _default_name()
    except IdsightError:
        default = None
    for name, (path, source) in sorted(_index().items()):
        try:
            d = describe(path, source=source)
        except BadModelError as e:
            d = {"name": name, "source": source, "path": str(path), "error": str(e)}
        d["default"] = name == default
        out.append(d)
    return out
