"""Card templates: the structured result ("second format") and the printed text lines behind it.

A template lists its fields; each field is printed on one or more *lines*. The detector finds
lines (one class per line key over both templates), the recogniser reads them, and the cleanup
turns printed text into field values (e.g. ``2024. 1. 31.`` -> ``2024-01-31``).

Coordinates are in the canonical rectified card frame, ``CARD_SIZE`` pixels
(ID-1, 85.60 x 53.98 mm at 10 px/mm).
"""

from __future__ import annotations

from dataclasses import dataclass

from idsight.errors import UnknownNameError

CARD_MM = (85.60, 53.98)
CARD_SIZE = (856, 540)  # (width, height) of the rectified card, pixels


@dataclass(frozen=True)
class FieldSpec:
    name: str
    lines: tuple[str, ...]  # line keys, in reading order; joined with `joiner`
    kind: str  # drives cleanup: hangul_name, rrn, address, date_kr, issuer, latin_name, docnum, country, date_dmy, sex, mrz
    joiner: str = " "
    optional_lines: tuple[str, ...] = ()  # lines that may be absent (e.g. second address line)


@dataclass(frozen=True)
class Template:
    name: str
    title: str
    fields: tuple[FieldSpec, ...]
    # nominal (x0, y0, x1, y1) of each line in the canonical frame; synth jitters these
    layout: dict[str, tuple[int, int, int, int]]

    @property
    def line_keys(self) -> tuple[str, ...]:
        return tuple(k for f in self.fields for k in f.lines)

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise UnknownNameError(f"template {self.name!r} has no field {name!r}")


KR_RRC = Template(
    name="kr-rrc",
    title="주민등록증",
    fields=(
        FieldSpec("name", ("name",), "hangul_name"),
        FieldSpec("rrn", ("rrn",), "rrn"),
        FieldSpec("address", ("address_1", "address_2"), "address", optional_lines=("address_2",)),
        FieldSpec("issue_date", ("issue_date",), "date_kr"),
        FieldSpec("issuer", ("issuer",), "issuer"),
    ),
    layout={
        "name": (60, 130, 330, 180),
        "rrn": (60, 195, 420, 240),
        "address_1": (60, 265, 600, 300),
        "address_2": (60, 305, 600, 340),
        "issue_date": (330, 385, 560, 420),
        "issuer": (250, 440, 640, 485),
    },
)

TD1 = Template(
    name="td1",
    title="IDENTITY CARD",
    fields=(
        FieldSpec("document_number", ("document_number",), "docnum"),
        FieldSpec("surname", ("surname",), "latin_name"),
        FieldSpec("given_names", ("given_names",), "latin_name"),
        FieldSpec("sex", ("sex",), "sex"),
        FieldSpec("nationality", ("nationality",), "country"),
        FieldSpec("date_of_birth", ("date_of_birth",), "date_dmy"),
        FieldSpec("date_of_expiry", ("date_of_expiry",), "date_dmy"),
        FieldSpec("mrz", ("mrz_1", "mrz_2", "mrz_3"), "mrz", joiner="\n"),
    ),
    layout={
        "document_number": (560, 70, 820, 100),
        "surname": (250, 115, 640, 150),
        "given_names": (250, 170, 640, 205),
        "sex": (250, 225, 300, 255),
        "nationality": (340, 225, 440, 255),
        "date_of_birth": (470, 225, 640, 255),
        "date_of_expiry": (470, 275, 640, 305),
        "mrz_1": (30, 380, 826, 425),
        "mrz_2": (30, 428, 826, 473),
        "mrz_3": (30, 476, 826, 521),
    },
)

TEMPLATES: dict[str, Template] = {t.name: t for t in (KR_RRC, TD1)}
TEMPLATE_NAMES: tuple[str, ...] = tuple(TEMPLATES)
# detector classes: every line key of every template, in a fixed order
LINE_KEYS: tuple[str, ...] = tuple(f"{t.name}/{k}" for t in TEMPLATES.values() for k in t.line_keys)


def get_template(name: str) -> Template:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise UnknownNameError(f"unknown template {name!r} (known: {', '.join(TEMPLATE_NAMES)})") from None
