"""Values of an ICAO 9303 TD1 identity card, including its 3 x 30 machine-readable zone."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np

from idsight.data.lexicon import load_wordlist
from idsight.data.synth.values import CardValues, add_years, choice, random_date
from idsight.icao import mrz_check_digit

MRZ_WIDTH = 30
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
LATEST_ISSUE = dt.date(2025, 6, 30)


def countries() -> list[tuple[str, str]]:
    """(ICAO code, English name) pairs from the ``countries`` word list."""
    return [(line[:3], line[4:]) for line in load_wordlist("countries")]


def mrz_name_part(text: str) -> str:
    """Printed name -> MRZ characters: spaces and hyphens become ``<``, other non A-Z are dropped."""
    return re.sub(r"[^A-Z<]", "", re.sub(r"[ \-]", "<", text.upper()))


def mrz_name_field(surname: str, given_names: str, width: int = MRZ_WIDTH) -> str:
    """``SURNAME<<GIVEN<NAMES`` padded with ``<`` to ``width``, truncated per ICAO 9303.

    Given names are truncated first (from the end); if the surname alone does not leave room for at
    least one given-name character, the surname is cut as well.
    """
    primary, secondary = mrz_name_part(surname), mrz_name_part(given_names)
    if not secondary:
        return primary[:width].ljust(width, "<")
    # keep at least one given-name character: the surname gets at most width - 3, and a cut that ends
    # on a filler drops it (else the separator would read <<< and the given names start one late)
    name = primary[: width - 3].rstrip("<") + "<<" + secondary
    return name[:width].ljust(width, "<")


def mrz_date(day: dt.date) -> str:
    """YYMMDD."""
    return f"{day:%y%m%d}"


def build_td1_mrz(
    *,
    doc_code: str,
    issuer: str,
    document_number: str,
    birth: dt.date,
    sex: str,
    expiry: dt.date,
    nationality: str,
    surname: str,
    given_names: str,
    optional_1: str = "",
    optional_2: str = "",
) -> tuple[str, str, str]:
    """The three TD1 lines with document-number, birth, expiry and composite check digits."""
    doc = document_number.ljust(9, "<")
    line1 = (doc_code + issuer + doc + mrz_check_digit(doc) + optional_1).ljust(MRZ_WIDTH, "<")
    dob, exp = mrz_date(birth), mrz_date(expiry)
    mrz_sex = sex if sex in "MF" else "<"
    head2 = dob + mrz_check_digit(dob) + mrz_sex + exp + mrz_check_digit(exp) + nationality
    body2 = (head2 + optional_2).ljust(MRZ_WIDTH - 1, "<")
    composite = line1[5:30] + body2[0:7] + body2[8:15] + body2[18:29]
    line2 = body2 + mrz_check_digit(composite)
    return line1, line2, mrz_name_field(surname, given_names)


def dmy(day: dt.date) -> str:
    """Printed VIZ date, ``DD MM YYYY``."""
    return f"{day.day:02d} {day.month:02d} {day.year}"


def _names(rng: np.random.Generator, edge_cases: float) -> tuple[str, str, bool]:
    surnames, given = load_wordlist("latin_surnames"), load_wordlist("latin_given_names")
    if rng.random() < edge_cases:
        surname = choice(rng, surnames)
        if rng.random() < 0.5:
            surname = (
                f"{surname} {choice(rng, surnames)}"
                if rng.random() < 0.5
                else f"{surname}-{choice(rng, surnames)}"
            )
        count = int(rng.integers(2, 4))
        return surname, " ".join(choice(rng, given) for _ in range(count)), True
    count = 1 if rng.random() < 0.7 else 2
    return choice(rng, surnames), " ".join(choice(rng, given) for _ in range(count)), False


def _document_number(rng: np.random.Generator) -> str:
    if rng.random() < 0.5:
        letters = "".join(choice(rng, ALNUM[:26]) for _ in range(int(rng.integers(1, 4))))
        return letters + "".join(str(int(d)) for d in rng.integers(0, 10, 9 - len(letters)))
    return "".join(choice(rng, ALNUM) for _ in range(9))


def _sex(rng: np.random.Generator, edge_cases: float) -> str:
    if rng.random() < edge_cases * 0.2:
        return "X"
    return "F" if rng.random() < 0.5 else "M"


def sample_td1(rng: np.random.Generator, *, edge_cases: float = 0.15) -> CardValues:
    """Sample a ``td1`` card."""
    surname, given_names, long_name = _names(rng, edge_cases)
    code, country_name = countries()[int(rng.integers(len(countries())))]
    document_number = _document_number(rng)
    birth = random_date(rng, dt.date(1940, 1, 1), dt.date(2012, 12, 31))
    issued = random_date(rng, max(birth + dt.timedelta(days=1), dt.date(2015, 1, 1)), LATEST_ISSUE)
    expiry = add_years(issued, choice(rng, (5, 10, 10))) - dt.timedelta(days=1)
    sex = _sex(rng, edge_cases)
    optional_1 = (
        "".join(str(int(d)) for d in rng.integers(0, 10, int(rng.integers(5, 13))))
        if rng.random() < 0.3
        else ""
    )
    mrz = build_td1_mrz(
        doc_code=choice(rng, ("I<", "ID", "IC")),
        issuer=code,
        document_number=document_number,
        birth=birth,
        sex=sex,
        expiry=expiry,
        nationality=code,
        surname=surname,
        given_names=given_names,
        optional_1=optional_1,
    )
    lines = {
        "document_number": document_number,
        "surname": surname,
        "given_names": given_names,
        "sex": sex,
        "nationality": code,
        "date_of_birth": dmy(birth),
        "date_of_expiry": dmy(expiry),
        "mrz_1": mrz[0],
        "mrz_2": mrz[1],
        "mrz_3": mrz[2],
    }
    fields = {k: lines[k] for k in ("document_number", "surname", "given_names", "sex", "nationality")}
    fields |= {
        "date_of_birth": birth.isoformat(),
        "date_of_expiry": expiry.isoformat(),
        "mrz": "\n".join(mrz),
    }
    extras: dict[str, object] = {
        "country_name": country_name,
        "edge_cases": ["long_name"] if long_name else [],
    }
    return CardValues("td1", lines, fields, extras)
