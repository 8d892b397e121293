"""Tests of the synthetic card generator (idsight.data.synth) and its lexicon / charset."""

from __future__ import annotations

import datetime as dt
import json
import re

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mrz.checker.td1 import TD1CodeChecker

from idsight.data import charset
from idsight.data.lexicon import load_wordlist
from idsight.data.synth import render_card, render_line_sample, sample_card_values, write_cards
from idsight.data.synth.card import render_canonical
from idsight.data.synth.fonts import HELD_OUT_FAMILIES, korean_faces, latin_faces
from idsight.data.synth.scene import CARD_CORNERS, apply_homography
from idsight.data.synth.td1 import mrz_name_field
from idsight.errors import UnknownNameError
from idsight.icao import rrn_century, rrn_is_valid
from idsight.templates import CARD_SIZE, LINE_KEYS, TEMPLATES

N_VALUES = 300


def _values(template: str, n: int = N_VALUES, seed: int = 0, edge_cases: float = 0.3):
    rng = np.random.default_rng(seed)
    return [sample_card_values(template, rng, edge_cases=edge_cases) for _ in range(n)]


@pytest.fixture(scope="module")
def kr_values():
    return _values("kr-rrc")


@pytest.fixture(scope="module")
def td1_values():
    return _values("td1")


@pytest.fixture(scope="module")
def photo_cards():
    """(template, seed, image, record) for one photo card per template."""
    return [(t, 3, *render_card(t, np.random.default_rng(3), photo=True)) for t in TEMPLATES]


def test_lexicon_lists():
    assert len(load_wordlist("ko_surnames")) >= 60
    assert len(load_wordlist("ko_given_names")) >= 250
    assert len(load_wordlist("latin_surnames")) >= 200
    assert "UTO" in {c.split()[0] for c in load_wordlist("countries")}
    with pytest.raises(UnknownNameError):
        load_wordlist("no-such-list")


def test_charset_file_is_current():
    assert charset.CHARSET == charset.build_charset()
    assert len(set(charset.CHARSET)) == len(charset.CHARSET)
    text = "홍길동 900101-1234567 <<ABC"
    assert charset.decode(charset.encode(text)) == text
    assert min(charset.encode(text)) >= 1
    assert charset.check_text("é가") == {"é"}


def test_charset_covers_printed_lines(kr_values, td1_values):
    for values in kr_values + td1_values:
        for text in values.lines.values():
            assert not charset.check_text(text), text
    rng = np.random.default_rng(1)
    for _ in range(200):
        crop, text, key = render_line_sample(rng)
        assert key in LINE_KEYS and crop.ndim == 3 and crop.dtype == np.uint8 and min(crop.shape[:2]) > 4
        assert not charset.check_text(text), text


def test_td1_mrz_valid(td1_values):
    for values in td1_values:
        mrz = values.fields["mrz"]
        lines = mrz.split("\n")
        assert [len(line) for line in lines] == [30, 30, 30]
        assert lines == [values.lines["mrz_1"], values.lines["mrz_2"], values.lines["mrz_3"]]
        assert TD1CodeChecker(mrz), mrz
        assert lines[1][7] == (values.fields["sex"] if values.fields["sex"] in "MF" else "<")


@settings(max_examples=60, deadline=None)
@given(
    st.from_regex(r"[A-Z]{1,20}( [A-Z]{1,12}){0,2}", fullmatch=True),
    st.from_regex(r"[A-Z]{1,15}( [A-Z]{1,12}){0,3}", fullmatch=True),
)
def test_mrz_name_truncation(surname, given_names):
    field = mrz_name_field(surname, given_names)
    assert len(field) == 30 and re.fullmatch(r"[A-Z<]+", field)
    primary = surname.replace(" ", "<")
    assert field.startswith(primary[:27])
    assert "<<" in field and field[field.index("<<") + 2].isalpha()
    full = f"{primary}<<{given_names.replace(' ', '<')}"
    if len(full) <= 30:
        assert field == full.ljust(30, "<")


def test_td1_values(td1_values):
    for values in td1_values:
        f, lines = values.fields, values.lines
        assert re.fullmatch(r"[A-Z0-9]{9}", f["document_number"])
        assert re.fullmatch(r"[A-Z]{3}", f["nationality"])
        assert f["sex"] in ("M", "F", "X")
        for key in ("date_of_birth", "date_of_expiry"):
            day = dt.date.fromisoformat(f[key])
            assert lines[key] == f"{day.day:02d} {day.month:02d} {day.year}"
        assert f["date_of_expiry"] > f["date_of_birth"]
        assert re.fullmatch(r"[A-Z][A-Z -]*", f["surname"]) and f["surname"] == lines["surname"]
    assert any(" " in v.fields["given_names"] for v in td1_values)


def test_kr_values(kr_values):
    valid = 0
    for values in kr_values:
        f, lines = values.fields, values.lines
        rrn = f["rrn"]
        assert re.fullmatch(r"\d{6}-\d{7}", rrn)
        century = rrn_century(rrn[7])
        birth = dt.date(century + int(rrn[:2]), int(rrn[2:4]), int(rrn[4:6]))  # a real date
        assert rrn[7] in ("1", "2", "3", "4") and birth.year < 2010
        if values.extras["rrn_check_valid"]:
            assert rrn_is_valid(rrn)
        valid += rrn_is_valid(rrn)
        assert 2 <= len(f["name"]) <= 4 and f["name"] == lines["name"]
        assert re.fullmatch(r"\d{4}\. [1-9]\d?\. [1-9]\d?\.", lines["issue_date"])
        y, m, d = (int(p) for p in lines["issue_date"].rstrip(".").split(". "))
        assert f["issue_date"] == dt.date(y, m, d).isoformat()
        address_lines = [lines[k] for k in ("address_1", "address_2") if k in lines]
        assert f["address"] == " ".join(address_lines)
        assert re.search(r"(구청장|시장|군수)$", f["issuer"])
    assert 0.7 < valid / len(kr_values) < 0.95
    assert any(len(v.fields["name"]) == 4 for v in kr_values)
    assert any("address_2" in v.lines for v in kr_values)
    assert sum("address_2" in v.lines for v in kr_values) < len(kr_values) / 2


def test_font_pools_are_disjoint():
    for faces in (korean_faces, latin_faces):
        train = {f.family for f in faces("train")}
        shifted = {f.family for f in faces("shifted")}
        assert train and shifted and not train & shifted and shifted <= HELD_OUT_FAMILIES
        assert {f.family for f in faces("all")} == train | shifted
    with pytest.raises(UnknownNameError):
        korean_faces("bogus")


@pytest.mark.parametrize("template", list(TEMPLATES))
def test_flat_record(template):
    image, record = render_card(template, np.random.default_rng(5), font_pool="shifted")
    h, w = image.shape[:2]
    assert image.dtype == np.uint8 and image.shape[2] == 3
    assert 0.79 * CARD_SIZE[0] <= w <= 1.51 * CARD_SIZE[0]
    assert record["image_size"] == [w, h] and record["photo"] is False
    assert np.allclose(record["corners"], [[0, 0], [w, 0], [w, h], [0, h]], atol=0.01)
    _check_schema(template, record)
    assert record["style"]["font_ko" if template == "kr-rrc" else "font_latin"]


def _check_schema(template, record):
    tpl = TEMPLATES[template]
    assert set(record) >= {
        "template",
        "photo",
        "image_size",
        "corners",
        "fields",
        "lines",
        "field_boxes",
        "style",
    }
    assert set(record["fields"]) == {f.name for f in tpl.fields}
    required = set(tpl.line_keys) - {k for f in tpl.fields for k in f.optional_lines}
    assert required <= set(record["lines"]) <= set(tpl.line_keys)
    for line in record["lines"].values():
        x0, y0, x1, y1 = line["box"]
        assert 0 <= x0 < x1 <= CARD_SIZE[0] and 0 <= y0 < y1 <= CARD_SIZE[1]
        assert len(line["quad"]) == 4
    assert set(record["field_boxes"]) == set(record["fields"])
    json.dumps(record)


def test_photo_quads_follow_homography(photo_cards):
    for template, _, image, record in photo_cards:
        _check_schema(template, record)
        h, w = image.shape[:2]
        assert 1000 <= w <= 1600 and record["image_size"] == [w, h]
        corners = np.array(record["corners"])
        assert (corners >= 0).all() and (corners[:, 0] <= w).all() and (corners[:, 1] <= h).all()
        homography = cv2.getPerspectiveTransform(CARD_CORNERS.astype(np.float32), corners.astype(np.float32))
        for line in record["lines"].values():
            x0, y0, x1, y1 = line["box"]
            expected = apply_homography(homography, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))
            assert np.allclose(line["quad"], expected, atol=0.05)
        for name, box in record["field_boxes"].items():
            keys = [k for k in TEMPLATES[template].field(name).lines if k in record["lines"]]
            pts = np.concatenate([record["lines"][k]["quad"] for k in keys])
            assert np.allclose(box, [*pts.min(axis=0), *pts.max(axis=0)], atol=0.01)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) + 1e-6))


def test_rectified_photo_matches_card(photo_cards):
    """Warping the photo back with the GT corners puts each text line where the record says."""
    for template, seed, image, record in photo_cards:
        card = render_canonical(template, np.random.default_rng(seed))
        corners = np.array(record["corners"], np.float32)
        back = cv2.getPerspectiveTransform(corners, CARD_CORNERS.astype(np.float32))
        rectified = cv2.warpPerspective(image, back, CARD_SIZE)
        gray_card = cv2.cvtColor(card.image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        gray_rect = cv2.GaussianBlur(cv2.cvtColor(rectified, cv2.COLOR_RGB2GRAY), (0, 0), 1).astype(
            np.float32
        )
        gray_card = cv2.GaussianBlur(gray_card, (0, 0), 1)
        for key, line in record["lines"].items():
            assert line["text"] == card.lines[key][0] and line["box"] == card.lines[key][1]
            x0, y0, x1, y1 = line["box"]
            assert _ncc(gray_card[y0:y1, x0:x1], gray_rect[y0:y1, x0:x1]) > 0.6, key
            shift = y1 - y0
            assert _ncc(gray_card[y0:y1, x0:x1], gray_rect[y0 + shift : y1 + shift, x0:x1]) < 0.5, key


def test_write_cards_deterministic(tmp_path):
    a = write_cards("td1", 2, tmp_path / "a", seed=7)
    b = write_cards("td1", 1, tmp_path / "b", seed=7)
    c = write_cards("td1", 1, tmp_path / "c", seed=8)
    assert (tmp_path / "a/000000.png").read_bytes() == (tmp_path / "b/000000.png").read_bytes()
    assert (tmp_path / "a/000000.png").read_bytes() != (tmp_path / "c/000000.png").read_bytes()
    assert (tmp_path / "a/000000.png").read_bytes() != (tmp_path / "a/000001.png").read_bytes()
    rec_a = [json.loads(line) for line in a.read_text(encoding="utf-8").splitlines()]
    rec_b = [json.loads(line) for line in b.read_text(encoding="utf-8").splitlines()]
    rec_c = [json.loads(line) for line in c.read_text(encoding="utf-8").splitlines()]
    assert len(rec_a) == 2 and rec_a[0] == rec_b[0] and rec_a[0]["fields"] != rec_c[0]["fields"]
    assert rec_a[1]["image"] == "000001.png" and rec_a[1]["index"] == 1 and rec_a[1]["seed"] == 7


def test_render_card_same_rng_state_same_array():
    first = render_card("kr-rrc", np.random.default_rng([1, 2]), photo=True)
    second = render_card("kr-rrc", np.random.default_rng([1, 2]), photo=True)
    assert np.array_equal(first[0], second[0]) and first[1] == second[1]


def test_line_sample_template_and_pool():
    rng = np.random.default_rng(4)
    for _ in range(20):
        _, _, key = render_line_sample(rng, template="kr-rrc", font_pool="shifted")
        assert key.startswith("kr-rrc/")
