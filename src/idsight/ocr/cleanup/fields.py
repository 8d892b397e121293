"""Visual-zone field cleanup by field kind (names, addresses, issuers, dates, codes)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from idsight.ocr.cleanup.codes import snap_code
from idsight.ocr.cleanup.dates import parse_dmy, parse_ymd
from idsight.ocr.cleanup.lexicon import LexiconModels, snap_issuer, snap_surname, snap_word
from idsight.ocr.cleanup.lm import CharNgram, beam_correct
from idsight.ocr.cleanup.seq import (
    TO_DIGIT,
    TO_LETTER,
    FieldText,
    Slot,
    coerce,
    is_digit,
    is_hangul,
    is_upper_latin,
)


@dataclass
class CleanupConfig:
    """Thresholds of the cleanup (see the package docstring)."""

    lm_weight: float = 0.6  # lambda in log p_ocr + lambda * log p_lm
    lm_threshold: float = 0.9  # chars below this prob branch in the LM beam search
    beam: int = 8
    snap_threshold: float = 0.9  # lexicon snapping only when the OCR prob is below this
    rrn_low_prob: float = 0.9  # an RRN digit is only changed when its prob is below this...
    rrn_alt_min: float = 0.2  # ...and the alternative's prob is at least this
    cross_low_conf: float = 0.8  # VIZ corrected from a valid MRZ when its min prob is below this...
    cross_max_edit: int = 2  # ...or its edit distance to the MRZ value is at most this
    today: dt.date | None = None  # "now" for date plausibility; None = dt.date.today()


@dataclass
class Context:
    cfg: CleanupConfig
    models: LexiconModels
    lm: CharNgram | None  # an explicit LM overrides the per-kind lexicon LMs
    today: dt.date

    def lm_for(self, kind: str) -> CharNgram | None:
        return self.lm if self.lm is not None else self.models.lm_for(kind)


def squeeze_spaces(ft: FieldText) -> None:
    out: list[Slot] = []
    for s in ft.slots:
        if s.char.isspace():
            if out and out[-1].char != " ":
                out.append(s if s.char == " " else Slot(" ", s.prob, s.alts))
        else:
            out.append(s)
    while out and out[-1].char == " ":
        out.pop()
    ft.apply(out, "whitespace")


def _lm(ft: FieldText, ctx: Context, kind: str, allowed: Callable[[str], bool] | None = None) -> None:
    lm = ctx.lm_for(kind)
    if lm is None or not ft.slots:
        return
    new = beam_correct(
        ft.slots,
        lm,
        weight=ctx.cfg.lm_weight,
        threshold=ctx.cfg.lm_threshold,
        beam=ctx.cfg.beam,
        allowed=allowed,
    )
    ft.apply(new, "lm")


def clean_hangul_name(ft: FieldText, ctx: Context) -> dict[str, bool]:
    # a Hanja name in parentheses after the Hangul name is not part of the value
    text = ft.text
    if "(" in text:
        ft.apply(ft.slots[: text.index("(")], "hanja")
    ft.apply([s for s in ft.slots if not s.char.isspace()], "whitespace")
    _lm(ft, ctx, "hangul_name", is_hangul)
    if ft.slots:
        s0 = ft.slots[0]
        snap = snap_surname(ft.text, s0.prob, s0.alts, ctx.models.surnames, threshold=ctx.cfg.snap_threshold)
        if snap is not None:
            ft.apply([Slot(snap, max(s0.alt_prob(snap), s0.prob), s0.alts), *ft.slots[1:]], "lexicon")
    t = ft.text
    return {"name": 2 <= len(t) <= 4 and all(is_hangul(c) for c in t)}


def clean_latin_name(ft: FieldText, ctx: Context, name: str) -> dict[str, bool]:
    ft.map_chars(lambda i, s: Slot(s.char.upper(), s.prob, s.alts) if s.char.islower() else None, "case")
    squeeze_spaces(ft)
    ft.map_chars(
        lambda i, s: coerce(s, lambda c: not is_digit(c), TO_LETTER) if is_digit(s.char) else None,
        "confusion",
    )
    _lm(ft, ctx, "latin_name", is_upper_latin)
    return {name: bool(re.fullmatch(r"[A-Z][A-Z '\-]*", ft.text))}


def clean_address(ft: FieldText, ctx: Context) -> dict[str, bool]:
    squeeze_spaces(ft)
    _lm(ft, ctx, "address")
    if ctx.models.places:
        snap_address_words(ft, ctx.models.places, ctx.cfg.snap_threshold)
    balance_parens(ft)
    return {}


# a road-name address word: a name from the list, or a side street of it ("해운대로31길")
_SIDE_STREET = re.compile(r"^(\D+?)(\d+길)$")


def snap_address_words(ft: FieldText, places: frozenset[str], threshold: float) -> None:
    """Replace each address word that is not in the place list, and has a character read with
    prob < ``threshold``, by the place word one edit away (:func:`snap_word`). Punctuation around
    a word and a side-street suffix (``31길``) are kept as read."""
    out: list[Slot] = []
    slots = ft.slots
    i = 0
    while i < len(slots):
        if slots[i].char.isspace():
            out.append(slots[i])
            i += 1
            continue
        j = i
        while j < len(slots) and not slots[j].char.isspace():
            j += 1
        word = slots[i:j]
        a = 0
        while a < len(word) and word[a].char in "(":
            a += 1
        b = len(word)
        while b > a and word[b - 1].char in ",)":
            b -= 1
        core = "".join(s.char for s in word[a:b])
        m = _SIDE_STREET.match(core)
        stem_len = len(m.group(1)) if m else len(core)
        stem = word[a : a + stem_len]
        snap = None
        if sum(is_hangul(s.char) for s in stem) >= 2 and min((s.prob for s in stem), default=1.0) < threshold:
            snap = snap_word(core[:stem_len], [s.prob for s in stem], [s.alts for s in stem], places)
        if snap is None:
            out.extend(word)
        else:
            low = min(s.prob for s in stem)
            if len(snap) == len(stem):
                new = [
                    s if s.char == c else Slot(c, s.alt_prob(c) or s.prob, s.alts)
                    for s, c in zip(stem, snap, strict=True)
                ]
            else:
                new = [Slot(c, low) for c in snap]
            out.extend([*word[:a], *new, *word[a + stem_len :]])
        i = j
    ft.apply(out, "lexicon")


def balance_parens(ft: FieldText) -> None:
    """A Korean road-name address ends in one bracketed note, ``(동[, 건물])``: restore the opening
    bracket before the first word after the last number when only ``)`` was read, or the closing
    one at the end when only ``(`` was."""
    text = ft.text
    if text.count("(") == text.count(")"):
        return
    if ")" in text and "(" not in text:
        words = [(m.start(), m.group()) for m in re.finditer(r"\S+", text)]
        last_num = max((n for n, (_, w) in enumerate(words) if re.search(r"\d", w)), default=None)
        if last_num is None or last_num + 1 >= len(words):
            return
        at = words[last_num + 1][0]
        s = ft.slots[at]
        ft.apply([*ft.slots[:at], Slot("(", s.prob), *ft.slots[at:]], "brackets")
    elif "(" in text and ")" not in text:
        ft.apply([*ft.slots, Slot(")", ft.slots[-1].prob)], "brackets")


def clean_issuer(ft: FieldText, ctx: Context) -> dict[str, bool]:
    squeeze_spaces(ft)
    _lm(ft, ctx, "issuer")
    issuers = ctx.models.issuers
    if ft.text not in issuers and ft.min_prob() < ctx.cfg.snap_threshold:
        snap = snap_issuer(ft.text, issuers)
        if snap is not None:
            ft.set_text(snap, "lexicon")
    return {"issuer_in_lexicon": ft.text in issuers}


def _date_digits(ft: FieldText) -> None:
    ft.map_chars(lambda i, s: coerce(s, is_digit, TO_DIGIT) if s.char in TO_DIGIT else None, "confusion")


def clean_date(ft: FieldText, ctx: Context, kind: str) -> dt.date | None:
    _date_digits(ft)
    return parse_ymd(ft.text) if kind == "date_kr" else parse_dmy(ft.text)


def clean_docnum(ft: FieldText, ctx: Context) -> dict[str, bool]:
    ft.map_chars(lambda i, s: Slot(s.char.upper(), s.prob, s.alts) if s.char.islower() else None, "case")
    ft.apply([s for s in ft.slots if not s.char.isspace()], "whitespace")
    return {"document_number": bool(re.fullmatch(r"[A-Z0-9]{9}", ft.text))}


def clean_country(ft: FieldText, ctx: Context) -> dict[str, bool]:
    ft.map_chars(lambda i, s: Slot(s.char.upper(), s.prob, s.alts) if s.char.islower() else None, "case")
    ft.apply([s for s in ft.slots if not s.char.isspace()], "whitespace")
    ft.map_chars(lambda i, s: coerce(s, is_upper_latin, TO_LETTER), "confusion")
    snapped = snap_code(ft.slots)
    if snapped is not None:
        ft.apply(snapped, "country_code")
    return {"nationality": bool(re.fullmatch(r"[A-Z]{3}", ft.text))}


_SEX_MAP = {"x": "X", "×": "X", "m": "M", "f": "F", "H": "M", "N": "M", "K": "X", "E": "F", "P": "F"}


def clean_sex(ft: FieldText, ctx: Context) -> dict[str, bool]:
    ft.apply([s for s in ft.slots if not s.char.isspace()], "whitespace")
    if len(ft.slots) == 1:
        ft.map_chars(lambda i, s: coerce(s, lambda c: c in "MFX", _SEX_MAP), "confusion")
    return {"sex": ft.text in ("M", "F", "X")}
