"""Installed fonts for the composer, by script and pool.

Every installed family that covers a script is used: Korean text with the Nanum, Un and Baekmuk faces;
Latin text with DejaVu and the Latin glyphs of the Korean faces; the MRZ with OCR-B. Handwriting faces
(UnPilgi, UnGungseo) only write signatures. One Korean and one Latin family (``HELD_OUT_FONTS``) never
print a ``train`` card; a ``heldout`` card uses only them (the MRZ stays OCR-B in both pools).
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

# NanumMyeongjo is also the held-out Korean family of the fixed-layout generator ("shifted" pool);
# LiberationSerif, its Latin one, is not installed here, so DejaVuSerif (all widths) takes its place
HELD_OUT_FONTS = ("NanumMyeongjo", "DejaVuSerif")
SCRIPT_FAMILIES = ("UnPilgi", "UnGungseo")  # handwriting: signatures only
_KOREAN_DIRS = ("nanum", "unfonts", "baekmuk")
_LATIN_DIRS = ("dejavu",)
_SKIP = re.compile(r"Italic|Oblique|Math")
_WEIGHT = re.compile(r"(-?(Bold|ExtraLight|Light|Regular)|(?<=Square)[RB]|(?<=SquareRound)[RB])$")


@dataclass(frozen=True)
class Face:
    path: str
    family: str  # design family: weights and widths of one design share it
    bold: bool

    @property
    def name(self) -> str:
        return Path(self.path).stem


def family_of(stem: str) -> str:
    """``DejaVuSerifCondensed-Bold`` -> ``DejaVuSerif``; ``NanumSquareRoundB`` -> ``NanumSquareRound``."""
    return _WEIGHT.sub("", stem).replace("Condensed", "")


@cache
def _all_faces() -> tuple[tuple[Face, str], ...]:
    """(face, script) for every usable installed font file; script is ``ko`` or ``latin``."""
    out = []
    for p in sorted(FONT_ROOT.glob("truetype/*/*.ttf")):
        if _SKIP.search(p.name):
            continue
        script = "ko" if any(d in p.parent.name for d in _KOREAN_DIRS) else None
        script = script or ("latin" if any(d in p.parent.name for d in _LATIN_DIRS) else None)
        if script is not None:
            out.append((Face(str(p), family_of(p.stem), "Bold" in p.stem or p.stem.endswith("B")), script))
    return tuple(out)


def _in_pool(face: Face, pool: str) -> bool:
    check_pool(pool, "font")
    return (face.family in HELD_OUT_FONTS) == (pool == "heldout")


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
    from fontTools.ttLib import TTFont

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
