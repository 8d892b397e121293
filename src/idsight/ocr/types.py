"""Data passed between pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CharRead:
    """One character from the CTC alignment: the character segmentation of a line."""

    char: str
    prob: float
    alternatives: list[tuple[str, float]] = field(default_factory=list)  # top-k; "" is the CTC blank
    x0: float = 0.0  # span in the line crop's pixels (or image pixels once mapped back)
    x1: float = 0.0


@dataclass
class LineRead:
    key: str  # line key without the template prefix, e.g. "mrz_1"
    text: str
    confidence: float
    chars: list[CharRead] = field(default_factory=list)
    box: list[float] | None = None  # axis-aligned box in input-image pixels
    crop: Any = field(default=None, repr=False)  # the recogniser's input (uint8 RGB, H = 32), for review


@dataclass
class FieldResult:
    text: str
    confidence: float
    box: list[float] | None = None


@dataclass
class CleanupResult:
    fields: dict[str, FieldResult]
    checks: dict[str, Any]
    corrections: list[dict[str, Any]]  # {"field", "from", "to", "reason"}
