"""TD1: compare the visual zone with the machine-readable zone.

Where the MRZ passes all four check digits and a VIZ field disagrees, the VIZ field is corrected
from the MRZ when its confidence is low or the difference small; otherwise (or when the MRZ
fails) the VIZ is kept and the comparison reported as a mismatch.
"""

from __future__ import annotations

import datetime as dt
import re

from idsight.metrics import edit_distance
from idsight.ocr.cleanup.dates import format_dmy, make_date, parse_dmy, parse_yymmdd
from idsight.ocr.cleanup.fields import Context
from idsight.ocr.cleanup.mrz_td1 import MrzData
from idsight.ocr.cleanup.seq import FieldText

CROSS_FIELDS = (
    "document_number",
    "surname",
    "given_names",
    "nationality",
    "date_of_birth",
    "date_of_expiry",
    "sex",
)


_FORMAT = {"document_number": r"[A-Z0-9]+", "nationality": r"[A-Z]{1,3}", "sex": r"[MFX]"}


def _letters(s: str) -> str:
    return re.sub(r"[^A-Z]+", " ", s.upper()).strip()


def _mrz_date(yymmdd: str, viz: dt.date | None, *, past: bool, today: dt.date) -> dt.date | None:
    if not re.fullmatch(r"\d{6}", yymmdd):  # a misread MRZ date: nothing to derive
        return None
    if viz is not None and viz.strftime("%y") == yymmdd[:2]:  # keep the VIZ century
        return make_date(viz.year, int(yymmdd[2:4]), int(yymmdd[4:6]))
    return parse_yymmdd(yymmdd, past=past, today=today)


def _possible(d: dt.date, name: str, today: dt.date) -> bool:
    """A year a printed birth or expiry date can have (a misread century fails)."""
    if name == "date_of_birth":
        return 1900 <= d.year and d <= today
    return 1900 <= d.year <= today.year + 50


def to_mrz_hints(viz: dict[str, FieldText]) -> dict[str, str]:
    """VIZ values in MRZ form, used to repair a failing MRZ field."""
    hints = {}
    doc = viz.get("document_number")
    if doc is not None and re.fullmatch(r"[A-Z0-9]{1,9}", doc.text):
        hints["document_number"] = doc.text.ljust(9, "<")
    for name in ("date_of_birth", "date_of_expiry"):
        ft = viz.get(name)
        d = parse_dmy(ft.text) if ft is not None else None
        if d is not None:
            hints[name] = d.strftime("%y%m%d")
    return hints


def cross_check(
    viz: dict[str, FieldText], mrz: MrzData, mrz_ok: bool, mrz_prob: float, ctx: Context
) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in CROSS_FIELDS:
        ft = viz.get(name)
        if ft is None:
            continue
        text = ft.text
        target: str | None  # the printed VIZ text the MRZ implies, if it can be derived
        if name in ("date_of_birth", "date_of_expiry"):
            vd = parse_dmy(text)
            yymmdd = mrz.birth if name == "date_of_birth" else mrz.expiry
            # an impossible VIZ year (1066 for 1966) agrees with the MRZ's YYMMDD but is no evidence
            sure = vd is not None and _possible(vd, name, ctx.today)
            match = sure and vd is not None and vd.strftime("%y%m%d") == yymmdd
            md = _mrz_date(yymmdd, vd if sure else None, past=name == "date_of_birth", today=ctx.today)
            target = format_dmy(md) if md is not None else None
            a, b = (vd.strftime("%y%m%d") if vd else text), yymmdd
        elif name in ("surname", "given_names"):
            m = mrz.surname if name == "surname" else mrz.given_names
            v = _letters(text)
            match = v == m or (mrz.names_truncated and v.startswith(m))
            # the MRZ cannot spell accents/hyphens and may be truncated: only replace plain names
            plain = bool(re.fullmatch(r"[A-Z ]*", text))
            target = m if plain and not mrz.names_truncated else None
            a, b = v, m
        else:
            m = {"document_number": mrz.document_number, "nationality": mrz.nationality, "sex": mrz.sex}[name]
            match = text == m
            # a value the field cannot hold (a digit for the sex: the MRZ line was read out of step)
            target = m if re.fullmatch(_FORMAT[name], m) else None
            a, b = text, m
        if match:
            out[name] = "match"
            continue
        fixable = target is not None and target != text and mrz_ok
        if fixable and (
            not text
            or ft.min_prob() < ctx.cfg.cross_low_conf
            or edit_distance(a, b) <= ctx.cfg.cross_max_edit
        ):
            ft.set_text(target, "mrz_cross_check", prob=mrz_prob)  # type: ignore[arg-type]
            out[name] = "corrected"
        else:
            out[name] = "mismatch"
    return out
