"""Printed labels and titles, drawn from the document-type spec files (their vocabularies only).

A card picks a label *scheme*: one language, two languages (``Surname / Nom``, or stacked), or a mix.
Languages are tagged here only to keep a card's labels coherent; the spec stays the source of what
may be printed: a tagged label missing from the spec is never used, an untagged one is used untagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import yaml

from idsight.data.lexicon import assets_dir

# labels by language, "|"-separated
_LANG_TEXT = {
    "en": (
        "Name|Resident registration No.|RRN|Address|Date of issue|Issued|Issuer|Document No.|"
        "Document number|Document No|Card No.|Surname|Given names|Given name|Forenames|Sex|"
        "Nationality|Date of birth|Birth|Date of expiry|Expiry|Expiry date|Valid until|"
        "Passport No.|Passport No|Passport number"
    ),
    "ko": (
        "성명|이름|주민등록번호|주민번호|주소|발급일|발급일자|발행일|발급기관|발행기관|여권번호|성|국적|생년월일|성별|기간만료일"
    ),
    "fr": (
        "N° du document|Numéro du document|Nom|Prénoms|Prénom|Sexe|Nationalité|Date de naissance|"
        "Date d'expiration|N° du passeport"
    ),
    "de": (
        "Ausweisnummer|Dokumentnummer|Name|Vornamen|Vorname|Geschlecht|Staatsangehörigkeit|"
        "Geburtsdatum|Gültig bis|Passnummer"
    ),
    "es": (
        "Número de documento|Núm. soporte|Apellidos|Primer apellido|Nombre|Nombres|Sexo|"
        "Nacionalidad|Fecha de nacimiento|Fecha de caducidad|Validez|Pasaporte No|"
        "Número de pasaporte"
    ),
    "it": (
        "Numero documento|Cognome|Nome|Sesso|Cittadinanza|Data di nascita|Scadenza|"
        "Data di scadenza|Passaporto N."
    ),
    "nl": (
        "Documentnummer|Achternaam|Voornamen|Geslacht|Nationaliteit|Geboortedatum|Geldig tot|Paspoortnummer"
    ),
    "pl": ("Nazwisko|Imiona|Płeć|Obywatelstwo|Data urodzenia|Termin ważności"),
    "sv": ("Efternamn|Förnamn|Kön|Nationalitet|Födelsedatum|Giltig till"),
    "pt": ("Sobrenome|Nome|Sexo"),
}
_LANGS = {k: tuple(v.split("|")) for k, v in _LANG_TEXT.items()}
SCHEMES = ("mono", "bilingual", "stacked", "mixed")


@cache
def raw_spec(doc_type: str) -> dict[str, Any]:
    """The spec YAML of ``doc_type`` as written (labels and titles with their accents and case)."""
    path = assets_dir() / "doctypes" / f"{doc_type}.yaml"
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def titles(doc_type: str) -> list[str]:
    return list(raw_spec(doc_type).get("titles", []))


def field_labels(doc_type: str, name: str) -> list[str]:
    return list(raw_spec(doc_type)["fields"][name].get("labels", []))


def _by_lang(labels: list[str], lang: str) -> list[str]:
    return [x for x in labels if x in _LANGS.get(lang, ())]


@cache
def languages(doc_type: str) -> tuple[str, ...]:
    """Languages in which at least half the labelled fields of ``doc_type`` have a label."""
    fields = [n for n in raw_spec(doc_type)["fields"] if field_labels(doc_type, n)]
    return tuple(
        lang
        for lang in _LANGS
        if sum(bool(_by_lang(field_labels(doc_type, n), lang)) for n in fields) * 2 >= len(fields)
    )


@dataclass(frozen=True)
class LabelScheme:
    kind: str  # mono | bilingual | stacked | mixed
    langs: tuple[str, ...]
    upper: bool
    colon: bool

    @property
    def name(self) -> str:
        return f"{self.kind}:{'+'.join(self.langs)}" if self.langs else self.kind


def pick_scheme(doc_type: str, rng: np.random.Generator, kinds: tuple[str, ...] = SCHEMES) -> LabelScheme:
    langs = languages(doc_type)
    kind = kinds[int(rng.integers(len(kinds)))]
    first = langs[int(rng.integers(len(langs)))]
    chosen: tuple[str, ...] = (first,)
    if kind in ("bilingual", "stacked"):
        # the second language of a bilingual document is English or French (Korean on Korean ones)
        # the second language is English or French; Korean pairs with English only
        others = [
            x for x in langs if x != first and x in (("en", "fr", "ko") if first == "en" else ("en", "fr"))
        ]
        if first == "ko" or rng.random() < 0.5:
            others = ["en"] if first != "en" else others
        second = "en" if "en" in others and rng.random() < 0.7 else others[int(rng.integers(len(others)))]
        chosen = (first, second)
    elif kind == "mixed":
        chosen = ()
    return LabelScheme(kind, chosen, bool(rng.random() < 0.3), bool(rng.random() < 0.2))


def _one(rng: np.random.Generator, labels: list[str], lang: str | None, avoid: str = "") -> str:
    pool = [x for x in (_by_lang(labels, lang) if lang else labels) if x != avoid]
    if not pool:  # no label in this language: English, else any
        pool = (
            [x for x in _by_lang(labels, "en") if x != avoid] or [x for x in labels if x != avoid] or labels
        )
    return pool[int(rng.integers(len(pool)))]


def label_lines(doc_type: str, name: str, scheme: LabelScheme, rng: np.random.Generator) -> list[str]:
    """The printed label line(s) of field ``name`` (empty when the spec gives it no labels)."""
    labels = field_labels(doc_type, name)
    if scheme.kind == "mixed" and doc_type != "kr-rrc":  # Korean labels only where Korean is chosen
        labels = [x for x in labels if not any("\uac00" <= c <= "\ud7a3" for c in x)]
    if not labels:
        return []
    if scheme.kind in ("mono", "mixed"):
        parts = [_one(rng, labels, scheme.langs[0] if scheme.langs else None)]
    else:
        a = _one(rng, labels, scheme.langs[0])
        b = _one(rng, labels, scheme.langs[1], avoid=a)
        parts = [a, b] if b != a else [a]
    if scheme.upper:
        parts = [p.upper() for p in parts]
    if scheme.kind == "stacked":
        return parts
    sep = " / " if scheme.langs[:1] != ("ko",) else "/"
    text = sep.join(parts)
    return [text + ":" if scheme.colon else text]
