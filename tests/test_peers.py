"""benchmarks/peers.py: line assignment on hand-made records, and real Tesseract / RapidOCR calls."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "peers.py"
_spec = importlib.util.spec_from_file_location("idsight_bench_peers", _PATH)
peers = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = peers
_spec.loader.exec_module(peers)

DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _quad(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def _record(lines: dict[str, tuple[float, float, float, float]], template: str = "td1") -> dict:
    return {
        "template": template,
        "lines": {k: {"text": "", "box": list(b), "quad": _quad(*b)} for k, b in lines.items()},
    }


RECORD = _record(
    {
        "surname": (100, 100, 400, 140),
        "given_names": (100, 160, 400, 200),
        "mrz_1": (20, 300, 780, 340),
    }
)


def test_assign_by_largest_overlap_and_left_to_right():
    lines = [
        ("ANNA MARIA", [105, 162, 300, 198], 0.9),
        ("<<<", [420, 302, 770, 338], 0.8),  # right part of the MRZ line, listed first
        ("IDKOR12345", [25, 301, 410, 339], 0.8),
        ("KIM", [110, 120, 200, 165], 0.9),  # straddles two lines: mostly on the surname
    ]
    out = peers.assign_lines_to_fields(lines, RECORD)
    assert out == {"surname": "KIM", "given_names": "ANNA MARIA", "mrz_1": "IDKOR12345 <<<"}


def test_assign_drops_low_overlap_and_keeps_empty_keys():
    lines = [
        ("NOISE", [300, 0, 700, 95], 0.5),  # nowhere near a line
        ("EDGE", [150, 180, 350, 260], 0.5),  # 20 / 80 rows on given_names: 0.25 < 0.3
        ("HALF", [150, 180, 350, 220], 0.5),  # 20 / 40 rows: 0.5 >= 0.3
    ]
    out = peers.assign_lines_to_fields(lines, RECORD)
    assert out == {"surname": "", "given_names": "HALF", "mrz_1": ""}
    assert peers.assign_lines_to_fields([], RECORD) == {"surname": "", "given_names": "", "mrz_1": ""}


def test_assign_uses_rotated_quads():
    # a line tilted by ~30 degrees: order along the GT direction, quads as peer boxes
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    base = np.array(_quad(0, 0, 400, 40), float)
    rot = base @ np.array([[c, s], [-s, c]]) + [200, 100]
    record = {"template": "td1", "lines": {"surname": {"quad": rot.tolist()}}}
    left = rot[0] + (rot[1] - rot[0]) * 0.05, rot[0] + (rot[1] - rot[0]) * 0.45
    right = rot[0] + (rot[1] - rot[0]) * 0.55, rot[0] + (rot[1] - rot[0]) * 0.95
    h = rot[3] - rot[0]

    def q(a, b):
        return [a.tolist(), b.tolist(), (b + h).tolist(), (a + h).tolist()]

    lines = [("DOE", q(*right), 0.9), ("JOHN", q(*left), 0.9)]
    assert peers.assign_lines_to_fields(lines, record) == {"surname": "JOHN DOE"}


def test_line_reads_build_linereads():
    reads = peers.line_reads({"surname": "KIM", "given_names": ""}, RECORD)
    lr = reads["surname"]
    assert lr.key == "surname" and lr.text == "KIM" and lr.confidence == 1.0
    assert [c.char for c in lr.chars] == ["K", "I", "M"]
    assert all(c.prob == 1.0 and c.alternatives == [] for c in lr.chars)
    assert lr.chars[0].x0 == 100 and lr.chars[-1].x1 == pytest.approx(400)
    assert reads["given_names"].chars == []


# ---- real engines -----------------------------------------------------------------------------


def _hello(w=520, h=140, size=56) -> np.ndarray:
    im = Image.new("RGB", (w, h), "white")
    ImageDraw.Draw(im).text((30, 35), "HELLO 123", font=ImageFont.truetype(DEJAVU, size), fill="black")
    return np.asarray(im)


def _joined(lines) -> str:
    lines = sorted(lines, key=lambda t: np.asarray(t[1]).reshape(-1, 2)[:, 0].min())
    return re.sub(r"\s+", " ", " ".join(t for t, _, _ in lines)).strip()


@pytest.mark.parametrize("psm", [6, 7])
def test_tesseract_reads_hello(psm):
    lines = peers.tesseract_lines(_hello(), lang="eng", psm=psm)
    assert _joined(lines) == "HELLO 123"
    assert len(lines) == 1
    text, box, conf = lines[0]
    x0, y0, x1, y1 = box
    assert 20 <= x0 < 60 and 30 <= y0 < 60 and 300 < x1 < 420 and 70 < y1 < 110
    assert 0.5 < conf <= 1.0


def test_rapidocr_reads_hello():
    lines = peers.rapidocr_lines(_hello())
    assert _joined(lines).replace(" ", "") == "HELLO123"
    for _text, box, conf in lines:
        assert len(box) == 4 and box[0] < box[2] and box[1] < box[3] and 0.5 < conf <= 1.0
    quads = peers.rapidocr_lines(_hello(), quads=True)
    assert all(np.asarray(b).shape == (4, 2) for _, b, _ in quads)
    assert peers.rapidocr_lines(np.full((200, 300, 3), 255, np.uint8)) == []  # blank: no lines


def test_word_level_entries():
    tw = peers.tesseract_lines(_hello(), lang="eng", psm=6, words=True)
    assert [t for t, _, _ in tw] == ["HELLO", "123"]
    assert tw[0][1][2] < tw[1][1][0]  # HELLO ends before 123 starts
    rw = peers.rapidocr_lines(_hello(), words=True)
    assert _joined(rw).replace(" ", "") == "HELLO123" and len(rw) >= 2


def test_side_by_side_fields_from_words():
    # sex / nationality / date of birth printed on one row (td1 layout): words land in their own boxes
    record = _record(
        {"sex": (250, 225, 300, 255), "nationality": (340, 225, 440, 255), "dob": (470, 225, 640, 255)}
    )
    words = [
        ("F", [252, 227, 268, 253], 0.9),
        ("UTO", [342, 227, 390, 253], 0.9),
        ("1974", [560, 227, 620, 253], 0.9),
        ("12", [472, 227, 500, 253], 0.9),
        ("08", [510, 227, 540, 253], 0.9),
    ]
    assert peers.assign_lines_to_fields(words, record) == {
        "sex": "F",
        "nationality": "UTO",
        "dob": "12 08 1974",
    }


def test_rectified_view_maps_card_and_quads():
    img = np.full((400, 700, 3), 255, np.uint8)
    img[50 + 50 : 50 + 60, 100 + 100 : 100 + 120] = (
        0  # card at half scale from (100, 50): box (200, 100)-(240, 120)
    )
    record = {
        "template": "td1",
        "corners": [[100, 50], [528, 50], [528, 320], [100, 320]],
        "lines": {"sex": {"text": "F", "box": [200, 100, 240, 120], "quad": _quad(300, 100, 340, 110)}},
    }
    view, rec = peers.rectified_view(img, record, scale=1.0)
    assert view.shape == (540, 856, 3)
    assert view[110, 220].max() < 60 and view[300, 500].min() > 200
    assert rec["lines"]["sex"]["quad"] == _quad(200, 100, 240, 120)
    assert record["lines"]["sex"]["quad"] == _quad(300, 100, 340, 110)  # input left alone
