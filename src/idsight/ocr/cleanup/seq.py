"""Per-character working copy of a field's text, with correction bookkeeping.

A ``FieldText`` holds one ``Slot`` per character (char, OCR probability, top-k alternatives).
Every change goes through :meth:`FieldText.apply`, which records a correction
``{"field", "from", "to", "reason"}`` when the text actually changes, so the corrections list of a
card is exactly the chain of changes from the raw read to the final printed text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from idsight.ocr.types import LineRead

# Digit positions: letters (and look-alikes) that are really digits.
TO_DIGIT: dict[str, str] = {
    "O": "0", "o": "0", "Q": "0", "D": "0", "U": "0",
    "I": "1", "i": "1", "L": "1", "l": "1", "|": "1", "!": "1", "J": "1",
    "Z": "2", "z": "2",
    "S": "5", "s": "5",
    "G": "6", "b": "6",
    "T": "7",
    "B": "8",
    "g": "9", "q": "9",
}  # fmt: skip
# Alphabetic positions: digits that are really letters.
TO_LETTER: dict[str, str] = {"0": "O", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B", "4": "A", "7": "T"}
# Bonus (in probability units) the confusion-pair partner gets over plain alternatives.
CONFUSION_BONUS = 0.15


@dataclass
class Slot:
    char: str
    prob: float
    alts: list[tuple[str, float]] = field(default_factory=list)  # top-k, "" = CTC blank

    def alt_prob(self, c: str) -> float:
        if c == self.char:
            return self.prob
        for a, p in self.alts:
            if a == c:
                return p
        return 0.0


def slots_from_line(line: LineRead) -> list[Slot]:
    """Slots of one line; falls back to the plain text (prob = line confidence) if the
    character segmentation does not spell the text."""
    chars = line.chars or []
    if chars and "".join(c.char for c in chars) == line.text and all(len(c.char) == 1 for c in chars):
        return [Slot(c.char, float(c.prob), [(a, float(p)) for a, p in c.alternatives]) for c in chars]
    conf = float(line.confidence)
    return [Slot(c, conf) for c in line.text]


def slots_from_text(text: str, prob: float = 1.0) -> list[Slot]:
    return [Slot(c, prob) for c in text]


def text_of(slots: Iterable[Slot]) -> str:
    return "".join(s.char for s in slots)


class FieldText:
    """A field's characters plus the shared corrections list."""

    def __init__(self, name: str, slots: list[Slot], corrections: list[dict[str, Any]]) -> None:
        self.name = name
        self.slots = slots
        self.corrections = corrections

    @property
    def text(self) -> str:
        return text_of(self.slots)

    def min_prob(self) -> float:
        return min((s.prob for s in self.slots if not s.char.isspace()), default=0.0)

    def apply(self, new_slots: list[Slot], reason: str) -> bool:
        old, new = self.text, text_of(new_slots)
        self.slots = new_slots
        if old != new:
            self.corrections.append({"field": self.name, "from": old, "to": new, "reason": reason})
            return True
        return False

    def set_text(self, new: str, reason: str, prob: float | None = None) -> bool:
        """Replace the whole text; unchanged characters keep their slots when lengths agree."""
        if new == self.text:
            return False
        if len(new) == len(self.slots):
            slots = [
                s if s.char == c else Slot(c, s.prob if prob is None else prob)
                for s, c in zip(self.slots, new, strict=True)
            ]
        else:
            p = self.min_prob() if prob is None else prob
            slots = [Slot(c, p) for c in new]
        return self.apply(slots, reason)

    def map_chars(self, fn: Callable[[int, Slot], Slot | None], reason: str) -> bool:
        out = []
        for i, s in enumerate(self.slots):
            r = fn(i, s)
            out.append(s if r is None else r)
        return self.apply(out, reason)


def coerce(slot: Slot, allowed: Callable[[str], bool], mapping: dict[str, str]) -> Slot | None:
    """Replace a character that is not allowed at its position: the confusion-pair partner
    (with a small bonus) or the most probable allowed alternative. None = keep."""
    if allowed(slot.char):
        return None
    scores: dict[str, float] = {}
    for a, p in slot.alts:
        if a and allowed(a):
            scores[a] = max(scores.get(a, 0.0), p)
    m = mapping.get(slot.char)
    if m is not None and allowed(m):
        scores[m] = scores.get(m, 0.0) + CONFUSION_BONUS
    if not scores:
        return None
    best = max(scores, key=lambda c: scores[c])
    p = slot.alt_prob(best)
    return Slot(best, p if p > 0 else slot.prob, slot.alts)


def is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def is_upper_latin(c: str) -> bool:
    return "A" <= c <= "Z"


def is_hangul(c: str) -> bool:
    return "\uac00" <= c <= "\ud7a3"
