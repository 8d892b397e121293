"""The recogniser character set: every character that synthetic cards print inside a line box.

``idsight/assets/charset.txt`` holds one line: the sorted unique characters. Index 0 is reserved for
the CTC blank, so ``encode`` returns 1-based indices. Regenerate the file after editing the Korean
word lists with ``python -m idsight.data.charset``.
"""

from __future__ import annotations

import string
from pathlib import Path

from idsight.data.lexicon import assets_dir, load_wordlist

# word lists whose entries are printed inside labelled kr-rrc line boxes
KOREAN_WORDLISTS = (
    "ko_surnames",
    "ko_given_names",
    "ko_regions",
    "ko_roads",
    "ko_buildings",
    "ko_neighborhoods",
)
# fixed Korean text the generator adds inside line boxes (issuer suffixes, address units)
FIXED_TEXT = "청장 시장 군수 동 호 길"
BASE_CHARS = string.digits + string.ascii_uppercase + "< .-(),"


def build_charset() -> str:
    """Compute the charset from the base characters, the Korean word lists and ``FIXED_TEXT``."""
    chars = set(BASE_CHARS)
    for name in KOREAN_WORDLISTS:
        for entry in load_wordlist(name):
            chars.update(entry)
    chars.update(FIXED_TEXT.replace(" ", ""))
    return "".join(sorted(chars))


def _load_charset() -> str:
    return (assets_dir() / "charset.txt").read_text(encoding="utf-8").rstrip("\n")


CHARSET: str = _load_charset()
_INDEX = {c: i + 1 for i, c in enumerate(CHARSET)}


def check_text(text: str) -> set[str]:
    """Characters of ``text`` that are not in the charset (empty set when fully covered)."""
    return {c for c in text if c not in _INDEX}


def encode(text: str) -> list[int]:
    """1-based charset indices of ``text`` (0 is the CTC blank); raises ValueError on unknown chars."""
    missing = check_text(text)
    if missing:
        raise ValueError(f"characters not in charset: {''.join(sorted(missing))!r}")
    return [_INDEX[c] for c in text]


def decode(indices: list[int]) -> str:
    """Text of 1-based charset indices; 0 (blank) is skipped. No CTC collapsing is done here."""
    return "".join(CHARSET[i - 1] for i in indices if i > 0)


def write_charset(path: Path | None = None) -> Path:
    """Write ``build_charset()`` to ``assets/charset.txt`` (or ``path``) and return the path."""
    target = Path(str(assets_dir() / "charset.txt")) if path is None else path
    target.write_text(build_charset() + "\n", encoding="utf-8")
    return target


if __name__ == "__main__":
    print(write_charset())


# -- the open charset: every character such cards print, whether or not a word list holds it -----
LATIN_ACCENTED = "".join(
    chr(c) for c in (*range(0xC0, 0x100), *range(0x100, 0x180)) if chr(c).isalpha() and chr(c) not in "×÷ĸŉſ"
)
OPEN_PUNCT = " /:.,-()'<"


def ks_x_1001_hangul() -> str:
    """The 2,350 Hangul syllables of KS X 1001 (those EUC-KR encodes), in code-point order."""
    out = []
    for c in range(0xAC00, 0xD7A4):
        try:
            two_bytes = len(chr(c).encode("euc_kr")) == 2  # others take an 8-byte jamo sequence
        except UnicodeEncodeError:
            continue
        if two_bytes:
            out.append(chr(c))
    return "".join(out)


def build_open_charset() -> str:
    """Digits, Latin upper and lower case with the accents of European names, the punctuation of labels
    and dates, and all 2,350 KS X 1001 Hangul syllables; sorted, unique."""
    chars = set(string.digits + string.ascii_letters + LATIN_ACCENTED + OPEN_PUNCT + ks_x_1001_hangul())
    return "".join(sorted(chars))


OPEN_CHARSET: str = build_open_charset()
CHARSETS = {"cards": CHARSET, "open": OPEN_CHARSET}


class Charset:
    """Encoding of texts as 1-based class indices (0 is the CTC blank) for one character set."""

    def __init__(self, chars: str) -> None:
        self.chars = chars
        self.index = {c: i + 1 for i, c in enumerate(chars)}

    @classmethod
    def named(cls, name: str) -> Charset:
        if name not in CHARSETS:
            from idsight.errors import UnknownNameError

            raise UnknownNameError(f"unknown charset {name!r} (known: {', '.join(CHARSETS)})")
        return cls(CHARSETS[name])

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        missing = {c for c in text if c not in self.index}
        if missing:
            raise ValueError(f"characters not in charset: {''.join(sorted(missing))!r}")
        return [self.index[c] for c in text]
