"""The machine-readable zone, found among a card's text lines and read on its own.

Lines are MRZ candidates by content (long runs of ``A-Z 0-9 <``), never by position. A spec's MRZ
layout (``mrz-layouts.yaml``) gives the fields and check digits; the ICAO check digits are verified
per field and for the composite.
"""

from __future__ import annotations

import datetime as dt
import difflib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from idsight.icao import mrz_check_digit
from idsight.ocr.cleanup.dates import parse_yymmdd
from idsight.ocr.content.spec import MrzLayout, MrzRule

_LOOKALIKE = str.maketrans(
    {
        **dict.fromkeys("«‹〈〔(（[{_ㄑくく<＜", "<"),
        **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧАВЕКМНОРСТХУ", "ABEZHIKMNOPTYXABEKMHOPCTXY", strict=True)),
    }
)
_MRZ_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<")
_TRANSLIT = str.maketrans(
    {
        "ß": "SS",
        "Ø": "OE",
        "Æ": "AE",
        "Œ": "OE",
        "Þ": "TH",
        "Ð": "D",
        "Đ": "D",
        "Ł": "L",
        "Ħ": "H",
        "Ŋ": "N",
        "Ŧ": "T",
        "Ŀ": "L",
        "I": "I",
        "Ĳ": "IJ",
    }
)
TO_DIGIT = str.maketrans("OQDUIL|ZSBG", "00001112586")
TO_ALPHA = str.maketrans("012586", "OIZSBG")
_SWAPS = {
    "0": "OD",
    "O": "0Q",
    "1": "I",
    "I": "1",
    "5": "S",
    "S": "5",
    "8": "B",
    "B": "8",
    "2": "Z",
    "Z": "2",
}


def mrz_text(text: str) -> str:
    """A line as MRZ characters: no spaces, no accents (the MRZ has none: ``Ü`` is a misread ``U``),
    look-alikes (``«``, Greek and Cyrillic capitals, full-width forms) mapped, upper case."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return "".join(unicodedata.normalize("NFKC", bare).split()).upper().translate(_LOOKALIKE)


def _coerce(text: str, chars: str) -> str:
    if chars == "digit":
        return text.translate(TO_DIGIT)
    if chars in ("alpha", "sex"):
        return text.translate(TO_ALPHA)
    return text


def _repair(data: str, digit: str) -> str:
    """An alphanumeric field whose check digit fails: the one look-alike swap that makes it pass."""
    if _check_ok(data, digit):
        return data
    fixes = [
        d
        for i, c in enumerate(data)
        for alt in _SWAPS.get(c, "")
        if _check_ok(d := data[:i] + alt + data[i + 1 :], digit)
    ]
    return fixes[0] if len(fixes) == 1 else data


def looks_like_mrz(text: str, *, min_length: int = 12) -> bool:
    """Mostly MRZ characters, long, and holding a run of fillers."""
    s = mrz_text(text)
    if len(s) < min_length or "<<" not in s:
        return False
    return sum(c in _MRZ_CHARS for c in s) >= 0.9 * len(s)


def mrz_name_form(text: str) -> str:
    """How the MRZ writes a name: upper case, no accents, ``<``, hyphens and apostrophes as spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    bare = bare.translate(_TRANSLIT)
    bare = "".join(c if c in _MRZ_CHARS else " " for c in bare.replace("<", " "))
    return " ".join(bare.split())


def mrz_spelling(viz: str, mrz: str) -> str:
    """The visual zone's name ``viz`` spelt with the letters of the MRZ's ``mrz`` (its name form):
    characters whose MRZ form the two share in the same place are kept as printed (``Ö``, a hyphen),
    every other letter is the MRZ's."""
    chars = list(" ".join(viz.split()))
    forms = [mrz_name_form(c) or " " for c in chars]
    flat = "".join(forms)
    starts = [sum(map(len, forms[:k])) for k in range(len(forms))]
    owner = {start: k for k, start in enumerate(starts)}
    out, j = [], 0
    for a, b, n in difflib.SequenceMatcher(None, flat, mrz, autojunk=False).get_matching_blocks():
        out.append(mrz[j:b])
        i = a
        while i < a + n:
            k = owner.get(i)
            if k is not None and i + len(forms[k]) <= a + n:
                out.append(chars[k])
                i += len(forms[k])
            else:
                out.append(flat[i])
                i += 1
        j = b + n
    out.append(mrz[j:])
    return " ".join("".join(out).split())


@dataclass
class MrzRead:
    """An MRZ read from lines: the fitted lines, their raw fields, values per layout field and checks."""

    lines: list[str]
    line_indices: list[int]  # which input lines were used
    raw: dict[str, str]
    values: dict[str, str]
    checks: dict[str, bool] = field(default_factory=dict)
    length_fit: float = 1.0  # the longest line read over the layout's line length

    @property
    def valid(self) -> bool:
        return bool(self.checks) and all(self.checks.values())

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _fit(s: str, length: int) -> str:
    """Lost trailing fillers are restored; an over-long read keeps its first ``length`` characters."""
    return s[:length] if len(s) >= length else s + "<" * (length - len(s))


def _slice(lines: Sequence[str], span: tuple[int, int, int]) -> str:
    li, a, b = span
    return lines[li][a:b]


def _check_ok(data: str, digit: str) -> bool:
    try:
        return mrz_check_digit(data) == digit
    except ValueError:
        return False


def parse_mrz(lines: Sequence[str], layout: MrzLayout, *, today: dt.date | None = None) -> MrzRead:
    """Read fitted MRZ lines with ``layout``: raw fields, their values, and every check digit."""
    today = today or dt.date.today()
    rows = [list(_fit(mrz_text(s), layout.length)) for s in lines]
    for f in layout.fields.values():  # look-alikes put right by what each position may hold
        li, a, b = f.span
        rows[li][a:b] = list(_coerce("".join(rows[li][a:b]), f.chars))
        if f.check is not None:
            cl, cc = f.check
            rows[cl][cc] = _coerce(rows[cl][cc], "digit")
    if layout.composite is not None:
        cl, cc = layout.composite[1]
        rows[cl][cc] = _coerce(rows[cl][cc], "digit")
    for f in layout.fields.values():
        if f.check is not None and f.chars == "alnum":
            li, a, b = f.span
            rows[li][a:b] = list(_repair("".join(rows[li][a:b]), rows[f.check[0]][f.check[1]]))
    fitted = ["".join(r) for r in rows]
    raw = {name: _slice(fitted, f.span) for name, f in layout.fields.items()}
    checks = {}
    for name, f in layout.fields.items():
        if f.check is not None:
            li, col = f.check
            data = raw[name]
            if name == "personal_number" and set(data) == {"<"} and fitted[li][col] in "<0":
                continue  # an empty optional number may carry a filler as its check digit
            checks[f"mrz_check_{name}"] = _check_ok(data, fitted[li][col])
    if layout.composite is not None:
        spans, (li, col) = layout.composite
        checks["mrz_check_composite"] = _check_ok("".join(_slice(fitted, s) for s in spans), fitted[li][col])
    values: dict[str, str] = {}
    for name, text in raw.items():
        bare = text.replace("<", " ").strip()
        if name in ("date_of_birth", "date_of_expiry"):
            day = parse_yymmdd(text, past=name == "date_of_birth", today=today)
            if day is not None:
                values[name] = day.isoformat()
        elif name == "name":
            surname, _, given = text.partition("<<")
            values["surname"] = " ".join(surname.replace("<", " ").split())
            values["given_names"] = " ".join(given.replace("<", " ").split())
        elif name == "sex":
            values[name] = "X" if text == "<" else text
        elif name == "document_number":
            values[name] = text.replace("<", "")
        elif bare:
            values[name] = " ".join(bare.split())
    return MrzRead(fitted, [], raw, values, checks)


def line_checks(text: str, layouts: Sequence[MrzLayout]) -> tuple[int, int]:
    """A lone MRZ line's checks as (passed, total), for the line of ``layouts`` it fits best (lengths
    within 2): the check digits whose data and digit all lie on that line, and its fields' codes
    (a state's code is one of the ICAO codes)."""
    s = mrz_text(text)
    best: tuple[int, int] | None = None
    for layout in layouts:
        if abs(len(s) - layout.length) > 2:
            continue
        for li in range(layout.lines):
            rows = ["<" * layout.length] * layout.lines
            rows[li] = s
            read = parse_mrz(rows, layout)
            checks = read.checks
            own = [
                checks[f"mrz_check_{name}"]
                for name, f in layout.fields.items()
                if f.check is not None and f.span[0] == f.check[0] == li and f"mrz_check_{name}" in checks
            ]
            if layout.composite is not None and all(sp[0] == li for sp in layout.composite[0]):
                own += [checks["mrz_check_composite"]] if layout.composite[1][0] == li else []
            own += [
                read.raw[name].replace("<", "") in f.codes
                for name, f in layout.fields.items()
                if f.codes is not None and f.span[0] == li
            ]
            if own and (best is None or (sum(own), -len(own)) > (best[0], -best[1])):
                best = (sum(own), len(own))
    return best or (0, 0)


def find_mrz(texts: Sequence[str], ys: Sequence[float], rule: MrzRule) -> MrzRead | None:
    """The best window of consecutive MRZ-like lines (top to bottom) for ``rule``'s layout, or None."""
    layout = rule.layout
    cands = sorted((y, i) for i, (t, y) in enumerate(zip(texts, ys, strict=True)) if looks_like_mrz(t))
    if len(cands) < layout.lines:
        return None
    best: tuple[float, MrzRead] | None = None
    for start in range(len(cands) - layout.lines + 1):
        idx = [i for _, i in cands[start : start + layout.lines]]
        lengths = [len(mrz_text(texts[i])) for i in idx]
        if any(n > layout.length + max(4, layout.length // 6) or n < layout.length // 2 for n in lengths):
            continue
        read = parse_mrz([texts[i] for i in idx], layout)
        read.line_indices = idx
        read.length_fit = max(lengths) / layout.length
        code = read.raw.get("document_code", "")[:1]
        score = sum(read.checks.values()) - 0.1 * sum(abs(n - layout.length) for n in lengths)
        score += 1.0 if not rule.document_codes or code in rule.document_codes else -2.0
        if best is None or score > best[0]:
            best = (score, read)
    return best[1] if best else None


def _mrz_field(value: str, width: int) -> str:
    text = mrz_name_form(value).replace(" ", "<")
    return (text + "<" * width)[:width]


def compose_mrz(layout: MrzLayout, values: dict[str, str]) -> list[str]:
    """The MRZ lines that ``layout`` prints for ``values`` (ISO dates, names as printed), with every
    check digit computed: the inverse of ``parse_mrz``, used by the generator and the tests."""
    lines = [["<"] * layout.length for _ in range(layout.lines)]

    def put(span: tuple[int, int, int], text: str) -> None:
        li, a, b = span
        lines[li][a:b] = list(_mrz_field(text, b - a))

    for name, f in layout.fields.items():
        if name == "name":
            given = values.get("given_names", "")
            name_text = mrz_name_form(values.get("surname", "")).replace(" ", "<") + "<<"
            name_text += mrz_name_form(given).replace(" ", "<")
            li, a, b = f.span
            lines[li][a:b] = list((name_text + "<" * (b - a))[: b - a])
        elif name in ("date_of_birth", "date_of_expiry") and name in values:
            y, m, d = values[name].split("-")
            put(f.span, f"{y[2:]}{m}{d}")
        elif name in values:
            put(f.span, values[name])
    for f in layout.fields.values():
        if f.check is not None:
            li, col = f.check
            lines[li][col] = mrz_check_digit(_slice(["".join(x) for x in lines], f.span))
    if layout.composite is not None:
        spans, (li, col) = layout.composite
        text = ["".join(x) for x in lines]
        lines[li][col] = mrz_check_digit("".join(_slice(text, s) for s in spans))
    return ["".join(x) for x in lines]
