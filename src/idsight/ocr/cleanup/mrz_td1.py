"""ICAO 9303 TD1 machine-readable zone: layout normalisation, positional confusion fixes and
check-digit-driven correction from the recogniser's alternatives.

TD1 layout (0-based columns, 3 lines x 30):
  line 1: 0-1 document type, 2-4 issuing state, 5-13 document number, 14 check, 15-29 optional
  line 2: 0-5 birth YYMMDD, 6 check, 7 sex, 8-13 expiry YYMMDD, 14 check, 15-17 nationality,
          18-28 optional, 29 composite check over l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29]
  line 3: 0-29 name, SURNAME<<GIVEN<NAMES
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from idsight.icao import mrz_char_value
from idsight.ocr.cleanup.codes import icao_codes, snap_code
from idsight.ocr.cleanup.dates import parse_yymmdd
from idsight.ocr.cleanup.seq import TO_DIGIT, TO_LETTER, FieldText, Slot, coerce, is_digit

WIDTH = 30
WEIGHTS = (7, 3, 1)
_LT_MAP = {"«": "<", "‹": "<", "(": "<", "[": "<", "{": "<", "_": "<", "-": "<", "〈": "<", "〔": "<"}
Pos = tuple[int, int]  # (line, column)

# Check-digit-protected fields: data positions and check-digit position
CHECKED: dict[str, tuple[list[Pos], Pos]] = {
    "document_number": ([(0, c) for c in range(5, 14)], (0, 14)),
    "date_of_birth": ([(1, c) for c in range(0, 6)], (1, 6)),
    "date_of_expiry": ([(1, c) for c in range(8, 14)], (1, 14)),
    "composite": (
        [(0, c) for c in range(5, 30)] + [(1, c) for c in (*range(0, 7), *range(8, 15), *range(18, 29))],
        (1, 29),
    ),
}
MIN_RATIO = 0.05  # see search_fix
CODES: list[Pos] = [(0, 2), (1, 15)]  # first column of the issuing state and the nationality
OPTIONAL: list[Pos] = [(0, c) for c in range(15, 30)] + [(1, c) for c in range(18, 29)]


def _is_mrz_char(c: str) -> bool:
    return c == "<" or "A" <= c <= "Z" or "0" <= c <= "9"


def position_kind(li: int, col: int) -> str:
    """doc_code | alpha | digit | digit_or_filler | sex | mixed."""
    if li == 0:
        if col == 0:
            return "doc_code"
        if col < 5:
            return "alpha"
        if col == 14:
            return "digit_or_filler"
        return "mixed"
    if li == 1:
        if col < 7 or 8 <= col <= 14 or col == 29:
            return "digit"
        if col == 7:
            return "sex"
        if 15 <= col <= 17:
            return "alpha"
        return "mixed"
    return "alpha"


# ICAO 9303-5: a TD1 document code starts with A, C or I; I (identity card) when nothing else is read
_DOC_CODE = "ACI"
_ALLOWED: dict[str, Callable[[str], bool]] = {
    "doc_code": lambda c: c in _DOC_CODE,
    "alpha": lambda c: c == "<" or "A" <= c <= "Z",
    "digit": is_digit,
    "digit_or_filler": lambda c: c == "<" or is_digit(c),
    "sex": lambda c: c in "MF<",
    "mixed": _is_mrz_char,
}
_MAP: dict[str, dict[str, str]] = {
    "doc_code": {c: "I" for c in "BDEFGHJKLMNOPQRSTUVWXYZ0123456789<"},
    "alpha": TO_LETTER,
    "digit": TO_DIGIT,
    "digit_or_filler": TO_DIGIT,
    "sex": {},
    "mixed": {},
}


def split_lines(ft: FieldText) -> list[list[Slot]]:
    lines: list[list[Slot]] = [[]]
    for s in ft.slots:
        if s.char == "\n":
            lines.append([])
        else:
            lines[-1].append(s)
    return lines


def join_lines(lines: list[list[Slot]]) -> list[Slot]:
    out: list[Slot] = []
    for i, ln in enumerate(lines):
        if i:
            out.append(Slot("\n", 1.0))
        out.extend(ln)
    return out


def _fit_length(ln: list[Slot]) -> tuple[list[Slot], str]:
    """Pad/truncate to 30 chars by growing/shrinking the rightmost longest run of ``<``
    (else at the end), so fields after a filler run keep their columns."""
    if len(ln) == WIDTH:
        return ln, "ok"
    status = "padded" if len(ln) < WIDTH else "truncated"
    ln = list(ln)
    while len(ln) != WIDTH:
        best, best_len, i = -1, 1, 0
        while i < len(ln):
            j = i
            while j < len(ln) and ln[j].char == "<":
                j += 1
            if j - i >= best_len:
                best, best_len = j, j - i
            i = max(j, i + 1)
        if len(ln) < WIDTH:
            ln.insert(best if best >= 0 else len(ln), Slot("<", 0.5))
        else:
            ln.pop(best - 1 if best >= 0 else len(ln) - 1)
    return ln, status


def normalise(ft: FieldText, present: list[bool]) -> dict[str, str]:
    """Strip spaces (those a short line lacks become ``<``), map odd filler glyphs/lowercase, fit every line to 30 chars, then fix each
    position's character class. Records corrections; returns the per-line layout status."""
    lines = split_lines(ft)
    cleaned = []
    for ln in lines:
        out = []
        # a space is usually an artefact; but while the line is short it is a misread filler
        deficit = WIDTH - sum(not s.char.isspace() for s in ln)
        for s in ln:
            if s.char.isspace():
                if deficit > 0:
                    out.append(Slot("<", s.prob * 0.5, s.alts))
                    deficit -= 1
                continue
            c = _LT_MAP.get(s.char, s.char.upper() if s.char.isascii() else s.char)
            out.append(s if c == s.char else Slot(c, s.prob, s.alts))
        cleaned.append(out)
    ft.apply(join_lines(cleaned), "mrz_charset")
    status = {}
    fits = [_fit_length(ln) for ln in cleaned]
    # one character short or long, and padding or trimming the filler does not make the line valid
    repaired = [
        _repair_one(i, ln)
        if i < 2
        and len(ln) in (WIDTH - 1, WIDTH + 1)
        and not _line_valid(i, _classes_fixed(i, "".join(s.char for s in fits[i][0])))
        else None
        for i, ln in enumerate(cleaned)
    ]
    if any(r is not None for r in repaired):
        cleaned = [ln if r is None else r for ln, r in zip(cleaned, repaired, strict=True)]
        ft.apply(join_lines(cleaned), "mrz_repeat")
        fits = [(r, "repaired") if r is not None else f for f, r in zip(fits, repaired, strict=True)]
    fitted = [fl for fl, _ in fits]
    for i, (_, st) in enumerate(fits):
        status[f"mrz_{i + 1}"] = st if present[i] else "missing"
    ft.apply(join_lines(fitted), "mrz_length")
    fixed = []
    for li, ln in enumerate(fitted):
        row = []
        for col, s in enumerate(ln):
            kind = position_kind(li, col)
            r = coerce(s, _ALLOWED[kind], _MAP[kind])
            if r is None and not _is_mrz_char(s.char):
                r = Slot("<", s.prob * 0.5, s.alts)
            row.append(s if r is None else r)
        fixed.append(row)
    ft.apply(join_lines(fixed), "mrz_confusion")
    for li, c0 in CODES:  # issuing state, nationality
        if len(fixed) > li and len(fixed[li]) == WIDTH:
            snapped = snap_code(fixed[li][c0 : c0 + 3])
            if snapped is not None:
                fixed[li][c0 : c0 + 3] = snapped
    ft.apply(join_lines(fixed), "country_code")
    return status


def _line_valid(li: int, text: str) -> bool:
    """Every rule of line ``li`` (0 or 1) holds on a 30-character ``text``: the document code, the
    country code, the check digits of that line."""
    codes = icao_codes()
    if li == 0:
        return text[0] in _DOC_CODE and text[2:5] in codes and _check_digit_ok(text[5:14], text[14])
    return (
        text[:6].isdigit()
        and _check_digit_ok(text[:6], text[6])
        and text[7] in "MF<"
        and text[8:14].isdigit()
        and _check_digit_ok(text[8:14], text[14])
        and text[15:18] in codes
    )


def _classes_fixed(li: int, text: str) -> str:
    """``text`` with each position's confusion pairs resolved as :func:`normalise` will (1 for I in
    a digit column, ...), so that a mending is judged on what the line will read."""
    out = []
    for col, c in enumerate(text):
        kind = position_kind(li, col)
        out.append(c if _ALLOWED[kind](c) else _MAP[kind].get(c, c))
    return "".join(out)


def _repair_one(li: int, ln: list[Slot]) -> list[Slot] | None:
    """A line of MRZ line 1 or 2 one character short or long, mended where exactly one mending
    passes all of that line's rules: a character of a doubled pair that CTC collapsed into one
    (or read twice), or, on line 1, the document code lost at the start."""
    text = "".join(s.char for s in ln)
    options: dict[str, list[Slot]] = {}
    if len(ln) == WIDTH - 1:
        for i in range(len(ln) + 1):
            near = {ln[j].char for j in (i - 1, i) if 0 <= j < len(ln)}
            if li == 0 and i == 0:
                near |= set(_DOC_CODE)
            for c in near:
                p = min(ln[j].prob for j in (i - 1, i) if 0 <= j < len(ln))
                options.setdefault(text[:i] + c + text[i:], [*ln[:i], Slot(c, p), *ln[i:]])
    else:
        for i in range(1, len(ln)):
            if text[i] == text[i - 1]:
                options.setdefault(text[:i] + text[i + 1 :], [*ln[:i], *ln[i + 1 :]])
    valid = {t: slots for t, slots in options.items() if _line_valid(li, _classes_fixed(li, t))}
    if len(valid) > 1 and li == 0 and len({t[2:] for t in valid}) == 1:
        # only the document code and type differ: the code I, as when nothing else is read
        valid = {t: v for t, v in valid.items() if t[0] == "I"}
    return next(iter(valid.values())) if len(valid) == 1 else None


def _value(c: str) -> int:
    try:
        return mrz_char_value(c)
    except ValueError:
        return 0


def field_ok(lines: list[list[Slot]], name: str) -> bool:
    data, cd = CHECKED[name]
    cdc = lines[cd[0]][cd[1]].char
    chars = [lines[li][col].char for li, col in data]
    if name == "document_number" and cdc == "<":  # extended number: continues in optional data
        opt = "".join(s.char for s in lines[0][15:]).split("<", 1)[0]
        if len(opt) < 2:
            return False
        chars, cdc = chars + list(opt[:-1]), opt[-1]
    return _check_digit_ok(chars, cdc)


def _check_digit_ok(chars: Sequence[str], cdc: str) -> bool:
    """``cdc`` is the ICAO 9303 check digit of ``chars`` (a character outside the MRZ set counts 0)."""
    if not is_digit(cdc):
        return False
    total = sum(_value(c) * WEIGHTS[i % 3] for i, c in enumerate(chars))
    return total % 10 == int(cdc)


def _candidates(s: Slot, kind: str, min_p: float) -> list[tuple[str, float]]:
    allowed = _ALLOWED[kind]
    out: dict[str, float] = {}
    for a, p in s.alts:
        if a and a != s.char and allowed(a) and p >= min_p:
            out[a] = max(out.get(a, 0.0), p)
    partners = [TO_DIGIT.get(s.char), TO_LETTER.get(s.char)] if kind == "mixed" else [_MAP[kind].get(s.char)]
    for m in partners:
        if m and m != s.char and allowed(m):
            out[m] = max(out.get(m, 0.0), 0.3 * (1.0 - s.prob))
    return sorted(((c, p) for c, p in out.items() if p >= min_p), key=lambda t: -t[1])[:3]


def search_fix(
    lines: list[list[Slot]],
    name: str,
    *,
    frozen: set[Pos],
    valid: Callable[[list[list[Slot]]], bool] | None = None,
    min_p: float = 0.01,
    min_ratio: float = MIN_RATIO,
    max_changes: int = 2,
) -> dict[Pos, Slot] | None:
    """Most probable set of 1 (then 2) substitutions that makes ``name``'s check pass.

    A substitution is tried only where the alternative is at least ``min_ratio`` times as probable as
    the read character: with ten check-digit outcomes, a search over every faint alternative finds
    some passing combination for almost any misread, and would pass it off as a correction."""
    data, cd = CHECKED[name]
    positions = [p for p in [*data, cd] if p not in frozen]
    opts: list[tuple[Pos, str, float, float]] = []  # pos, char, prob, log-ratio cost
    for li, col in positions:
        s = lines[li][col]
        for c, p in _candidates(s, position_kind(li, col), min_p):
            if p < min_ratio * s.prob:
                continue
            opts.append(((li, col), c, p, math.log(p) - math.log(max(s.prob, 1e-6))))
    weight = {p: WEIGHTS[i % 3] for i, p in enumerate(data)}
    base = sum(_value(lines[li][col].char) * weight[(li, col)] for li, col in data)
    cd_char = lines[cd[0]][cd[1]].char
    extended = name == "document_number" and cd_char == "<"
    for k in range(1, max_changes + 1):
        best: tuple[float, dict[Pos, Slot]] | None = None
        for combo in itertools.combinations(opts, k):
            if len({o[0] for o in combo}) < k:
                continue
            score = sum(o[3] for o in combo)
            if best is not None and score <= best[0]:
                continue
            if not extended:  # cheap arithmetic pre-check
                total, cdc = base, cd_char
                for pos, c, _p, _ in combo:
                    if pos == cd:
                        cdc = c
                    else:
                        total += (_value(c) - _value(lines[pos[0]][pos[1]].char)) * weight[pos]
                if not is_digit(cdc) or total % 10 != int(cdc):
                    continue
            trial = [list(ln) for ln in lines]
            for (li, col), c, p, _ in combo:
                trial[li][col] = Slot(c, p, lines[li][col].alts)
            if field_ok(trial, name) and (valid is None or valid(trial)):
                best = (score, {o[0]: trial[o[0][0]][o[0][1]] for o in combo})
        if best is not None:
            return best[1]
    return None


def _date_valid(name: str, today: dt.date) -> Callable[[list[list[Slot]]], bool]:
    data, _ = CHECKED[name]

    def ok(lines: list[list[Slot]]) -> bool:
        s = "".join(lines[li][col].char for li, col in data)
        return parse_yymmdd(s, past=name == "date_of_birth", today=today) is not None

    return ok


def correct(ft: FieldText, *, today: dt.date, hints: dict[str, str] | None = None) -> dict[str, bool]:
    """Check-digit-driven correction (after :func:`normalise`). ``hints`` are VIZ values in MRZ
    form (document number padded with ``<``, dates ``YYMMDD``) tried first for a failing field."""
    hints = hints or {}
    lines = split_lines(ft)
    checks: dict[str, bool] = {}
    frozen: set[Pos] = set()
    for name in ("document_number", "date_of_birth", "date_of_expiry"):
        valid = None if name == "document_number" else _date_valid(name, today)
        data, cd = CHECKED[name]
        if not field_ok(lines, name):
            hint = hints.get(name, "")
            if len(hint) == len(data):
                trial = [list(ln) for ln in lines]
                for (li, col), c in zip(data, hint, strict=True):
                    if trial[li][col].char != c:
                        trial[li][col] = Slot(c, max(trial[li][col].alt_prob(c), 0.5), trial[li][col].alts)
                diff = sum(lines[li][col].char != c for (li, col), c in zip(data, hint, strict=True))
                if diff <= 2 and field_ok(trial, name) and (valid is None or valid(trial)):
                    lines = trial
                    ft.apply(join_lines(lines), "mrz_check_digit_viz")
            if not field_ok(lines, name):
                fix = search_fix(lines, name, frozen=set(), valid=valid)
                if fix:
                    for (li, col), s in fix.items():
                        lines[li][col] = s
                    ft.apply(join_lines(lines), "mrz_check_digit")
        checks[name] = field_ok(lines, name) and (valid is None or valid(lines))
        if checks[name]:
            frozen.update([*data, cd])
    if not field_ok(lines, "composite"):
        fix = search_fix(lines, "composite", frozen=frozen)
        if fix:
            for (li, col), s in fix.items():
                lines[li][col] = s
            ft.apply(join_lines(lines), "mrz_check_digit")
    checks["composite"] = field_ok(lines, "composite")
    return checks


@dataclass
class MrzData:
    document_number: str
    surname: str
    given_names: str
    names_truncated: bool
    nationality: str
    sex: str  # M/F/X
    birth: str  # YYMMDD
    expiry: str


def parse(ft: FieldText) -> MrzData:
    l1, l2, l3 = ("".join(s.char for s in ln) for ln in split_lines(ft))
    doc = l1[5:14]
    if l1[14:15] == "<" and l1[15:16] not in ("", "<"):
        doc += l1[15:].split("<", 1)[0][:-1]
    parts = l3.split("<<", 1)
    surname = parts[0].replace("<", " ").strip()
    given = parts[1].replace("<", " ").strip() if len(parts) > 1 else ""
    sex = l2[7:8]
    return MrzData(
        document_number=doc.replace("<", ""),
        surname=" ".join(surname.split()),
        given_names=" ".join(given.split()),
        names_truncated=l3[-1:] != "<",
        nationality=l2[15:18].replace("<", ""),
        sex="X" if sex == "<" else sex,
        birth=l2[0:6],
        expiry=l2[8:14],
    )
