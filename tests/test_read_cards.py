"""benchmarks/read_cards.py end to end on stand-ins for the synth, the reader and the cleanup.

The stand-ins render flat cards with the template's nominal layout and a reader that returns fixed
values, so this checks the script's plumbing and report (and a real Tesseract run), not accuracy.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from idsight.ocr.types import CleanupResult, FieldResult
from idsight.templates import CARD_SIZE, get_template

ROOT = Path(__file__).resolve().parents[1]
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
TD1_VALUES = {
    "document_number": "L898902C3",
    "surname": "ERIKSSON",
    "given_names": "ANNA MARIA",
    "sex": "F",
    "nationality": "UTO",
    "date_of_birth": "12 08 1974",
    "date_of_expiry": "15 04 2032",
    "mrz_1": "I<UTOL898902C36<<<<<<<<<<<<<<<",
    "mrz_2": "7408122F2004159UTO<<<<<<<<<<<6",
    "mrz_3": "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
}


def _fake_write_cards(template, count, out_dir, *, photo=True, seed=0, font_pool="train"):
    tpl = get_template(template)
    font = ImageFont.truetype(FONT, 26)
    with open(Path(out_dir) / "labels.jsonl", "w", encoding="utf-8") as f:
        for i in range(count):
            im = Image.new("RGB", CARD_SIZE, "white")
            d = ImageDraw.Draw(im)
            lines = {}
            for key, (x0, y0, x1, y1) in tpl.layout.items():
                text = TD1_VALUES.get(key, "X")
                d.text((x0, y0), text, font=font, fill="black")
                quad = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
                lines[key] = {"text": text, "box": [x0, y0, x1, y1], "quad": quad}
            name = f"{i:06d}.jpg"
            im.save(Path(out_dir) / name, quality=95)
            fields = {fs.name: fs.joiner.join(lines[k]["text"] for k in fs.lines) for fs in tpl.fields}
            rec = {"image": name, "template": template, "seed": seed, "index": i, "lines": lines}
            f.write(json.dumps({**rec, "fields": fields}) + "\n")


def _fake_clean_card(template, lines):
    tpl = get_template(template if isinstance(template, str) else template.name)
    fields = {
        fs.name: FieldResult(fs.joiner.join(lines[k].text for k in fs.lines if k in lines), 1.0)
        for fs in tpl.fields
    }
    return CleanupResult(fields=fields, checks={}, corrections=[])


class _Result:
    def __init__(self, template, fields):
        self.template, self.fields = template, fields
        self.network_ms = 7.0

    def to_dict(self):
        t = {"localize": 1.0, "classify": 1.0, "detect": 2.0, "recognize": 5.0, "cleanup": 0.5, "total": 10.0}
        fields = {k: {"text": v, "confidence": 1.0, "box": None} for k, v in self.fields.items()}
        return {"image": "x", "template": self.template, "fields": fields, "timings_ms": t}


class _FakeReader:
    @classmethod
    def load(cls, model, runtime="torch"):
        return cls()

    def read(self, image, *, name):
        if name.endswith("000001.jpg"):
            from idsight.errors import NoCardError

            raise NoCardError("no card found", path=name)
        good = {k: v for k, v in TD1_VALUES.items() if not k.startswith("mrz")}
        return _Result("td1", {**good, "mrz": "wrong"})


@pytest.fixture
def bench(monkeypatch):
    for name, attr, obj in [
        ("idsight.data.synth", "write_cards", _fake_write_cards),
        ("idsight.ocr.cleanup", "clean_card", _fake_clean_card),
        ("idsight.ocr.predictor", "CardReader", _FakeReader),
    ]:
        mod = types.ModuleType(name)
        setattr(mod, attr, obj)
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        "idsight_bench_read_cards", ROOT / "benchmarks" / "read_cards.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_read_cards_report(bench, capsys, tmp_path):
    out = tmp_path / "r.json"
    argv = ["--count", "3", "--templates", "td1", "--peers", "tesseract", "--calib-count", "1"]
    assert bench.main([*argv, "--psm", "6,11", "--out", str(out)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == doc
    ours = doc["idsight"]["per_template"]["td1"]
    assert ours["n_cards"] == 3 and ours["rejected"] == 1
    assert ours["template_accuracy"] == pytest.approx(2 / 3)
    assert ours["per_field_accuracy"]["surname"] == pytest.approx(2 / 3)
    assert ours["per_field_accuracy"]["mrz"] == 0.0
    assert ours["latency_ms"]["median"] == 10.0 and ours["latency_ms"]["n"] == 2
    assert ours["latency_wall_ms_all_cards"]["n"] == 3
    assert ours["stage_share"]["recognize"] == 0.5 and ours["stage_share"]["other"] == pytest.approx(0.05)
    assert ours["network_ms_median"] == 7.0
    assert doc["idsight"]["overall"]["field_accuracy"] == ours["field_accuracy"]
    tess = doc["peers"]["tesseract"]
    assert tess["psm"]["td1"] in (6, 11) and set(tess["calibration"]["td1"]) == {"6", "11"}
    t = tess["per_template"]["td1"]
    assert t["n_cards"] == 3 and t["latency_ms"]["n"] == 3
    assert t["per_field_accuracy"]["surname"] == 1.0  # clean flat card, perfect layout
    assert t["field_accuracy"] > 0.6


def test_read_cards_rejects_unknown_peer(bench, capsys):
    assert bench.main(["--count", "1", "--peers", "easyocr"]) == 2
    assert "unknown peer" in capsys.readouterr().err
