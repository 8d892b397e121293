"""Reading by content: specs, value formats, the MRZ, layout-free field assignment, the document type."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from idsight.errors import BadConfigError
from idsight.ocr.cleanup.lexicon import syllable_prior
from idsight.ocr.cleanup.lm import CharNgram
from idsight.ocr.cleanup.seq import Slot
from idsight.ocr.content.assign import TextLine, _is_title, assign, rescored, strip_label
from idsight.ocr.content.decide import UNKNOWN, read_fields
from idsight.ocr.content.formats import FORMATS
from idsight.ocr.content.mrz import compose_mrz, find_mrz, mrz_name_form, mrz_spelling, parse_mrz
from idsight.ocr.content.spec import builtin_specs, get_spec, load_spec, mrz_layouts

SPECS = builtin_specs()


def test_builtin_specs_are_the_three_types() -> None:
    assert set(SPECS) == {"kr-rrc", "td1", "td3"}
    td3 = SPECS["td3"]
    assert td3.mrz is not None and td3.mrz.layout.lines == 2 and td3.mrz.layout.length == 44
    assert "passport_number" in td3.field_names and td3.field("surname").mrz == "surname"


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "doc.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _base() -> dict:
    return yaml.safe_load((Path(SPECS["td1"].path)).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["fields"]["sex"].update(check="luhn"), r"fields\.sex\.check: unknown check rule 'luhn'"),
        (
            lambda d: d["fields"]["surname"].update(format={"type": "regex", "pattern": "[A-"}),
            r"fields\.surname\.format: pattern",
        ),
        (
            lambda d: d["fields"]["surname"].update(format={"type": "kanji"}),
            r"fields\.surname\.format\.type: unknown format 'kanji'",
        ),
        (
            lambda d: d["fields"]["surname"].update(format={"type": "date", "orders": ["dym"]}),
            r"fields\.surname\.format: orders",
        ),
        (
            lambda d: d["fields"]["surname"].update(format={"type": "rrn", "digits": 13}),
            r"fields\.surname\.format: .*digits",
        ),
        (
            lambda d: d["fields"]["surname"].update(format={"pattern": "x"}),
            r"fields\.surname\.format: needs a 'type'",
        ),
        (lambda d: d["fields"]["surname"].update(colour="red"), r"fields\.surname\.colour: Extra inputs"),
        (lambda d: d["mrz"].update(kind="td9"), r"mrz\.kind: unknown MRZ layout 'td9'"),
        (
            lambda d: d["cross_checks"].append({"rule": "moon_phase"}),
            r"cross_checks\.2\.rule: unknown cross-check",
        ),
        (
            lambda d: d["fields"]["surname"].update(lexicon="klingon"),
            r"fields\.surname\.lexicon: unknown word list",
        ),
        (
            lambda d: d["fields"]["surname"].update(first_word="klingon"),
            r"fields\.surname\.first_word: unknown word list",
        ),
        (lambda d: d["fields"]["surname"].update(mrz="blood_type"), r"fields\.surname\.mrz: no MRZ field"),
        (
            lambda d: d["fields"]["surname"].update(language_model="klingon"),
            r"fields\.surname\.language_model: unknown language model 'klingon'",
        ),
    ],
)
def test_bad_spec_is_one_error_naming_file_and_key(tmp_path: Path, edit, message: str) -> None:
    data = _base()
    edit(data)
    path = _write(tmp_path, data)
    with pytest.raises(BadConfigError, match=message) as err:
        load_spec(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_unparsable_spec_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(BadConfigError, match=r"broken\.yaml: not valid YAML at line"):
        load_spec(path)
    with pytest.raises(BadConfigError, match="cannot read the spec"):
        load_spec(tmp_path / "missing.yaml")


# -- formats -----------------------------------------------------------------------------------
MONTH_STYLES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
FR = ["JANV", "FÉVR", "MARS", "AVR", "MAI", "JUIN", "JUIL", "AOÛT", "SEPT", "OCT", "NOV", "DÉC"]


def date_prints(day: dt.date) -> list[str]:
    d, m, y = day.day, day.month, day.year
    return [
        f"{y}. {m}. {d}.",
        f"{y}.{m:02d}.{d:02d}",
        f"{y}년 {m}월 {d}일",
        f"{d:02d} {m:02d} {y}",
        f"{d:02d}.{m:02d}.{y}",
        f"{d:02d}/{m:02d}/{y}",
        f"{d:02d} {MONTH_STYLES[m - 1]} {y}",
        f"{d} {MONTH_STYLES[m - 1].title()} {y}",
        f"{d:02d} {FR[m - 1]}/{MONTH_STYLES[m - 1]} {y}",
        f"{y}-{m:02d}-{d:02d}",
    ]


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)))
def test_dates_in_every_print_style(day: dt.date) -> None:
    fmt = FORMATS.build("date", orders=["dmy", "ymd"])
    for printed in date_prints(day):
        parsed = fmt.parse(printed)
        assert parsed is not None and parsed.value == day.isoformat(), printed


def test_formats_refuse_what_does_not_fit() -> None:
    date = FORMATS.build("date", orders=["dmy"])
    assert (
        date.parse("31 02 2020") is None and date.parse("KIM") is None and date.parse("12 BLUE 2020") is None
    )
    rrn = FORMATS.build("rrn")
    assert rrn.parse("850315 - 1234567").value == "850315-1234567"  # type: ignore[union-attr]
    assert rrn.parse("850315-123456") is None
    fixed = rrn.parse("60013l-126O898")  # two letters read for digits: put right, at a lower score
    assert fixed is not None and fixed.value == "600131-1260898" and fixed.score < 1.0
    assert rrn.parse("6OO13l-126O898") is None  # more than two: not an RRN
    assert rrn.parse("9/0622-205355/").value == "970622-2053557"  # type: ignore[union-attr]  # serif 7s
    name = FORMATS.build("hangul_name", min=2, max=4)
    assert name.parse("홍길동 (洪吉童)").value == "홍길동"  # type: ignore[union-attr]
    assert name.parse("주민등록증입니다") is None and name.parse("KIM") is None
    latin = FORMATS.build("latin_name")
    assert latin.parse("MÜLLER-LÜDENSCHEIDT").value == "MÜLLER-LÜDENSCHEIDT"  # type: ignore[union-attr]
    assert latin.parse("D23145890") is None
    issuer = FORMATS.build("suffix", suffixes=["구청장", "청장"])
    assert issuer.parse("서울특별시 종로구청장") is not None and issuer.parse("구청장") is None


# -- MRZ ---------------------------------------------------------------------------------------
NAMES = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=8)


@given(
    kind=st.sampled_from(["td1", "td3"]),
    number=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=8, max_size=9),
    birth=st.dates(min_value=dt.date(1930, 1, 1), max_value=dt.date(2020, 12, 31)),
    expiry=st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2060, 12, 31)),
    sex=st.sampled_from("MFX"),
    surname=NAMES,
    given=st.lists(NAMES, min_size=1, max_size=2),
)
def test_mrz_compose_parse_round_trip(kind, number, birth, expiry, sex, surname, given) -> None:  # noqa: ANN001
    layout = mrz_layouts()[kind]
    values = {
        "document_code": "P" if kind == "td3" else "I",
        "issuing_state": "UTO",
        "document_number": number,
        "date_of_birth": birth.isoformat(),
        "date_of_expiry": expiry.isoformat(),
        "sex": sex,
        "nationality": "UTO",
        "surname": surname,
        "given_names": " ".join(given),
    }
    lines = compose_mrz(layout, values)
    assert [len(x) for x in lines] == [layout.length] * layout.lines
    read = parse_mrz(lines, layout, today=dt.date(2026, 12, 1))
    assert read.valid, read.checks
    for k in ("document_number", "date_of_birth", "date_of_expiry", "sex", "nationality"):
        assert read.values[k] == values[k]
    if (
        len(surname) + 2 + len(values["given_names"])
        <= layout.fields["name"].span[2] - layout.fields["name"].span[1]
    ):
        assert (read.values["surname"], read.values["given_names"]) == (surname, values["given_names"])
    # one misread digit is caught by a check digit
    bad = list(lines[1])
    col = 0 if kind == "td1" else 13  # the birth date
    bad[col] = str((int(bad[col]) + 1) % 10)
    assert not parse_mrz([lines[0], "".join(bad), *lines[2:]], layout).valid


def test_find_mrz_by_content_not_position() -> None:
    layout = mrz_layouts()["td1"]
    lines = compose_mrz(layout, {"document_code": "I", "surname": "LEE", "given_names": "MINJUN SEO"})
    texts = ["IDENTITY CARD", lines[2][:20], "KIM", lines[0][:12] + " " + lines[0][12:], lines[1]]
    ys = [10.0, 300.0, 50.0, 220.0, 260.0]  # shuffled order; found by y
    read = find_mrz(texts, ys, get_spec("td1").mrz)  # type: ignore[arg-type]
    assert read is not None and read.line_indices == [3, 4, 1] and read.lines == lines


# -- assignment --------------------------------------------------------------------------------
def td1_lines(labels: bool, shuffle: int | None = None) -> tuple[list[TextLine], dict[str, str]]:
    truth = {
        "document_number": "D23145890",
        "surname": "ÅSTRÖM",
        "given_names": "ANNA MARIA",
        "sex": "F",
        "nationality": "SWE",
        "date_of_birth": "1974-08-12",
        "date_of_expiry": "2031-04-15",
    }
    mrz = compose_mrz(mrz_layouts()["td1"], {**truth, "document_code": "ID", "issuing_state": "SWE"})
    truth["mrz"] = "\n".join(mrz)
    rows = [
        ("Nom / Surname", "ÅSTRÖM"),
        ("Prénoms / Given names", "ANNA MARIA"),
        ("Sexe / Sex", "F"),
        ("Nationalité / Nationality", "SWE"),
        ("Date de naissance / Date of birth", "12 AOÛT/AUG 1974"),
        ("Date d'expiration / Date of expiry", "15.04.2031"),
    ]
    lines = [
        TextLine("IDENTITY CARD", (20, 20, 300, 50)),
        TextLine("Document No. D23145890", (560, 20, 840, 50)),
    ]
    y = 80
    for label, value in rows:
        if labels:
            lines.append(TextLine(label, (300, y, 560, y + 14)))
            y += 18
        lines.append(TextLine(value, (300, y, 520, y + 28), 0.95))
        y += 40
    lines += [TextLine(m, (20, 400 + 40 * k, 830, 430 + 40 * k)) for k, m in enumerate(mrz)]
    if shuffle is not None:
        random.Random(shuffle).shuffle(lines)
    return lines, truth


@pytest.mark.parametrize("labels", [True, False])
@pytest.mark.parametrize("shuffle", [None, 1, 2])
def test_td1_fields_from_content(labels: bool, shuffle: int | None) -> None:
    lines, truth = td1_lines(labels, shuffle)
    decision = read_fields(lines)
    assert decision.doc_type == "td1"
    a = decision.assignment
    assert a is not None
    assert {k: v.value for k, v in a.fields.items()} == truth
    assert a.checks["mrz_check_composite"] and a.checks["mrz_surname"] and a.unassigned == []


def test_td1_without_visual_zone_takes_every_field_from_the_mrz() -> None:
    lines, truth = td1_lines(labels=False)
    mrz_only = [ln for ln in lines if "<" in ln.text]
    a = assign(mrz_only, get_spec("td1"))
    assert {k: v.source for k, v in a.fields.items()} == dict.fromkeys(truth, "mrz")
    assert a.fields["surname"].value == "ASTROM" and a.fields["date_of_birth"].value == "1974-08-12"


def test_a_wrong_visual_date_is_overruled_by_a_valid_mrz() -> None:
    lines, truth = td1_lines(labels=True)
    lines = [TextLine("15.04.2037", ln.box) if ln.text == "15.04.2031" else ln for ln in lines]
    a = assign(lines, get_spec("td1"))
    assert a.fields["date_of_expiry"].value == "2031-04-15" and a.fields["date_of_expiry"].source == "mrz"
    assert a.checks["mrz_date_of_expiry"] is False  # the disagreement is reported


def test_a_name_line_that_spells_the_mrz_name_wins_over_the_one_geometry_chose() -> None:
    lines, truth = td1_lines(labels=True)
    # the given names' line drifts away from its label (an unusual design), and a stray line lands
    # under the label instead: geometry alone would take the stray line
    moved = []
    for ln in lines:
        if ln.text == "ANNA MARIA":
            moved.append(TextLine("ANNA MARIA", (600, 300, 760, 328), 0.95))
            moved.append(TextLine("SPECIMEN", ln.box, 0.95))
        else:
            moved.append(ln)
    a = assign(moved, get_spec("td1"))
    assert a.fields["given_names"].value == "ANNA MARIA" and a.fields["given_names"].source == "viz"
    assert [moved[i].text for i in a.unassigned] == ["SPECIMEN"]
    # with no line spelling the MRZ's name, a valid MRZ's letters are taken over the visual zone's
    alone = [ln for ln in moved if ln.text != "ANNA MARIA"]
    given = assign(alone, get_spec("td1")).fields["given_names"]
    assert (given.value, given.source) == ("ANNA MARIA", "mrz")

    # an invalid MRZ (a check digit fails) leaves the visual zone's reading as it is
    def wrong_composite(t: str) -> str:  # the second MRZ line's last digit, the composite check
        return t[:-1] + str((int(t[-1]) + 1) % 10) if len(t) == 30 and t[:6].isdigit() else t

    broken = [TextLine(wrong_composite(ln.text), ln.box, ln.confidence) for ln in alone]
    assert assign(broken, get_spec("td1")).fields["given_names"].value == "SPECIMEN"


def kr_lines() -> list[TextLine]:
    return [
        TextLine("주민등록증", (40, 30, 260, 80)),
        TextLine("홍길동(洪吉童)", (50, 110, 300, 150)),
        TextLine("850315-1234568", (50, 170, 330, 200)),
        TextLine("서울특별시 종로구 세종대로 209", (50, 220, 500, 250)),
        TextLine("101동 1203호 (정부청사)", (50, 255, 400, 285)),
        TextLine("2024. 1. 31.", (300, 380, 480, 410)),
        TextLine("서울특별시 종로구청장", (260, 430, 560, 465)),
        TextLine("REPUBLIC OF KOREA 42", (600, 480, 800, 500)),
    ]


def test_kr_rrc_without_labels() -> None:
    d = read_fields(kr_lines())
    assert d.doc_type == "kr-rrc" and d.assignment is not None
    assert {k: v.value for k, v in d.assignment.fields.items()} == {
        "name": "홍길동",
        "rrn": "850315-1234568",
        "address": "서울특별시 종로구 세종대로 209 101동 1203호 (정부청사)",
        "issue_date": "2024-01-31",
        "issuer": "서울특별시 종로구청장",
    }
    assert d.assignment.unassigned == [7]  # the line that fits no field
    assert d.assignment.checks["rrn_birth_before_issue"]


def test_kr_rrc_with_inline_labels_and_a_missing_field() -> None:
    lines = [
        TextLine("성 명: 김철수", (40, 100, 300, 130)),
        TextLine("주민등록번호 900101-1234567", (40, 140, 400, 170)),
        TextLine("주소 부산광역시 해운대구 센텀로 12", (40, 180, 500, 210)),
        TextLine("2019. 12. 3.", (300, 380, 480, 410)),
    ]
    d = read_fields(lines)
    assert d.doc_type == "kr-rrc" and d.assignment is not None
    fields = {k: v.value for k, v in d.assignment.fields.items()}
    assert fields == {
        "name": "김철수",
        "rrn": "900101-1234567",
        "address": "부산광역시 해운대구 센텀로 12",
        "issue_date": "2019-12-03",
    }  # no issuer line: absent, never invented


def test_unknown_type_keeps_its_lines() -> None:
    lines = [TextLine("LIBRARY CARD", (10, 10, 200, 40)), TextLine("MEMBER 0042", (10, 60, 200, 90))]
    d = read_fields(lines)
    assert d.doc_type == UNKNOWN and d.assignment is None


def test_strip_label_handles_bilingual_and_spaced_labels() -> None:
    labels = get_spec("td1").field("surname").labels
    assert strip_label("Surname / Nom", labels) is not None
    assert strip_label("Surname / Nom", labels)[1] == ""  # type: ignore[index]
    assert strip_label("NOM: DUPONT", labels)[1] == "DUPONT"  # type: ignore[index]
    assert strip_label("NOMINATIVE", labels) is None  # a word boundary is needed
    kr = get_spec("kr-rrc").field("name").labels
    assert strip_label("성 명 김철수", kr)[1] == "김철수"  # type: ignore[index]
    given = get_spec("td3").field("given_names").labels
    assert strip_label("이름/GNVEN NAME", given)[1] == ""  # type: ignore[index]  # misread: still a label
    assert strip_label("이름/ANNA MARIA", given)[1] == "ANNA MARIA"  # type: ignore[index]


def test_misread_label_lines_and_country_headings() -> None:
    labels = get_spec("td3").field("surname").labels
    assert strip_label("APELLIOS", labels) is not None  # APELLIDOS with one letter lost
    assert strip_label("ANDERSSON", labels) is None
    lines = [
        TextLine("BELGIUM", (300, 20, 450, 50)),  # the issuing state's heading, not a name
        TextLine("PASSPORT", (300, 60, 450, 90)),
        TextLine("PEETERS", (300, 120, 450, 150)),
        TextLine("ANNE", (300, 170, 400, 200)),
    ]
    a = assign(lines, get_spec("td3"))
    assert a.fields["surname"].value == "PEETERS" and a.fields["given_names"].value == "ANNE"


@pytest.mark.parametrize("pool", ["train", "heldout"])
def test_composed_cards_of_any_design_are_assigned_from_their_printed_lines(pool: str) -> None:
    """The composer's own text and boxes (perfect OCR), any layout: fields and type come out right."""
    import numpy as np

    from idsight.data.synth.compose import compose_card

    hits, total, types = 0, 0, 0
    for i in range(24):
        doc = ("kr-rrc", "td1", "td3")[i % 3]
        card = compose_card(doc, np.random.default_rng([4242, i]), design_pool=pool, font_pool=pool)
        lines = [TextLine(ln["text"], tuple(map(float, ln["box"]))) for ln in card.lines]
        d = read_fields(lines)
        types += d.doc_type == doc
        got = {k: v.value for k, v in d.assignment.fields.items()} if d.assignment else {}
        hits += sum(" ".join(str(got.get(k)).split()) == " ".join(v.split()) for k, v in card.values.items())
        total += len(card.values)
    assert types == 24 and hits / total >= 0.98


def _slots(text: str, alts: dict[int, list[tuple[str, float]]], prob: float = 0.5) -> tuple[Slot, ...]:
    return tuple(Slot(c, prob if i in alts else 0.99, alts.get(i, [])) for i, c in enumerate(text))


def test_misread_title_is_not_taken_for_a_name() -> None:
    """A title with a letter or two misread is still the title (jamo by jamo, alternatives count)."""
    spec = builtin_specs()["kr-rrc"]
    assert _is_title(TextLine("주민등륵중", (0, 0, 1, 1)), spec)  # two vowels misread
    assert not _is_title(TextLine("김민준", (0, 0, 1, 1)), spec)
    far = "추민듬륵중"  # four jamo off: a title only because the recogniser offered 주 and 등
    assert not _is_title(TextLine(far, (0, 0, 1, 1)), spec)
    chars = _slots(far, {0: [("주", 0.4)], 2: [("등", 0.3)]})
    assert _is_title(TextLine(far, (0, 0, 1, 1), chars=chars), spec)
    lines = [TextLine("주민등륵중", (40, 20, 300, 60)), *kr_lines()[1:]]
    d = read_fields(lines)
    assert d.assignment is not None and d.assignment.fields["name"].value == "홍길동"


def test_language_model_chooses_among_the_recognisers_alternatives() -> None:
    """A rare syllable read with doubt gives way to the alternative that names and words use; a sure
    reading, or a field without a language model, keeps the recogniser's text."""
    line = TextLine("김활", (0, 0, 1, 1), 0.5, _slots("김활", {1: [("환", 0.4)]}))
    assert rescored(line, "hangul_name") == "김환"
    assert rescored(line, None) == "김활"
    sure = TextLine("김활", (0, 0, 1, 1), 0.9, _slots("김활", {}))
    assert rescored(sure, "hangul_name") == "김활"
    assert rescored(TextLine("김활", (0, 0, 1, 1)), "hangul_name") == "김활"  # no alternatives known


def test_a_name_read_with_latin_look_alikes_takes_the_syllables_offered() -> None:
    """In a Hangul-only field, ``A`` and ``7`` read where the recogniser also offered ``시`` and ``기``
    become those syllables; other fields (an address prints digits) keep them."""
    line = TextLine(
        "7인A", (0, 0, 1, 1), 0.5, _slots("7인A", {0: [("기", 0.03)], 2: [("시", 0.3), ("X", 0.1)]})
    )
    assert rescored(line, "hangul_name", hangul_only=True) == "기인시"
    assert rescored(line, "hangul_name") == "7인A"
    latin_only = TextLine("Q인", (0, 0, 1, 1), 0.5, _slots("Q인", {0: [("0", 0.2)]}))
    assert rescored(latin_only, "hangul_name", hangul_only=True) == "Q인"  # no syllable offered


def test_syllable_prior_ranks_common_syllables_first() -> None:
    prior = syllable_prior()
    assert len(prior) == 11172 and abs(sum(prior.values()) - 1.0) < 1e-6
    assert prior["정"] > 100 * prior["졍"] and prior["환"] > prior["활"]
    lm = CharNgram.from_words(["가나"], prior=prior)
    assert lm.logprob("정", "") > lm.logprob("졍", "")  # unseen in the words: the prior decides


def test_issuer_suffix_with_one_letter_misread_is_corrected() -> None:
    fmt = builtin_specs()["kr-rrc"].field("issuer").format
    parsed = fmt.parse("광주광역시 광산구창장")
    assert parsed is not None and parsed.value == "광주광역시 광산구청장" and parsed.score < 1.0
    assert fmt.parse("서울특별시 관악구청:").value == "서울특별시 관악구청장"  # type: ignore[union-attr]
    assert fmt.parse("부산광역시 사하구 청 장").value == "부산광역시 사하구청장"  # type: ignore[union-attr]
    assert fmt.parse("경기도 안양시 청장").value == "경기도 안양시청장"  # type: ignore[union-attr]
    assert fmt.parse("광주광역시 중앙대로 271") is None
    assert fmt.parse("구창장") is None  # a suffix alone is no issuer
    assert fmt.parse("123 구청3") is None


def test_issuer_under_its_seal_is_completed() -> None:
    fmt = builtin_specs()["kr-rrc"].field("issuer").format
    for read, truth in [
        ("경기도 부천시쟁2)", "경기도 부천시장"),  # last syllable misread, marks after it
        ("충청남도 아산시3", "충청남도 아산시장"),
        ("서울특별시 송파구청", "서울특별시 송파구청장"),  # last syllable lost
        ("강원특별자치도 평창군4", "강원특별자치도 평창군수"),
        ("15546「 경기도 수원시 팔달구청장", "경기도 수원시 팔달구청장"),  # a serial number before it
        ("서울특별시 서초구정", "서울특별시 서초구청장"),  # the next to last misread, the last lost
        ("서울특별시 중구정쏸", "서울특별시 중구청장"),  # a one-syllable district
        ("서울특별시 노원구청챰운", "서울특별시 노원구청장"),
    ]:
        parsed = fmt.parse(read)
        assert parsed is not None and parsed.value == truth, read
    for other in [
        "경기도 수원시",
        "경기도 부천시 중동",
        "이름 박시후",
        "서울 김시우",
        "김시우",
        "서울특별시 노원구",
    ]:
        assert fmt.parse(other) is None, other  # a place name, an address, a name with 시 in it


@pytest.mark.parametrize(
    ("viz", "mrz", "spelt"),
    [
        ("STRÖM", "STROM", "STRÖM"),  # agreeing: the printed accent stays
        ("CONTT", "CONTI", "CONTI"),  # a misread letter: the MRZ's
        ("MÜLLER-LÜDENSCHEIDX", "MULLER LUDENSCHEIDT", "MÜLLER-LÜDENSCHEIDT"),
        ("OSHUA STEPHANIE", "JOSHUA STEPHANIE", "JOSHUA STEPHANIE"),  # a lost first letter
        ("LLEA LNDN", "GARCIA", "GARCIA"),
    ],
)
def test_a_name_is_spelt_with_the_mrz_letters_and_the_printed_accents(viz: str, mrz: str, spelt: str) -> None:
    assert mrz_spelling(viz, mrz) == spelt


@given(
    st.text(alphabet="ABCÉÖØ -'", min_size=1, max_size=12),
    st.text(alphabet="ABCEO ", min_size=1, max_size=12).map(lambda t: " ".join(t.split())),
)
def test_the_spelling_always_reads_as_the_mrz_name(viz: str, mrz: str) -> None:
    assert mrz_name_form(mrz_spelling(viz, mrz)) == mrz_name_form(mrz)


def test_a_closed_first_word_list_puts_a_misread_province_right() -> None:
    from idsight.ocr.cleanup.lexicon import snap_first_word

    provinces = frozenset(
        ["서울특별시", "경기도", "강원도", "세종특별자치시", "제주특별자치도", "전북특별자치도"]
    )
    assert snap_first_word("서울울별시 노원구청장", provinces) == "서울특별시 노원구청장"
    assert snap_first_word("서특별시 광진구청장", provinces) == "서울특별시 광진구청장"
    assert snap_first_word("경기도광명시 종로 257", provinces) == "경기도 광명시 종로 257"
    assert snap_first_word("경기 수원시", provinces) == "경기 수원시"  # too short to tell
    assert snap_first_word("제북특별자치도 전주시", provinces) == "제북특별자치도 전주시"  # a tie: left alone
    assert snap_first_word("평화로 170", provinces) == "평화로 170"  # nothing near
    spec = builtin_specs()["kr-rrc"]
    assert spec.field("issuer").first_word is not None and "서울특별시" in spec.field("issuer").first_word


def test_an_address_note_is_finished_after_its_lines_are_joined() -> None:
    spec = builtin_specs()["kr-rrc"]
    lines = [
        TextLine("주민등록증", (40, 20, 300, 60)),
        TextLine("홍길동", (40, 80, 200, 110), 0.95),
        TextLine("900101-1234568", (40, 120, 300, 150), 0.95),
        TextLine("서울특별시 노원구 충렬로 157", (40, 160, 500, 190), 0.95),
        TextLine("109동 301호 (광안동 대림아파트", (40, 195, 400, 225), 0.95),  # its ) lost
    ]
    address = assign(lines, spec).fields["address"]
    assert address.value == "서울특별시 노원구 충렬로 157 109동 301호 (광안동, 대림아파트)"
    fmt = spec.field("address").format
    assert (
        fmt.finish("서울특별시 중구 대덕대로 84 (공덕동 극동아파트")
        == "서울특별시 중구 대덕대로 84 (공덕동, 극동아파트)"
    )  # type: ignore[attr-defined]
    assert fmt.finish("경기도 파주시 테헤란로44길 143 (신림동)") == "경기도 파주시 테헤란로44길 143 (신림동)"  # type: ignore[attr-defined]
    assert fmt.finish("강남구 역삼로 5 (역삼동 123-4)") == "강남구 역삼로 5 (역삼동 123-4)"  # type: ignore[attr-defined]
    assert fmt.finish("부산광역시 사하구 서초대로 2/8") == "부산광역시 사하구 서초대로 278"  # type: ignore[attr-defined]
