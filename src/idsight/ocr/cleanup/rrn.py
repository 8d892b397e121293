"""Korean resident registration number ``YYMMDD-NNNNNNN``.

The check digit is evidence, not a rule: numbers issued since October 2020 end in a random
digit, so a digit is only changed when a substantially probable alternative of a low-confidence
character makes the check pass.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable

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
    _drop_doubled_digit(ft)
    text = ft.text
    fmt = bool(_RRN.match(text))
    born = birth_date(text)
    date_ok = born is not None and born <= today
    check = rrn_is_valid(text) if fmt else False
    if fmt and not check:

        def fixes_check(trial: str) -> bool:
            b = birth_date(trial)
            return rrn_is_valid(trial) and (not date_ok or (b is not None and b <= today))

        if _swap_digit(ft, range(len(text)), low_prob, alt_min, fixes_check, "rrn_check_digit"):
            text = ft.text
            check = True
            born = birth_date(text)
            date_ok = born is not None and born <= today
    if fmt and not date_ok:
        # no check digit to lean on (or none that helps): the most probable alternative of an unsure
        # birth-date digit that makes the date real
        def real_date(trial: str) -> bool:
            b = birth_date(trial)
            return b is not None and b <= today

        if _swap_digit(ft, range(6), low_prob, alt_min / 4, real_date, "rrn_date"):
            text = ft.text
            check = rrn_is_valid(text)
            date_ok = True
    return {"format": fmt, "date_valid": date_ok, "check_digit": check}


def _swap_digit(
    ft: FieldText,
    positions: Iterable[int],
    low_prob: float,
    min_p: float,
    accept: Callable[[str], bool],
    reason: str,
) -> bool:
    """Put in the most probable digit alternative (prob >= ``min_p``) of an unsure character
    (prob < ``low_prob``) at one of ``positions`` whose text passes ``accept``; False if none does."""
    text = ft.text
    best: tuple[float, int, str] | None = None
    for i in positions:
        s = ft.slots[i]
        if s.char == "-" or s.prob >= low_prob:
            continue
        for a, p in s.alts:
            if is_digit(a) and a != s.char and p >= min_p and (best is None or p > best[0]):
                if accept(text[:i] + a + text[i + 1 :]):
                    best = (p, i, a)
    if best is None:
        return False
    p, i, a = best
    slots = list(ft.slots)
    slots[i] = Slot(a, p, slots[i].alts)
    ft.apply(slots, reason)
    return True


def _drop_doubled_digit(ft: FieldText) -> None:
    """One digit too many on one side of the dash, where a digit is read twice in a row (a CTC
    repeat): drop one of the pair. Several such pairs: the deletion whose check digit holds, if one."""
    text = ft.text
    head, _, tail = text.partition("-")
    if "-" not in text or not (head + tail).isdigit() or (len(head), len(tail)) not in ((7, 7), (6, 8)):
        return
    lo = 0 if len(head) == 7 else len(head) + 1
    hi = len(head) if len(head) == 7 else len(text)
    options = {text[:i] + text[i + 1 :]: i for i in range(lo + 1, hi) if text[i] == text[i - 1]}
    if len(options) > 1:
        options = {t: i for t, i in options.items() if rrn_is_valid(t)}
    if len(options) == 1:
        (i,) = options.values()
        ft.apply(ft.slots[:i] + ft.slots[i + 1 :], "format")
