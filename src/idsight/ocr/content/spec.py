"""Document-type specs: one YAML file per type (``idsight/assets/doctypes/<name>.yaml``).

A spec holds what varies per document type and nothing about pixels: its fields with their value
formats, label vocabularies, lexicons, check rules and MRZ correspondences, the title texts that
identify it, its MRZ layout, and its cross-checks. ``load_spec`` validates a file completely; any
problem is one ``BadConfigError`` naming the file and the key (``td1.yaml: fields.sex.check: ...``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from idsight.data.lexicon import assets_dir, load_wordlist
from idsight.errors import BadConfigError, IdsightError
from idsight.ocr.cleanup.lexicon import LANGUAGE_MODELS
from idsight.ocr.content.checks import CHECKS, CROSS_CHECKS
from idsight.ocr.content.formats import FORMATS, Format, fold


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LexiconIn(_Strict):
    name: str
    match: Literal["token", "prefix"] = "token"


class FieldIn(_Strict):
    format: dict[str, Any]
    labels: list[str] = []
    required: bool = False
    lines: int = Field(1, ge=1, le=4)
    lexicon: str | LexiconIn | None = None
    language_model: str | None = None
    check: str | None = None
    mrz: str | None = None
    after: str | None = None
    identifies: bool = False
    first_word: str | None = None


class MrzIn(_Strict):
    kind: str
    document_codes: list[str] = []


class CrossCheckIn(_Strict):
    rule: str
    fields: list[str] = []


class SpecIn(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    title: str
    titles: list[str] = []
    script: Literal["latin", "hangul"]
    header_words: list[str] = []
    header_lexicon: str | None = None  # a word list whose entries' names are headings (countries)
    mrz: MrzIn | None = None
    fields: dict[str, FieldIn] = Field(min_length=1)
    cross_checks: list[CrossCheckIn] = []


@dataclass(frozen=True)
class Lexicon:
    name: str
    match: str  # token | prefix
    entries: frozenset[str]

    def hit(self, value: str) -> bool:
        if self.match == "prefix":
            return any(value[:n] in self.entries for n in (1, 2))
        return any(tok in self.entries for tok in value.split())


@dataclass(frozen=True)
class FieldRule:
    name: str
    format_type: str
    format: Format
    labels: tuple[str, ...]  # folded (upper case, no accents)
    required: bool
    lines: int
    lexicon: Lexicon | None
    language_model: str | None  # the character LM that rescores the recogniser's alternatives
    check: str | None
    mrz: str | None  # the MRZ field holding the same value
    after: str | None  # printed after this field when neither is labelled
    identifies: bool
    first_word: frozenset[str] | None = None  # the entries its first word is one of (a word list)


@dataclass(frozen=True)
class MrzLayoutField:
    span: tuple[int, int, int]
    check: tuple[int, int] | None
    chars: str = "alnum"  # alpha | digit | alnum | sex
    codes: frozenset[str] | None = None  # the values it may hold (a word list), fillers dropped


@dataclass(frozen=True)
class MrzLayout:
    kind: str
    lines: int
    length: int
    fields: dict[str, MrzLayoutField]
    composite: tuple[tuple[tuple[int, int, int], ...], tuple[int, int]] | None


@dataclass(frozen=True)
class MrzRule:
    layout: MrzLayout
    document_codes: tuple[str, ...]


@dataclass(frozen=True)
class CrossCheck:
    rule: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class DocSpec:
    name: str
    title: str
    titles: tuple[str, ...]  # folded
    script: str
    header_words: frozenset[str]  # folded
    header_names: frozenset[str] | None  # folded, spaces removed: whole lines that are headings
    fields: tuple[FieldRule, ...]
    mrz: MrzRule | None
    cross_checks: tuple[CrossCheck, ...]
    path: str

    def field(self, name: str) -> FieldRule:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


@cache
def mrz_layouts() -> dict[str, MrzLayout]:
    """The ICAO layouts of ``mrz-layouts.yaml`` (td1, td3)."""
    path = assets_dir() / "doctypes" / "mrz-layouts.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = {}
    for kind, d in raw.items():
        fields = {
            k: MrzLayoutField(
                tuple(v["span"]),  # type: ignore[arg-type]
                tuple(v["check"]) if "check" in v else None,  # type: ignore[arg-type]
                v.get("chars", "alnum"),
                frozenset(load_wordlist(v["codes"])) if "codes" in v else None,
            )
            for k, v in d["fields"].items()
        }
        comp = d.get("composite")
        composite = (tuple(tuple(s) for s in comp["spans"]), tuple(comp["check"])) if comp else None
        out[kind] = MrzLayout(kind, int(d["lines"]), int(d["length"]), fields, composite)  # type: ignore[arg-type]
    return out


def _lexicon(raw: str | LexiconIn | None, where: str, path: Path) -> Lexicon | None:
    if raw is None:
        return None
    spec = LexiconIn(name=raw) if isinstance(raw, str) else raw
    try:
        lines = load_wordlist(spec.name)
    except IdsightError as err:
        raise BadConfigError(f"{where}: {err}", path=path) from None
    entries = {tok for line in lines for tok in line.split()} if spec.match == "token" else set(lines)
    return Lexicon(spec.name, spec.match, frozenset(entries))


def _word_set(name: str | None, where: str, path: Path) -> frozenset[str] | None:
    if name is None:
        return None
    try:
        return frozenset(load_wordlist(name))
    except IdsightError as err:
        raise BadConfigError(f"{where}: {err}", path=path) from None


def _header_names(name: str | None, path: Path) -> frozenset[str] | None:
    """Names of a word list's entries (``KOR REPUBLIC OF KOREA`` -> ``REPUBLICOFKOREA``), and the
    entries' first words (codes) are left out: a code alone is a value, not a heading."""
    if name is None:
        return None
    try:
        lines = load_wordlist(name)
    except IdsightError as err:
        raise BadConfigError(f"header_lexicon: {err}", path=path) from None
    names = {"".join(fold(" ".join(line.split()[1:])).split()) for line in lines if len(line.split()) > 1}
    return frozenset(n for n in names if n)


def _field(name: str, raw: FieldIn, path: Path, all_fields: set[str]) -> FieldRule:
    where = f"fields.{name}"
    params = dict(raw.format)
    kind = params.pop("type", None)
    if not isinstance(kind, str):
        raise BadConfigError(
            f"{where}.format: needs a 'type' (known: {', '.join(FORMATS.names())})", path=path
        )
    if kind not in FORMATS:
        raise BadConfigError(
            f"{where}.format.type: unknown format {kind!r} (known: {', '.join(FORMATS.names())})", path=path
        )
    try:
        fmt = FORMATS.build(kind, **params)
    except (TypeError, ValueError) as err:
        raise BadConfigError(f"{where}.format: {err}", path=path) from None
    if raw.check is not None and raw.check not in CHECKS:
        raise BadConfigError(
            f"{where}.check: unknown check rule {raw.check!r} (known: {', '.join(CHECKS.names())})", path=path
        )
    if raw.language_model is not None and raw.language_model not in LANGUAGE_MODELS:
        raise BadConfigError(
            f"{where}.language_model: unknown language model {raw.language_model!r} "
            f"(known: {', '.join(LANGUAGE_MODELS)})",
            path=path,
        )
    if raw.after is not None and raw.after not in all_fields:
        raise BadConfigError(f"{where}.after: no field {raw.after!r} in this spec", path=path)
    return FieldRule(
        name=name,
        format_type=kind,
        format=fmt,
        labels=tuple(fold(label) for label in raw.labels),
        required=raw.required,
        lines=raw.lines,
        lexicon=_lexicon(raw.lexicon, f"{where}.lexicon", path),
        language_model=raw.language_model,
        check=raw.check,
        mrz=raw.mrz,
        after=raw.after,
        identifies=raw.identifies,
        first_word=_word_set(raw.first_word, f"{where}.first_word", path),
    )


def parse_spec(data: Any, path: Path) -> DocSpec:
    """Validate a spec's parsed YAML; every problem is a BadConfigError naming ``path`` and the key."""
    try:
        raw = SpecIn.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        raise BadConfigError(f"{_where(first['loc'])}: {first['msg']}", path=path) from None
    mrz = None
    if raw.mrz is not None:
        layouts = mrz_layouts()
        if raw.mrz.kind not in layouts:
            raise BadConfigError(
                f"mrz.kind: unknown MRZ layout {raw.mrz.kind!r} (known: {', '.join(layouts)})", path=path
            )
        mrz = MrzRule(layouts[raw.mrz.kind], tuple(raw.mrz.document_codes))
    names = set(raw.fields)
    fields = tuple(_field(n, f, path, names) for n, f in raw.fields.items())
    for f in fields:
        if f.mrz is not None and (
            mrz is None or (f.mrz not in mrz.layout.fields and f.mrz not in _NAME_PARTS)
        ):
            raise BadConfigError(f"fields.{f.name}.mrz: no MRZ field {f.mrz!r} in this spec's MRZ", path=path)
    checks = []
    for i, c in enumerate(raw.cross_checks):
        if c.rule not in CROSS_CHECKS:
            raise BadConfigError(
                f"cross_checks.{i}.rule: unknown cross-check {c.rule!r} "
                f"(known: {', '.join(CROSS_CHECKS.names())})",
                path=path,
            )
        unknown = [n for n in c.fields if n not in names]
        if unknown:
            raise BadConfigError(f"cross_checks.{i}.fields: no field {unknown[0]!r} in this spec", path=path)
        checks.append(CrossCheck(c.rule, tuple(c.fields)))
    return DocSpec(
        name=raw.name,
        title=raw.title,
        titles=tuple(fold(t) for t in raw.titles),
        script=raw.script,
        header_words=frozenset(fold(w) for w in raw.header_words),
        header_names=_header_names(raw.header_lexicon, path),
        fields=fields,
        mrz=mrz,
        cross_checks=tuple(checks),
        path=str(path),
    )


_NAME_PARTS = ("surname", "given_names")  # the MRZ's name field splits into these


def load_spec(path: str | Path) -> DocSpec:
    """Read and validate one spec file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise BadConfigError(f"cannot read the spec ({err.strerror or err})", path=path) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise BadConfigError(f"not valid YAML{at}", path=path) from None
    return parse_spec(data, path)


@cache
def builtin_specs() -> dict[str, DocSpec]:
    """The document types shipped with idsight, by name."""
    folder = Path(str(assets_dir() / "doctypes"))
    specs = [load_spec(p) for p in sorted(folder.glob("*.yaml")) if p.name != "mrz-layouts.yaml"]
    return {s.name: s for s in specs}


def get_spec(name: str) -> DocSpec:
    specs = builtin_specs()
    if name not in specs:
        from idsight.errors import UnknownNameError

        raise UnknownNameError(f"unknown document type {name!r} (known: {', '.join(specs)})")
    return specs[name]
