"""Tests of the LM cleanup stage (idsight.ocr.cleanup)."""

from __future__ import annotations

import datetime as dt
import json
import math
import string

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mrz.checker.td1 import TD1CodeChecker

from idsight.errors import UnknownNameError
from idsight.icao import mrz_check_digit, rrn_check_digit
from idsight.ocr.cleanup import CLEANUPS, CharNgram, CleanupConfig, build_models, clean_card, load_lexicon
from idsight.ocr.cleanup.codes import icao_codes, snap_code
from idsight.ocr.cleanup.dates import parse_dmy, parse_ymd
from idsight.ocr.cleanup.lexicon import jamo_distance
from idsight.ocr.cleanup.seq import Slot, slots_from_text, text_of
from idsight.ocr.types import CharRead, LineRead

TODAY = dt.date(2025, 6, 1)
CFG = CleanupConfig(today=TODAY)
LISTS = {
    "ko_surnames": ("김", "이", "박", "최", "정", "홍", "남궁"),
    "ko_given_names": ("길동", "민준", "서연", "영희", "철수"),
    "ko_regions": ("서울특별시 종로구", "서울특별시 중구", "부산광역시 해운대구", "경기도 수원시"),
    "ko_roads": ("세종대로", "종로", "해운대로"),
    "latin_surnames": ("ERIKSSON", "SMITH", "HONG"),
    "latin_given_names": ("ANNA", "MARIA", "IRO", "JOHN"),
}
MODELS = build_models(LISTS)


def line(
    key: str,
    text: str,
    probs: dict[int, float] | None = None,
    alts: dict[int, list[tuple[str, float]]] | None = None,
    *,
    p: float = 0.99,
    box: list[float] | None = None,
) -> LineRead:
    """A LineRead of ``text``: every char has prob ``p`` unless ``probs[i]``; ``alts[i]`` top-k."""
    probs, alts = probs or {}, alts or {}
    chars = [
        CharRead(c, probs.get(i, p), alts.get(i, [(c, probs.get(i, p))]), i * 10.0, i * 10.0 + 9)
        for i, c in enumerate(text)
    ]
    return LineRead(key, text, min((ch.prob for ch in chars), default=0.0), chars, box or [0, 0, 10, 10])


def run(template: str, lines: dict[str, LineRead], **kw):
    return clean_card(template, lines, config=kw.pop("config", CFG), models=MODELS, **kw)


def assert_chain(res, raw: dict[str, str], final: dict[str, str]) -> None:
    """The corrections of each field lead exactly from its raw read to its final printed text."""
    for name, start in raw.items():
        cur = start
        for c in (c for c in res.corrections if c["field"] == name):
            assert c["from"] == cur and c["to"] != c["from"] and c["reason"]
            cur = c["to"]
        assert cur == final[name], name
    assert {c["field"] for c in res.corrections} <= set(raw)


# -- td1 fixtures ------------------------------------------------------------------------------


def make_mrz(
    doc="D23145890",
    dob="850315",
    sex="M",
    exp="300101",
    nat="UTO",
    state="UTO",
    surname="ERIKSSON",
    given_names="ANNA MARIA",
    opt1="",
    opt2="",
) -> list[str]:
    l1 = f"ID{state}{doc}{mrz_check_digit(doc)}{opt1}".ljust(30, "<")
    l2 = f"{dob}{mrz_check_digit(dob)}{sex}{exp}{mrz_check_digit(exp)}{nat}{opt2}".ljust(29, "<")
    l2 += mrz_check_digit(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29])
    l3 = (surname.replace(" ", "<") + "<<" + given_names.replace(" ", "<")).ljust(30, "<")[:30]
    return [l1, l2, l3]


def td1_lines(mrz: list[str] | None = None, **viz: str) -> dict[str, LineRead]:
    values = {
        "document_number": "D23145890",
        "surname": "ERIKSSON",
        "given_names": "ANNA MARIA",
        "sex": "M",
        "nationality": "UTO",
        "date_of_birth": "15 03 1985",
        "date_of_expiry": "01 01 2030",
        **viz,
    }
    out = {k: line(k, v) for k, v in values.items() if v is not None}
    for i, text in enumerate(mrz or make_mrz()):
        out[f"mrz_{i + 1}"] = line(f"mrz_{i + 1}", text)
    return out


def mrz_pkg_ok(text: str) -> bool:
    """All four check digits valid according to the independent ``mrz`` package."""
    c = TD1CodeChecker(text)
    return all((c.document_number_hash, c.birth_date_hash, c.expiry_date_hash, c.final_hash))


def test_make_mrz_agrees_with_mrz_package():
    assert bool(TD1CodeChecker("\n".join(make_mrz())))
    assert mrz_pkg_ok("\n".join(make_mrz()))
    bad = make_mrz()
    assert not mrz_pkg_ok("\n".join([bad[0], bad[1][:5] + "6" + bad[1][6:], bad[2]]))


def test_valid_td1_untouched():
    res = run("td1", td1_lines())
    assert res.corrections == []
    assert res.checks["mrz"] == dict.fromkeys(
        ("document_number", "date_of_birth", "date_of_expiry", "composite"), True
    )
    assert set(res.checks["cross_check"].values()) == {"match"}
    assert res.fields["date_of_birth"].text == "1985-03-15"
    assert res.fields["mrz"].text == "\n".join(make_mrz())
    json.dumps(res.checks)


def test_latin_name_confusion_1R0():
    res = run("td1", td1_lines(given_names="1R0"), config=CleanupConfig(today=TODAY, cross_max_edit=0))
    assert res.fields["given_names"].text.startswith("IRO")
    assert res.corrections[0] == {"field": "given_names", "from": "1R0", "to": "IRO", "reason": "confusion"}


def test_mrz_corrupted_dob_digit_fixed_from_alternatives():
    mrz = make_mrz()
    bad = mrz[1][:5] + "6" + mrz[1][6:]  # 850316: DOB check fails
    lines = {f"mrz_{i + 1}": line(f"mrz_{i + 1}", t) for i, t in enumerate([mrz[0], bad, mrz[2]])}
    lines["mrz_2"] = line("mrz_2", bad, {5: 0.45}, {5: [("6", 0.45), ("5", 0.40), ("8", 0.1)]})
    res = run("td1", lines)
    assert res.fields["mrz"].text == "\n".join(mrz)
    assert mrz_pkg_ok(res.fields["mrz"].text)
    assert all(res.checks["mrz"].values())
    fixes = [c for c in res.corrections if c["field"] == "mrz"]
    assert [c["reason"] for c in fixes] == ["mrz_check_digit"]
    assert fixes[0]["to"] == "\n".join(mrz)


def test_mrz_document_number_fixed_picks_most_probable():
    mrz = make_mrz()
    bad = mrz[0][:8] + "I" + mrz[0][9:]  # D23I45890
    lines = {f"mrz_{i + 1}": line(f"mrz_{i + 1}", t) for i, t in enumerate([bad, mrz[1], mrz[2]])}
    lines["mrz_1"] = line("mrz_1", bad, {8: 0.55}, {8: [("I", 0.55), ("1", 0.4), ("T", 0.05)]})
    res = run("td1", lines)
    assert res.fields["mrz"].text.split("\n")[0] == mrz[0]
    assert res.checks["mrz"]["document_number"] and res.checks["mrz"]["composite"]


def test_mrz_composite_fixed_in_optional_data():
    mrz = make_mrz(opt2="AB1")
    bad = mrz[1][:19] + "8" + mrz[1][20:]  # optional data B -> 8 (mixed position: no positional fix)
    lines = td1_lines([mrz[0], mrz[1], mrz[2]])
    lines["mrz_2"] = line("mrz_2", bad, {19: 0.6}, {19: [("8", 0.6), ("B", 0.3), ("3", 0.05)]})
    res = run("td1", lines)
    assert res.fields["mrz"].text == "\n".join(mrz) and all(res.checks["mrz"].values())
    assert [c["reason"] for c in res.corrections] == ["mrz_check_digit"]


def test_mrz_fixed_from_viz_hint():
    mrz = make_mrz()
    bad = mrz[1][:3] + "4" + mrz[1][4:]  # 850415, no alternatives
    res = run("td1", td1_lines([mrz[0], bad, mrz[2]]))
    assert res.fields["mrz"].text == "\n".join(mrz)
    assert [c["reason"] for c in res.corrections] == ["mrz_check_digit_viz"]


def test_mrz_positional_confusions_and_layout():
    mrz = make_mrz()
    l1 = mrz[0].replace("<", "", 2)  # 28 chars: padded back
    l2 = mrz[1][:2] + "O" + mrz[1][3:15] + "UT0" + mrz[1][18:]  # O in DOB, 0 in nationality
    l3 = "ER1KSSON<<ANNA MARIA<<<<<<<<<<"  # 1 in the name area and a stray space
    res = run("td1", td1_lines([l1, l2, l3]))
    assert res.fields["mrz"].text == "\n".join(mrz)
    assert res.checks["mrz_layout"]["mrz_1"] == "padded"
    assert all(res.checks["mrz"].values())
    assert [c["reason"] for c in res.corrections] == ["mrz_charset", "mrz_length", "mrz_confusion"]
    assert_chain(res, {"mrz": "\n".join([l1, l2, l3])}, {"mrz": "\n".join(mrz)})


def test_mrz_line_with_a_lost_or_doubled_character_is_mended():
    mrz = make_mrz(dob="100308", exp="350206", state="ISL", nat="ISL", doc="UG8752897")
    l2_short = mrz[1].replace("100308", "I0308", 1)  # CTC collapsed the doubled 0; I for 1
    res = run("td1", td1_lines([mrz[0][1:], l2_short, mrz[2]], date_of_birth="08 03 2010"))
    assert res.fields["mrz"].text == "\n".join(mrz)  # and line 1 got its lost document code back
    assert res.checks["mrz_layout"]["mrz_1"] == res.checks["mrz_layout"]["mrz_2"] == "repaired"
    assert all(res.checks["mrz"].values())
    res = run("td1", td1_lines(["DISLUG87528972<<<<<<<<<<<<<<<", *mrz[1:]], date_of_birth="08 03 2010"))
    assert res.fields["mrz"].text.startswith("IDISLUG87528972<")  # ID, not AD or CD
    l2_long = mrz[1].replace("350206", "3550206", 1)  # a 5 read twice
    res = run("td1", td1_lines([mrz[0], l2_long, mrz[2]], date_of_birth="08 03 2010"))
    assert res.fields["mrz"].text == "\n".join(mrz) and res.checks["mrz_layout"]["mrz_2"] == "repaired"
    # a lost filler is plain padding, not a repair
    res = run("td1", td1_lines([mrz[0][:-1], mrz[1], mrz[2]], date_of_birth="08 03 2010"))
    assert res.fields["mrz"].text == "\n".join(mrz) and res.checks["mrz_layout"]["mrz_1"] == "padded"


def test_viz_corrected_from_valid_mrz():
    lines = td1_lines(date_of_birth="15 08 1985", document_number="D23145B90")
    lines["surname"] = line("surname", "ERIKSBON", {6: 0.4})
    res = run("td1", lines)
    cc = res.checks["cross_check"]
    assert cc["date_of_birth"] == "corrected" and cc["document_number"] == "corrected"
    assert cc["surname"] == "corrected" and cc["given_names"] == "match"
    assert res.checks["viz_mrz_merged"] == []  # B and S equally sure: the merge leaves both
    assert res.fields["date_of_birth"].text == "1985-03-15"
    assert res.fields["document_number"].text == "D23145890"
    assert res.fields["surname"].text == "ERIKSSON"
    assert_chain(
        res,
        {"date_of_birth": "15 08 1985", "document_number": "D23145B90", "surname": "ERIKSBON"},
        {"date_of_birth": "15 03 1985", "document_number": "D23145890", "surname": "ERIKSSON"},
    )


def test_impossible_viz_century_is_corrected_from_the_mrz():
    # 1085 for 1985: the YYMMDD agrees with the MRZ, but no holder was born in 1085
    res = run("td1", td1_lines(date_of_birth="15 03 1085"))
    assert res.checks["cross_check"]["date_of_birth"] == "corrected"
    assert res.fields["date_of_birth"].text == "1985-03-15"
    res = run("td1", td1_lines(date_of_expiry="01 01 2930"))  # too far in the future
    assert res.checks["cross_check"]["date_of_expiry"] == "corrected"
    assert res.fields["date_of_expiry"].text == "2030-01-01"


def test_failing_mrz_prefers_viz():
    mrz = make_mrz()
    bad = mrz[1][:5] + "9" + mrz[1][6:]  # DOB 850319, confident, no alternatives
    # the VIZ date is too far from the MRZ to repair it (> 2 digits differ)
    res = run("td1", td1_lines([mrz[0], bad, mrz[2]], date_of_birth="25 07 1986"))
    assert not res.checks["mrz"]["date_of_birth"]
    assert res.checks["cross_check"]["date_of_birth"] == "mismatch"
    assert res.fields["date_of_birth"].text == "1986-07-25"
    assert res.fields["mrz"].confidence < 0.99 * 0.6
    assert res.corrections == []


def test_truncated_mrz_names_compare_as_prefix():
    mrz = make_mrz(surname="WOLFESCHLEGELSTEINHAUSEN", given_names="HUBERT BLAINE")
    res = run("td1", td1_lines(mrz, surname="WOLFESCHLEGELSTEINHAUSEN", given_names="HUBERT BLAINE"))
    assert res.checks["cross_check"]["given_names"] == "match"
    assert res.corrections == []


def test_sex_and_nationality_formats():
    res = run(
        "td1", td1_lines(sex="x", nationality="UT0"), config=CleanupConfig(today=TODAY, cross_max_edit=0)
    )
    assert res.fields["nationality"].text == "UTO" and res.checks["format"]["nationality"]
    assert res.fields["sex"].text == "X" and res.checks["format"]["sex"]
    assert res.checks["cross_check"]["sex"] == "mismatch"  # MRZ says M, VIZ confidently X
    res = run("td1", td1_lines(nationality="UT"))
    assert (
        res.checks["format"]["nationality"] is False
        or res.checks["cross_check"]["nationality"] == "corrected"
    )


def test_td1_document_code_is_a_c_or_i():
    mrz = make_mrz()
    res = run("td1", td1_lines(["T" + mrz[0][1:], mrz[1], mrz[2]]))  # I misread as T
    assert res.fields["mrz"].text == "\n".join(mrz)
    lines = td1_lines(["L" + mrz[0][1:], mrz[1], mrz[2]])
    lines["mrz_1"] = line("mrz_1", "L" + mrz[0][1:], {0: 0.5}, {0: [("L", 0.5), ("C", 0.3), ("I", 0.1)]})
    assert run("td1", lines).fields["mrz"].text.startswith("C")  # the recogniser's own second choice
    assert mrz_pkg_ok(res.fields["mrz"].text)


def test_country_codes_snap_to_icao_codes():
    mrz = make_mrz(nat="SWE", state="SWE")
    l2 = mrz[1][:15] + "SWF" + mrz[1][18:]  # E misread as F: no code SWF
    l1 = mrz[0][:2] + "GWE" + mrz[0][5:]  # S misread as G
    lines = td1_lines([l1, l2, mrz[2]], nationality="SWF")
    lines["nationality"] = line("nationality", "SWF", {2: 0.6}, {2: [("F", 0.6), ("E", 0.3)]})
    lines["mrz_1"] = line("mrz_1", l1, {2: 0.5}, {2: [("G", 0.5), ("S", 0.2)]})
    lines["mrz_2"] = line("mrz_2", l2, {17: 0.7}, {17: [("F", 0.7), ("E", 0.2)]})
    res = run("td1", lines, config=CleanupConfig(today=TODAY, cross_max_edit=0))
    assert res.fields["nationality"].text == "SWE"
    assert res.fields["mrz"].text == "\n".join(mrz)
    assert {"country_code"} <= {c["reason"] for c in res.corrections}
    assert snap_code(slots_from_text("SWE")) is None  # valid: untouched
    assert snap_code(slots_from_text("QQQ", 0.5)) is None  # nothing one letter away
    assert snap_code(slots_from_text("SWF", 0.99)) is None  # a sure read of an unlisted code is kept
    assert snap_code(slots_from_text("SWF", 0.5)) is None  # SWE or SWZ, and nothing to choose by
    unsure = [*slots_from_text("SW", 0.9), Slot("F", 0.5, [("F", 0.5), ("Z", 0.1)])]
    assert text_of(snap_code(unsure) or []) == "SWZ"  # the recogniser's own alternative decides
    assert "D<<" in icao_codes() and "UTO" in icao_codes() and len(icao_codes()) > 200


def test_viz_and_mrz_merge_characters_by_confidence():
    mrz = make_mrz()
    l3 = mrz[2].replace("MARIA", "MARLA")
    lines = td1_lines([mrz[0], mrz[1], l3])
    lines["mrz_3"] = line("mrz_3", l3, {18: 0.4}, {18: [("L", 0.4), ("I", 0.35)]})
    lines["surname"] = line("surname", "ERIKSBON", {5: 0.3})
    res = run("td1", lines, config=CleanupConfig(today=TODAY, cross_max_edit=0, cross_low_conf=0.0))
    assert res.fields["mrz"].text == "\n".join(mrz)  # the VIZ was surer of the I
    assert res.fields["surname"].text == "ERIKSSON"  # the MRZ was surer of the S
    assert res.checks["viz_mrz_merged"] == ["names"]
    assert {c["reason"] for c in res.corrections} == {"viz_mrz_merge"}
    # a character missed on one side puts the words out of step: nothing is merged
    res = run("td1", td1_lines(given_names="ANNA MRIA"), config=CleanupConfig(today=TODAY, cross_max_edit=0))
    assert res.checks["viz_mrz_merged"] == [] and res.fields["mrz"].text == "\n".join(mrz)


def test_document_number_merge_keeps_the_check_digits():
    mrz = make_mrz(doc="AG1234567")
    bad = mrz[0][:6] + "Q" + mrz[0][7:]  # G and Q differ by 10 in value: the check digits cannot tell
    lines = td1_lines([bad, mrz[1], mrz[2]], document_number="AG1234567")
    lines["mrz_1"] = line("mrz_1", bad, {6: 0.5}, {6: [("Q", 0.5), ("G", 0.4)]})
    res = run("td1", lines)
    assert mrz_pkg_ok("\n".join([bad, mrz[1], mrz[2]]))  # the misread passes every check
    assert res.fields["mrz"].text == "\n".join(mrz) and res.checks["viz_mrz_merged"] == ["document_number"]
    # a VIZ reading that would break the check digit is not merged into the MRZ
    lines = td1_lines(document_number="D23145B90")
    lines["mrz_1"] = line("mrz_1", make_mrz()[0], {12: 0.5})
    res = run("td1", lines)
    assert (
        res.fields["mrz"].text == "\n".join(make_mrz())
        and "document_number" not in res.checks["viz_mrz_merged"]
    )


def test_mrz_line_out_of_step_does_not_overwrite_the_viz():
    mrz = make_mrz()
    l2 = mrz[1][:7] + "2" + mrz[1][8:]  # a digit where the sex should be: the line is misread
    lines = td1_lines([mrz[0], l2, mrz[2]])
    lines["sex"] = line("sex", "M", p=0.5)
    res = run("td1", lines)
    assert res.fields["sex"].text == "M"


def test_check_digit_search_ignores_faint_alternatives():
    mrz = make_mrz()
    bad = mrz[1][:5] + "6" + mrz[1][6:]  # DOB 850316: the check fails; 5 only a faint alternative
    lines = td1_lines([mrz[0], bad, mrz[2]], date_of_birth=None)
    lines["mrz_2"] = line("mrz_2", bad, {5: 0.9}, {5: [("6", 0.9), ("5", 0.02)]})
    res = run("td1", lines)
    assert not res.checks["mrz"]["date_of_birth"] and res.fields["mrz"].text.split("\n")[1] == bad
    lines["mrz_2"] = line("mrz_2", bad, {5: 0.6}, {5: [("6", 0.6), ("5", 0.3)]})
    assert run("td1", lines).checks["mrz"]["date_of_birth"]


alnum = st.text(string.ascii_uppercase + string.digits, min_size=9, max_size=9)
name = st.text(string.ascii_uppercase, min_size=1, max_size=8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    doc=alnum,
    dob=st.dates(dt.date(1930, 1, 1), TODAY),
    years=st.integers(1, 40),
    sex=st.sampled_from("MF<"),
    nat=st.text(string.ascii_uppercase, min_size=3, max_size=3),
    surname=name,
    given=st.lists(name, min_size=1, max_size=2),
    opt=st.text(string.ascii_uppercase + string.digits + "<", max_size=11),
)
@example(  # the latest expiry a card can have: today + 50 years still agrees with the MRZ
    doc="000000000", dob=dt.date(2016, 1, 1), years=40, sex="M", nat="AAA", surname="A", given=["A"], opt=""
)
def test_property_valid_td1_is_identity(doc, dob, years, sex, nat, surname, given, opt):
    # a card expires after the holder's birth and at most 50 years from now (later is impossible)
    exp = dt.date(min(dob.year + years + 20, TODAY.year + 50), dob.month, min(dob.day, 28))
    given_names = " ".join(given)
    mrz = make_mrz(
        doc=doc,
        dob=dob.strftime("%y%m%d"),
        sex=sex,
        exp=exp.strftime("%y%m%d"),
        nat=nat,
        surname=surname,
        given_names=given_names,
        opt2=opt,
    )
    assert mrz_pkg_ok("\n".join(mrz))
    lines = td1_lines(
        mrz,
        document_number=doc,
        surname=surname,
        given_names=given_names,
        sex="X" if sex == "<" else sex,
        nationality=nat,
        date_of_birth=dob.strftime("%d %m %Y"),
        date_of_expiry=exp.strftime("%d %m %Y"),
    )
    res = run("td1", lines)
    assert res.corrections == []
    assert all(res.checks["mrz"].values())
    assert set(res.checks["cross_check"].values()) == {"match"}
    assert all(res.checks["dates"].values()) and all(res.checks["format"].values())
    assert res.fields["mrz"].text == "\n".join(mrz)
    assert res.fields["date_of_birth"].text == dob.isoformat()
    assert res.fields["given_names"].text == given_names


def _corrupt(text: str, data: st.DataObject, pool: str) -> LineRead:
    probs, alts, chars = {}, {}, list(text)
    for i in data.draw(st.lists(st.integers(0, max(len(text) - 1, 0)), max_size=3)) if text else []:
        wrong = data.draw(st.sampled_from(pool))
        p = data.draw(st.floats(0.2, 0.99))
        alts[i] = [(wrong, p), (text[i], (1 - p) * 0.9), ("", (1 - p) * 0.1)]
        probs[i], chars[i] = p, wrong
    return line("x", "".join(chars), probs, alts)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(), template=st.sampled_from(["td1", "kr-rrc"]), drop=st.sets(st.integers(0, 9), max_size=2)
)
def test_property_noisy_cards_are_consistent(data, template, drop):
    """Random misreads: never crashes, checks are JSON, confidences in [0, 1] and the corrections
    chain from each field's raw read to its final text."""
    if template == "td1":
        clean = {k: v.text for k, v in td1_lines().items()}
        pool = string.ascii_uppercase + string.digits + "< "
    else:
        clean = {k: v.text for k, v in kr_lines().items()}
        pool = "0123456789OIlSB-. 김이박길동갈서울종로구청장"
    keys = sorted(clean)
    lines = {k: _corrupt(clean[k], data, pool) for i, k in enumerate(keys) if i not in drop}
    for k, v in lines.items():
        v.key = k
    res = run(template, lines)
    json.dumps(res.checks)
    assert all(0.0 <= f.confidence <= 1.0 for f in res.fields.values())
    from idsight.templates import get_template

    for spec in get_template(template).fields:
        raw = spec.joiner.join(lines[k].text for k in spec.lines if k in lines)
        if spec.kind == "mrz":
            raw = "\n".join(lines[k].text if k in lines else "" for k in spec.lines)
        cur = raw
        for c in (c for c in res.corrections if c["field"] == spec.name):
            assert c["from"] == cur and c["to"] != cur
            cur = c["to"]
        value = res.fields[spec.name].text
        if spec.kind in ("date_kr", "date_dmy") and value != cur:
            assert (parse_ymd if spec.kind == "date_kr" else parse_dmy)(cur).isoformat() == value
        else:
            assert cur == value


# -- kr-rrc ------------------------------------------------------------------------------------


def rrn_with_check(first12: str) -> str:
    return f"{first12[:6]}-{first12[6:]}{rrn_check_digit(first12)}"


def kr_lines(**over: LineRead | str) -> dict[str, LineRead]:
    base = {
        "name": "홍길동",
        "rrn": rrn_with_check("850315123456"),
        "address_1": "서울특별시 종로구 세종대로 209",
        "issue_date": "2024. 1. 31.",
        "issuer": "서울특별시 종로구청장",
        **over,
    }
    return {k: v if isinstance(v, LineRead) else line(k, v) for k, v in base.items()}


def test_kr_valid_untouched():
    res = run("kr-rrc", kr_lines())
    assert res.corrections == []
    assert res.checks["rrn"] == {"format": True, "date_valid": True, "check_digit": True}
    assert res.fields["issue_date"].text == "2024-01-31"
    assert res.checks["lexicon"]["issuer"] is True


def test_rrn_post_2020_invalid_check_digit_kept():
    good = rrn_with_check("210315312345")
    bad = good[:-1] + str((int(good[-1]) + 3) % 10)
    res = run("kr-rrc", kr_lines(rrn=line("rrn", bad, alts={9: [("3", 0.99), ("8", 0.01)]})))
    assert res.fields["rrn"].text == bad
    assert res.checks["rrn"] == {"format": True, "date_valid": True, "check_digit": False}
    assert res.corrections == []


def test_rrn_low_confidence_digit_corrected_by_check():
    good = rrn_with_check("850315123456")
    wrong = "7" if good[10] != "7" else "1"
    bad = good[:10] + wrong + good[11:]
    lr = line("rrn", bad, {10: 0.5}, {10: [(wrong, 0.5), (good[10], 0.45)]})
    res = run("kr-rrc", kr_lines(rrn=lr))
    assert res.fields["rrn"].text == good
    assert res.corrections == [{"field": "rrn", "from": bad, "to": good, "reason": "rrn_check_digit"}]
    # the same alternative with little probability: kept
    lr = line("rrn", bad, {10: 0.5}, {10: [(wrong, 0.5), (good[10], 0.1)]})
    assert run("kr-rrc", kr_lines(rrn=lr)).fields["rrn"].text == bad


def test_rrn_dash_and_confusions():
    good = rrn_with_check("850315123456")
    raw = good.replace("-", "").replace("0", "O", 1)
    res = run("kr-rrc", kr_lines(rrn=raw))
    assert res.fields["rrn"].text == good
    assert [c["reason"] for c in res.corrections] == ["format", "confusion"]
    assert_chain(res, {"rrn": raw}, {"rrn": good})
    doubled = good[:6] + "--" + good[7:]
    res = run("kr-rrc", kr_lines(rrn=doubled))
    assert res.fields["rrn"].text == good and res.checks["rrn"]["format"]
    assert [c["reason"] for c in res.corrections] == ["format"]
    res = run("kr-rrc", kr_lines(rrn="851315-1234567"))
    assert res.checks["rrn"]["date_valid"] is False and res.fields["rrn"].confidence < 0.6


def test_rrn_impossible_birth_date_uses_an_alternative():
    bad = "751425-1907852"  # month 14; the check digit does not hold either way (post-2020 style)
    lr = line("rrn", bad, {3: 0.4}, {3: [("4", 0.4), ("1", 0.1), ("7", 0.05)]})
    res = run("kr-rrc", kr_lines(rrn=lr))
    assert res.fields["rrn"].text == "751125-1907852" and res.checks["rrn"]["date_valid"]
    assert res.corrections[-1]["reason"] == "rrn_date"
    # a confident digit is not changed
    lr = line("rrn", bad, {3: 0.95}, {3: [("4", 0.95), ("1", 0.04)]})
    assert run("kr-rrc", kr_lines(rrn=lr)).fields["rrn"].text == bad


def test_rrn_digit_read_twice_is_dropped():
    good = rrn_with_check("950927136056")
    res = run("kr-rrc", kr_lines(rrn=good[:8] + good[7:]))  # the first digit after the dash doubled
    assert res.fields["rrn"].text == good and res.checks["rrn"]["check_digit"]
    res = run("kr-rrc", kr_lines(rrn=good[:1] + good))  # the first digit doubled
    assert res.fields["rrn"].text == good
    # one digit too many but no doubled pair: left as read, and flagged
    extra = "850315-12734571"  # from 850315-1234571, which has no doubled digit
    res = run("kr-rrc", kr_lines(rrn=extra))
    assert res.fields["rrn"].text == extra and not res.checks["rrn"]["format"]


@pytest.mark.parametrize(
    "text",
    [
        "2024. 1. 31.",
        "2024.1.31",
        "2024. 01. 31",
        "2024 1 31",
        "20240131",
        "2024. 131.",
        " 2024 .1 .31 .",
        "20 24. 1. 31.",
        "2024. 1. 3 1.",
    ],
)
def test_parse_kr_dates(text):
    assert parse_ymd(text) == dt.date(2024, 1, 31)


@pytest.mark.parametrize("text", ["15 03 1985", "15.03.1985", "1503 1985", "15031985", "15 3 1985"])
def test_parse_dmy_dates(text):
    assert parse_dmy(text) == dt.date(1985, 3, 15)


def test_dates_validation():
    res = run("kr-rrc", kr_lines(issue_date="2O24. 1. 3I."))
    assert res.fields["issue_date"].text == "2024-01-31" and res.checks["dates"]["issue_date"]
    res = run("kr-rrc", kr_lines(issue_date="2024. 2. 30."))
    assert res.fields["issue_date"].text == "2024. 2. 30." and not res.checks["dates"]["issue_date"]
    res = run("kr-rrc", kr_lines(issue_date="2030. 1. 1."))  # in the future
    assert res.fields["issue_date"].text == "2030-01-01" and not res.checks["dates"]["issue_date"]
    res = run("kr-rrc", kr_lines(issue_date="발급일"))
    assert res.fields["issue_date"].text == "발급일" and not res.checks["dates"]["issue_date"]
    lines = {k: v for k, v in td1_lines(date_of_expiry="01 01 1980").items() if not k.startswith("mrz")}
    res = run("td1", lines)  # no MRZ to correct it from
    assert not res.checks["dates"]["date_of_expiry"] and res.checks["dates"]["date_of_birth"]
    assert res.checks["mrz"]["composite"] is False and res.checks["cross_check"] == {}


def test_address_lines_joined_and_box_union():
    lines = kr_lines()
    lines["address_1"] = line("address_1", "서울특별시 종로구", box=[10, 20, 100, 40])
    lines["address_2"] = line("address_2", "세종대로  209", box=[5, 45, 90, 60])
    res = run("kr-rrc", lines)
    assert res.fields["address"].text == "서울특별시 종로구 세종대로 209"
    assert res.fields["address"].box == [5, 20, 100, 60]
    assert_chain(res, {"address": "서울특별시 종로구 세종대로  209"}, {"address": res.fields["address"].text})


def test_missing_required_line():
    lines = kr_lines()
    del lines["issuer"]
    res = run("kr-rrc", lines)
    assert res.fields["issuer"].text == "" and res.fields["issuer"].confidence == 0.0


# -- language model ----------------------------------------------------------------------------


@pytest.mark.parametrize("smoothing", ["kn", "addk"])
def test_char_ngram_normalised(smoothing):
    lm = CharNgram.from_words(["ANNA", "MARIA", "ANA", "JOHN"], order=3, smoothing=smoothing)
    for ctx in ("", "AN", "ZZ", "MAR"):
        total = sum(math.exp(lm.logprob(c, ctx)) for c in [*lm.vocab, "\x03", "?"])
        assert total == pytest.approx(1.0, abs=1e-9)
    assert lm.score("ANNA") > lm.score("ANQA")


def test_lm_beam_fixes_low_confidence_hangul():
    lr = line("name", "홍갈동", {1: 0.5}, {1: [("갈", 0.5), ("길", 0.45)]})
    res = run("kr-rrc", kr_lines(name=lr))
    assert res.fields["name"].text == "홍길동"
    assert res.corrections == [{"field": "name", "from": "홍갈동", "to": "홍길동", "reason": "lm"}]
    # confident chars are never changed by the LM
    lr = line("name", "홍갈동", {1: 0.95}, {1: [("갈", 0.95), ("길", 0.04)]})
    assert run("kr-rrc", kr_lines(name=lr)).fields["name"].text == "홍갈동"


def test_explicit_lm_overrides_lexicon():
    lm = CharNgram.from_words(["JOHN"])
    lr = line("given_names", "J0HM", {3: 0.5}, {3: [("M", 0.5), ("N", 0.45)]})
    res = clean_card("td1", {"given_names": lr}, lm=lm, config=CFG, models=MODELS)
    assert res.fields["given_names"].text == "JOHN"
    assert [c["reason"] for c in res.corrections] == ["confusion", "lm"]
    assert res.checks["cross_check"] == {}  # no MRZ lines


def test_surname_snapping():
    assert jamo_distance("긴", "김") == 1
    res = run("kr-rrc", kr_lines(name=line("name", "긴민준", {0: 0.6}, {0: [("긴", 0.6)]})))
    assert res.fields["name"].text == "김민준"
    assert res.corrections[-1]["reason"] == "lexicon"
    res = run("kr-rrc", kr_lines(name=line("name", "긴민준", {0: 0.97})))  # confident: kept
    assert res.fields["name"].text == "긴민준"


def test_issuer_snapping():
    res = run("kr-rrc", kr_lines(issuer=line("issuer", "서울특별시 종로구청잠", {10: 0.5})))
    assert res.fields["issuer"].text == "서울특별시 종로구청장"
    assert res.checks["lexicon"]["issuer"] is True
    res = run("kr-rrc", kr_lines(issuer="서울특별시 종로구청잠"))  # confident: kept, flagged
    assert res.fields["issuer"].text == "서울특별시 종로구청잠" and res.checks["lexicon"]["issuer"] is False


ADDRESS_MODELS = build_models(
    {
        **LISTS,
        "ko_neighborhoods": ("인계동", "매탄동", "역삼동", "삼성동", "상동"),
        "ko_buildings": ("무지개아파트", "래미안아파트"),
        "ko_roads": ("세종대로", "해운대로", "가산디지털1로"),
    }
)


def run_address(text: str, probs: dict[int, float] | None = None, alts=None) -> tuple[str, list[str]]:
    lines = kr_lines(address_1=line("address_1", text, probs, alts))
    res = clean_card("kr-rrc", lines, config=CFG, models=ADDRESS_MODELS)
    return res.fields["address"].text, [c["reason"] for c in res.corrections if c["field"] == "address"]


def test_address_words_snap_to_the_place_list():
    # one substitution, one dropped syllable (the stem of a side street), a word with a digit
    text = "서울특별시 종로구 해운대로31길 12 (인계동, 유지개아파트)"
    i = text.index("유")
    assert run_address(text, {i: 0.5}) == (text.replace("유지개", "무지개"), ["lexicon"])
    text = "서울특별시 종로구 해운로31길 12"
    assert run_address(text, {text.index("운"): 0.6})[0] == "서울특별시 종로구 해운대로31길 12"
    text = "서울특별시 종로구 가산디지영1로 5"
    assert run_address(text, {text.index("영"): 0.4})[0] == "서울특별시 종로구 가산디지털1로 5"
    # confident reads, numbers and words far from every place are left as read
    assert run_address("서울특별시 종로구 세종대로 209 (유지개아파트)")[0].endswith("(유지개아파트)")
    text = "서울특별시 종로구 세종대로 209 (너구리아파트)"
    assert run_address(text, {text.index("너"): 0.3}) == (text, [])


def test_address_word_ambiguity_needs_the_recogniser():
    text = "서울특별시 종로구 세종대로 209 (한계동)"  # 인계동? 매탄동 is two edits away; one candidate
    i = text.index("한")
    assert run_address(text, {i: 0.5})[0].endswith("(인계동)")
    text = "서울특별시 종로구 세종대로 209 (삼동)"  # 상동 and 삼성동 are both one edit away
    i = text.index("삼")
    assert run_address(text, {i: 0.5}) == (text, [])
    # a substitution the recogniser proposed decides between equally near words
    assert run_address(text, {i: 0.5}, {i: [("삼", 0.5), ("상", 0.3)]})[0].endswith("(상동)")


def test_address_brackets_restored():
    text = "서울특별시 종로구 세종대로 209 101동 1203호 역삼동, 래미안아파트)"
    fixed, reasons = run_address(text)
    assert fixed == "서울특별시 종로구 세종대로 209 101동 1203호 (역삼동, 래미안아파트)"
    assert reasons == ["brackets"]
    assert run_address("서울특별시 종로구 세종대로 209 (역삼동")[0].endswith("(역삼동)")
    no_number = "서울특별시 종로구 세종대로 역삼동)"
    assert run_address(no_number) == (no_number, [])


def test_real_lexicon_files():
    lists = load_lexicon()
    assert "김" in lists["ko_surnames"] and len(lists["ko_roads"]) > 50  # the package files, not the fallback
    res = clean_card("kr-rrc", kr_lines(name=line("name", "긴민준", {0: 0.6})), config=CFG)
    assert res.fields["name"].text == "김민준"
    assert res.checks["lexicon"]["issuer"] is True


# -- component ---------------------------------------------------------------------------------


def test_registry_and_errors():
    assert "default" in CLEANUPS.names()
    cleanup = CLEANUPS.build("default", today=TODAY, models=MODELS)
    res = cleanup("td1", td1_lines())
    assert res.corrections == [] and 0.0 <= min(f.confidence for f in res.fields.values())
    assert all(0.0 <= f.confidence <= 1.0 for f in res.fields.values())
    with pytest.raises(TypeError):
        CLEANUPS.build("default", no_such_option=1)
    with pytest.raises(UnknownNameError):
        clean_card("passport", {})
