"""Word lists (``idsight.assets.lexicon``) and the language models and snapping built on them.

Files are plain UTF-8, one entry per line (``#`` comments, blank lines and anything after a tab
or comma ignored). Recognised names (by file stem): ``ko_surnames``, ``ko_given_names``,
``ko_regions``, ``ko_roads``, ``ko_neighborhoods``, ``ko_buildings``, ``ko_issuers``,
``latin_surnames``/``latin_given_names`` (or any stem containing ``latin``/``en_``). A missing
file falls back to a small built-in list, so the cleanup works without the assets.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

from idsight.metrics import edit_distance
from idsight.ocr.cleanup.lm import CharNgram
from idsight.ocr.cleanup.seq import is_hangul

_FALLBACK: dict[str, tuple[str, ...]] = {
    "ko_surnames": tuple(
        "김 이 박 최 정 강 조 윤 장 임 한 오 서 신 권 황 안 송 전 홍 유 고 문 양 손 배 백 허 남 심 노 하 곽 성 차 "
        "주 우 구 민 류 나 진 지 엄 채 원 천 방 공 현 함 변 염 여 추 도 소 석 선 설 마 길 연 위 표 명 기 반 라 왕 "
        "금 옥 육 인 맹 제 모 탁 국 어 은 편 용 예 경 봉 사 부 가 복 태 목 형 피 두 감 제갈 남궁 황보 선우 독고 사공".split()
    ),
    "ko_given_names": tuple(
        "민준 서준 도윤 예준 시우 하준 지호 서연 서윤 지우 하은 민서 길동 영희 철수 수진 지훈 현우".split()
    ),
    "ko_regions": (
        "서울특별시 종로구",
        "서울특별시 중구",
        "서울특별시 강남구",
        "서울특별시 서초구",
        "부산광역시 해운대구",
        "대구광역시 수성구",
        "인천광역시 남동구",
        "광주광역시 북구",
        "대전광역시 유성구",
        "울산광역시 남구",
        "세종특별자치시",
        "경기도 수원시",
        "경기도 성남시 분당구",
        "강원특별자치도 춘천시",
        "충청북도 청주시",
        "충청남도 천안시",
        "전북특별자치도 전주시",
        "전라남도 목포시",
        "경상북도 포항시",
        "경상남도 창원시",
        "제주특별자치도 제주시",
    ),
    "ko_roads": ("세종대로", "테헤란로", "종로", "을지로", "퇴계로", "강남대로", "도산대로", "중앙로"),
    "ko_neighborhoods": ("역삼동", "삼성동", "대치동", "논현동", "청담동", "신사동"),
    "ko_buildings": ("래미안아파트", "현대아파트", "자이아파트", "푸르지오아파트"),
    "latin_surnames": tuple(
        "SMITH JOHNSON WILLIAMS BROWN JONES MILLER DAVIS GARCIA RODRIGUEZ WILSON MARTINEZ ANDERSON TAYLOR "
        "THOMAS MOORE MARTIN JACKSON THOMPSON WHITE LEE HARRIS CLARK LEWIS ROBINSON WALKER YOUNG ALLEN KING "
        "WRIGHT SCOTT HILL GREEN ADAMS BAKER NELSON CARTER MITCHELL ROBERTS MULLER SCHMIDT ERIKSSON "
        "KIM PARK CHOI JUNG KANG CHO YOON JANG LIM HAN OH SEO SHIN KWON HWANG AHN SONG HONG".split()
    ),
    "latin_given_names": tuple(
        "JAMES MARY JOHN PATRICIA ROBERT JENNIFER MICHAEL LINDA WILLIAM ELIZABETH DAVID BARBARA RICHARD SUSAN "
        "JOSEPH JESSICA THOMAS SARAH CHARLES KAREN ANNA MARIA PETER PAUL DANIEL LAURA EMMA OLIVIA NOAH LIAM "
        "MINJUN SEOJUN JIHO SEOYEON JIWOO HAEUN GILDONG YOUNGHEE".split()
    ),
}


def _read_lines(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].split("\t", 1)[0].split(",", 1)[0].strip()
        if line:
            out.append(line)
    return out


@functools.lru_cache(maxsize=1)
def load_lexicon() -> dict[str, tuple[str, ...]]:
    """All word lists by stem: the package files where present, else the built-in fallback."""
    lists: dict[str, tuple[str, ...]] = {}
    try:
        root = resources.files("idsight.assets.lexicon")
        files = [f for f in root.iterdir() if f.name.endswith(".txt")]
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError, TypeError):
        files = []
    for f in files:
        try:
            entries = _read_lines(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
        if entries:
            lists[f.name[: -len(".txt")]] = tuple(entries)
    for k, v in _FALLBACK.items():
        lists.setdefault(k, v)
    return lists


def _group(lists: dict[str, tuple[str, ...]], *keys: str) -> list[str]:
    return [w for stem, words in lists.items() if any(k in stem for k in keys) for w in words]


def issuers_from_regions(regions: list[str]) -> list[str]:
    """``서울특별시 종로구`` -> ``서울특별시 종로구청장``; ``…시`` -> ``…시장``; ``…군`` -> ``…군수``."""
    out = []
    for r in regions:
        last = r.split()[-1]
        if last.endswith("구"):
            out.append(r + "청장")
        elif last.endswith("군"):
            out.append(r + "수")
        elif last.endswith("시"):
            out.append(r + "장")
    return out


LANGUAGE_MODELS = ("hangul_name", "address", "issuer", "latin_name")  # the field kinds with an LM


@dataclass
class LexiconModels:
    """Per-domain LMs and the snapping lists built from the lexicon."""

    lms: dict[str, CharNgram]  # field kind -> LM
    surnames: tuple[str, ...]  # Korean, frequency order where the file is
    issuers: tuple[str, ...]
    places: frozenset[str] = frozenset()  # address words: regions, roads, neighbourhoods, buildings

    def lm_for(self, kind: str) -> CharNgram | None:
        return self.lms.get(kind)


@functools.lru_cache(maxsize=1)
def syllable_prior() -> dict[str, float]:
    """How common each Hangul syllable is in general Korean (``ko_syllables.tsv``, counts in a large
    Korean word list, add-half smoothed over the 11,172 syllables); empty without the file."""
    try:
        text = resources.files("idsight.assets.lexicon").joinpath("ko_syllables.tsv").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError, OSError, UnicodeDecodeError):
        return {}
    counts = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and not line.startswith("#") and parts[1].strip().isdigit():
            counts[parts[0]] = int(parts[1])
    if not counts:
        return {}
    total = sum(counts.values()) + 0.5 * 11172
    return {chr(c): (counts.get(chr(c), 0) + 0.5) / total for c in range(0xAC00, 0xD7A4)}


def build_models(lists: dict[str, tuple[str, ...]] | None = None, order: int = 3) -> LexiconModels:
    lists = load_lexicon() if lists is None else lists
    prior = syllable_prior()
    surnames = _group(lists, "ko_surname")
    given = _group(lists, "ko_given")
    places = _group(lists, "ko_region", "ko_road", "ko_neighbo", "ko_building", "ko_address")
    issuers = _group(lists, "ko_issuer") or issuers_from_regions(_group(lists, "ko_region"))
    latin = _group(lists, "latin", "en_")
    # full names: every surname joined with given names (cheap: the n-gram only sees local context)
    ko_names = [s + g for s in surnames for g in given] + surnames + given
    return LexiconModels(
        lms={  # keyed by LANGUAGE_MODELS
            "hangul_name": CharNgram.from_words(ko_names, order, prior=prior),
            "address": CharNgram.from_words(places, order, prior=prior),
            "issuer": CharNgram.from_words(issuers + places, order, prior=prior),
            "latin_name": CharNgram.from_words(latin, order),
        },
        surnames=tuple(dict.fromkeys(surnames)),
        issuers=tuple(dict.fromkeys(issuers)),
        places=frozenset(w for p in places for w in p.split()),
    )


@functools.lru_cache(maxsize=1)
def default_models() -> LexiconModels:
    return build_models()


# -- Hangul jamo distance for surname snapping --------------------------------------------------


def jamo(c: str) -> tuple[int, int, int] | None:
    if not is_hangul(c):
        return None
    v = ord(c) - 0xAC00
    return v // 588, (v % 588) // 28, v % 28


def jamo_distance(a: str, b: str) -> int:
    """Number of differing jamo slots (initial, vowel, final) between two syllable strings of
    equal length; a large number otherwise."""
    if len(a) != len(b):
        return 99
    d = 0
    for x, y in zip(a, b, strict=True):
        ja, jb = jamo(x), jamo(y)
        if ja is None or jb is None:
            d += 0 if x == y else 3
        else:
            d += sum(p != q for p, q in zip(ja, jb, strict=True))
    return d


def snap_surname(
    name: str,
    first_prob: float,
    alts: list[tuple[str, float]],
    surnames: tuple[str, ...],
    *,
    threshold: float = 0.9,
) -> str | None:
    """A corrected first syllable (the surname) or None.

    Only when the name does not start with a known surname and its first character is read with
    prob < ``threshold``: the most probable alternative that is a surname, else the most frequent
    surname within one jamo of the read syllable.
    """
    if not name or first_prob >= threshold:
        return None
    known = set(surnames)
    if name[0] in known or name[:2] in known:
        return None
    for a, _p in sorted(alts, key=lambda t: -t[1]):
        if a in known:
            return a
    for s in surnames:
        if len(s) == 1 and jamo_distance(s, name[0]) <= 1:
            return s
    return None


def snap_issuer(text: str, issuers: tuple[str, ...], *, max_frac: float = 0.3) -> str | None:
    """The lexicon issuer nearest to ``text`` (edit distance, spaces ignored), or None.

    Accepted only when it is the unique nearest one and within ``max(1, max_frac * length)``
    edits: the issuer list is short and its entries far apart, so a clear nearest entry is
    strong evidence, while a tie (e.g. ``대시 서구청장``: 대전/대구 ...) is left alone.
    """
    if not issuers:
        return None
    key = text.replace(" ", "")
    scored = sorted((edit_distance(key, e.replace(" ", "")), e) for e in issuers)
    best_d, best = scored[0]
    second_d = scored[1][0] if len(scored) > 1 else best_d + 1
    if best_d < second_d and best_d <= max(1, int(max_frac * len(best.replace(" ", "")))):
        return None if best == text else best
    return None


def snap_first_word(text: str, entries: frozenset[str]) -> str:
    """``text`` with a first word of three or more letters that is no entry replaced by the entry
    nearest to it (``서울울별시`` -> ``서울특별시``): the unique nearest, one edit away (two for entries
    of five letters or more), or split from the rest of a word it starts (``경기도광명시``). The list is closed (a country's provinces), so a clear nearest entry is
    strong evidence; a tie or a farther word is left as read."""
    first, sep, rest = text.partition(" ")
    if len(first) < 3 or first in entries:
        return text
    joined = [e for e in entries if first.startswith(e) and len(first) - len(e) >= 2]
    if joined:  # the space after the entry lost: 경기도광명시
        e = max(joined, key=len)
        return e + " " + first[len(e) :] + sep + rest
    scored = sorted((edit_distance(first, e), e) for e in entries)
    if not scored:
        return text
    (best_d, best), second_d = scored[0], scored[1][0] if len(scored) > 1 else 99
    if best_d < second_d and best_d <= (2 if len(best) >= 5 else 1):
        return best + sep + rest
    return text


def snap_word(
    word: str, probs: list[float], alts: list[list[tuple[str, float]]], vocab: frozenset[str]
) -> str | None:
    """The vocabulary word one edit away from an unknown ``word``, or None.

    ``probs``/``alts`` are the OCR probability and alternatives of each character of ``word``.
    Among several words one edit away, a substitution the recogniser itself proposed (an
    alternative of that character) decides; otherwise the word is left alone: an address word
    list is never complete, and a guess between look-alike names is worse than the raw read.
    """
    if len(word) < 2 or word in vocab:
        return None
    near = [w for w in vocab if abs(len(w) - len(word)) <= 1 and edit_distance(word, w) == 1]
    if len(near) <= 1:
        return near[0] if near else None
    backed = []
    for w in near:
        if len(w) != len(word):
            continue
        i = next(i for i, (a, b) in enumerate(zip(word, w, strict=True)) if a != b)
        p = dict(alts[i]).get(w[i], 0.0) if i < len(alts) else 0.0
        if p > 0:
            backed.append((p, w))
    backed.sort(reverse=True)
    if backed and (len(backed) == 1 or backed[0][0] > backed[1][0]):
        return backed[0][1]
    return None
