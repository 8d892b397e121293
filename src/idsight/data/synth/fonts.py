"""Installed fonts of the fixed-template generator, grouped by family, with train / held-out
("shifted") pools.

Korean faces (Nanum*, Un*, Baekmuk*: the ``fonts-nanum``, ``fonts-unfonts-core`` and ``fonts-baekmuk``
folders) print ``kr-rrc`` text; Latin faces (DejaVu and the Latin glyphs of the Korean faces) print the
``td1`` visual zone; OCR-B prints the MRZ. NanumMyeongjo is held out of the ``train`` pool and forms the
``shifted`` pool, for domain-shift experiments. The folders are named exactly: the card readers were
trained and validated on these faces (their recorded metrics regenerate the same cards), and the
composer's wider font set (``idsight.data.synth.compose.fontpool``) does not change them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from PIL import ImageFont

from idsight.errors import UnknownNameError

FONT_ROOT = Path("/usr/share/fonts")
OCRB_PATH = FONT_ROOT / "opentype/ocr-b/OCRB.otf"
HELD_OUT_FAMILIES = frozenset({"NanumMyeongjo"})
FONT_POOLS = ("train", "shifted", "all")
_KOREAN_DIRS = ("nanum", "unfonts-core", "baekmuk")
_LATIN_DIRS = ("dejavu",)
_SKIP = re.compile(r"Italic|Oblique|Math|ExtraLight|Mono|Coding")
_STYLE_SUFFIX = re.compile(r"(-?(Bold|Regular|Light)|(?<=[a-z])[RB])$")


@dataclass(frozen=True)
class FontFace:
    """One font file; ``family`` groups weights of the same design."""

    path: str
    family: str

    @property
    def name(self) -> str:
        return Path(self.path).stem


def family_of(path: Path) -> str:
    """Family name from a file name: ``NanumSquareRoundB.ttf`` -> ``NanumSquareRound``."""
    stem = path.stem
    while (shorter := _STYLE_SUFFIX.sub("", stem)) != stem:
        stem = shorter
    return stem


def _faces(dirs: tuple[str, ...]) -> list[FontFace]:
    paths = sorted(p for p in FONT_ROOT.glob("truetype/*/*.ttf") if p.parent.name in dirs)
    return [FontFace(str(p), family_of(p)) for p in paths if not _SKIP.search(p.name)]


def _in_pool(face: FontFace, pool: str) -> bool:
    if pool not in FONT_POOLS:
        raise UnknownNameError(f"unknown font pool {pool!r} (known: {', '.join(FONT_POOLS)})")
    held = face.family in HELD_OUT_FAMILIES
    return pool == "all" or held == (pool == "shifted")


@cache
def korean_faces(pool: str = "train") -> tuple[FontFace, ...]:
    """Korean faces of ``pool``."""
    return tuple(f for f in _faces(_KOREAN_DIRS) if _in_pool(f, pool))


@cache
def latin_faces(pool: str = "train") -> tuple[FontFace, ...]:
    """Latin faces of ``pool`` (DejaVu, Liberation and the Latin glyphs of the Nanum faces)."""
    return tuple(f for f in _faces(_LATIN_DIRS + ("nanum",)) if _in_pool(f, pool))


def mrz_face() -> FontFace:
    """OCR-B, the MRZ font."""
    return FontFace(str(OCRB_PATH), "OCR-B")


@lru_cache(maxsize=4096)
def load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    """A cached PIL font object."""
    return ImageFont.truetype(path, size)


@cache
def has_glyphs(path: str, text: str) -> bool:
    """Whether the font draws every character of ``text`` (compared with its missing-glyph box)."""
    font = load_font(path, 24)
    notdef = np.asarray(font.getmask("\uffff")).tobytes()
    return all(np.asarray(font.getmask(c)).tobytes() != notdef for c in text)


def pick(rng: np.random.Generator, faces: tuple[FontFace, ...]) -> FontFace:
    """One face, uniformly."""
    return faces[int(rng.integers(len(faces)))]
