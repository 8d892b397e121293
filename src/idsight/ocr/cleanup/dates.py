"""Printed dates -> ISO values, tolerant of missing/extra spaces and dots.

kr: ``2024. 1. 31.`` (year month day); td1 VIZ: ``15 03 1985`` (day month year).
"""

from __future__ import annotations

import datetime as dt
import re

_NUM = re.compile(r"\d+")


def make_date(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def _split_run(run: str, widths: tuple[tuple[int, ...], ...]) -> list[list[str]]:
    out = []
    for ws in widths:
        if sum(ws) == len(run):
            parts, i = [], 0
            for w in ws:
                parts.append(run[i : i + w])
                i += w
            out.append(parts)
    return out


def parse_ymd(text: str) -> dt.date | None:
    """``2024. 1. 31.``, ``2024.01.31``, ``2024 1 31``, ``20240131`` -> date (or None). With dots,
    a space inside a number is a misread gap (``20 16. 6. 15.``)."""
    groups = _NUM.findall(text)
    if len(groups) > 3:
        dotted = [g for part in text.split(".") if (g := "".join(_NUM.findall(part)))]
        if len(dotted) == 3:
            groups = dotted
    cands: list[list[str]] = []
    if len(groups) == 3:
        cands.append(groups)
    elif len(groups) == 2:  # one separator lost: split the run that is too long
        y, rest = groups
        if len(y) == 4:
            cands += [[y, *p] for p in _split_run(rest, ((1, 1), (1, 2), (2, 1), (2, 2)))]
        else:
            cands += [[*p, rest] for p in _split_run(y, ((4, 1), (4, 2)))]
    elif len(groups) == 1:
        cands += _split_run(groups[0], ((4, 2, 2), (4, 1, 2), (4, 2, 1), (4, 1, 1)))
    found = {d for c in cands if len(c[0]) == 4 and (d := make_date(int(c[0]), int(c[1]), int(c[2])))}
    return found.pop() if len(found) == 1 else None


def parse_dmy(text: str) -> dt.date | None:
    """``15 03 1985``, ``15.03.1985``, ``15031985`` -> date (or None)."""
    groups = _NUM.findall(text)
    cands: list[list[str]] = []
    if len(groups) == 3:
        cands.append(groups)
    elif len(groups) == 2:
        a, b = groups
        if len(b) == 4:
            cands += [[*p, b] for p in _split_run(a, ((1, 1), (1, 2), (2, 1), (2, 2)))]
        else:
            cands += [[a, *p] for p in _split_run(b, ((1, 4), (2, 4)))]
    elif len(groups) == 1:
        cands += _split_run(groups[0], ((2, 2, 4), (1, 2, 4), (2, 1, 4), (1, 1, 4)))
    found = {d for c in cands if len(c[2]) == 4 and (d := make_date(int(c[2]), int(c[1]), int(c[0])))}
    return found.pop() if len(found) == 1 else None


def parse_yymmdd(s: str, *, past: bool, today: dt.date) -> dt.date | None:
    """MRZ/RRN ``YYMMDD``; ``past=True`` picks the century that puts the date not after today
    (birth dates), else 20YY (expiry dates)."""
    if len(s) != 6 or not s.isdigit():
        return None
    yy, m, d = int(s[:2]), int(s[2:4]), int(s[4:])
    if past:
        y = 2000 + yy if 2000 + yy <= today.year else 1900 + yy
        date = make_date(y, m, d)
        if date is not None and date > today:
            date = make_date(y - 100, m, d)
        return date
    return make_date(2000 + yy, m, d)


def format_kr(d: dt.date) -> str:
    return f"{d.year}. {d.month}. {d.day}."


def format_dmy(d: dt.date) -> str:
    return f"{d.day:02d} {d.month:02d} {d.year:04d}"
