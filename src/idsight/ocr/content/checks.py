"""Check rules that a spec names: per field (``check: rrn``) and across fields (``cross_checks``).

A field check takes the normalised value and returns True (passes) or False; a cross-check takes the
read's values (and the MRZ's, where there is one) and returns ``{check name: bool}``; checks whose
fields are missing are left out, never guessed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from idsight.icao import rrn_century, rrn_is_valid
from idsight.ocr.cleanup.dates import make_date
from idsight.registry import Registry

CHECKS: Registry[bool] = Registry("check rule")  # value -> passes
CROSS_CHECKS: Registry[dict[str, bool]] = Registry("cross-check")  # (values, mrz values, fields) -> checks


def _iso(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


@CHECKS.register("rrn")
def rrn_check(value: str) -> bool:
    """The RRN's check digit (numbers issued since October 2020 carry a random one)."""
    return rrn_is_valid(value)


@CHECKS.register("date_not_future")
def date_not_future(value: str) -> bool:
    day = _iso(value)
    return day is not None and day <= dt.date.today()


def rrn_birth(rrn: str) -> dt.date | None:
    digits = rrn.replace("-", "")
    if len(digits) != 13 or not digits.isdigit():
        return None
    return make_date(rrn_century(digits[6]) + int(digits[:2]), int(digits[2:4]), int(digits[4:6]))


@CROSS_CHECKS.register("rrn_birth_before_issue")
def rrn_birth_before_issue(
    values: Mapping[str, str], _mrz: Mapping[str, str], fields: tuple[str, ...]
) -> dict[str, bool]:
    rrn, issued = (values.get(f) for f in fields)
    if rrn is None or issued is None:
        return {}
    birth, day = rrn_birth(rrn), _iso(issued)
    return {"rrn_birth_before_issue": birth is not None and day is not None and birth < day}


@CROSS_CHECKS.register("expiry_after_birth")
def expiry_after_birth(
    values: Mapping[str, str], _mrz: Mapping[str, str], fields: tuple[str, ...]
) -> dict[str, bool]:
    birth, expiry = (_iso(values.get(f) or "") for f in fields)
    if birth is None or expiry is None:
        return {}
    return {"expiry_after_birth": birth < expiry}


@CROSS_CHECKS.register("mrz_matches_viz")
def mrz_matches_viz(
    values: Mapping[str, str], mrz: Mapping[str, str], fields: tuple[str, ...]
) -> dict[str, bool]:
    """Per field held by both zones: ``mrz_<field>`` is True when the visual zone agrees with the MRZ
    (names compared as the MRZ writes them: no accents, ``<`` for spaces and hyphens)."""
    from idsight.ocr.content.mrz import mrz_name_form

    out = {}
    for name, mrz_value in mrz.items():
        viz = values.get(name)
        if viz is not None:
            out[f"mrz_{name}"] = mrz_name_form(viz) == mrz_name_form(mrz_value)
    return out
