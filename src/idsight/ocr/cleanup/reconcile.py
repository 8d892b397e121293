"""TD1: merge the visual zone and the MRZ character by character where they spell the same value.

The same value is printed twice: the names, the nationality, the sex and the document number appear in
the VIZ and in the MRZ. Where the two readings differ in a few aligned characters (at most
``MAX_DIFF``), each differing character is taken from the side the recogniser was surer of, and both
sides get it. A document-number merge is kept only if the MRZ check digits still hold. Where the
readings differ in more (a missed or extra character shifts the rest), nothing is merged and the
cross-check reports the mismatch.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable

from idsight.ocr.cleanup.codes import icao_codes
from idsight.ocr.cleanup.mrz_td1 import WIDTH, Pos, field_ok, join_lines, split_lines
from idsight.ocr.cleanup.seq import FieldText, Slot

MAX_DIFF = 3
Pair = tuple[Pos, str, int]  # MRZ position, VIZ field name, index into that field's slots


def _words(s: str) -> list[int]:
    return [len(w) for w in s.split("<")]


def _name_pairs(viz: dict[str, FieldText], lines: list[list[Slot]]) -> list[Pair] | None:
    """Line 3 positions of SURNAME<<GIVEN<NAMES, paired with the VIZ name characters."""
    sur, giv = viz.get("surname"), viz.get("given_names")
    if sur is None or giv is None or not all(re.fullmatch(r"[A-Z ]+", f.text) for f in (sur, giv)):
        return None
    spelled = (sur.text.replace(" ", "<") + "<<" + giv.text.replace(" ", "<"))[:WIDTH]
    line = "".join(s.char for s in lines[2]) if len(lines) > 2 else ""
    if _words(spelled) != _words(line[: len(spelled)]) or line[len(spelled) : len(spelled) + 1] not in (
        "",
        "<",
    ):
        return None  # a character missed or added on one side: the words are out of step
    pairs: list[Pair] = [((2, i), "surname", i) for i in range(len(sur.slots))]
    start = len(sur.slots) + 2
    pairs += [((2, start + i), "given_names", i) for i in range(len(giv.slots))]
    return [p for p in pairs if p[0][1] < WIDTH]


def _pairs(viz: dict[str, FieldText], name: str, positions: list[Pos], pattern: str) -> list[Pair] | None:
    ft = viz.get(name)
    if ft is None or len(ft.slots) != len(positions) or not re.fullmatch(pattern, ft.text):
        return None
    return [(pos, name, i) for i, pos in enumerate(positions)]


def _mrz_char(c: str, name: str) -> str:
    return "<" if c == " " or (name == "sex" and c == "X") else c


def _viz_char(c: str, name: str) -> str:
    if c == "<":
        return "X" if name == "sex" else " "
    return c


def _merge(
    lines: list[list[Slot]],
    viz: dict[str, FieldText],
    pairs: list[Pair],
    allowed: str,
    accept: Callable[[list[list[Slot]]], bool] | None = None,
) -> bool:
    """Merge ``pairs``; an MRZ character replaces a VIZ one only if it is in ``allowed`` (a line read
    out of step puts digits where the sex or the nationality should be); ``accept`` vets the result."""
    diff = [p for p in pairs if _mrz_char(viz[p[1]].slots[p[2]].char, p[1]) != lines[p[0][0]][p[0][1]].char]
    if not diff or len(diff) > MAX_DIFF:
        return False
    trial = [list(ln) for ln in lines]
    viz_new = {name: list(viz[name].slots) for name in {p[1] for p in diff}}
    for (li, col), name, i in diff:
        v, m = viz[name].slots[i], lines[li][col]
        if v.prob > m.prob:
            trial[li][col] = Slot(_mrz_char(v.char, name), v.prob, m.alts)
        elif m.prob > v.prob and m.char in allowed:  # (equally sure: neither side is changed)
            c = _viz_char(m.char, name)
            if (c == " ") != (v.char == " "):  # a filler against a letter: leave the VIZ words alone
                continue
            viz_new[name][i] = Slot(c, m.prob, v.alts)
    if accept is not None and not accept(trial):
        return False
    changed = trial != lines
    lines[:] = trial
    for name, slots in viz_new.items():
        changed = viz[name].apply(slots, "viz_mrz_merge") or changed
    return changed


def reconcile(viz: dict[str, FieldText], mrz: FieldText) -> list[str]:
    """Merge VIZ and MRZ readings in place (see the module docstring); returns the merged fields."""
    lines = split_lines(mrz)
    if len(lines) != 3 or any(len(ln) != WIDTH for ln in lines):
        return []
    before = {n: field_ok(lines, n) for n in ("document_number", "composite")}

    def checks_hold(trial: list[list[Slot]]) -> bool:
        return all(field_ok(trial, n) or not ok for n, ok in before.items()) and field_ok(
            trial, "document_number"
        )

    def line2_holds(trial: list[list[Slot]]) -> bool:  # the dates' check digits: line 2 is in step
        return field_ok(trial, "date_of_birth") and field_ok(trial, "date_of_expiry")

    def valid_code(trial: list[list[Slot]]) -> bool:
        return line2_holds(trial) and "".join(s.char for s in trial[1][15:18]) in icao_codes()

    merged = []
    doc_cols = [(0, c) for c in range(5, 14)]
    upper = string.ascii_uppercase
    jobs: list[tuple[str, list[Pair] | None, str, Callable[[list[list[Slot]]], bool] | None]] = [
        ("names", _name_pairs(viz, lines), upper + "<", None),
        (
            "nationality",
            _pairs(viz, "nationality", [(1, c) for c in range(15, 18)], "[A-Z]{3}"),
            upper,
            valid_code,
        ),
        ("sex", _pairs(viz, "sex", [(1, 7)], "[MFX]"), "MF<", line2_holds),
        (
            "document_number",
            _pairs(viz, "document_number", doc_cols, "[A-Z0-9]{9}"),
            upper + string.digits,
            checks_hold,
        ),
    ]
    for what, pairs, allowed, accept in jobs:
        if pairs and _merge(lines, viz, pairs, allowed, accept):
            merged.append(what)
    mrz.apply(join_lines(lines), "viz_mrz_merge")
    return merged
