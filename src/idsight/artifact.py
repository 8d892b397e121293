"""The single-file model artifact.

One ``.safetensors`` file holds the weights (optionally stored in fp16) and, in its header
metadata, a JSON document with the architecture, resolved config, preprocessing, charset,
provenance (recipe command, data seed, code version) and recorded metrics. Loading never
unpickles anything.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from idsight.errors import BadModelError

FORMAT = "idsight-artifact/1"
META_KEY = "idsight.meta"
FORMAT_KEY = "idsight.format"
MAX_HEADER = 100 * 1024 * 1024


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_artifact(
    path: str | Path, state_dict: dict[str, torch.Tensor], meta: dict[str, Any], *, dtype: str = "float16"
) -> Path:
    """Write weights and metadata to one file. Floating tensors are cast to ``dtype``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cast = getattr(torch, dtype)
    tensors = {
        k: (v.detach().to(cast) if v.is_floating_point() else v.detach()).contiguous().cpu()
        for k, v in state_dict.items()
    }
    meta = {**meta, "storage_dtype": dtype}
    save_file(
        tensors, str(path), metadata={FORMAT_KEY: FORMAT, META_KEY: json.dumps(meta, ensure_ascii=False)}
    )
    return path


def read_meta(path: str | Path) -> dict[str, Any]:
    """Read only the JSON metadata from an artifact's header; BadModelError for anything malformed."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) != 8:
                raise BadModelError("file is too short to be a model artifact", path=path)
            (n,) = struct.unpack("<Q", raw)
            if n > MAX_HEADER:
                raise BadModelError("header size is implausible; the file is corrupt", path=path)
            header = json.loads(f.read(n))
        if not isinstance(header, dict):
            raise BadModelError(
                f"corrupt model header (a JSON {type(header).__name__}, not an object)", path=path
            )
        md = header.get("__metadata__", {})
        if not isinstance(md, dict) or not all(isinstance(v, str) for v in md.values()):
            raise BadModelError("corrupt model header (__metadata__ is not a map of strings)", path=path)
        if md.get(FORMAT_KEY) != FORMAT:
            raise BadModelError("not an idsight model artifact (missing format tag)", path=path)
        meta = json.loads(md[META_KEY])
    except FileNotFoundError:
        raise BadModelError("no such model file", path=path) from None
    except IsADirectoryError:
        raise BadModelError("a folder, not a model file", path=path) from None
    except OSError as e:
        raise BadModelError(f"cannot read the file ({e.strerror or e})", path=path) from None
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, struct.error, RecursionError) as e:
        raise BadModelError(f"corrupt model header ({type(e).__name__})", path=path) from None
    if not isinstance(meta, dict):
        raise BadModelError(
            f"corrupt model metadata (a JSON {type(meta).__name__}, not an object)", path=path
        )
    return meta


def load_artifact(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load weights (as float32) and metadata. Raises BadModelError on any corruption."""
    meta = read_meta(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise BadModelError(f"corrupt model weights ({e})", path=path) from None
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}
    return state, meta


def average_artifacts(paths: list[str | Path], out: str | Path, *, command: str) -> Path:
    """Write the element-wise mean of the weights of artifacts of one architecture (a "model soup":
    runs fine-tuned from the same start, averaged, often generalise better than each). The result
    carries the last file's metadata, its provenance naming every input's."""
    if len(paths) < 2:
        raise ValueError("averaging needs two or more model files")
    loaded = [load_artifact(p) for p in paths]
    (first, first_meta), first_path = loaded[0], paths[0]
    for (state, meta), path in zip(loaded[1:], paths[1:], strict=True):
        if meta.get("arch") != first_meta.get("arch") or meta.get("charset") != first_meta.get("charset"):
            raise BadModelError(f"another architecture or charset than {first_path}", path=path)
        if state.keys() != first.keys() or any(state[k].shape != first[k].shape for k in first):
            raise BadModelError(f"weights do not match those of {first_path}", path=path)
    mean = {
        k: torch.stack([s[k] for s, _ in loaded]).mean(0) if v.is_floating_point() else v
        for k, v in loaded[-1][0].items()
    }
    meta = dict(loaded[-1][1])
    dtype = str(meta.pop("storage_dtype", "float32"))
    meta["provenance"] = {
        "command": command,
        "averaged": [
            {"path": str(p), "provenance": m.get("provenance")}
            for (_, m), p in zip(loaded, paths, strict=True)
        ],
    }
    return save_artifact(out, mean, meta, dtype=dtype)
