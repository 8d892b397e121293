"""Value formats: how a field's printed text is recognised and normalised, whatever the layout.

A spec names a format and its parameters (``format: {type: date, orders: [dmy, ymd]}``); ``FORMATS``
builds it with keyword arguments. ``parse(text)`` returns the normalised value and how well the text
fits (0-1], or None when it does not fit at all. Formats know nothing of positions.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from idsight.ocr.cleanup.dates import make_date
from idsight.registry import Registry


@dataclass(frozen=True)
class Parsed:
    value: str
    score: float  # (0, 1]: how well the text fits the format


class Format(Protocol):
    """``parse`` reads one printed line; a format may also have ``finish(value) -> str``, applied
    once to the whole value of a field that spans lines."""

    def parse(self, text: str) -> Parsed | None: ...


FORMATS: Registry[Format] = Registry("value format")


@lru_cache(maxsize=8192)
def fold_char(c: str) -> str:
    """One character upper-cased without accents (Hangul syllables stay whole)."""
    bare = "".join(x for x in unicodedata.normalize("NFKD", c) if not unicodedata.combining(x))
    return unicodedata.normalize("NFC", bare).upper()


def fold(text: str) -> str:
    """Upper case without accents, runs of whitespace collapsed (for labels and month names)."""
    return " ".join("".join(fold_char(c) for c in text).split())


def squash(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def is_hangul(c: str) -> bool:
    return "\uac00" <= c <= "\ud7a3"


# -- dates ----------------------------------------------------------------------------------------
MONTHS: dict[str, int] = {}
for _m, _names in enumerate(
    (
        "JAN JANV JANUARY JANVIER JANUAR ENE ENERO GEN GENNAIO STY",
        "FEB FEV FEVR FEBRUARY FEVRIER FEBRUAR FEBRERO FEBBRAIO LUT",
        "MAR MARS MARCH MAR MARZ MRZ MARZO MAERZ",
        "APR AVR APRIL AVRIL ABR ABRIL APRILE KWI",
        "MAY MAI MAJ MAYO MAG MAGGIO",
        "JUN JUIN JUNE JUNI JUNIO GIU GIUGNO CZE",
        "JUL JUIL JULY JUILLET JULI JULIO LUG LUGLIO LIP",
        "AUG AOU AOUT AUGUST AGO AGOSTO SIE",
        "SEP SEPT SEPTEMBER SEPTEMBRE SEPTIEMBRE SET SETTEMBRE WRZ",
        "OCT OKT OCTOBER OCTOBRE OKTOBER OCTUBRE OTT OTTOBRE PAZ",
        "NOV NOVEMBER NOVEMBRE NOVIEMBRE LIS",
        "DEC DEZ DIC DECEMBER DECEMBRE DEZEMBER DICIEMBRE DICEMBRE GRU",
    ),
    start=1,
):
    for _n in _names.split():
        MONTHS.setdefault(_n, _m)

_TOKEN = re.compile(r"\d+|[A-Z]+")
_KR_UNITS = str.maketrans({"년": ".", "월": ".", "일": "."})
ORDERS = ("dmy", "ymd", "mdy")


def _date_from(tokens: list[str], order: str) -> dt.date | None:
    numbers = [t for t in tokens if t.isdigit()]
    names = [MONTHS[t] for t in tokens if not t.isdigit()]
    if names:  # a month name fixes the month; the 4-digit number is the year
        if len(names) != 1 or len(numbers) != 2:
            return None
        years = [n for n in numbers if len(n) == 4]
        if len(years) != 1:
            return None
        day = next(n for n in numbers if n is not years[0])
        return make_date(int(years[0]), names[0], int(day)) if len(day) <= 2 else None
    if len(numbers) == 1 and len(numbers[0]) == 8:  # 20240131 / 31012024
        n = numbers[0]
        numbers = [n[:4], n[4:6], n[6:]] if order == "ymd" else [n[:2], n[2:4], n[4:]]
    if len(numbers) != 3:
        return None
    parts = dict(zip(order, numbers, strict=True))
    if len(parts["y"]) != 4 or len(parts["m"]) > 2 or len(parts["d"]) > 2:
        return None
    return make_date(int(parts["y"]), int(parts["m"]), int(parts["d"]))


@dataclass(frozen=True)
class DateFormat:
    """Dates in any common print style: ``2024. 1. 31.``, ``31.01.2024``, ``31 JAN 2024``, ``2024년 1월 31일``,
    ``31 JAN/JANV 2024``; ``orders`` lists the numeric orders this document type prints."""

    orders: tuple[str, ...]

    def parse(self, text: str) -> Parsed | None:
        folded = fold(text.translate(_KR_UNITS))
        tokens = _TOKEN.findall(folded)
        # bilingual month names (OCT/OKT): keep the first that is a month
        kept: list[str] = []
        for t in tokens:
            if t.isdigit():
                kept.append(t)
            elif t in MONTHS:
                if not any(not k.isdigit() for k in kept):
                    kept.append(t)
            else:
                return None
        found = {d for order in self.orders if (d := _date_from(kept, order)) is not None}
        if len(found) != 1:
            return None
        day = found.pop()
        stray = sum(not (c.isalnum() or c in " .,/-") for c in folded)
        return Parsed(day.isoformat(), 1.0 if stray == 0 else 0.7)


@FORMATS.register("date")
def date_format(*, orders: Sequence[str] = ("dmy", "ymd"), output: str = "iso") -> DateFormat:
    bad = [o for o in orders if o not in ORDERS]
    if bad or not orders:
        raise ValueError(f"orders must be a non-empty list of {', '.join(ORDERS)}; got {list(orders)}")
    if output != "iso":
        raise ValueError(f"output {output!r} is not supported (iso)")
    return DateFormat(tuple(orders))


# -- codes and names ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegexFormat:
    pattern: re.Pattern[str]

    def parse(self, text: str) -> Parsed | None:
        compact = "".join(squash(text).split())
        return Parsed(compact, 0.8) if self.pattern.fullmatch(compact) else None


@FORMATS.register("regex")
def regex_format(*, pattern: str) -> RegexFormat:
    try:
        return RegexFormat(re.compile(pattern))
    except re.error as err:
        raise ValueError(f"pattern {pattern!r} is not a valid regular expression ({err})") from None


_RRN = re.compile(r"(\d{6})\s*[-–—]\s*(\d{7})")
# letters a recogniser reads for digits in a line of digits
DIGIT_LOOKALIKES = str.maketrans("OoQDIl|i!ZzSsBbGgqT/", "00001111122558669977")  # / a serif 7


@dataclass(frozen=True)
class RrnFormat:
    """``YYMMDD-NNNNNNN``. Up to ``max_lookalikes`` letters read for digits (``l`` for ``1``, ``O``
    for ``0``) are put right, at a lower score."""

    max_lookalikes: int = 2

    def parse(self, text: str) -> Parsed | None:
        text = squash(text)
        if m := _RRN.fullmatch(text):
            return Parsed(f"{m[1]}-{m[2]}", 1.0)
        fixed = text.translate(DIGIT_LOOKALIKES)
        if sum(a != b for a, b in zip(text, fixed, strict=True)) > self.max_lookalikes:
            return None
        m = _RRN.fullmatch(fixed)
        return Parsed(f"{m[1]}-{m[2]}", 0.8) if m else None


@FORMATS.register("rrn")
def rrn_format() -> RrnFormat:
    return RrnFormat()


_PAREN = re.compile(r"\s*[(（][^)）]*[)）]\s*")


@dataclass(frozen=True)
class HangulNameFormat:
    """2-5 Hangul syllables; a Hanja name in parentheses after it is dropped."""

    min: int
    max: int

    def parse(self, text: str) -> Parsed | None:
        bare = "".join(_PAREN.sub(" ", squash(text)).split())
        if not self.min <= len(bare) <= self.max or not all(is_hangul(c) for c in bare):
            return None
        return Parsed(bare, 0.7)


@FORMATS.register("hangul_name")
def hangul_name_format(*, min: int = 2, max: int = 5) -> HangulNameFormat:
    if not 1 <= min <= max:
        raise ValueError(f"need 1 <= min <= max, got min={min}, max={max}")
    return HangulNameFormat(min, max)


_ADDRESS_UNIT = re.compile(r"(시|도|구|군|읍|면|동|리|로|길|가)$")


@dataclass(frozen=True)
class KrAddressFormat:
    """A Korean address line: Hangul words with administrative units (시, 구, 로, 길, ...) and numbers.
    The whole address's note in parentheses is written as road addresses write it: the
    neighbourhood, a comma, the building (``(광안동 대림아파트`` -> ``(광안동, 대림아파트)``)."""

    def parse(self, text: str) -> Parsed | None:
        value = squash(text)
        words = value.split()
        if len(words) < 2 or not any(is_hangul(c) for c in value):
            return None
        units = sum(bool(_ADDRESS_UNIT.search(w.strip("(),"))) for w in words)
        if units == 0:
            return None
        return Parsed(value, min(1.0, 0.5 + 0.2 * units))

    def finish(self, value: str) -> str:
        """The whole address (all its lines) as written: the note after it put right, and a ``/``
        between digits read for a serif ``7`` (no Korean address writes one there)."""
        return _address_note(re.sub(r"(?<=\d)/(?=\d)", "7", value))


_NOTE = re.compile(r"\(([\uac00-\ud7a3\d]+(?:동|가|리))\s*,?\s+([\uac00-\ud7a3A-Za-z][^()]*?)\s*\)$")


def _address_note(value: str) -> str:
    """The one note in parentheses at the end of an address, its ``)`` lost or not: ``(N, B)``."""
    if value.count("(") != 1 or value.count(")") > 1 or ")" in value[value.index("(") :][:-1]:
        return value
    if not value.endswith(")"):
        value += ")"
    return _NOTE.sub(lambda m: f"({m[1]}, {m[2]})", value)


@FORMATS.register("kr_address")
def kr_address_format() -> KrAddressFormat:
    return KrAddressFormat()


@dataclass(frozen=True)
class SuffixFormat:
    """Text that ends with one of ``suffixes`` (an issuing authority: ``서울특별시 종로구청장``)."""

    suffixes: tuple[str, ...]

    def parse(self, text: str) -> Parsed | None:
        """The suffix is attached to the word before it (``사하구 청 장`` -> ``사하구청장``); a suffix
        of 3 or more characters after a Hangul syllable, with one character after its first misread
        (``구창장``, or ``구청:`` where the seal covers the last), is corrected."""
        value = re.sub(r"^[^\uac00-\ud7a3]*\s", "", squash(text))  # a leading serial number or marks
        compact = value.replace(" ", "")
        if len(compact) <= max(map(len, self.suffixes)):
            return None
        for suffix in self.suffixes:
            if compact.endswith(suffix):
                return Parsed(_attach(value, suffix), 1.0)
        for suffix in self.suffixes:
            tail, n = compact[-len(suffix) :], len(suffix)
            near = sum(a != b for a, b in zip(tail, suffix, strict=True)) == 1 and tail[0] == suffix[0]
            if n >= 3 and near and is_hangul(compact[-n - 1]):
                return Parsed(_attach(value, suffix), 0.8)
        return self._under_seal(value)

    def _under_seal(self, value: str) -> Parsed | None:
        """The issuer's seal is printed over its last syllables, which are then lost, misread, or read
        as marks (``부천시쟁2)``, ``아산시3``, ``송파구청``, ``서초구정``, ``노원구청챰운``). With two or three
        words, the first a region (ending in 시 or 도), marks after the text are dropped, and a last
        word that holds a suffix's first letter (구, 시, 군, 도) after a place name, followed by at most
        as many syllables as the suffix has, is completed with that suffix; with nothing after the
        letter, a sign of the seal (marks) is needed too, since a place name ends with it."""
        stripped = re.sub(r"[^\uac00-\ud7a3]+$", "", value)
        marks = stripped != value
        words = stripped.split()
        if not 2 <= len(words) <= 3 or words[0][-1:] not in ("시", "도"):
            return None
        word = words[-1]
        for suffix in self.suffixes:
            k = word.rfind(suffix[0])
            tail = word[k + 1 :]
            if k < 1 or len(tail) > len(suffix) or not all(map(is_hangul, word[:k])):
                continue
            if not (tail or marks) or (len(word[:k]) < 2 and suffix[0] != "구"):
                continue  # 중구, 서구: one-syllable districts; a city or county name has two or more
            return Parsed(_drop_letters(stripped, len(tail) + 1) + suffix, 0.6)
        return None


def _drop_letters(value: str, n: int) -> str:
    """``value`` without its last ``n`` non-space letters, right-stripped."""
    head = value
    while n:
        n -= not head[-1].isspace()
        head = head[:-1]
    return head.rstrip()


def _attach(value: str, suffix: str) -> str:
    """``value`` with its last ``len(suffix)`` letters replaced by ``suffix``, joined to the word before."""
    head, left = value, len(suffix)
    while left:
        left -= not head[-1].isspace()
        head = head[:-1]
    return head.rstrip() + suffix


@FORMATS.register("suffix")
def suffix_format(*, suffixes: Sequence[str]) -> SuffixFormat:
    if not suffixes or not all(isinstance(s, str) and s for s in suffixes):
        raise ValueError("suffixes must be a non-empty list of non-empty strings")
    return SuffixFormat(tuple(sorted(suffixes, key=len, reverse=True)))


_LATIN_NAME = re.compile(r"[A-ZÀ-ÖØ-ÞŁŒŠŽŸĆČĘĚŃŇŘŚŞŤŮŹŻ' -]+")


@dataclass(frozen=True)
class LatinNameFormat:
    """Names in upper-case Latin letters, accents allowed (``MÜLLER-LÜDENSCHEIDT``, ``O'NEIL``)."""

    def parse(self, text: str) -> Parsed | None:
        value = squash(text)
        if not _LATIN_NAME.fullmatch(value) or sum(c.isalpha() for c in value) < 2:
            return None
        return Parsed(value, 0.6)


@FORMATS.register("latin_name")
def latin_name_format() -> LatinNameFormat:
    return LatinNameFormat()


@dataclass(frozen=True)
class ChoiceFormat:
    values: Mapping[str, str]

    def parse(self, text: str) -> Parsed | None:
        key = "".join(fold(text).split())
        value = self.values.get(key)
        return Parsed(value, 1.0) if value is not None else None


@FORMATS.register("choice")
def choice_format(*, values: Mapping[str, Any]) -> ChoiceFormat:
    if not isinstance(values, Mapping) or not values:
        raise ValueError("values must be a non-empty mapping of printed text to value")
    return ChoiceFormat({"".join(fold(str(k)).split()): str(v) for k, v in values.items()})


@dataclass(frozen=True)
class MrzFormat:
    """The machine-readable zone: read by ``idsight.ocr.content.mrz``, never from one line."""

    def parse(self, text: str) -> Parsed | None:
        return None


@FORMATS.register("mrz")
def mrz_format() -> MrzFormat:
    return MrzFormat()
