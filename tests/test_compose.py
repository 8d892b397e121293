"""Tests of the composing generator (idsight.data.synth.compose): random designs, every line recorded."""

from __future__ import annotations

import datetime as dt
import json
from itertools import combinations

import cv2
import numpy as np
import pytest

from idsight.data.synth.compose import (
    DOC_TYPES,
    FAMILY_NAMES,
    HELD_OUT_DESIGNS,
    HELD_OUT_FONTS,
    card_size,
    compose_card,
    place_card,
    printing,
    write_composed,
)
from idsight.data.synth.compose import families as fam
from idsight.data.synth.compose.fontpool import family_of, korean_faces, printable
from idsight.errors import UnknownNameError
from idsight.ocr.content.formats import fold
from idsight.ocr.content.mrz import parse_mrz
from idsight.ocr.content.spec import get_spec

PER_POOL = {"train": 12, "heldout": 5}  # cards per document type


@pytest.fixture(scope="module")
def cards():
    """(pool, card) for PER_POOL[pool] cards of each document type and pool."""
    out = []
    for pool, n in PER_POOL.items():
        for d, doc in enumerate(DOC_TYPES):
            for i in range(n):
                rng = np.random.default_rng([11, d, i, pool == "heldout"])
                out.append((pool, compose_card(doc, rng, design_pool=pool, font_pool=pool)))
    return out


def test_every_doc_type_renders(cards):
    for doc in DOC_TYPES:
        mine = [c for _, c in cards if c.doc_type == doc]
        assert mine
        for card in mine:
            w, h = card_size(doc)
            assert card.image.shape == (h, w, 3) and card.image.dtype == np.uint8
            assert set(card.values) == set(get_spec(doc).field_names)
            assert {ln["role"] for ln in card.lines} <= {"value", "label", "title", "mrz", "other"}
            assert any(ln["role"] == "title" for ln in card.lines)
    assert card_size("td3") == (880, 620) and card_size("td1") == (856, 540)


def test_values_read_back_from_printed_lines(cards):
    for _, card in cards:
        spec = get_spec(card.doc_type)
        for name, value in card.values.items():
            texts = [ln["text"] for ln in card.value_lines(name)]
            assert texts, (card.doc_type, name, card.design)
            if name == "mrz":
                assert "\n".join(texts) == value
                read = parse_mrz(texts, spec.mrz.layout, today=dt.date(2025, 7, 1))
                assert read.valid, (texts, read.checks)
                number = card.values.get("passport_number", card.values.get("document_number"))
                assert read.values["document_number"] == number
                for key in ("date_of_birth", "date_of_expiry", "nationality", "sex"):
                    assert read.values[key] == card.values[key]
                continue
            parsed = spec.field(name).format.parse(" ".join(texts))
            assert parsed is not None and parsed.value == value, (card.doc_type, name, texts, value)
    kr = [c for _, c in cards if c.doc_type == "kr-rrc"]
    assert {len(c.value_lines("address")) for c in kr} == {1, 2}  # one or two address lines


def _after(first, second):
    """``second`` is printed after ``first`` in reading order: below it, or beside it on its right."""
    a, b = first["box"], second["box"]
    same_row = min(a[3], b[3]) - max(a[1], b[1]) > 0.5 * min(a[3] - a[1], b[3] - b[1])
    return b[0] >= a[2] if same_row else b[1] >= a[1]


def test_fields_that_follow_another_are_printed_after_it(cards):
    for _, card in cards:
        for rule in get_spec(card.doc_type).fields:
            if rule.after:
                first, second = card.value_lines(rule.after)[-1], card.value_lines(rule.name)[0]
                assert _after(first, second), (card.design, first, second)


def test_date_and_sex_styles_parse():
    day = dt.date(2024, 1, 31)
    for doc, styles in (("kr-rrc", printing.KR_DATE_STYLES), ("td1", printing.LATIN_DATE_STYLES)):
        fmt = get_spec(doc).field("issue_date" if doc == "kr-rrc" else "date_of_birth").format
        for style in styles:
            for month in range(1, 13):
                text = printing.format_date(day.replace(month=month, day=9), style)
                parsed = fmt.parse(text)
                assert parsed is not None and parsed.value == f"2024-{month:02d}-09", (style, text)
    assert printing.format_date(day, "d-mon2-y") == "31 JAN/JANV 2024"
    assert printing.format_date(day, "kr-units") == "2024년 1월 31일"
    sex = get_spec("td3").field("sex").format
    for style, codes in printing.SEX_STYLES.items():
        for value, text in codes.items():
            assert sex.parse(text).value == value, style


def test_labels_and_titles_come_from_the_spec_vocabularies(cards):
    seen_bilingual = False
    for _, card in cards:
        spec = get_spec(card.doc_type)
        for ln in card.lines:
            if ln["role"] == "label":
                parts = [p.strip(" :") for p in ln["text"].split("/")]
                seen_bilingual |= len(parts) > 1
                for part in parts:
                    assert fold(part) in spec.field(ln["field"]).labels, (card.doc_type, ln)
            elif ln["role"] == "title":
                assert fold(ln["text"]) in spec.titles, ln
    assert seen_bilingual


def _line_families(card):
    return {family_of(ln["font"]) for ln in card.lines if ln["role"] != "mrz"}


def test_held_out_designs_and_fonts(cards):
    assert len(FAMILY_NAMES) >= 10 and len(HELD_OUT_DESIGNS) == 3
    assert set(HELD_OUT_DESIGNS) <= set(FAMILY_NAMES)
    assert {f.name for f in fam.families("heldout")} == set(HELD_OUT_DESIGNS)
    assert not {f.name for f in fam.families("train")} & set(HELD_OUT_DESIGNS)
    rng = np.random.default_rng(0)
    drawn = {fam.pick_family("train", rng).name for _ in range(300)}
    assert drawn == set(FAMILY_NAMES) - set(HELD_OUT_DESIGNS)
    for pool, card in cards:
        used = _line_families(card)
        assert card.design["pool"] == pool and card.fonts["pool"] == pool
        if pool == "train":
            assert card.design["family"] not in HELD_OUT_DESIGNS
            assert not used & set(HELD_OUT_FONTS), used
        else:
            assert card.design["family"] in HELD_OUT_DESIGNS
            assert used <= set(HELD_OUT_FONTS), used
        assert all(ln["font"] == "OCRB" for ln in card.lines if ln["role"] == "mrz")
    with pytest.raises(UnknownNameError):
        compose_card("td1", rng, design_pool="shifted")
    with pytest.raises(UnknownNameError):
        compose_card("passport", rng)


def test_mixed_script_labels_stay_printable():
    face = korean_faces("heldout")[0]
    assert printable("Prénoms / 이름", face, "heldout") == ("Prenoms / 이름", face)
    assert printable("이름", face, "heldout") == ("이름", face)


def _overlap(a, b):
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0, w) * max(0, h)


def test_boxes_bound_the_ink_and_every_text_is_recorded(cards):
    for _, card in cards:
        diff = np.abs(card.image.astype(np.int16) - card.background.astype(np.int16)).max(axis=2)
        h, w = diff.shape
        covered = np.zeros_like(diff, bool)
        boxes = []
        for ln in card.lines:
            x0, y0, x1, y1 = ln["box"]
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, ln
            region = diff[y0:y1, x0:x1]
            assert region.max() >= 40, ln  # real ink inside
            for edge in (region[0], region[-1], region[:, 0], region[:, -1]):  # and tight on every side
                assert edge.max() >= 3, ln
            covered[max(0, y0 - 1) : y1 + 1, max(0, x0 - 1) : x1 + 1] = True
            boxes.append(ln["box"])
        assert diff[~covered].max() <= 30, card.design  # no text drawn outside the recorded lines
        for a, b in combinations(boxes, 2):
            small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
            assert _overlap(a, b) <= 0.1 * small, (a, b, card.design)


def test_scenes_map_lines_into_the_image(cards):
    card = next(c for _, c in cards if c.doc_type == "td3")
    for k, kind in enumerate(("flat", "photo", "white-desk")):
        placed = place_card(card, np.random.default_rng(k), kind=kind, rotate_fraction=1.0)
        h, w = placed.image.shape[:2]
        assert placed.rotation in (90, 180, 270)
        for quad in [placed.corners, *placed.quads]:
            assert (quad >= -1).all() and (quad[:, 0] <= w + 1).all() and (quad[:, 1] <= h + 1).all()
        assert len(placed.quads) == len(card.lines)
        # clockwise from the printed top-left corner: the signed area is positive in image axes
        c = placed.corners
        area = sum(c[i, 0] * c[(i + 1) % 4, 1] - c[(i + 1) % 4, 0] * c[i, 1] for i in range(4))
        assert area > 0
        # the homography (rotation included) maps the card onto the image: warp back and compare
        cw, ch = card.size
        back = cv2.warpPerspective(placed.image, np.linalg.inv(placed.homography), (cw, ch))
        inner = (slice(40, ch - 40), slice(40, cw - 40))
        err = np.abs(back[inner].astype(np.float32) - card.image[inner].astype(np.float32)).mean()
        assert err < (12 if kind == "flat" else 45), (kind, err)
    flat = place_card(card, np.random.default_rng(5), kind="flat")
    h, w = flat.image.shape[:2]
    assert np.allclose(flat.corners, [[0, 0], [w, 0], [w, h], [0, h]])


def test_writer_is_deterministic_and_complete(tmp_path):
    kw = {"seed": 4, "design_pool": "train", "font_pool": "train", "photo_fraction": 0.5}
    a = write_composed(["kr-rrc", "td1", "td3"], 6, tmp_path / "a", **kw)
    b = write_composed(["kr-rrc", "td1", "td3"], 6, tmp_path / "b", **kw)
    assert a.read_bytes() == b.read_bytes()
    records = [json.loads(line) for line in a.read_text(encoding="utf-8").splitlines()]
    assert [r["doc_type"] for r in records] == ["kr-rrc", "td1", "td3"] * 2
    assert {r["scene"] for r in records} >= {"flat"} and len({r["scene"] for r in records}) >= 2
    for r in records:
        assert (tmp_path / "a" / r["image"]).read_bytes() == (tmp_path / "b" / r["image"]).read_bytes()
        assert r["family"] in FAMILY_NAMES and r["rotation"] in (0, 90, 180, 270)
        assert set(r["fields"]) == set(get_spec(r["doc_type"]).field_names)
        assert len(r["corners"]) == 4 and r["fonts"]["used"]
        for ln in r["lines"]:
            assert set(ln) >= {"text", "box", "role", "field", "quad"} and len(ln["quad"]) == 4
    other = write_composed(["td1"], 2, tmp_path / "c", **(kw | {"seed": 5}))
    assert other.read_bytes() != a.read_bytes()
    with pytest.raises(UnknownNameError):
        write_composed(["td1"], 1, tmp_path / "d", design_pool="shifted")
    with pytest.raises(UnknownNameError):
        write_composed([], 1, tmp_path / "d")
    assert not (tmp_path / "d").exists()
