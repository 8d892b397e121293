"""Values of a Korean resident registration card (``kr-rrc``)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from idsight.data.lexicon import load_wordlist
from idsight.data.synth.values import CardValues, add_years, choice, random_date
from idsight.icao import rrn_check_digit

COMPOUND_SURNAMES = ("황보", "남궁", "제갈", "선우", "독고")
VALID_CHECK_RATE = 0.8
LATEST_ISSUE = dt.date(2025, 6, 30)
# split an address over two lines when one line would be longer than this many characters
LONG_ADDRESS = 33


def sample_name(rng: np.random.Generator, edge_cases: float) -> tuple[str, bool]:
    """A Hangul name of 2-4 syllables; returns (name, is_edge_case)."""
    surnames = [s for s in load_wordlist("ko_surnames") if len(s) == 1]
    given = load_wordlist("ko_given_names")
    two = [g for g in given if len(g) == 2]
    if rng.random() < edge_cases:
        # 4 syllables: compound surname + 2-syllable given name, or a 3-syllable given name
        if rng.random() < 0.7:
            return choice(rng, COMPOUND_SURNAMES) + choice(rng, two), True
        one = [g for g in given if len(g) == 1]
        return choice(rng, surnames) + choice(rng, two) + choice(rng, one), True
    return choice(rng, surnames) + choice(rng, given), False


def hanja_name(rng: np.random.Generator, syllables: int) -> str:
    """A random Hanja rendering (not a real reading) with one character per syllable."""
    chars = load_wordlist("ko_hanja")
    return "".join(choice(rng, chars) for _ in range(syllables))


def sample_rrn(rng: np.random.Generator) -> tuple[str, dt.date, bool]:
    """``YYMMDD-GNNNNNN`` with a real birth date; returns (rrn, birth date, check digit valid)."""
    birth = random_date(rng, dt.date(1940, 1, 1), dt.date(2007, 12, 31))
    female = bool(rng.integers(2))
    gender = (1 if birth.year < 2000 else 3) + int(female)
    body = f"{birth:%y%m%d}{gender}{int(rng.integers(0, 100_000)):05d}"
    valid = rng.random() < VALID_CHECK_RATE
    last = rrn_check_digit(body) if valid else str(int(rng.integers(10)))
    digits = body + last
    return f"{digits[:6]}-{digits[6:]}", birth, valid


def sample_address(rng: np.random.Generator, edge_cases: float) -> tuple[list[str], str]:
    """Address lines (1 or 2) and the region ``"<시/도> <구/시/군>"`` used for the issuer."""
    region = choice(rng, load_wordlist("ko_regions"))
    road = choice(rng, load_wordlist("ko_roads"))
    if rng.random() < 0.3:
        road = f"{road}{int(rng.integers(1, 60))}길"
    head = f"{region} {road} {int(rng.integers(1, 400))}"
    tail_parts: list[str] = []
    if rng.random() < 0.45:
        tail_parts.append(
            f"{int(rng.integers(101, 130))}동 {int(rng.integers(1, 30))}{int(rng.integers(1, 9)):02d}호"
        )
    if rng.random() < 0.35:
        extra = [choice(rng, load_wordlist("ko_neighborhoods"))]
        if tail_parts and rng.random() < 0.7:
            extra.append(choice(rng, load_wordlist("ko_buildings")))
        tail_parts.append(f"({', '.join(extra)})")
    tail = " ".join(tail_parts)
    if rng.random() < edge_cases and not tail:
        tail = f"{int(rng.integers(101, 130))}동 {int(rng.integers(1, 30))}01호 ({choice(rng, load_wordlist('ko_buildings'))})"
    one_line = f"{head} {tail}".strip()
    if tail and (len(one_line) > LONG_ADDRESS or rng.random() < edge_cases):
        return [head, tail], region
    return [one_line], region


def issuer_for(region: str) -> str:
    """The issuing authority for a region: 구 -> 구청장, 시 -> 시장, 군 -> 군수."""
    suffix = {"구": "청장", "시": "장", "군": "수"}[region[-1]]
    return region + suffix


def kr_date(day: dt.date) -> str:
    """Printed Korean date, ``2024. 1. 31.`` (no zero padding)."""
    return f"{day.year}. {day.month}. {day.day}."


def sample_kr_rrc(rng: np.random.Generator, *, edge_cases: float = 0.15) -> CardValues:
    """Sample a ``kr-rrc`` card."""
    name, long_name = sample_name(rng, edge_cases)
    rrn, birth, valid = sample_rrn(rng)
    address, region = sample_address(rng, edge_cases)
    first_issue = max(add_years(birth, 17), dt.date(2000, 1, 1))
    issued = random_date(rng, min(first_issue, LATEST_ISSUE), LATEST_ISSUE)
    lines = {"name": name, "rrn": rrn, "address_1": address[0]}
    if len(address) > 1:
        lines["address_2"] = address[1]
    lines |= {"issue_date": kr_date(issued), "issuer": issuer_for(region)}
    fields = {
        "name": name,
        "rrn": rrn,
        "address": " ".join(address),
        "issue_date": issued.isoformat(),
        "issuer": lines["issuer"],
    }
    extras: dict[str, object] = {
        "rrn_check_valid": valid,
        "hanja": hanja_name(rng, len(name)) if rng.random() < 0.3 else "",
        "edge_cases": [
            k for k, on in (("long_name", long_name), ("two_line_address", len(address) > 1)) if on
        ],
    }
    return CardValues("kr-rrc", lines, fields, extras)
