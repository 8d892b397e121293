"""Open-vocabulary text lines for the recogniser: any Hangul syllable of KS X 1001, accented Latin in
both cases, dates in every print style, codes, MRZ lines and label text, in every installed font that
covers them.

``sample_text(rng)`` draws a line's text and kind; ``render_text_line(rng, text, kind, font_pool)``
draws it like a card line (background, ink, tilt, degradations) and crops it as the reader does.
Word lists only make the text realistic; random syllables and letters cover what no list holds.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence
from functools import cache

import cv2
import numpy as np

from idsight.data.charset import LATIN_ACCENTED, ks_x_1001_hangul
from idsight.data.lexicon import load_wordlist
from idsight.data.synth import fonts
from idsight.data.synth.lines import MAX_TEXT_WIDTH, place_line
from idsight.data.synth.text import size_for_height, text_mask

KINDS = (
    "hangul",
    "kr_name",
    "kr_address",
    "kr_date",
    "rrn",
    "latin_name",
    "latin_mixed",
    "date",
    "code",
    "mrz",
    "label",
)
WEIGHTS = (0.16, 0.1, 0.12, 0.04, 0.04, 0.12, 0.1, 0.1, 0.06, 0.08, 0.08)
MONTHS = {
    "en": "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC",
    "fr": "JANV FÉVR MARS AVR MAI JUIN JUIL AOÛT SEPT OCT NOV DÉC",
    "de": "JAN FEB MÄR APR MAI JUN JUL AUG SEP OKT NOV DEZ",
    "es": "ENE FEB MAR ABR MAY JUN JUL AGO SEP OCT NOV DIC",
}
LABELS = (
    "성명 주민등록번호 주소 발급일 발급기관 이름 여권번호 국적 성별 생년월일 기간만료일 "
    "Surname|Nom|Given names|Prénoms|Sex|Sexe|Nationality|Nationalité|Date of birth|Date de naissance|"
    "Date of expiry|Date d'expiration|Document No.|Passport No.|Name|Vornamen|Geburtsdatum|Apellidos|"
    "Nombre|Fecha de nacimiento|Cognome|Data di nascita|Geslacht|Geboortedatum|IDENTITY CARD|PASSPORT|"
    "CARTE D'IDENTITÉ|REPUBLIC OF KOREA|Type|Code|Authority|Autorité|Date of issue|Signature"
)
# accented letters whose other case is one accented letter too (not İ, whose lower case is i + a dot)
UPPER_ACCENTED = "".join(c for c in LATIN_ACCENTED if c.isupper() and c.lower() in LATIN_ACCENTED)
LOWER_ACCENTED = "".join(c for c in LATIN_ACCENTED if c.islower() and c.upper() in LATIN_ACCENTED)


@cache
def _hangul() -> str:
    return ks_x_1001_hangul()


def _syllables(rng: np.random.Generator, n: int) -> str:
    h = _hangul()
    return "".join(h[int(i)] for i in rng.integers(0, len(h), n))


def _pick(rng: np.random.Generator, items: Sequence[str]) -> str:
    return items[int(rng.integers(len(items)))]


def _latin_word(rng: np.random.Generator, upper: bool) -> str:
    if rng.random() < 0.5:
        word = _pick(rng, load_wordlist("latin_surnames" if rng.random() < 0.5 else "latin_given_names"))
    else:
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        word = "".join(letters[int(i)] for i in rng.integers(0, 26, int(rng.integers(2, 10))))
    chars = list(word)
    for i in range(len(chars)):  # accents of European names
        if rng.random() < 0.12:
            chars[i] = _pick(rng, UPPER_ACCENTED)
    word = "".join(chars)
    return word if upper else word.capitalize()


def _date(rng: np.random.Generator) -> str:
    day = dt.date(1930, 1, 1) + dt.timedelta(days=int(rng.integers(0, 45_000)))
    d, m, y = day.day, day.month, day.year
    lang = _pick(rng, list(MONTHS))
    mon = MONTHS[lang].split()[m - 1]
    styles = [
        f"{d:02d} {m:02d} {y}",
        f"{d:02d}.{m:02d}.{y}",
        f"{d:02d}/{m:02d}/{y}",
        f"{y}-{m:02d}-{d:02d}",
        f"{d:02d} {mon} {y}",
        f"{d} {mon.capitalize()} {y}",
        f"{d:02d} {mon}/{MONTHS['en'].split()[m - 1]} {y}",
        f"{d:02d} {mon} {str(y)[2:]}",
    ]
    return _pick(rng, styles)


def _mrz(rng: np.random.Generator) -> str:
    from idsight.ocr.content.mrz import compose_mrz
    from idsight.ocr.content.spec import mrz_layouts

    kind = "td1" if rng.random() < 0.6 else "td3"
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    alnum = letters + "0123456789"
    values = {
        "document_code": "P" if kind == "td3" else _pick(rng, ["I", "ID", "IC", "A", "C"]),
        "issuing_state": "".join(letters[int(i)] for i in rng.integers(0, 26, 3)),
        "nationality": "".join(letters[int(i)] for i in rng.integers(0, 26, 3)),
        "document_number": "".join(alnum[int(i)] for i in rng.integers(0, 36, int(rng.integers(8, 10)))),
        "date_of_birth": (dt.date(1930, 1, 1) + dt.timedelta(days=int(rng.integers(0, 33_000)))).isoformat(),
        "date_of_expiry": (dt.date(2020, 1, 1) + dt.timedelta(days=int(rng.integers(0, 5_000)))).isoformat(),
        "sex": _pick(rng, ["M", "F", "<"]),
        "surname": " ".join(_latin_word(rng, True) for _ in range(int(rng.integers(1, 3)))),
        "given_names": " ".join(_latin_word(rng, True) for _ in range(int(rng.integers(1, 3)))),
    }
    lines = compose_mrz(mrz_layouts()[kind], values)
    from idsight.ocr.content.mrz import mrz_text

    return mrz_text(_pick(rng, lines))


def sample_text(rng: np.random.Generator) -> tuple[str, str]:
    """A random line's text and kind (one of ``KINDS``)."""
    kind = KINDS[int(rng.choice(len(KINDS), p=np.array(WEIGHTS) / sum(WEIGHTS)))]
    if kind == "hangul":
        words = [_syllables(rng, int(rng.integers(1, 6))) for _ in range(int(rng.integers(1, 5)))]
        text = " ".join(words)
    elif kind == "kr_name":
        text = _pick(rng, load_wordlist("ko_surnames")) + _syllables(rng, int(rng.integers(1, 4)))
    elif kind == "kr_address":
        region = _pick(rng, load_wordlist("ko_regions"))
        road = _pick(rng, load_wordlist("ko_roads")) if rng.random() < 0.5 else _syllables(rng, 2) + "로"
        text = f"{region} {road} {int(rng.integers(1, 400))}"
        if rng.random() < 0.4:
            text += (
                f" {int(rng.integers(100, 120))}동 {int(rng.integers(101, 2500))}호 ({_syllables(rng, 2)})"
            )
    elif kind == "kr_date":
        day = dt.date(1960, 1, 1) + dt.timedelta(days=int(rng.integers(0, 24_000)))
        text = _pick(rng, [f"{day.year}. {day.month}. {day.day}.", f"{day.year}년 {day.month}월 {day.day}일"])
    elif kind == "rrn":
        text = f"{int(rng.integers(0, 10**6)):06d}-{int(rng.integers(0, 10**7)):07d}"
    elif kind == "latin_name":
        text = " ".join(_latin_word(rng, True) for _ in range(int(rng.integers(1, 4))))
        if rng.random() < 0.1:
            text = text.replace(" ", "-", 1)
    elif kind == "latin_mixed":
        words = [_latin_word(rng, False) for _ in range(int(rng.integers(1, 4)))]
        words = ["".join(_pick(rng, LOWER_ACCENTED) if rng.random() < 0.08 else c for c in w) for w in words]
        text = " ".join(words)
    elif kind == "date":
        text = _date(rng)
    elif kind == "code":
        alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        text = "".join(alnum[int(i)] for i in rng.integers(0, 36, int(rng.integers(3, 10))))
    elif kind == "mrz":
        text = _mrz(rng)
    else:
        parts = LABELS.replace(" ", "|", 10).split("|")
        text = _pick(rng, parts)
        if rng.random() < 0.4:
            text = f"{text} / {_pick(rng, parts)}"
        if rng.random() < 0.2:
            text += ":"
    return text, kind


def font_for(rng: np.random.Generator, text: str, kind: str, pool: str) -> str:
    """A face of the card composer's font ``pool`` (``train`` or ``heldout``: the same held-out families
    as the composed cards) that covers ``text``: OCR-B for MRZ lines, Korean faces for Hangul, else any."""
    from idsight.data.synth.compose import fontpool

    if kind == "mrz":
        return fontpool.mrz_face().path
    hangul = any("가" <= c <= "힣" for c in text)
    faces = fontpool.korean_faces(pool) if hangul else fontpool.latin_faces(pool)
    return fontpool.face_for(text, fontpool.pick(rng, faces), pool).path


def printable_text(rng: np.random.Generator, text: str, kind: str, pool: str) -> tuple[str, str]:
    """``text`` and a font of ``pool`` that prints it; where none prints every character (accented
    Latin next to Hangul), the accents are dropped from the text, so the label stays what is drawn."""
    try:
        return text, font_for(rng, text, kind, pool)
    except ValueError:
        bare = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
        bare = unicodedata.normalize("NFC", bare)
        return bare, font_for(rng, bare, kind, pool)


def covers(path: str, text: str) -> bool:
    """Whether the font file has a glyph for every character of ``text`` (spaces aside)."""
    from idsight.data.synth.compose import fontpool

    return fontpool.covers(fontpool.Face(path, "", False), text)


RULES = 0.4  # the share of lines drawn with box sides or rules near them (lines.place_line)
SEALS = 0.08  # the share of lines printed over a seal at their end (lines.place_line)


def render_text_line(
    rng: np.random.Generator, text: str, kind: str, *, font_pool: str = "train"
) -> tuple[np.ndarray, str]:
    """``text`` drawn like a card line and cropped around it with a little padding, then degraded;
    returns the crop and the text drawn (accents dropped where no font of the pool prints them)."""
    text, path = printable_text(rng, text, kind, font_pool)
    mask = text_mask(text, fonts.load_font(path, size_for_height(text, path, rng.uniform(18, 44))))
    if mask.shape[1] > MAX_TEXT_WIDTH:
        mask = cv2.resize(mask, (MAX_TEXT_WIDTH, max(1, mask.shape[0] * MAX_TEXT_WIDTH // mask.shape[1])))
    crop = place_line(
        rng,
        mask,
        rotate=2.5,
        shear=0.0,
        pad_x=(0.02, 0.5),
        pad_y=(0.02, 0.25),
        plain=0.25,
        rules=RULES,
        seals=SEALS,
    )
    return crop, text
