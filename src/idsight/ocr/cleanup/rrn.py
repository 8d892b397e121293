"""Korean resident registration number ``YYMMDD-NNNNNNN``.

The check digit is evidence, not a rule: numbers issued since October 2020 end in a random
digit, so a digit is only changed when a substantially probable alternative of a low-confidence
character makes the check pass.
"""

from __future__ import annotations

import datetime as dt
import re

from idsight.icao import rrn_century, rrn_is_valid
from idsight.ocr.cleanup.dates import make_date
from idsight.ocr.cleanup.seq import TO_DIGIT, FieldText, Slot, coerce, is_digit

_DASHES = set("-‐‑‒–—―−~_=一ー.·")
_RRN = re.compile(r"^\d{6}-\d{7}$")


def _is_dash_pair(a: Slot, b: Slot) -> bool:
    return a.char in _DASHES and b.char in _DASHES


def birth_date(rrn: str) -> dt.date | None:
    if not _RRN.match(rrn):
        return None
    century = rrn_century(rrn[7])
    return make_date(century + int(rrn[:2]), int(rrn[2:4]), int(rrn[4:6]))


def clean_rrn(
    ft: FieldText, *, today: dt.date, low_prob: float = 0.9, alt_min: float = 0.2
) -> dict[str, bool]:
    ft.apply([s for s in ft.slots if not s.char.isspace()], "whitespace")
    # a dash read twice ("790916--1832554") is one dash
    ft.apply([s for i, s in enumerate(ft.slots) if not (i and _is_dash_pair(ft.slots[i - 1], s))], "format")
    # the dash: a dash-like glyph at column 6 becomes "-"; 13 characters without one get it inserted
    slots = list(ft.slots)
    if (
        len(slots) == 14
        and slots[6].char != "-"
        and (slots[6].char in _DASHES or not is_digit(slots[6].char))
    ):
        slots[6] = Slot("-", slots[6].prob, slots[6].alts)
    elif len(slots) == 13 and all(s.char not in _DASHES for s in slots):
        slots.insert(6, Slot("-", 1.0))
    ft.apply(slots, "format")
    ft.map_chars(lambda i, s: None if s.char == "-" else coerce(s, is_digit, TO_DIGIT), "confusion")
    text = ft.text
    fmt = bool(_RRN.match(text))
    born = birth_date(text)
    date_ok = born is not None and born <= today
    check = rrn_is_valid(text) if fmt else False
    if fmt and not check:
        best: tuple[float, int, str] | None = None
        for i, s in enumerate(ft.slots):
            if s.char == "-" or s.prob >= low_prob:
                continue
            for a, p in s.alts:
                if not (is_digit(a) and a != s.char and p >= alt_min):
                    continue
                trial = text[:i] + a + text[i + 1 :]
                b = birth_date(trial)
                if rrn_is_valid(trial) and (not date_ok or (b is not None and b <= today)):
                    if best is None or p > best[0]:
                        best = (p, i, a)
        if best is not None:
            p, i, a = best
            slots = list(ft.slots)
            slots[i] = Slot(a, p, slots[i].alts)
            ft.apply(slots, "rrn_check_digit")
            text = ft.text
            check = True
            born = birth_date(text)
            date_ok = born is not None and born <= today
    return {"format": fmt, "date_valid": date_ok, "check_digit": check}
