"""Installed fonts for the composer, by script and pool.

Every installed family that covers a script is used (``scripts/install.sh`` installs the Korean and
Latin font packages): Korean text with every face that prints Hangul; Latin text with the Latin faces
and the Latin glyphs of the Korean faces; the MRZ with OCR-B. Handwriting faces (``SCRIPT_FAMILIES``)
only write signatures. One Korean and one Latin family (``HELD_OUT_FONTS``) never print a ``train``
card; a ``heldout`` card uses only them (the MRZ stays OCR-B in both pools). ``NEVER_TRAIN`` families
print neither pool.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from idsight.data.synth.compose.model import check_pool
from idsight.data.synth.fonts import FONT_ROOT, OCRB_PATH

# NanumMyeongjo is also the held-out family of the fixed-layout generator ("shifted" pool)
HELD_OUT_FONTS = ("NanumMyeongjo", "DejaVuSerif")
NEVER_TRAIN = ("LiberationSerif",)  # a second Latin serif kept unseen, beside DejaVuSerif
# handwriting and old-style faces: signatures only
SCRIPT_FAMILIES = ("UnPilgi", "UnGungseo", "UnPilgia", "UnPen", "UnPenheulim", "UnYetgul", "EunjinNakseo")
_SKIP = re.compile(r"Italic|Oblique|Math|Thin|Hairline|OCRB|[_-](R?B?I|RZI|K)$")
_WEIGHT = re.compile(r"(-?(Bold|ExtraLight|Light|Regular)|(?<=Square)[RB]|(?<=SquareRound)[RB])$")
_HANGUL_PROBE = "가각한글힣"
_LATIN_PROBE = "AZaz09"


@dataclass(frozen=True)
class Face:
    path: str
    family: str  # design family: weights and widths of one design share it
    bold: bool

    @property
    def name(self) -> str:
        return Path(self.path).stem


def family_of(stem: str) -> str:
    """``DejaVuSerifCondensed-Bold`` -> ``DejaVuSerif``; ``NanumSquareRoundB`` -> ``NanumSquareRound``;
    ``Lato-Semibold`` -> ``Lato``; ``LinLibertine_RB`` -> ``LinLibertine``."""
    return _WEIGHT.sub("", re.split(r"[-_]", stem)[0]).replace("Condensed", "")


@cache
def _all_faces() -> tuple[tuple[Face, str], ...]:
    """(face, script) for every usable installed font file; script is ``ko`` or ``latin``."""
    out = []
    paths = sorted([*FONT_ROOT.glob("truetype/**/*.ttf"), *FONT_ROOT.glob("opentype/**/*.otf")])
    for p in paths:
        if _SKIP.search(p.stem):  # (OCR-B too: it prints only the MRZ)
            continue
        bold = p.stem.endswith("B") or any(w in p.stem for w in ("Bold", "Black", "Heavy"))
        face = Face(str(p), family_of(p.stem), bold)
        script = "ko" if covers(face, _HANGUL_PROBE) else "latin" if covers(face, _LATIN_PROBE) else None
        if script is not None:
            out.append((face, script))
    return tuple(out)


def _in_pool(face: Face, pool: str) -> bool:
    check_pool(pool, "font")
    if face.family.startswith(NEVER_TRAIN):
        return False
    return face.family.startswith(HELD_OUT_FONTS) == (pool == "heldout")


@cache
def korean_faces(pool: str) -> tuple[Face, ...]:
    """Faces of ``pool`` that print Hangul (handwriting faces excluded)."""
    return tuple(
        f for f, s in _all_faces() if s == "ko" and f.family not in SCRIPT_FAMILIES and _in_pool(f, pool)
    )


@cache
def latin_faces(pool: str) -> tuple[Face, ...]:
    """Faces of ``pool`` that print Latin text: DejaVu and the Latin glyphs of the Korean faces."""
    return tuple(f for f, _ in _all_faces() if f.family not in SCRIPT_FAMILIES and _in_pool(f, pool))


@cache
def script_faces(pool: str) -> tuple[Face, ...]:
    """Faces for signatures: the handwriting faces (train) or the pool's own faces (heldout)."""
    if pool == "heldout":
        return latin_faces(pool)
    return tuple(f for f, _ in _all_faces() if f.family in SCRIPT_FAMILIES)


def mrz_face() -> Face:
    return Face(str(OCRB_PATH), "OCR-B", False)


@cache
def _cmap(path: str) -> frozenset[int]:
    import logging

    from fontTools.ttLib import TTFont

    logging.getLogger("fontTools.ttLib").setLevel(logging.ERROR)  # harmless table quirks of some faces
    with TTFont(path, lazy=True, fontNumber=0) as font:
        return frozenset(font.getBestCmap() or {})


def covers(face: Face, text: str) -> bool:
    """Whether ``face`` has a glyph for every non-space character of ``text``."""
    cmap = _cmap(face.path)
    return all(ord(c) in cmap for c in text if not c.isspace())


def pick(rng: np.random.Generator, faces: tuple[Face, ...], *, bold: float = 0.3) -> Face:
    """A family uniformly, then a bold weight with probability ``bold`` where the family has one."""
    families = sorted({f.family for f in faces})
    family = families[int(rng.integers(len(families)))]
    weights = [f for f in faces if f.family == family]
    want_bold = rng.random() < bold
    pref = [f for f in weights if f.bold == want_bold] or weights
    return pref[int(rng.integers(len(pref)))]


def face_for(text: str, preferred: Face, pool: str) -> Face:
    """``preferred`` when it covers ``text``, else the first face of ``pool`` that does (same weight first)."""
    if covers(preferred, text):
        return preferred
    faces = korean_faces(pool) if any("\uac00" <= c <= "\ud7a3" for c in text) else latin_faces(pool)
    ranked = sorted(faces, key=lambda f: (f.bold != preferred.bold, f.family != preferred.family, f.path))
    for face in ranked:
        if covers(face, text):
            return face
    raise ValueError(f"no font of pool {pool!r} prints {text!r}")


def printable(text: str, preferred: Face, pool: str) -> tuple[str, Face]:
    """``text`` and a face of ``pool`` that prints it; where none prints every character (accented Latin
    next to Hangul), the accents are dropped."""
    try:
        return text, face_for(text, preferred, pool)
    except ValueError:
        decomposed = unicodedata.normalize("NFD", text)
        bare = unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))
        return bare, face_for(bare, preferred, pool)
