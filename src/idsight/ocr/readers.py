"""Load any reader artifact by what its header says it is: a card reader (``card_reader``: the
template models) or a layout-free reader (``line_reader``: detector + recogniser + content)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from idsight import hub
from idsight.artifact import read_meta


def load_reader(model: str | Path = "default", *, runtime: str = "torch", threads: int = 1) -> Any:
    path = hub.resolve(model)
    if read_meta(path).get("task") == "line_reader":
        from idsight.ocr.layoutfree import load_line_reader

        reader = load_line_reader(path, threads=threads, runtime=runtime)
        reader.name = path.name
        return reader
    from idsight.ocr.predictor import CardReader

    return CardReader.load(path, runtime=runtime)
