"""Print styles of values: dates, sex codes, document numbers.

Every style prints text that the spec's format parser reads back to the field value (the tests
check this for every style).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

_EN = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
_FR = "JANV FÉVR MARS AVR MAI JUIN JUIL AOÛT SEPT OCT NOV DÉC".split()
_DE = "JAN FEB MÄR APR MAI JUN JUL AUG SEP OKT NOV DEZ".split()
_ES = "ENE FEB MAR ABR MAY JUN JUL AGO SEP OCT NOV DIC".split()

# (style name, orders it needs): kr-rrc prints year first only
DATE_STYLES: dict[str, str] = {
    "kr-dots": "ymd",  # 2024. 1. 31.
    "kr-dots-pad": "ymd",  # 2024. 01. 31.
    "kr-units": "ymd",  # 2024년 1월 31일
    "ymd-dots": "ymd",  # 2024.01.31
    "iso": "ymd",  # 2024-01-31
    "ymd-slash": "ymd",  # 2024/01/31
    "dmy-dots": "dmy",  # 31.01.2024
    "dmy-space": "dmy",  # 31 01 2024
    "dmy-slash": "dmy",  # 31/01/2024
    "dmy-dash": "dmy",  # 31-01-2024
    "d-mon-y": "dmy",  # 31 JAN 2024
    "d-mon-y-dots": "dmy",  # 31.JAN.2024
    "d-mon2-y": "dmy",  # 31 JAN/JANV 2024
    "d-mon-y-es": "dmy",  # 31 ENE 2024
    "d-mon2-y-de": "dmy",  # 31 OCT/OKT 2024
}
KR_DATE_STYLES = ("kr-dots", "kr-dots", "kr-dots-pad", "kr-units", "ymd-dots", "iso", "ymd-slash")
LATIN_DATE_STYLES = tuple(s for s in DATE_STYLES if s not in ("kr-units", "kr-dots-pad"))
SEX_STYLES = {
    "plain": {"M": "M", "F": "F", "X": "X"},
    "slash": {"M": "M/M", "F": "F/F", "X": "X"},
    "de": {"M": "M", "F": "W", "X": "D"},
    "fr": {"M": "H", "F": "F", "X": "X"},
    "ko": {"M": "남", "F": "여", "X": "X"},
}


def format_date(day: dt.date, style: str) -> str:
    d, m, y = day.day, day.month, day.year
    if style == "kr-dots":
        return f"{y}. {m}. {d}."
    if style == "kr-dots-pad":
        return f"{y}. {m:02d}. {d:02d}."
    if style == "kr-units":
        return f"{y}년 {m}월 {d}일"
    if style in ("ymd-dots", "iso", "ymd-slash"):
        sep = {"ymd-dots": ".", "iso": "-", "ymd-slash": "/"}[style]
        return f"{y}{sep}{m:02d}{sep}{d:02d}"
    if style in ("dmy-dots", "dmy-space", "dmy-slash", "dmy-dash"):
        sep = {"dmy-dots": ".", "dmy-space": " ", "dmy-slash": "/", "dmy-dash": "-"}[style]
        return f"{d:02d}{sep}{m:02d}{sep}{y}"
    if style == "d-mon-y":
        return f"{d:02d} {_EN[m - 1]} {y}"
    if style == "d-mon-y-dots":
        return f"{d:02d}.{_EN[m - 1]}.{y}"
    if style == "d-mon-y-es":
        return f"{d:02d} {_ES[m - 1]} {y}"
    if style == "d-mon2-y":
        return f"{d:02d} {_EN[m - 1]}/{_FR[m - 1]} {y}"
    if style == "d-mon2-y-de":
        return f"{d:02d} {_EN[m - 1]}/{_DE[m - 1]} {y}"
    raise ValueError(f"unknown date style {style!r}")


def pick_date_style(doc_type: str, rng: np.random.Generator) -> str:
    styles = KR_DATE_STYLES if doc_type == "kr-rrc" else LATIN_DATE_STYLES
    return styles[int(rng.integers(len(styles)))]


def pick_sex_style(doc_type: str, rng: np.random.Generator, korean_labels: bool) -> str:
    names = ["plain", "plain", "slash", "de", "fr"]
    if doc_type == "td3" and korean_labels:
        names += ["ko", "ko"]
    return names[int(rng.integers(len(names)))]


def format_sex(sex: str, style: str) -> str:
    return SEX_STYLES[style][sex]


def format_number(number: str, rng: np.random.Generator) -> str:
    """A document number as printed: mostly plain, sometimes in groups (``AB 123 4567``)."""
    if len(number) < 8 or rng.random() < 0.85:
        return number
    cut = int(rng.integers(2, 5))
    return f"{number[:cut]} {number[cut:]}"
