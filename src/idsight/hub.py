"""Where model artifacts live: shipped inside the package, or installed in the user's model dir.

A model is named by its file stem. ``default`` resolves to the installed default card reader (the one
the review and distillation loop trains, set by ``idsight models promote``) when there is one, else to
the shipped one. ``idsight.DEFAULT_READER`` names the model that reads when none is named: the layout-free student,
which reads cards of any design. A name that may become a
file in the models folder is checked by :func:`check_name` first: no separators, no ``..``.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

from idsight.artifact import read_meta, sha256_file
from idsight.errors import BadModelError, IdsightError, UnknownNameError

SUFFIX = ".safetensors"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NAME_RULE = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"


def shipped_dir() -> Path:
    return Path(str(resources.files("idsight") / "assets" / "models"))


def user_dir() -> Path:
    root = os.environ.get("IDSIGHT_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share", "idsight"
    )
    return Path(root) / "models"


def check_name(name: str) -> str:
    """``name`` if it is safe as a model's file stem in the models folder; else an IdsightError."""
    if not NAME.fullmatch(name):
        raise IdsightError(f"invalid model name {name[:80]!r} (use {NAME_RULE})")
    if name == "default" or name.endswith(SUFFIX):
        raise IdsightError(f"invalid model name {name!r} (reserved; choose another)")
    return name


def _default() -> tuple[str, Path]:
    """The default model's name and the DEFAULT file that names it (installed first, then shipped)."""
    for d in (user_dir(), shipped_dir()):
        f = d / "DEFAULT"
        if f.is_file():
            try:
                name = f.read_text(encoding="utf-8").strip()
                return check_name(name), f
            except (OSError, UnicodeDecodeError) as e:
                raise BadModelError(f"cannot read the default model's name ({e})", path=f) from None
            except IdsightError:
                raise BadModelError(
                    f"names {name[:80]!r}, which is not a valid model name; "
                    "run `idsight models promote` or delete this file",
                    path=f,
                ) from None
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
    index = _index()
    if s == "default":
        s, f = _default()
        if s not in index:
            raise BadModelError(
                f"names model {s!r}, which is not installed; run `idsight models promote` or delete this file",
                path=f,
            )
    if s not in index:
        raise UnknownNameError(f"unknown model {s!r} (known: {', '.join(sorted(index)) or 'none'})")
    return index[s][0]


def _typed(meta: dict[str, Any], key: str, kind: type, path: Path) -> Any:
    """``meta[key]`` (None when absent), refused unless it is a ``kind``."""
    value = meta.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise BadModelError(f"metadata {key!r} is a {type(value).__name__}, not a {kind.__name__}", path=path)
    return value


def describe(path: Path, *, source: str = "file") -> dict[str, Any]:
    meta = read_meta(path)
    return {
        "name": path.name[: -len(SUFFIX)] if path.name.endswith(SUFFIX) else path.name,
        "task": _typed(meta, "task", str, path),
        "role": _typed(meta, "role", str, path),
        "parameters": _typed(meta, "parameter_count", int, path),
        "file_size": path.stat().st_size,
        "sha256": sha256_file(path),
        "metrics": _typed(meta, "metrics", dict, path) or {},
        "parent": meta.get("parent"),
        "data": meta.get("data"),  # what a distilled version learned from (review count and ids' hash)
        "gate": meta.get("gate"),
        "source": source,
        "path": str(path),
    }


def list_models() -> list[dict[str, Any]]:
    """Every shipped and installed model; one that cannot be read is listed with its ``error``."""
    out = []
    try:
        default = _default()[0]
    except IdsightError:
        default = None
    for name, (path, source) in sorted(_index().items()):
        try:
            d = describe(path, source=source)
        except (IdsightError, OSError) as e:
            message = str(e) if isinstance(e, IdsightError) else f"{path}: cannot read the file ({e})"
            d = {"name": name, "source": source, "path": str(path), "error": message}
        d["default"] = name == default
        out.append(d)
    return out
