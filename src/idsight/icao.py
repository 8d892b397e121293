"""Check digits for ICAO 9303 machine-readable zones and Korean resident registration numbers."""

from __future__ import annotations

_WEIGHTS = (7, 3, 1)


def mrz_char_value(c: str) -> int:
    if c.isdigit():
        return int(c)
    if "A" <= c <= "Z":
        return ord(c) - ord("A") + 10
    if c == "<":
        return 0
    raise ValueError(f"character {c!r} is not allowed in an MRZ")


def mrz_check_digit(data: str) -> str:
    """ICAO 9303 check digit (weights 7, 3, 1, modulo 10)."""
    return str(sum(mrz_char_value(c) * _WEIGHTS[i % 3] for i, c in enumerate(data)) % 10)


_RRN_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)


def rrn_check_digit(first12: str) -> str:
    """Check digit of a resident registration number (digits only, without the dash).

    RRNs issued since October 2020 carry a random last digit, so a failed check is evidence,
    not proof, of a misread.
    """
    if len(first12) != 12 or not first12.isdigit():
        raise ValueError(f"need 12 digits, got {first12!r}")
    s = sum(int(d) * w for d, w in zip(first12, _RRN_WEIGHTS, strict=True))
    return str((11 - s % 11) % 10)


def rrn_is_valid(rrn: str) -> bool:
    digits = rrn.replace("-", "")
    return len(digits) == 13 and digits.isdigit() and rrn_check_digit(digits[:12]) == digits[12]


def rrn_century(gender_digit: str) -> int:
    """Birth century from the 7th digit: 1/2/5/6 -> 1900s, 3/4/7/8 -> 2000s, 9/0 -> 1800s."""
    d = int(gender_digit)
    if d in (1, 2, 5, 6):
        return 1900
    if d in (3, 4, 7, 8):
        return 2000
    return 1800
