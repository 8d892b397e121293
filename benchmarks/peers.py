"""Baseline OCR engines ("peers") on the same card images as the idsight reader.

Each engine returns text lines as ``(text, box, conf)``: ``box`` is ``[x0, y0, x1, y1]`` in image
pixels (``rapidocr_lines(..., quads=True)`` gives its 4-point quads instead), ``conf`` in [0, 1].

``assign_lines_to_fields`` maps those lines onto the ground-truth line boxes of a synthetic record
and ``peer_fields`` runs the same cleanup as our reader, so both are scored on field values.
Peers therefore get *perfect field localisation* for free (the ground-truth layout of every card);
the comparison measures their text recognition, and is generous to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

Line = tuple[str, list[Any], float]  # (text, [x0,y0,x1,y1] or [[x,y]x4], conf)

# Tesseract language per template (Korean cards carry Latin digits and punctuation too).
TESSERACT_LANG = {"kr-rrc": "kor+eng", "td1": "eng"}
PSM_CANDIDATES = (4, 6, 11)
# Templates each engine can read at all (RapidOCR ships a Chinese/English model only; no Hangul).
PEER_TEMPLATES = {"tesseract": ("kr-rrc", "td1"), "rapidocr": ("td1",)}


# ---- engines ----------------------------------------------------------------------------------


def tesseract_lines(
    image_rgb: np.ndarray, lang: str = "eng", psm: int = 6, *, words: bool = False
) -> list[Line]:
    """Tesseract (via pytesseract.image_to_data), words grouped into lines by block/par/line number
    (``words=True``: one entry per word instead)."""
    import pytesseract
    from PIL import Image

    d = pytesseract.image_to_data(
        Image.fromarray(image_rgb), lang=lang, config=f"--psm {psm}", output_type=pytesseract.Output.DICT
    )
    groups: dict[tuple[int, int, int, int], list[tuple[int, str, list[int], float]]] = {}
    for i, word in enumerate(d["text"]):
        word = (word or "").strip()
        if d["level"][i] != 5 or not word:
            continue
        x, y, w, h = d["left"][i], d["top"][i], d["width"][i], d["height"][i]
        conf = max(0.0, float(d["conf"][i])) / 100.0
        key = (d["block_num"][i], d["par_num"][i], d["line_num"][i], d["word_num"][i] if words else 0)
        groups.setdefault(key, []).append((x, word, [x, y, x + w, y + h], conf))
    lines: list[Line] = []
    for ws in groups.values():
        ws.sort(key=lambda t: t[0])
        boxes = np.array([b for _, _, b, _ in ws])
        box = [int(boxes[:, 0].min()), int(boxes[:, 1].min()), int(boxes[:, 2].max()), int(boxes[:, 3].max())]
        lines.append((" ".join(w for _, w, _, _ in ws), box, float(np.mean([c for *_, c in ws]))))
    return lines


_RAPID: dict[int, Any] = {}


def rapidocr_engine(threads: int = 1) -> Any:
    """One RapidOCR engine per thread count, created on first use (model load ~0.5 s)."""
    if threads not in _RAPID:
        from rapidocr import RapidOCR

        _RAPID[threads] = RapidOCR(
            params={
                "Global.log_level": "warning",
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )
    return _RAPID[threads]


def rapidocr_lines(
    image_rgb: np.ndarray, *, threads: int = 1, quads: bool = False, words: bool = False
) -> list[Line]:
    """RapidOCR 3.x (PP-OCR det + cls + rec, ONNX): one entry per detected text box
    (``words=True``: per word, from its ``return_word_box`` output)."""
    bgr = np.ascontiguousarray(image_rgb[:, :, ::-1])  # an ndarray input is taken as BGR
    res = rapidocr_engine(threads)(bgr, return_word_box=words)
    if res.txts is None or res.boxes is None:
        return []
    items = zip(res.txts, res.boxes, res.scores, strict=True)
    if words:
        items = ((w, b, sc) for line in res.word_results for w, sc, b in line)
    lines: list[Line] = []
    for text, quad, score in items:
        q = np.asarray(quad, dtype=np.float64).reshape(4, 2)
        box = q.round(1).tolist() if quads else [*q.min(0).round(1).tolist(), *q.max(0).round(1).tolist()]
        lines.append((str(text), box, float(score)))
    return lines


# ---- matching to ground-truth lines ------------------------------------------------------------


def _as_quad(box: Sequence[Any]) -> np.ndarray:
    a = np.asarray(box, dtype=np.float32)
    if a.shape == (4,):
        x0, y0, x1, y1 = a
        a = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
    return a.reshape(4, 2)


def _area(q: np.ndarray) -> float:
    return float(abs(cv2.contourArea(q)))


def assign_lines_to_fields(
    peer_lines: Sequence[Line], record: dict[str, Any], *, min_overlap: float = 0.3
) -> dict[str, str]:
    """Assign each peer line to the ground-truth line it overlaps most; returns ``{line_key: text}``.

    Overlap = area(peer box ∩ GT quad) / area(peer box), using the record's image-space quads
    (``record["lines"][key]["quad"]``); entries below ``min_overlap`` everywhere are dropped. Several
    peer entries on one GT line are joined with a space, left to right along the GT line's direction.
    Every GT line key of the record is in the result ("" when nothing was assigned). Engines merge
    fields printed side by side (sex / nationality / date of birth) into one line, so the benchmark
    passes word-level entries (``words=True``), which this joins back into lines.

    This hands the peer perfect field localisation (the true layout of each card), which our
    reader has to find itself: the comparison is generous to the peers.
    """
    gt = {k: _as_quad(v["quad"]) for k, v in record["lines"].items()}
    assigned: dict[str, list[tuple[float, str]]] = {k: [] for k in gt}
    for text, box, _conf in peer_lines:
        text = " ".join(text.split())
        pq = _as_quad(box)
        parea = _area(pq)
        if not text or parea <= 0:
            continue
        best, best_ov = None, min_overlap
        for key, gq in gt.items():
            ov = cv2.intersectConvexConvex(pq, gq)[0] / parea
            if ov >= best_ov:
                best, best_ov = key, ov
        if best is not None:
            gq = gt[best]
            order = float(np.dot(pq.mean(0) - gq[0], gq[1] - gq[0]))  # along TL -> TR of the GT line
            assigned[best].append((order, text))
    return {k: " ".join(t for _, t in sorted(v)) for k, v in assigned.items()}


def rectified_view(
    image_rgb: np.ndarray, record: dict[str, Any], scale: float = 2.0
) -> tuple[np.ndarray, dict]:
    """The card cut out of the photo with its ground-truth corners, ``scale`` x the canonical frame
    (2.0: 1712 x 1080), and a copy of the record whose line quads are in that image. For the
    ``--peer-view rectified`` variant: peers then also get perfect card localisation."""
    from idsight.templates import CARD_SIZE

    w, h = round(CARD_SIZE[0] * scale), round(CARD_SIZE[1] * scale)
    src = np.asarray(record["corners"], np.float32)
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    warped = cv2.warpPerspective(
        image_rgb, cv2.getPerspectiveTransform(src, dst), (w, h), flags=cv2.INTER_AREA
    )
    lines = {}
    for key, ln in record["lines"].items():
        x0, y0, x1, y1 = (v * scale for v in ln["box"])
        lines[key] = {**ln, "quad": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]}
    return warped, {**record, "lines": lines, "image_size": [w, h]}


def line_reads(line_texts: dict[str, str], record: dict[str, Any]) -> dict[str, Any]:
    """Peer line texts as ``LineRead`` objects (confidence 1.0, chars with prob 1.0, no alternatives),
    the characters spread evenly over the GT line's box."""
    from idsight.ocr.types import CharRead, LineRead

    out = {}
    for key, text in line_texts.items():
        q = _as_quad(record["lines"][key]["quad"])
        x0, y0 = q.min(0).tolist()
        x1, y1 = q.max(0).tolist()
        step = (x1 - x0) / max(1, len(text))
        chars = [CharRead(c, 1.0, [], x0 + i * step, x0 + (i + 1) * step) for i, c in enumerate(text)]
        out[key] = LineRead(key=key, text=text, confidence=1.0, chars=chars, box=[x0, y0, x1, y1])
    return out


def peer_fields(peer_lines: Sequence[Line], record: dict[str, Any]) -> dict[str, str]:
    """Field values from a peer's lines: GT-line assignment, then our reader's cleanup."""
    from idsight.ocr.cleanup import clean_card

    texts = assign_lines_to_fields(peer_lines, record)
    result = clean_card(record["template"], line_reads(texts, record))
    return {name: fr.text for name, fr in result.fields.items()}
