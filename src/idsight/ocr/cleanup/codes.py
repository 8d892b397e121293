"""ICAO 9303 country codes (from the ``mrz`` package's table): snap a misread 3-letter code to the most
probable valid one, one substitution at most, weighted by the recogniser's per-character alternatives."""

from __future__ import annotations

from functools import lru_cache

from idsight.ocr.cleanup.seq import TO_LETTER, Slot, text_of

FLOOR = 1e-3  # a substitution the recogniser did not propose: scaled by how unsure the read char was
PARTNER = 0.3  # a confusion-pair partner (0 -> O, 5 -> S, ...): scaled the same way
MIN_SCORE = 0.01  # a confident read of an unlisted code is kept (codes are added over time)


@lru_cache(maxsize=1)
def icao_codes() -> frozenset[str]:
    """Every ICAO 9303 state/organisation code, padded to 3 characters as the MRZ prints them (D<<)."""
    from mrz.base.countries_ops import code_list

    return frozenset(c.upper().ljust(3, "<") for c in code_list())


def _prob(s: Slot, c: str) -> float:
    p = s.alt_prob(c)
    if TO_LETTER.get(s.char) == c:
        p = max(p, PARTNER * (1.0 - s.prob))
    return max(p, FLOOR * (1.0 - s.prob))


def snap_code(slots: list[Slot], codes: frozenset[str] | None = None) -> list[Slot] | None:
    """The slots of the most probable valid code one substitution away, or None (valid already, wrong
    length, the substitution less likely than ``MIN_SCORE``, or two candidates equally likely)."""
    codes = icao_codes() if codes is None else codes
    text = text_of(slots)
    if len(slots) != 3 or text in codes:
        return None
    scored: list[tuple[float, str]] = []
    for code in codes:
        diff = [i for i in range(3) if code[i] != text[i]]
        if len(diff) == 1:
            scored.append((_prob(slots[diff[0]], code[diff[0]]), code))
    if not scored:
        return None
    scored.sort(reverse=True)
    if scored[0][0] < MIN_SCORE or len(scored) > 1 and scored[1][0] >= scored[0][0]:
        return None
    code = scored[0][1]
    return [s if s.char == c else Slot(c, _prob(s, c), s.alts) for s, c in zip(slots, code, strict=True)]
