"""What the composer produces: a rectified card with every printed line, and the size of each frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from idsight.errors import UnknownNameError

DOC_TYPES = ("kr-rrc", "td1", "td3")
ID1_SIZE = (856, 540)  # 85.60 x 53.98 mm at 10 px/mm
TD3_SIZE = (880, 620)  # 125 x 88 mm at ~7 px/mm
ROLES = ("value", "label", "title", "mrz", "other")
DESIGN_POOLS = ("train", "heldout")
Box = tuple[int, int, int, int]


def card_size(doc_type: str) -> tuple[int, int]:
    """(width, height) of the rectified frame of ``doc_type``."""
    check_doc_type(doc_type)
    return TD3_SIZE if doc_type == "td3" else ID1_SIZE


def check_doc_type(doc_type: str) -> None:
    if doc_type not in DOC_TYPES:
        raise UnknownNameError(f"unknown document type {doc_type!r} (known: {', '.join(DOC_TYPES)})")


def check_pool(pool: str, what: str) -> None:
    if pool not in DESIGN_POOLS:
        raise UnknownNameError(f"unknown {what} pool {pool!r} (known: {', '.join(DESIGN_POOLS)})")


@dataclass
class ComposedCard:
    """A composed rectified card.

    ``lines`` lists every piece of text drawn: ``{"text", "box": [x0, y0, x1, y1] (tight ink box, card
    frame, exclusive ends), "role": value|label|title|mrz|other, "field": field name or None, "font"}``.
    A label's ``field`` names the field it labels. ``background`` is the artwork before any text was
    drawn (for checks; not written out).
    """

    doc_type: str
    image: np.ndarray
    values: dict[str, str]
    lines: list[dict[str, Any]]
    design: dict[str, Any]
    fonts: dict[str, Any]
    background: np.ndarray | None = field(default=None, repr=False)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])

    def value_lines(self, name: str) -> list[dict[str, Any]]:
        """The value lines of field ``name`` in reading order."""
        return [ln for ln in self.lines if ln["field"] == name and ln["role"] in ("value", "mrz")]
