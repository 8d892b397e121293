"""The layout-free reader: quads, crops, orientation, and assignment, with a stand-in detector and
recogniser that read painted bars (each bar's grey level names its text; a bright cap marks its start)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from idsight.ocr.content.mrz import compose_mrz
from idsight.ocr.content.spec import mrz_layouts
from idsight.ocr.layoutfree import LayoutFreeReader, crop_quad, order_quad, text_angle

MRZ = compose_mrz(
    mrz_layouts()["td1"],
    {
        "document_code": "I",
        "issuing_state": "UTO",
        "document_number": "X12345678",
        "date_of_birth": "1980-02-29",
        "sex": "F",
        "date_of_expiry": "2030-01-01",
        "nationality": "UTO",
        "surname": "NOVAK",
        "given_names": "EVA",
    },
)
TEXTS = ["IDENTITY CARD", "Surname", "NOVAK", "Given names", "EVA", "X12345678", *MRZ]
BARS = [(40, 30, 300), (300, 80, 420), (300, 105, 460), (300, 140, 440), (300, 165, 400), (560, 30, 760)]
BARS += [(40, 380 + 40 * i, 820) for i in range(3)]


def card_image() -> np.ndarray:
    img = np.zeros((540, 856, 3), np.uint8)
    for k, (x0, y0, x1) in enumerate(BARS):
        grey = 40 + 20 * k
        img[y0 : y0 + 20, x0:x1] = grey
        img[y0 : y0 + 20, x0 : x0 + 6] = 255  # the start of the line
    return img


def detector(image: np.ndarray) -> list[tuple[np.ndarray, float]]:
    mask = (image.max(-1) > 0).astype(np.uint8)
    n, labels = cv2.connectedComponents(mask)
    out = []
    for i in range(1, n):
        ys, xs = np.nonzero(labels == i)
        pts = np.stack([xs, ys], -1).astype(np.float32)
        out.append((cv2.boxPoints(cv2.minAreaRect(pts)).astype(np.float32), 1.0))
    return out


def recognizer(crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
    out = []
    for crop in crops:
        g = crop[crop.shape[0] // 2, crop.shape[1] // 2, 0]
        k = int(round((int(g) - 40) / 20))
        left, right = crop[:, : crop.shape[1] // 8].max(), crop[:, -crop.shape[1] // 8 :].max()
        upright = left >= 250 and right < 250
        out.append((TEXTS[k] if upright else TEXTS[k][::-1], 0.95 if upright else 0.3))
    return out


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
def test_reads_a_card_in_any_orientation(turns: int) -> None:
    image = np.ascontiguousarray(np.rot90(card_image(), k=turns))
    res = LayoutFreeReader(detector=detector, recognizer=recognizer).read(image, name="bars")
    assert res.doc_type == "td1" and res.image == "bars"
    fields = {k: v["text"] for k, v in res.fields.items()}
    assert fields["surname"] == "NOVAK" and fields["given_names"] == "EVA"
    assert fields["document_number"] == "X12345678" and fields["mrz"] == "\n".join(MRZ)
    assert fields["date_of_birth"] == "1980-02-29"  # from the MRZ: the visual zone lacks it
    assert res.fields["date_of_birth"]["source"] == "mrz"
    assert res.checks["mrz_check_composite"]
    # the frame kept for review is the photo as read: every line's crop reads upright again
    assert res.rotation == (-90 * turns) % 360
    assert [recognizer([res.line_crop(i)])[0] for i in range(len(res.texts))] == [
        (t, 0.95) for t in res.texts
    ]


def test_order_quad_and_crop() -> None:
    q = np.float32([[110, 60], [10, 60], [10, 20], [110, 20]])  # any order
    assert order_quad(q).tolist() == [[10, 20], [110, 20], [110, 60], [10, 60]]
    img = np.zeros((100, 200, 3), np.uint8)
    img[20:60, 10:110] = 200
    crop = crop_quad(img, q, pad=0.0)
    assert crop.shape[:2] == (40, 100) and crop.mean() > 190
    tilted = np.float32([[0, 0], [100, 50], [90, 70], [-10, 20]])
    assert abs(text_angle([tilted]) - np.arctan2(50, 100)) < 1e-3


def _recognizer_artifact(tmp_path) -> Path:  # noqa: ANN001
    import torch

    from idsight.artifact import save_artifact
    from idsight.data.charset import OPEN_CHARSET
    from idsight.models.recognizer import crnn_student

    arch = {
        "name": "crnn_student",
        "kwargs": {"num_classes": len(OPEN_CHARSET) + 1, "hidden": 8, "width": 16},
    }
    torch.manual_seed(0)
    net = crnn_student(**arch["kwargs"])
    return save_artifact(
        tmp_path / "rec.safetensors", net.state_dict(), {"arch": arch, "charset": OPEN_CHARSET}
    )


def test_one_file_reader_is_read_by_the_cli(tmp_path) -> None:  # noqa: ANN001
    import json

    from typer.testing import CliRunner

    from idsight.cli.main import app
    from idsight.ocr.layoutfree import load_line_reader, save_line_reader

    path = save_line_reader(tmp_path / "reader.safetensors", recognizer=_recognizer_artifact(tmp_path))
    reader = load_line_reader(path)
    assert len(reader.recognizer([card_image()[30:50, 40:300]])) == 1  # type: ignore[arg-type]
    image = tmp_path / "card.png"
    cv2.imwrite(str(image), card_image())
    res = CliRunner().invoke(app, ["read", str(image), "--model", str(path), "--template", "td3", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout.strip().splitlines()[-1])
    assert {"template", "fields", "unassigned", "checks"} <= set(doc) and doc["image"] == str(image)
    assert doc["template"] == "td3"
    res = CliRunner().invoke(app, ["read", str(image), "--model", str(path), "--template", "xx"])
    assert res.exit_code == 2 and "unknown document type 'xx'" in res.output
    res = CliRunner().invoke(
        app, ["read", str(image), "--model", str(path), "--inspect", str(tmp_path / "i")]
    )
    assert res.exit_code == 2 and "layout-free reader" in res.output
    db = f"sqlite:///{tmp_path}/r.db"
    res = CliRunner().invoke(
        app, ["read", str(image), "--model", str(path), "--template", "td3", "--store", db]
    )
    assert res.exit_code == 0, res.output
    from idsight.review.store import ReviewStore

    (stored,) = ReviewStore(db).queue()
    assert stored.template == "td3" and stored.source == str(image)


def test_a_reader_file_without_its_recogniser_is_one_error(tmp_path) -> None:  # noqa: ANN001
    import torch

    from idsight.artifact import save_artifact
    from idsight.errors import BadModelError
    from idsight.ocr.layoutfree import load_line_reader

    bad = save_artifact(tmp_path / "bad.safetensors", {"x": torch.zeros(1)}, {"task": "line_reader"})
    with pytest.raises(BadModelError, match="bad.safetensors: the reader's recogniser or detector record"):
        load_line_reader(bad)


class _MapNet(torch.nn.Module):
    """Stands in for a trained text-map network: a fixed map with one line."""

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        from idsight.data.textmaps import INPUT_SIZE, text_map

        target = text_map([[100.0, 50.0, 400.0, 90.0]], INPUT_SIZE)
        return {"maps": (torch.from_numpy(target)[None, None] * 20 - 10)}


def test_db_detector_maps_lines_back_into_the_photo() -> None:
    from idsight.data.textmaps import INPUT_SIZE
    from idsight.ocr.textdet import CardTextDetector

    image = np.zeros((INPUT_SIZE[1] * 2, INPUT_SIZE[0] * 2, 3), np.uint8)  # a flat scan, twice the size
    found = CardTextDetector(net=_MapNet())(image)
    assert len(found) == 1
    quad = found[0][0]
    x0, y0, x1, y1 = *quad.min(0), *quad.max(0)
    assert abs(x0 - 200) < 12 and abs(x1 - 800) < 12 and abs(y0 - 100) < 12 and abs(y1 - 180) < 12


def test_one_file_reader_with_idsight_own_detector(tmp_path: Path) -> None:
    from idsight.artifact import save_artifact
    from idsight.models.detector import unet_tiny
    from idsight.ocr.layoutfree import load_line_reader, save_line_reader
    from idsight.ocr.textdet import CardTextDetector

    det = unet_tiny(num_classes=1)
    arch = {"name": "unet_tiny", "kwargs": {"num_classes": 1}}
    det_path = save_artifact(tmp_path / "det.safetensors", det.state_dict(), {"arch": arch}, dtype="float32")
    path = save_line_reader(
        tmp_path / "reader.safetensors",
        recognizer=_recognizer_artifact(tmp_path),
        detector={"name": "db", "model": det_path, "localizer": "idsight-reader-student"},
    )
    reader = load_line_reader(path)
    assert isinstance(reader.detector, CardTextDetector) and reader.detector.localizer is not None
    assert torch.equal(reader.detector.net.state_dict()["head.weight"], det.state_dict()["head.weight"])
    reader.detector.net = _MapNet()  # stand in for training: one line where the map says
    assert len(reader.detector(card_image())) == 1
    res = reader.read(card_image(), name="bars", doc_type="td3").to_dict()  # (its recogniser is untrained)
    assert res["template"] == "td3" and len(res["unassigned"]) == 1


def test_only_unreadable_lines_is_no_card() -> None:
    from idsight.errors import NoCardError

    def mumbling(crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        return [("Zi", 0.3) for _ in crops]  # what texture and faces read as

    with pytest.raises(NoCardError, match="photo.png: no readable text"):
        LayoutFreeReader(detector=detector, recognizer=mumbling).read(card_image(), name="photo.png")
    res = LayoutFreeReader(detector=detector, recognizer=mumbling).read(card_image(), doc_type="td1")
    assert res.doc_type == "td1" and res.fields == {}  # a forced type still reports its lines


def test_no_card_and_unknown_cards() -> None:
    from idsight.errors import NoCardError

    reader = LayoutFreeReader(detector=detector, recognizer=recognizer)
    with pytest.raises(NoCardError, match="blank.png: no text found"):
        reader.read(np.zeros((540, 856, 3), np.uint8), name="blank.png")
    img = np.zeros((540, 856, 3), np.uint8)  # two lines that fit no document type
    img[30:50, 40:300] = 40 + 20 * 1  # "Surname" only
    img[30:50, 40:46] = 255
    img[100:120, 40:300] = 40 + 20 * 4  # "EVA"
    img[100:120, 40:46] = 255
    res = reader.read(img, name="two-lines").to_dict()
    assert res["template"] == "unknown" and res["fields"] == {}
    assert sorted(u["text"] for u in res["unassigned"]) == ["EVA", "Surname"]


def test_models_assemble_writes_a_reader_and_refuses_a_bad_recognizer(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from idsight.artifact import read_meta
    from idsight.cli.main import app
    from idsight.hub import resolve as hub_resolve

    out = tmp_path / "reader.safetensors"
    rec = _recognizer_artifact(tmp_path)
    res = CliRunner().invoke(app, ["models", "assemble", "--recognizer", str(rec), "--out", str(out)])
    assert res.exit_code == 0, res.output
    meta = read_meta(out)
    assert meta["task"] == "line_reader" and meta["detector"]["name"] == "ppocr"
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    res = CliRunner().invoke(
        app, ["models", "assemble", "--recognizer", str(junk), "--out", str(tmp_path / "x")]
    )
    assert res.exit_code == 2 and "junk.safetensors" in res.output and "Traceback" not in res.output
    reader_file = tmp_path / "card-reader.safetensors"
    reader_file.write_bytes(hub_resolve("idsight-reader-student").read_bytes())
    res = CliRunner().invoke(
        app, ["models", "assemble", "--recognizer", str(reader_file), "--out", str(tmp_path / "y")]
    )
    assert res.exit_code == 2 and "not a line-recogniser artifact" in res.output


def test_script_committee_takes_latin_readings_only_where_nothing_is_lost() -> None:
    from idsight.ocr.layoutfree import ScriptCommittee

    main = {0: ("Suname / Nom", 0.8), 1: ("김민준", 0.9), 2: ("111동 1201호", 0.9), 3: ("KIM", 0.9)}
    latin = {0: ("Surname / Nom", 0.99), 1: ("", 0.0), 2: ("111 1201", 0.95), 3: ("金", 0.95)}
    crops = [np.full((4, 4, 3), i, np.uint8) for i in range(4)]

    def reader(table: dict[int, tuple[str, float]]):  # noqa: ANN202
        return lambda cs: [table[int(c[0, 0, 0])] for c in cs]

    committee = ScriptCommittee(main=reader(main), latin=reader(latin))
    assert [t for t, _ in committee(crops)] == ["Surname / Nom", "김민준", "111동 1201호", "KIM"]
    unsure = ScriptCommittee(main=reader(main), latin=reader({**latin, 0: ("Surname / Nom", 0.5)}))
    assert unsure(crops[:1])[0][0] == "Suname / Nom"


def test_reader_file_with_a_latin_recognizer_loads_as_a_committee(tmp_path) -> None:  # noqa: ANN001
    from idsight.artifact import read_meta
    from idsight.ocr.layoutfree import CRNNRecognizer, ScriptCommittee, load_line_reader, save_line_reader

    path = save_line_reader(
        tmp_path / "reader.safetensors", recognizer=_recognizer_artifact(tmp_path), latin="ppocr"
    )
    assert read_meta(path)["recognizer"]["latin"]["provenance"]["package"] == "rapidocr"
    reader = load_line_reader(path)
    assert isinstance(reader.recognizer, ScriptCommittee)
    assert isinstance(reader.recognizer.main, CRNNRecognizer)
    text, conf, chars = reader.recognizer.with_chars([card_image()[30:50, 40:300]])[0]
    assert 0.0 <= conf <= 1.0 and (chars is None or "".join(s.char for s in chars) == text)
    again = save_line_reader(tmp_path / "again.safetensors", recognizer=path)  # a reader's recogniser
    assert "latin" not in read_meta(again)["recognizer"]


def test_hangul_member_reads_hangul_lines_with_main_readings_spaces() -> None:
    from idsight.ocr.layoutfree import ScriptCommittee

    assert ScriptCommittee.respaced("광 주 광역시 광산구 문 화 로257", "광주광역시 광산구 문화로 257") == (
        "광주광역시 광산구 문화로 257"
    )
    assert ScriptCommittee.respaced("김환", "김활") == "김환"
    main = {0: ("김활", 0.5), 1: ("Nationa1ity", 0.7), 2: ("116동 902호", 0.9)}
    hangul = {0: ("김 환", 0.93), 2: ("116 동 90", 0.95)}  # the last loses too much: main stands
    latin = {1: ("Nationality", 0.99), 2: ("116 902", 0.99)}
    crops = [np.full((4, 4, 3), i, np.uint8) for i in range(3)]

    def reader(table: dict[int, tuple[str, float]]):  # noqa: ANN202
        return lambda cs: [table.get(int(c[0, 0, 0]), ("", 0.0)) for c in cs]

    committee = ScriptCommittee(main=reader(main), latin=reader(latin), hangul=reader(hangul))
    assert [t for t, _ in committee(crops)] == ["김환", "Nationality", "116동 902호"]


def test_tesseract_reads_a_hangul_line() -> None:
    from PIL import Image, ImageDraw

    from idsight.data.synth import fonts
    from idsight.ocr.layoutfree import TesseractRecognizer

    font = fonts.load_font("/usr/share/fonts/truetype/nanum/NanumGothic.ttf", 40)
    image = Image.new("RGB", (520, 70), "white")
    ImageDraw.Draw(image).text((10, 10), "서울특별시 종로구청장", font=font, fill="black")
    text, conf = TesseractRecognizer()([np.asarray(image)[:, :, ::-1].copy()])[0]
    assert "".join(text.split()) == "서울특별시종로구청장" and conf > 0.5
    _, blank = TesseractRecognizer()([np.full((40, 200, 3), 255, np.uint8)])[0]
    assert blank < 0.8  # whatever it guesses on a blank crop, the committee's threshold refuses it


def test_two_cards_in_one_photo_reads_the_largest_and_reports_the_other() -> None:
    big = card_image()
    small = cv2.resize(big, (428, 270), interpolation=cv2.INTER_NEAREST)
    photo = np.zeros((700, 1500, 3), np.uint8)
    photo[20:560, 10:866] = big
    photo[300:570, 1040:1468] = small
    res = LayoutFreeReader(detector=detector, recognizer=recognizer).read(photo, name="two.png").to_dict()
    assert res["template"] == "td1" and res["fields"]["surname"]["text"] == "NOVAK"
    assert res["fields"]["mrz"]["text"] == "\n".join(MRZ) and res["unassigned"] == []
    assert len(res["other_cards"]) == 1 and res["other_cards"][0]["lines"] == len(BARS)
    x0, y0, x1, y1 = res["other_cards"][0]["box"]
    assert 1040 <= x0 and x1 <= 1468 and 300 <= y0 and y1 <= 570
    alone = LayoutFreeReader(detector=detector, recognizer=recognizer).read(card_image()).to_dict()
    assert alone["other_cards"] == []  # one card: its sparse parts (the MRZ far below) stay with it


def test_card_groups_keeps_columns_and_captions_with_their_card() -> None:
    from idsight.ocr.grouping import card_groups

    def line(x: float, y: float, w: float = 120) -> np.ndarray:
        return np.array([[x, y], [x + w, y], [x + w, y + 20], [x, y + 20]], np.float32)

    left = [line(0, 40 * i) for i in range(11)]  # a column of labels and values ...
    mrz = [line(0, 440 + 30 * i, 900) for i in range(2)]  # ... linked to the MRZ below it
    right = [line(600, 40 * i) for i in range(5)]  # a second column, 11+ line heights from both
    card = left + mrz + right
    assert card_groups(card) == [list(range(18))]  # inside the first group's box: one card
    far = [line(1500, 40 * i) for i in range(5)]
    caption = [line(1500, 900)]  # a lone line far below the second card joins the nearest card
    assert card_groups(card + far + caption) == [list(range(18)), list(range(18, 24))]
    assert card_groups(left[:3] + far[:3]) == [list(range(6))]  # too few lines to be two cards


def test_calibrate_stores_the_best_height_scale_and_the_sweep(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from typer.testing import CliRunner

    from idsight.artifact import read_meta
    from idsight.cli.main import app
    from idsight.ocr import calibrate
    from idsight.ocr.layoutfree import load_line_reader

    reader = tmp_path / "reader.safetensors"
    reader.write_bytes(Path("src/idsight/assets/models/idsight-reader-open-student.safetensors").read_bytes())
    seen: list[float] = []

    def fake_score(r, folder: Path) -> float:  # noqa: ANN001  (reads nothing; peaks at 0.7)
        assert (folder / "labels.jsonl").is_file()
        seen.append(r.detector.height_scale)
        return 1.0 - abs(r.detector.height_scale - 0.7)

    monkeypatch.setattr(calibrate, "field_exact", fake_score)
    argv = ["models", "calibrate", str(reader), "--count", "1"]
    monkeypatch.setattr("sys.argv", ["idsight", *argv])  # the command the file records
    res = CliRunner().invoke(app, argv)
    assert res.exit_code == 0, res.output
    assert seen == list(calibrate.SCALES)
    meta = read_meta(reader)
    assert meta["detector"]["kwargs"]["height_scale"] == 0.7
    assert meta["calibration"]["detector"]["field_exact"]["0.7"] == 1.0
    assert meta["commands"][-1] == f"idsight models calibrate {reader} --count 1"
    assert load_line_reader(reader).detector.height_scale == 0.7
    teacher = tmp_path / "teacher.safetensors"  # PP-OCR's detector has nothing to calibrate
    teacher.write_bytes(Path("models/idsight-reader-open-teacher.safetensors").read_bytes())
    res = CliRunner().invoke(app, ["models", "calibrate", str(teacher), "--count", "1"])
    assert res.exit_code == 2 and "no height scale" in res.output and "Traceback" not in res.output


def test_field_exact_scores_a_composed_folder(tmp_path: Path) -> None:
    import json

    from idsight.data.synth.compose import write_composed
    from idsight.ocr.calibrate import field_exact

    write_composed(["td1"], 2, tmp_path, seed=3)
    rows = [json.loads(x) for x in (tmp_path / "labels.jsonl").read_text("utf-8").splitlines()]

    class Oracle:  # reads the truth for the first card, nothing for the second
        def read(self, image: np.ndarray, *, name: str):  # noqa: ANN202
            from types import SimpleNamespace

            fields = rows[0]["fields"] if name == rows[0]["image"] else {}
            return SimpleNamespace(fields={k: {"text": v} for k, v in fields.items()})

    assert field_exact(Oracle(), tmp_path) == 0.5


class _DarkNet(torch.nn.Module):
    """A stand-in text-map network that marks the dark pixels of its input (stride 2)."""

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        dark = (image.mean(1, keepdim=True) < -0.5).float()
        return {"maps": torch.nn.functional.avg_pool2d(dark, 2) * 20 - 10}


def test_db_detector_tries_other_corners_when_the_first_shear_the_card() -> None:
    import cv2

    from idsight.data.textmaps import INPUT_SIZE
    from idsight.ocr.localize import Localization
    from idsight.ocr.textdet import CardTextDetector

    w, h = INPUT_SIZE
    card = np.full((h, w, 3), 255, np.uint8)
    for y in (120, 200, 280):
        cv2.rectangle(card, (60, y), (580, y + 18), (0, 0, 0), -1)  # three long lines of "text"
    good = np.array([[150, 120], [850, 160], [820, 620], [120, 560]], np.float32)
    bad = good + np.array([[0, 0], [0, 0], [0, 0], [0, -160]], np.float32)  # one corner far off
    m = cv2.getPerspectiveTransform(np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32), good)
    photo = cv2.warpPerspective(card, m, (1000, 760), borderValue=(120, 120, 120))

    class Stub:
        def locate(self, image: np.ndarray) -> tuple[Localization, object]:
            return Localization(bad, 0.9, "mask"), iter([Localization(good, 0.8, "mask@0.7")])

    det = CardTextDetector(net=_DarkNet(), skew_limit=2.0)
    det.localizer = Stub()  # type: ignore[assignment]
    lines_good, skew_good = det._detect(photo, good)
    lines_bad, skew_bad = det._detect(photo, bad)
    assert len(lines_good) == 3 and skew_good < 1.0 < 2.0 < skew_bad
    chosen = det(photo)
    assert len(chosen) == 3 and all(np.allclose(a[0], b[0]) for a, b in zip(chosen, lines_good, strict=True))
    alternatives = list(det.alternatives(photo, [q for q, _ in lines_good]))  # for a doubtful read
    assert len(alternatives) == 2  # the bad corners and the whole frame; the good ones' lines are skipped
    assert all(np.allclose(a[0], b[0]) for a, b in zip(alternatives[0], lines_bad, strict=True))
    det.skew_limit = 0.0  # off: the first corners are taken as they are
    assert all(np.allclose(a[0], b[0]) for a, b in zip(det(photo), lines_bad, strict=True))


def test_a_doubtful_read_asks_the_detector_for_other_corners() -> None:
    """One short line read at confidence 0.3 is doubtful: the detector's alternatives (other corners)
    are read, and the set that reads more characters well is kept; without alternatives, no card."""
    from idsight.errors import NoCardError
    from idsight.ocr.layoutfree import LayoutFreeReader

    def quad(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)

    class Det:
        asked = 0

        def __call__(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
            return [(quad(10, 10, 40, 30), 0.9)]

        def alternatives(self, image: np.ndarray, found: list[np.ndarray]):  # noqa: ANN201
            self.asked += 1
            assert len(found) == 1
            yield [(quad(20, 40 + 40 * i, 400, 70 + 40 * i), 0.9) for i in range(3)]

    class Rec:
        def __call__(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
            return [("SOME TEXT", 0.95) if c.shape[1] > 200 else ("x", 0.3) for c in crops]

    image = np.full((300, 500, 3), 255, np.uint8)
    det = Det()
    res = LayoutFreeReader(detector=det, recognizer=Rec()).read(image, name="card.png")
    assert det.asked == 1 and [u["text"] for u in res.unassigned] == ["SOME TEXT"] * 3
    det.alternatives = None  # type: ignore[assignment,method-assign]
    with pytest.raises(NoCardError):
        LayoutFreeReader(detector=det, recognizer=Rec()).read(image, name="card.png")


def test_a_card_turned_over_is_turned_before_other_corners_are_tried() -> None:
    """Lines read doubtfully, and better turned over: a card that then reads surely is taken turned
    over, without asking for other corners; a card that still reads doubtfully turned over had wrong
    corners, and the other corners, read the right way up, are kept."""

    def quad(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)

    long_lines = [(quad(20, 40 + 40 * i, 400, 70 + 40 * i), 0.9) for i in range(3)]

    class Det:
        def __init__(self, first: list[tuple[np.ndarray, float]]) -> None:
            self.first, self.asked = first, 0

        def __call__(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
            return self.first

        def alternatives(self, image: np.ndarray, found: list[np.ndarray]):  # noqa: ANN201
            self.asked += 1
            yield long_lines

    def rec(crops: list[np.ndarray]) -> list[tuple[str, float]]:  # upright: brighter to the right
        out = []
        for c in crops:
            upright = int(c[:, -3:].mean()) > int(c[:, :3].mean())
            if c.shape[1] > 200:
                out.append(("SOME TEXT", 0.95) if upright else ("TXET EMOS", 0.5))
            else:
                out.append(("x", 0.3) if upright else ("y", 0.6))
        return out

    ramp = np.repeat(np.tile(np.linspace(0, 255, 500, dtype=np.uint8), (300, 1))[..., None], 3, -1)
    det = Det(long_lines)
    res = LayoutFreeReader(detector=det, recognizer=rec).read(np.ascontiguousarray(ramp[:, ::-1]))
    assert res.rotation == 180 and det.asked == 0
    assert [u["text"] for u in res.unassigned] == ["SOME TEXT"] * 3
    det = Det([(quad(10, 10, 40, 30), 0.9)])
    res = LayoutFreeReader(detector=det, recognizer=rec).read(ramp)
    assert res.rotation == 0 and det.asked == 1
    assert [u["text"] for u in res.unassigned] == ["SOME TEXT"] * 3


def test_an_mrz_line_read_short_is_read_again_from_a_longer_crop() -> None:
    """The second MRZ line's box stops short of its last character (the composite check digit): read
    at 29 characters, it is read again from a crop lengthened at both ends, and the 30-character
    reading kept."""
    lost_end = MRZ[1][:-1]

    def short_box_recognizer(crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        out = recognizer(crops)
        for j, crop in enumerate(crops):  # whole only from a crop longer than its bar
            if out[j][0] == MRZ[1] and crop.shape[1] < 800:
                out[j] = (lost_end, out[j][1])
        return out

    res = LayoutFreeReader(detector=detector, recognizer=short_box_recognizer).read(card_image())
    assert res.fields["mrz"]["text"] == "\n".join(MRZ)
    assert res.checks["mrz_check_composite"]


def test_an_mrz_line_of_the_right_length_that_fails_its_checks_is_read_again_wider() -> None:
    """The first MRZ line's box misses its first two characters (a dark band the detector did not see
    through) and the reading makes up the length with fillers: its own check digit and state code
    fail, so it is read again from longer crops; the widest holds a stray word beside the zone, which
    is dropped, and the whole line is kept."""
    shifted = MRZ[0][2:] + "<<"
    assert len(shifted) == len(MRZ[0])

    def band_recognizer(crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        out = recognizer(crops)
        for j, crop in enumerate(crops):
            if out[j][0] == MRZ[0]:
                out[j] = (shifted, 0.9) if crop.shape[1] < 800 else ("I " + MRZ[0] + " x", 0.9)
        return out

    res = LayoutFreeReader(detector=detector, recognizer=band_recognizer).read(card_image())
    assert res.fields["mrz"]["text"] == "\n".join(MRZ)
    assert res.checks["mrz_check_document_number"] and res.checks["mrz_check_composite"]


def test_an_mrz_line_read_again_with_its_first_character_doubled_is_kept_once() -> None:
    """The first MRZ line's box misses its first character; the longer crops read that character
    twice (blank card before it): the reading less the doubled character passes the line's checks
    and is kept."""

    def doubling_recognizer(crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        out = recognizer(crops)
        for j, crop in enumerate(crops):
            if out[j][0] == MRZ[0]:
                out[j] = (MRZ[0][1:], 0.9) if crop.shape[1] < 800 else (MRZ[0][0] + MRZ[0], 0.9)
        return out

    res = LayoutFreeReader(detector=detector, recognizer=doubling_recognizer).read(card_image())
    assert res.fields["mrz"]["text"] == "\n".join(MRZ)
    assert res.checks["mrz_check_document_number"]


def test_line_checks_count_a_lone_lines_check_digits_and_state_codes() -> None:
    from idsight.ocr.content.mrz import line_checks

    layouts = list(mrz_layouts().values())
    assert line_checks(MRZ[0], layouts) == (2, 2)  # document number's check digit, issuing state
    assert line_checks(MRZ[1], layouts) == (3, 3)  # birth, expiry, nationality
    assert line_checks(MRZ[0][2:] + "<<", layouts)[0] < 2
    assert line_checks(MRZ[2], layouts)[0] == 0  # the name line holds no check


def test_mrz_text_drops_accents_the_mrz_cannot_hold() -> None:
    from idsight.ocr.content.mrz import mrz_text

    assert mrz_text("KZE9WMŬÜL1 <<") == "KZE9WMUUL1<<"


def test_a_layout_free_read_is_stored_for_review_and_its_review_gives_line_targets(tmp_path: Path) -> None:
    from idsight.review.capture import capture, line_targets
    from idsight.review.store import ReviewStore

    image = card_image()
    res = LayoutFreeReader(detector=detector, recognizer=recognizer).read(image, name="card.png")
    store = ReviewStore(f"sqlite:///{tmp_path}/r.db", create=True)
    rid = capture(store, res, model_name="open", model_sha256="0" * 64, image=image)
    read = store.get(rid)
    assert read.template == "td1"
    assert {"surname", "given_names", "mrz_1", "mrz_2", "mrz_3"} <= set(read.crops)
    assert "date_of_birth" not in read.crops  # taken from the MRZ: no line of its own
    assert read.fields["mrz"]["lines"] == {"mrz_1": MRZ[0], "mrz_2": MRZ[1], "mrz_3": MRZ[2]}
    crop = cv2.imdecode(np.frombuffer(read.crops["surname"], np.uint8), cv2.IMREAD_COLOR)
    assert crop.shape[0] < 40 and crop.shape[1] > 100  # one line, as the recogniser saw it
    store.submit_review(
        rid,
        "ana",
        {
            "surname": {"status": "corrected", "text": "NOVAKOVA"},
            "given_names": {"status": "confirmed", "text": None},
            "date_of_birth": {"status": "corrected", "text": "1980-03-01"},
        },
    )
    targets = line_targets(store.get(rid))
    assert targets["surname"] == "NOVAKOVA" and targets["given_names"] == "EVA"
    assert targets["mrz_1"] is None  # not reviewed: kept for distillation only


def test_spec_only_types_have_line_keys_for_the_store() -> None:
    from idsight.review.layouts import doc_layout, known_doc_types

    td3 = doc_layout("td3")
    assert td3 is not None and "td3" in known_doc_types()
    mrz = next(f for f in td3.fields if f.name == "mrz")
    assert mrz.lines == ("mrz_1", "mrz_2") and mrz.joiner == "\n"
    assert doc_layout("kr-rrc").line_keys[:2] == ("name", "rrn")  # type: ignore[union-attr]
    assert doc_layout("nope") is None


def test_read_batch_reads_each_card_as_read_does_and_keeps_failures_apart() -> None:
    """Cards batched: their lines go through the recogniser in one call, each result is what ``read``
    gives alone, and a photo without a card is that item's error, not the batch's."""
    from idsight.errors import NoCardError

    calls: list[int] = []

    def counting(crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        calls.append(len(crops))
        return recognizer(crops)

    reader = LayoutFreeReader(detector=detector, recognizer=counting)
    alone = reader.read(card_image(), name="a.png").to_dict()
    calls.clear()
    blank = np.zeros((540, 856, 3), np.uint8)
    out = reader.read_batch(
        [card_image(), blank, card_image()], names=["a.png", "b.png", "c.png"], doc_types=[None] * 3
    )
    assert calls[0] == 2 * len(BARS)  # both cards' lines in the first call
    assert isinstance(out[1], NoCardError) and "b.png" in str(out[1])
    for r in (out[0], out[2]):
        assert not isinstance(r, Exception)
        assert r.to_dict()["fields"] == alone["fields"] and r.doc_type == alone["template"]
