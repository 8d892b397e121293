"""``clean_card``: recogniser line reads -> field values, checks and corrections."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from idsight.ocr.cleanup import fields as F
from idsight.ocr.cleanup import mrz_td1
from idsight.ocr.cleanup.crosscheck import cross_check, to_mrz_hints
from idsight.ocr.cleanup.lexicon import LexiconModels, default_models
from idsight.ocr.cleanup.lm import CharNgram
from idsight.ocr.cleanup.reconcile import reconcile
from idsight.ocr.cleanup.rrn import clean_rrn
from idsight.ocr.cleanup.seq import FieldText, Slot, slots_from_line
from idsight.ocr.types import CleanupResult, FieldResult, LineRead
from idsight.templates import Template, get_template

BONUS = 1.1  # a passed check (MRZ fully valid, RRN check digit, VIZ == MRZ)
LEX_BONUS = 1.05  # issuer found in the lexicon
PENALTY_FAIL = 0.5  # MRZ check failed, date/RRN invalid or unparseable
PENALTY_FORMAT = 0.7  # format check failed, VIZ/MRZ mismatch


def _union(boxes: list[list[float]]) -> list[float] | None:
    if not boxes:
        return None
    return [
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    ]


def _gather(tpl: Template, lines: dict[str, LineRead], corrections: list[dict[str, Any]]):
    texts: dict[str, FieldText] = {}
    boxes: dict[str, list[float] | None] = {}
    present: dict[str, list[bool]] = {}
    for spec in tpl.fields:
        slots: list[Slot] = []
        bx = []
        pres = []
        for i, key in enumerate(spec.lines):
            ln = lines.get(key)
            pres.append(ln is not None)
            if spec.kind == "mrz" and i:  # keep MRZ line positions even when one is missing
                slots.append(Slot("\n", 1.0))
            if ln is None:
                continue
            if slots and spec.kind != "mrz":
                slots.append(Slot(spec.joiner, 1.0))
            slots.extend(slots_from_line(ln))
            if ln.box is not None:
                bx.append([float(v) for v in ln.box])
        texts[spec.name] = FieldText(spec.name, slots, corrections)
        boxes[spec.name] = _union(bx)
        present[spec.name] = pres
    return texts, boxes, present


def clean_card(
    template: str,
    lines: dict[str, LineRead],
    *,
    lm: CharNgram | None = None,
    config: F.CleanupConfig | None = None,
    models: LexiconModels | None = None,
) -> CleanupResult:
    """Clean one card's line reads into field values (the template's "second format").

    Field confidence = min char prob over the field (after corrections; a replaced char carries
    its alternative's prob) times a factor from the checks, clipped to [0, 1]:
    x1.1 when a check passed (MRZ all four check digits for ``mrz``; RRN check digit; VIZ == MRZ),
    x1.05 issuer found in the lexicon, x0.5 when a check failed (MRZ check digits, date or RRN
    birth date invalid/unparseable, RRN format), x0.7 for a failed format check or a VIZ/MRZ
    mismatch. A field with no lines gets "" and confidence 0.
    """
    cfg = config or F.CleanupConfig()
    tpl = get_template(template)
    ctx = F.Context(cfg, models or default_models(), lm, cfg.today or dt.date.today())
    corrections: list[dict[str, Any]] = []
    texts, boxes, present = _gather(tpl, lines, corrections)
    checks: dict[str, Any] = {}
    fmt: dict[str, bool] = {}
    dates: dict[str, dt.date | None] = {}
    factor = {spec.name: 1.0 for spec in tpl.fields}

    for spec in tpl.fields:
        ft, kind = texts[spec.name], spec.kind
        if not any(present[spec.name]) or kind == "mrz":
            continue
        if kind == "hangul_name":
            fmt.update(F.clean_hangul_name(ft, ctx))
        elif kind == "latin_name":
            fmt.update(F.clean_latin_name(ft, ctx, spec.name))
        elif kind == "address":
            F.clean_address(ft, ctx)
        elif kind == "issuer":
            lex = F.clean_issuer(ft, ctx)
            checks.setdefault("lexicon", {})["issuer"] = lex["issuer_in_lexicon"]
            factor[spec.name] *= LEX_BONUS if lex["issuer_in_lexicon"] else 1.0
        elif kind in ("date_kr", "date_dmy"):
            dates[spec.name] = F.clean_date(ft, ctx, kind)
        elif kind == "docnum":
            fmt.update(F.clean_docnum(ft, ctx))
        elif kind == "country":
            fmt.update(F.clean_country(ft, ctx))
        elif kind == "sex":
            fmt.update(F.clean_sex(ft, ctx))
        elif kind == "rrn":
            r = clean_rrn(ft, today=ctx.today, low_prob=cfg.rrn_low_prob, alt_min=cfg.rrn_alt_min)
            checks["rrn"] = r
            if not (r["format"] and r["date_valid"]):
                factor[spec.name] *= PENALTY_FAIL
            elif r["check_digit"]:
                factor[spec.name] *= BONUS

    if template == "td1":
        ft = texts["mrz"]
        if any(present["mrz"]):
            checks["mrz_layout"] = mrz_td1.normalise(ft, present["mrz"])
            mrz_checks = mrz_td1.correct(ft, today=ctx.today, hints=to_mrz_hints(texts))
            checks["viz_mrz_merged"] = reconcile(texts, ft)
            ok = all(mrz_checks.values())
            factor["mrz"] *= BONUS if ok else PENALTY_FAIL
            cc = cross_check(texts, mrz_td1.parse(ft), ok, ft.min_prob(), ctx)
            for name, verdict in cc.items():
                factor[name] *= {"match": BONUS, "corrected": 1.0}.get(verdict, PENALTY_FORMAT)
                if verdict == "corrected" and name in dates:
                    dates[name] = F.parse_dmy(texts[name].text)
                if verdict == "corrected" and name in fmt:
                    fmt.update(_refmt(name, texts[name]))
        else:
            mrz_checks = dict.fromkeys(mrz_td1.CHECKED, False)
            cc = {}
        checks["mrz"] = mrz_checks
        checks["cross_check"] = cc

    out: dict[str, FieldResult] = {}
    date_checks: dict[str, bool] = {}
    for spec in tpl.fields:
        ft = texts[spec.name]
        value = ft.text
        if spec.name in dates:
            d = dates[spec.name]
            valid = d is not None and _plausible(spec.name, d, dates, ctx.today)
            date_checks[spec.name] = valid
            factor[spec.name] *= 1.0 if valid else PENALTY_FAIL
            if d is not None:
                value = d.isoformat()
        if fmt.get(spec.name) is False:
            factor[spec.name] *= PENALTY_FORMAT
        conf = ft.min_prob() * factor[spec.name] if ft.slots else 0.0
        out[spec.name] = FieldResult(text=value, confidence=min(1.0, max(0.0, conf)), box=boxes[spec.name])
    checks["dates"] = date_checks
    checks["format"] = fmt
    return CleanupResult(fields=out, checks=checks, corrections=corrections)


def _refmt(name: str, ft: FieldText) -> dict[str, bool]:
    pat = {"document_number": r"[A-Z0-9]{9}", "nationality": r"[A-Z]{3}", "sex": r"[MFX]"}.get(
        name, r"[A-Z][A-Z '\-]*"
    )
    return {name: bool(re.fullmatch(pat, ft.text))}


def _plausible(name: str, d: dt.date, dates: dict[str, dt.date | None], today: dt.date) -> bool:
    if name in ("issue_date", "date_of_birth"):
        if d > today or d.year < 1900:
            return False
    if name == "date_of_expiry":
        dob = dates.get("date_of_birth")
        if dob is not None and d <= dob:
            return False
    return True


class Cleanup:
    """The default cleanup component: ``Cleanup(...)(template, lines) -> CleanupResult``."""

    def __init__(
        self,
        *,
        lm: CharNgram | None = None,
        config: F.CleanupConfig | None = None,
        models: LexiconModels | None = None,
    ) -> None:
        self.lm = lm
        self.config = config or F.CleanupConfig()
        # build the lexicon LMs now (set-up time), not on the first card
        self.models = models if models is not None or lm is not None else default_models()

    def __call__(self, template: str, lines: dict[str, LineRead]) -> CleanupResult:
        return clean_card(template, lines, lm=self.lm, config=self.config, models=self.models)
