"""What a composed card says: field values (normalised as the specs produce them), the printed text of
each value, its labels, the MRZ, and labelled extras that are no field of the spec (role ``other``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import numpy as np

from idsight.data.synth import kr, td1
from idsight.data.synth.compose import printing, vocab
from idsight.data.synth.values import add_years, choice, random_date
from idsight.ocr.content.mrz import compose_mrz
from idsight.ocr.content.spec import mrz_layouts

LATEST_ISSUE = dt.date(2025, 6, 30)
# a few names with accents, so printed names are not only A-Z
ACCENTED_SURNAMES = ("MÜLLER", "GARCÍA", "LEFÈVRE", "NÚÑEZ", "STRÖM", "ÇELIK", "DUPRÉ", "JØRGENSEN")
ACCENTED_GIVEN = ("JOSÉ", "FRANÇOIS", "BJÖRN", "RENÉE", "ÁNGEL", "SØREN", "JÜRGEN", "CHLOÉ")
AUTHORITIES = ("MINISTRY OF FOREIGN AFFAIRS", "MINISTRY OF THE INTERIOR", "PASSPORT OFFICE", "PREFECTURE")


@dataclass
class Item:
    """One printed piece: ``field`` is the spec field (None for extras, which print with role other)."""

    field: str | None
    lines: list[str]  # printed value lines
    labels: list[str] = dataclasses.field(default_factory=list)  # printed label lines, if labelled
    wide: bool = False  # wants a row of its own


@dataclass
class Content:
    doc_type: str
    values: dict[str, str]
    items: list[Item]  # fields and labelled extras, in printing order
    mrz: list[str]
    heading: str  # the issuing state, printed as a heading
    holder: str  # the holder's name as signed
    hanja: str = ""
    style: dict[str, str] = dataclasses.field(default_factory=dict)


def _items(
    doc: str, texts: dict[str, list[str]], scheme: vocab.LabelScheme, rng: np.random.Generator
) -> dict[str, Item]:
    wide = {"address", "issuer"}
    return {
        name: Item(name, lines, vocab.label_lines(doc, name, scheme, rng), name in wide)
        for name, lines in texts.items()
    }


def _latin_order(rng: np.random.Generator, number: str) -> list[str]:
    """Field order: names (surname first), codes, dates (birth first), the number anywhere."""
    pair = ["sex", "nationality"] if rng.random() < 0.5 else ["nationality", "sex"]
    groups = [["surname", "given_names"], pair, ["date_of_birth", "date_of_expiry"]]
    rest = [groups[i] for i in rng.permutation([1, 2])]
    if rng.random() < 0.3:  # dates interleaved with the codes, birth still first
        rest = [[pair[0], "date_of_birth"], [pair[1], "date_of_expiry"]]
    order = [n for g in ([groups[0], *rest] if rng.random() < 0.75 else [*rest, groups[0]]) for n in g]
    where = (0, 2, len(order))[int(rng.choice(3, p=[0.5, 0.25, 0.25]))]
    return order[:where] + [number] + order[where:]


def _names(rng: np.random.Generator, edge: float) -> tuple[str, str]:
    surname, given, _ = td1._names(rng, edge)
    if rng.random() < 0.12:
        surname = choice(rng, ACCENTED_SURNAMES)
    if rng.random() < 0.12:
        given = choice(rng, ACCENTED_GIVEN)
    return surname, given


def _extras(doc: str, rng: np.random.Generator, date_style: str, issued: dt.date, state: str) -> list[Item]:
    out = []
    if rng.random() < 0.35:
        out.append(Item(None, [printing.format_date(issued, date_style)], ["Date of issue"]))
    if doc == "td3":
        if rng.random() < 0.5:
            out.append(Item(None, ["P"], [choice(rng, ("Type", "Type / Type", "Tipo"))]))
        if rng.random() < 0.4:
            out.append(Item(None, [state], [choice(rng, ("Code", "Code / Code", "Country code"))]))
        if rng.random() < 0.4:
            out.append(Item(None, [choice(rng, AUTHORITIES)], ["Authority"], wide=True))
    if rng.random() < 0.3:
        place = choice(rng, td1.countries())[1]
        out.append(Item(None, [place], [choice(rng, ("Place of birth", "Lieu de naissance"))]))
    return out


def sample_latin(
    doc: str, rng: np.random.Generator, scheme: vocab.LabelScheme, edge: float = 0.15
) -> Content:
    """Values and printed items of a ``td1`` card or a ``td3`` passport page."""
    surname, given = _names(rng, edge)
    state, state_name = choice(rng, td1.countries())
    if "ko" in scheme.langs and rng.random() < 0.8:  # Korean labels: mostly a Korean document
        state, state_name = "KOR", "REPUBLIC OF KOREA"
    nationality = state if rng.random() < 0.85 else choice(rng, td1.countries())[0]
    number = td1._document_number(rng)
    while not any(c.isdigit() for c in number):  # document numbers hold a digit (the specs' format)
        number = td1._document_number(rng)
    birth = random_date(rng, dt.date(1940, 1, 1), dt.date(2012, 12, 31))
    issued = random_date(rng, max(birth + dt.timedelta(days=1), dt.date(2015, 1, 1)), LATEST_ISSUE)
    expiry = add_years(issued, choice(rng, (5, 10, 10))) - dt.timedelta(days=1)
    sex = td1._sex(rng, edge)
    date_style = printing.pick_date_style(doc, rng)
    sex_style = printing.pick_sex_style(doc, rng, "ko" in scheme.langs)
    key = "passport_number" if doc == "td3" else "document_number"
    values = {key: number, "surname": surname, "given_names": given, "sex": sex, "nationality": nationality}
    values |= {"date_of_birth": birth.isoformat(), "date_of_expiry": expiry.isoformat()}
    code = "P<" if doc == "td3" else choice(rng, ("I<", "ID", "IC", "A<", "C<"))
    optional = "".join(str(int(d)) for d in rng.integers(0, 10, int(rng.integers(5, 12))))
    mrz_values = {
        k: values[k] for k in ("surname", "given_names", "nationality", "date_of_birth", "date_of_expiry")
    }
    mrz_values |= {"document_code": code, "issuing_state": state, "document_number": number}
    mrz_values["sex"] = sex if sex in "MF" else "<"
    if rng.random() < 0.3:
        mrz_values["personal_number" if doc == "td3" else "optional_1"] = optional
    mrz = compose_mrz(mrz_layouts()[doc], mrz_values)
    values["mrz"] = "\n".join(mrz)
    texts = {
        key: [printing.format_number(number, rng)],
        "surname": [surname],
        "given_names": [given],
        "sex": [printing.format_sex(sex, sex_style)],
        "nationality": [nationality],
        "date_of_birth": [printing.format_date(birth, date_style)],
        "date_of_expiry": [printing.format_date(expiry, date_style)],
    }
    by_name = _items(doc, texts, scheme, rng)
    items = [by_name[n] for n in _latin_order(rng, key)]
    for extra in _extras(doc, rng, date_style, issued, state):
        # never between a field and the one printed after it (given names, expiry)
        slots = [
            i for i in range(1, len(items) + 1) if items[i - 1].field not in ("surname", "date_of_birth")
        ]
        items.insert(slots[int(rng.integers(len(slots)))], extra)
    signed = f"{given.split()[0].title()} {surname.title()}" if rng.random() < 0.5 else surname.title()
    style = {"date_style": date_style, "sex_style": sex_style, "label_scheme": scheme.name}
    return Content(doc, values, items, mrz, state_name, signed, style=style)


def _split_address(lines: list[str], rng: np.random.Generator) -> list[str]:
    words = lines[0].split()
    if len(lines) == 1 and len(words) >= 4 and rng.random() < 0.3:
        cut = int(rng.integers(2, len(words) - 1))
        return [" ".join(words[:cut]), " ".join(words[cut:])]
    return lines


def sample_kr(rng: np.random.Generator, scheme: vocab.LabelScheme, edge: float = 0.15) -> Content:
    """Values and printed items of a ``kr-rrc`` card."""
    name, _ = kr.sample_name(rng, edge)
    rrn, birth, _ = kr.sample_rrn(rng)
    address, region = kr.sample_address(rng, max(edge, 0.3))
    address = _split_address(address, rng)
    first_issue = max(add_years(birth, 17), dt.date(2000, 1, 1))
    issued = random_date(rng, min(first_issue, LATEST_ISSUE), LATEST_ISSUE)
    issuer = kr.issuer_for(region)
    date_style = printing.pick_date_style("kr-rrc", rng)
    values = {"name": name, "rrn": rrn, "address": " ".join(address)}
    values |= {"issue_date": issued.isoformat(), "issuer": issuer}
    texts = {
        "name": [name],
        "rrn": [rrn],
        "address": address,
        "issue_date": [printing.format_date(issued, date_style)],
        "issuer": [issuer],
    }
    by_name = _items("kr-rrc", texts, scheme, rng)
    head = ["name", "rrn"] if rng.random() < 0.85 else ["rrn", "name"]
    tail = [["address"], ["issue_date", "issuer"]]
    if rng.random() < 0.2:
        tail.reverse()
    items = [by_name[n] for n in head + tail[0] + tail[1]]
    hanja = kr.hanja_name(rng, len(name)) if rng.random() < 0.3 else ""
    heading = "대한민국" if rng.random() < 0.7 else "REPUBLIC OF KOREA"
    style = {"date_style": date_style, "label_scheme": scheme.name}
    return Content("kr-rrc", values, items, [], heading, name, hanja, style)


def sample_content(doc: str, rng: np.random.Generator, scheme: vocab.LabelScheme) -> Content:
    return sample_kr(rng, scheme) if doc == "kr-rrc" else sample_latin(doc, rng, scheme)
