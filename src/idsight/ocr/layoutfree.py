"""The layout-free reader: any text-line detector + any line recogniser + content assignment.

``LayoutFreeReader(detector=..., recognizer=...)`` finds every text line in the photo (class-agnostic
quadrilaterals), straightens and reads each one, finds the card's orientation from the lines (a card
turned 90 degrees has upright lines once turned back; one upside down reads with lower confidence
than the right way up), and hands the lines, in a frame where they run horizontally, to
``idsight.ocr.content`` for the document type and its fields. Components are registered
(``TEXT_DETECTORS``, ``LINE_RECOGNIZERS``) and built by name with keyword arguments.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from idsight.ocr.cleanup.seq import Slot, is_hangul
from idsight.ocr.content.assign import TextLine
from idsight.ocr.content.decide import UNKNOWN, read_fields
from idsight.ocr.grouping import card_groups, group_box
from idsight.registry import Registry

Quad = np.ndarray  # (4, 2) float32, clockwise from the top-left of the text


class TextDetector(Protocol):
    def __call__(self, image: np.ndarray) -> list[tuple[Quad, float]]: ...


class LineRecognizer(Protocol):
    def __call__(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]: ...


Chars = tuple[Slot, ...] | None  # per character of a reading: its top alternatives, when known


def read_lines(recognizer: LineRecognizer, crops: Sequence[np.ndarray]) -> list[tuple[str, float, Chars]]:
    """Readings with each character's alternatives, from a recogniser that gives them
    (``with_chars``); others' readings come without."""
    with_chars = getattr(recognizer, "with_chars", None)
    if with_chars is not None:
        return list(with_chars(crops))
    return [(t, c, None) for t, c in recognizer(crops)]


TEXT_DETECTORS: Registry[TextDetector] = Registry("text detector")
LINE_RECOGNIZERS: Registry[LineRecognizer] = Registry("line recogniser")


def order_quad(q: np.ndarray) -> Quad:
    """Corners ordered top-left, top-right, bottom-right, bottom-left along the text direction."""
    q = np.asarray(q, np.float32).reshape(4, 2)
    c = q.mean(0)
    ang = np.arctan2(q[:, 1] - c[1], q[:, 0] - c[0])
    q = q[np.argsort(ang)]  # clockwise in image coordinates, from the top-left quadrant
    start = int(np.argmin(q.sum(1)))
    q = np.roll(q, -start, axis=0)
    if np.linalg.norm(q[1] - q[0]) < np.linalg.norm(q[3] - q[0]):  # a vertical box: text runs down
        q = np.roll(q, -1, axis=0)
    return q


def crop_quad(image: np.ndarray, quad: Quad, *, pad: float = 0.15) -> np.ndarray:
    """The text of ``quad`` warped to a horizontal crop, padded by ``pad`` of its height."""
    q = order_quad(quad)
    w = float(max(np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[2] - q[3])))
    h = float(max(np.linalg.norm(q[3] - q[0]), np.linalg.norm(q[2] - q[1])))
    h = max(h, 4.0)
    p = pad * h
    dst = np.array([[p, p], [p + w, p], [p + w, p + h], [p, p + h]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(q.astype(np.float32), dst)
    size = (max(1, int(round(w + 2 * p))), max(1, int(round(h + 2 * p))))
    return cv2.warpPerspective(image, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def text_angle(quads: Sequence[Quad]) -> float:
    """The median direction of the lines (radians), weighted toward long lines."""
    if not quads:
        return 0.0
    angles, weights = [], []
    for q in quads:
        q = order_quad(q)
        d = (q[1] - q[0]) + (q[2] - q[3])
        angles.append(float(np.arctan2(d[1], d[0])))
        weights.append(float(np.linalg.norm(d)))
    order = np.argsort(angles)
    cum = np.cumsum(np.array(weights)[order])
    return float(np.array(angles)[order][int(np.searchsorted(cum, cum[-1] / 2))])


def rotate_points(points: np.ndarray, angle: float, centre: tuple[float, float]) -> np.ndarray:
    """Points turned by ``-angle`` about ``centre`` (so that text at ``angle`` runs horizontally)."""
    c, s = np.cos(-angle), np.sin(-angle)
    p = points - np.asarray(centre)
    return np.stack([p[..., 0] * c - p[..., 1] * s, p[..., 0] * s + p[..., 1] * c], -1) + np.asarray(centre)


@dataclass
class LineReading:
    quad: Quad
    text: str
    confidence: float
    det_score: float = 1.0
    chars: Chars = None


@dataclass
class LayoutFreeResult:
    image: str
    doc_type: str
    fields: dict[str, dict[str, Any]]
    unassigned: list[dict[str, Any]]
    checks: dict[str, Any]
    evidence: dict[str, float]
    rotation: int
    timings_ms: dict[str, float] = field(default_factory=dict)
    other_cards: list[dict[str, Any]] = field(default_factory=list)
    # for a review store (not in to_dict): the image as read (turned upright), every line's quad in
    # it, and each field's lines (indices into quads, top to bottom)
    frame: np.ndarray | None = field(default=None, repr=False)
    quads: list[Quad] = field(default_factory=list, repr=False)
    texts: list[str] = field(default_factory=list, repr=False)
    field_lines: dict[str, list[int]] = field(default_factory=dict, repr=False)

    def line_crop(self, i: int) -> np.ndarray:
        """Line ``i``'s crop, as the recogniser read it."""
        if self.frame is None:
            raise ValueError("this result keeps no image")
        return crop_quad(self.frame, self.quads[i])

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "template": self.doc_type,
            "fields": self.fields,
            "unassigned": self.unassigned,
            "checks": self.checks,
            "document_type_evidence": self.evidence,
            "rotation": self.rotation,
            "other_cards": self.other_cards,
            "timings_ms": self.timings_ms,
        }


def _rot90(image: np.ndarray, k: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(image, k=k))


class LayoutFreeReader:
    """Detector + recogniser + content assignment; see the module docstring."""

    def __init__(
        self, *, detector: TextDetector, recognizer: LineRecognizer, min_confidence: float = 0.0
    ) -> None:
        self.detector = detector
        self.recognizer = recognizer
        self.min_confidence = min_confidence
        self.name = ""

    def _lines(self, image: np.ndarray, found: list[tuple[Quad, float]] | None = None) -> list[LineReading]:
        return self._many_lines([image], [self.detector(image) if found is None else found])[0]

    def _many_lines(
        self, images: Sequence[np.ndarray], founds: Sequence[list[tuple[Quad, float]]]
    ) -> list[list[LineReading]]:
        """Every image's found lines read in one recogniser call (its width buckets batch them)."""
        crops = [crop_quad(image, q) for image, found in zip(images, founds, strict=True) for q, _ in found]
        reads = iter(read_lines(self.recognizer, crops) if crops else [])
        out = []
        for found in founds:
            mine = [(q, s, *next(reads)) for q, s in found]
            out.append(
                [
                    LineReading(order_quad(q), t, c, s, chars)
                    for q, s, t, c, chars in mine
                    if t.strip() and c >= self.min_confidence
                ]
            )
        return out

    def read_batch(
        self, images: Sequence[np.ndarray], *, names: Sequence[str], doc_types: Sequence[str | None]
    ) -> list[LayoutFreeResult | Exception]:
        """Several cards: each photo's lines are found, then every card's lines are recognised in one
        call, and each card is read on from there as :meth:`read` reads it (turned, doubtful or
        short-MRZ cards ask again on their own). A card that fails gives its exception, not the
        batch's."""
        founds: list[list[tuple[Quad, float]] | Exception] = []
        for image in images:
            try:
                founds.append(self.detector(image))
            except Exception as err:  # this card's own failure, e.g. a photo with no card
                founds.append(err)
        ok = [i for i, f in enumerate(founds) if not isinstance(f, Exception)]
        first = self._many_lines([images[i] for i in ok], [founds[i] for i in ok])  # type: ignore[misc]
        lines = dict(zip(ok, first, strict=True))
        out: list[LayoutFreeResult | Exception] = []
        for i, (image, name, doc_type) in enumerate(zip(images, names, doc_types, strict=True)):
            found = founds[i]
            if isinstance(found, Exception):
                out.append(found)
                continue
            try:
                out.append(self.read(image, name=name, doc_type=doc_type, first=lines[i]))
            except Exception as err:
                out.append(err)
        return out

    def read(
        self,
        image: np.ndarray,
        *,
        name: str = "<array>",
        doc_type: str | None = None,
        template: str | None = None,
        first: list[LineReading] | None = None,
    ) -> LayoutFreeResult:
        """``template`` is ``doc_type`` under the card reader's name; ``first``: the photo's lines as
        found and read already (:meth:`read_batch`)."""
        doc_type = doc_type or template
        t0 = time.perf_counter()
        lines = self._lines(image) if first is None else first
        rotation = 0
        # turned 90 degrees: most lines run vertically; turn the photo back and read again
        sine = float(np.sin(text_angle([r.quad for r in lines])))
        if abs(sine) > 0.7:
            k = 1 if sine > 0 else 3
            image, rotation = _rot90(image, k), 90 * k
            lines = self._lines(image)
        # upside down: the same lines read far less confidently than turned the right way up. Taken
        # at once when the turned card reads surely; otherwise other corners are tried first (a card
        # rectified from wrong corners also reads doubtfully), and turning over is asked again after
        turned: tuple[np.ndarray, list[LineReading]] | None = None
        if lines and _median_confidence(lines) < 0.8:
            turned = self._turned_over(image, lines)
            if turned is not None and not _doubtful(turned[1]):
                (image, lines), rotation, turned = turned, (rotation + 180) % 360, None
        # a card read doubtfully may have been rectified from wrong corners: a detector that has other
        # corners to offer (the localiser's alternatives) is asked, and the best-read set kept
        others = getattr(self.detector, "alternatives", None)
        before = lines
        if others is not None and _doubtful(lines):
            for found in others(image, [r.quad for r in lines]):
                candidate = self._lines(image, found)
                if _read_chars(candidate) > _read_chars(lines):
                    lines = candidate
                if not _doubtful(lines):
                    break
        if lines and _median_confidence(lines) < 0.8:
            if lines is not before or turned is None:
                turned = self._turned_over(image, lines)
            if turned is not None:
                (image, lines), rotation = turned, (rotation + 180) % 360
        if not lines:
            from idsight.errors import NoCardError

            raise NoCardError("no text found: no ID card in the image", path=name)
        lines = self._mrz_ends(image, lines)
        # several cards in the photo: read the largest, report the others (box in the read frame)
        groups = card_groups([r.quad for r in lines])
        others = [{"box": group_box([r.quad for r in lines], g), "lines": len(g)} for g in groups[1:]]
        lines = [lines[i] for i in groups[0]]
        angle = text_angle([r.quad for r in lines])
        centre = (image.shape[1] / 2, image.shape[0] / 2)
        text_lines = []
        for r in lines:
            q = rotate_points(r.quad, angle, centre)
            box = (float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()), float(q[:, 1].max()))
            text_lines.append(TextLine(r.text, box, round(float(r.confidence), 4), r.chars))
        decision = read_fields(text_lines, doc_type=doc_type)
        # a card of no known type still prints words: fragments read in a photo without one do not count
        readable = [r for r in lines if r.confidence >= 0.5 and len("".join(r.text.split())) >= 3]
        if decision.doc_type == UNKNOWN and len(readable) < 2:
            from idsight.errors import NoCardError

            raise NoCardError("no readable text: no ID card in the image", path=name)
        a = decision.assignment
        fields: dict[str, dict[str, Any]] = {}
        field_lines: dict[str, list[int]] = {}
        unassigned = list(range(len(lines)))
        checks: dict[str, Any] = {}
        if a is not None:
            for field_name, v in a.fields.items():
                # a value taken from the MRZ has no line of its own
                if v.source != "mrz" or field_name == "mrz":
                    field_lines[field_name] = sorted(v.lines, key=lambda i: float(lines[i].quad[:, 1].mean()))
                fields[field_name] = {
                    "text": v.value,
                    "confidence": v.confidence,
                    "box": _quad_box([lines[i].quad for i in v.lines]),
                    "source": v.source,
                }
            unassigned, checks = a.unassigned, dict(a.checks)
        return LayoutFreeResult(
            image=name,
            doc_type=decision.doc_type if decision.doc_type != UNKNOWN else UNKNOWN,
            fields=fields,
            unassigned=[
                {
                    "text": lines[i].text,
                    "confidence": round(lines[i].confidence, 4),
                    "box": _quad_box([lines[i].quad]),
                }
                for i in unassigned
            ],
            checks=checks,
            evidence=decision.evidence,
            rotation=rotation,
            timings_ms={"total": round((time.perf_counter() - t0) * 1000, 2)},
            other_cards=others,
            frame=image,
            quads=[r.quad for r in lines],
            texts=[r.text for r in lines],
            field_lines=field_lines,
        )

    def _turned_over(
        self, image: np.ndarray, lines: list[LineReading]
    ) -> tuple[np.ndarray, list[LineReading]] | None:
        """The photo turned over and its lines, if they read more confidently than ``lines``: asked
        of the longest lines' crops turned over first, and only then of the whole photo."""
        longest = sorted(lines, key=lambda r: -float(np.linalg.norm(r.quad[1] - r.quad[0])))[:6]
        turned = read_lines(self.recognizer, [_rot90(crop_quad(image, r.quad), 2) for r in longest])
        if np.median([c for _, c, _ in turned]) <= _median_confidence(longest):
            return None
        over = _rot90(image, 2)
        flipped = self._lines(over)
        if flipped and _median_confidence(flipped) > _median_confidence(lines):
            return over, flipped
        return None

    def _mrz_ends(self, image: np.ndarray, lines: list[LineReading]) -> list[LineReading]:
        """MRZ lines read at no MRZ length (30, 36 or 44 characters), or failing a check digit of their
        own, often lost end characters to a short box, to a dark band the detector did not see
        through, or to corners that cut the card. Such a line is read again from its crop lengthened
        at each end (in the photo, beyond the rectified card) by ``MRZ_REACH`` of its height, and
        also by the width of the characters it lacks; a short word read apart beyond the zone's
        ends is not MRZ. The reading that passes most of the line's check digits, then comes
        nearest an MRZ length, is kept (the first read on a tie; where the line passed none, only a
        reading that passes them all)."""
        from idsight.ocr.content.mrz import line_checks, looks_like_mrz, mrz_text
        from idsight.ocr.content.spec import mrz_layouts

        layouts = list(mrz_layouts().values())
        sizes = sorted({m.length for m in layouts})

        def rank(text: str) -> tuple[int, int]:  # lower is better
            passed, total = line_checks(text, layouts)
            return total - passed, min(abs(len(mrz_text(text)) - n) for n in sizes)

        def reaches(r: LineReading) -> list[float]:  # in line heights
            n = len(mrz_text(r.text))
            missing = min((size - n for size in sizes if size >= n), default=0)
            q = order_quad(r.quad)
            pitch = float(np.linalg.norm(q[1] - q[0])) / max(n, 1)
            more = MRZ_REACH + missing * pitch / max(float(np.linalg.norm(q[3] - q[0])), 1e-6)
            return [MRZ_REACH, more] if missing > 1 else [MRZ_REACH]

        again = [i for i, r in enumerate(lines) if looks_like_mrz(r.text) and rank(r.text) != (0, 0)]
        if not again:
            return lines
        tries = [(i, _lengthened(lines[i].quad, k)) for i in again for k in reaches(lines[i])]
        reads = read_lines(self.recognizer, [crop_quad(image, q) for _, q in tries])
        out = list(lines)
        for (i, q), (text, conf, chars) in zip(tries, reads, strict=True):
            core = min(_undoubled(_mrz_core(text), sizes), key=rank)
            # a line whose checks all failed may be a line without any (a name line read as another
            # layout's first line): a new reading must then pass them all
            new, old = rank(core), rank(out[i].text)
            unproven = line_checks(out[i].text, layouts)[0] == 0 and new[0] > 0
            if looks_like_mrz(core) and new < old and not unproven:
                out[i] = LineReading(q, core, conf, lines[i].det_score, chars if core == text else None)
        return out


def _mrz_core(text: str) -> str:
    """``text`` without a word of one or two characters read apart at either end (print beside the
    zone: the MRZ itself has no spaces)."""
    words = text.split()
    while len(words) > 1 and len(words[0]) <= 2:
        words = words[1:]
    while len(words) > 1 and len(words[-1]) <= 2:
        words = words[:-1]
    return " ".join(words) if len(words) != len(text.split()) else text


def _undoubled(text: str, sizes: Sequence[int]) -> list[str]:
    """``text``, and where it is longer than an MRZ length, ``text`` less a doubled first or last
    character: a crop lengthened into blank card can read its end character twice."""
    from idsight.ocr.content.mrz import mrz_text

    out = [text]
    if len(mrz_text(text)) not in sizes:
        if len(text) > 1 and text[0] == text[1]:
            out.append(text[1:])
        if len(text) > 1 and text[-1] == text[-2]:
            out.append(text[:-1])
    return out


MRZ_REACH = 0.8
SURE = 0.99  # characters read this surely come without alternatives (ctc_decode_lines)


def _lengthened(quad: Quad, reach: float) -> Quad:
    """``quad`` (ordered) with each end moved out by ``reach`` of its height along its length."""
    q = order_quad(quad).astype(np.float32)
    along = q[1] - q[0]
    unit = along / max(float(np.linalg.norm(along)), 1e-6)
    d = unit * reach * float(np.linalg.norm(q[3] - q[0]))
    return np.stack([q[0] - d, q[1] + d, q[2] + d, q[3] - d]).astype(np.float32)


def _median_confidence(lines: Sequence[LineReading]) -> float:
    return float(np.median([r.confidence for r in lines]))


def _doubtful(lines: Sequence[LineReading]) -> bool:
    """Few lines, or lines read with a median confidence under 0.8."""
    return len(lines) < 3 or _median_confidence(lines) < 0.8


def _read_chars(lines: Sequence[LineReading]) -> float:
    """How much was read well: the confidence-weighted count of characters of lines read with
    confidence 0.5 or more."""
    return sum(r.confidence * len("".join(r.text.split())) for r in lines if r.confidence >= 0.5)


def _quad_box(quads: Sequence[Quad]) -> list[int] | None:
    """Axis-aligned box of some quads, in the frame as read (the photo turned by ``rotation``)."""
    if not quads:
        return None
    pts = np.concatenate([np.asarray(q).reshape(-1, 2) for q in quads])
    return [
        int(pts[:, 0].min()),
        int(pts[:, 1].min()),
        int(np.ceil(pts[:, 0].max())),
        int(np.ceil(pts[:, 1].max())),
    ]


# -- registered components ------------------------------------------------------------------------
def _rapidocr(params: dict[str, Any]) -> Any:
    """A RapidOCR engine (PP-OCR's ONNX models as the ``rapidocr`` package ships them)."""
    try:
        from rapidocr import RapidOCR
    except ImportError:
        from idsight.errors import BadModelError

        raise BadModelError(
            "this reader's text detector is PP-OCR's, from the rapidocr package: pip install 'idsight[teacher]'"
        ) from None
    return RapidOCR(params=params)


@TEXT_DETECTORS.register("ppocr")
class PPOCRDetector:
    """PP-OCR's DB text detector as shipped (ONNX) in the ``rapidocr`` package, run offline."""

    def __init__(self, *, threads: int = 1) -> None:
        self.engine = _rapidocr(
            {
                "Global.log_level": "warning",
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )

    def __call__(self, image: np.ndarray) -> list[tuple[Quad, float]]:
        res = self.engine(np.ascontiguousarray(image[:, :, ::-1]), use_det=True, use_cls=False, use_rec=False)
        boxes = getattr(res, "boxes", None)
        if boxes is None:
            return []
        scores = getattr(res, "scores", None)
        scores = list(scores) if scores is not None else [1.0] * len(boxes)
        return [
            (np.asarray(b, np.float32).reshape(4, 2), float(s)) for b, s in zip(boxes, scores, strict=False)
        ]


@LINE_RECOGNIZERS.register("ppocr")
class PPOCRRecognizer:
    """PP-OCR's recogniser as shipped in ``rapidocr`` (Latin and Chinese characters; no Hangul)."""

    def __init__(self, *, threads: int = 1) -> None:
        self.engine = _rapidocr(
            {"Global.log_level": "warning", "EngineConfig.onnxruntime.intra_op_num_threads": threads}
        )

    def __call__(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        out = []
        for crop in crops:
            res = self.engine(
                np.ascontiguousarray(crop[:, :, ::-1]), use_det=False, use_cls=False, use_rec=True
            )
            txts, scores = getattr(res, "txts", None), getattr(res, "scores", None)
            out.append((str(txts[0]), float(scores[0])) if txts and scores is not None else ("", 0.0))
        return out


@LINE_RECOGNIZERS.register("tesseract")
class TesseractRecognizer:
    """Tesseract's LSTM recogniser (Debian's ``tesseract-ocr`` with ``-kor``), one text line per crop
    (``--psm 7``), the crop scaled to ``height`` pixels. Tesseract splits Hangul words into single
    syllables; words are joined again unless the gap between their boxes is at least ``space`` of
    the line's height."""

    def __init__(self, *, lang: str = "kor", height: int = 48, space: float = 0.3, threads: int = 1) -> None:
        try:
            import pytesseract
        except ImportError:
            from idsight.errors import BadModelError

            raise BadModelError(
                "this reader reads Hangul lines with Tesseract: pip install 'idsight[teacher]'"
            ) from None
        self._tess = pytesseract
        self.lang, self.height, self.space = lang, height, space

    def _one(self, crop: np.ndarray) -> tuple[str, float]:
        scale = self.height / max(1, crop.shape[0])
        image = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        d = self._tess.image_to_data(
            np.ascontiguousarray(image[:, :, ::-1]),
            lang=self.lang,
            config="--psm 7",
            output_type=self._tess.Output.DICT,
        )
        words = [  # a card's frame or a table rule next to the line is read as a bar: dropped
            (w.strip().strip("|"), float(c), int(x), int(x) + int(wd), int(h))
            for w, c, x, wd, h in zip(d["text"], d["conf"], d["left"], d["width"], d["height"], strict=True)
            if w.strip().strip("|")
        ]
        if not words:
            return "", 0.0
        height = float(np.median([w[4] for w in words]))
        text = words[0][0]
        for prev, cur in zip(words, words[1:], strict=False):
            text += (" " if cur[2] - prev[3] >= self.space * height else "") + cur[0]
        return text, float(np.mean([w[1] for w in words])) / 100.0

    def __call__(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        return [self._one(c) for c in crops]


@LINE_RECOGNIZERS.register("crnn")
class CRNNRecognizer:
    """An idsight CTC recogniser: from an artifact file (``model=``, e.g. one ``idsight train`` wrote
    for the open charset) or from weights already loaded (``state``, ``arch``, ``charset``)."""

    def __init__(
        self,
        *,
        model: str | Path | None = None,
        state: dict[str, Any] | None = None,
        arch: dict[str, Any] | None = None,
        charset: str | None = None,
        threads: int = 1,
    ) -> None:
        import torch

        from idsight.artifact import load_artifact
        from idsight.errors import BadModelError
        from idsight.ocr.predictor import DEFAULT_PREPROCESSING
        from idsight.registry import MODELS

        where = model or "<weights>"
        if model is not None:
            from idsight.models.recognizer import recognizer_of

            state, meta = recognizer_of(*load_artifact(model))  # a reader file: its recogniser
            arch, charset = meta.get("arch"), meta.get("charset")
        if not isinstance(charset, str) or not isinstance(arch, dict) or state is None:
            raise BadModelError("not a line recogniser (no charset or arch)", path=where)
        import idsight.models.recognizer  # noqa: F401  (registers the builders)

        net = MODELS.build(arch["name"], **arch["kwargs"])
        if getattr(net, "num_classes", None) != len(charset) + 1:
            raise BadModelError("the charset does not fit the network", path=where)
        try:
            net.load_state_dict(state)
        except RuntimeError as err:
            raise BadModelError(
                f"weights do not fit the network ({str(err).splitlines()[0]})", path=where
            ) from None
        self.net = net.eval()
        self.arch, self.charset = arch, charset
        self.pre = dict(DEFAULT_PREPROCESSING)
        torch.set_num_threads(threads)

    def __call__(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        return [(t, c) for t, c, _ in self.with_chars(crops)]

    def with_chars(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float, Chars]]:
        import torch

        from idsight.models.postprocess import ctc_decode_lines
        from idsight.ocr.predictor import fit_height, pad_batch, to_tensor, width_buckets

        tensors = [to_tensor(fit_height(c, self.pre), self.pre["mean"], self.pre["std"]) for c in crops]
        out: list[tuple[str, float, Chars]] = [("", 0.0, None)] * len(crops)
        stride = self.pre["recognizer_stride"]
        with torch.inference_mode():
            for group in width_buckets([t.shape[-1] for t in tensors]):
                logits = (
                    self.net(pad_batch([tensors[i] for i in group]))["logits"].float().softmax(-1).numpy()
                )
                probs = [logits[n, : tensors[i].shape[-1] // stride] for n, i in enumerate(group)]
                for i, (text, conf, chars) in zip(
                    group, ctc_decode_lines(probs, self.charset, reduce="mean", sure=SURE), strict=True
                ):
                    slots = tuple(Slot(c.char, float(c.prob), list(c.alternatives)) for c in chars)
                    spelled = "".join(c.char for c in slots) == text
                    out[i] = (text, conf, slots if spelled else None)
        return out


class ScriptCommittee:
    """Recognisers by script. ``main`` reads every script the cards print (idsight's open
    recogniser, whose characters come with their alternatives for the field language models).
    ``latin`` (PP-OCR's) reads Latin, digits and the MRZ better but cannot read Hangul: on a Hangul
    line it returns nothing, or a few characters with low confidence. ``hangul`` (Tesseract's Korean
    LSTM) reads Hangul lines. A member's reading of a line wins when it is confident
    (``min_confidence``), loses nothing (its length is at least ``min_length_ratio`` of main's
    reading) and is of its script: the Latin reading holds no CJK ideographs (its guess at Hangul),
    the Hangul member is only asked about lines that main read with Hangul. Otherwise main's reading
    stands."""

    def __init__(
        self,
        *,
        main: LineRecognizer,
        latin: LineRecognizer | None = None,
        hangul: LineRecognizer | None = None,
        min_confidence: float = 0.8,
        min_length_ratio: float = 0.8,
    ) -> None:
        self.main, self.latin, self.hangul = main, latin, hangul
        self.min_confidence, self.min_length_ratio = min_confidence, min_length_ratio

    def _wins(self, main: str, other: str, confidence: float) -> bool:
        a, b = "".join(main.split()), "".join(other.split())
        return bool(b) and confidence >= self.min_confidence and len(b) >= self.min_length_ratio * len(a)

    @staticmethod
    def respaced(text: str, like: str) -> str:
        """``text``'s characters with the word spaces of ``like``, another reading of the same line
        (aligned character by character): Tesseract splits Hangul words into syllables."""
        import difflib

        bare = "".join(text.split())
        ref = "".join(like.split())
        starts, k = set(), 0
        for word in like.split():
            starts.add(k)
            k += len(word)
        space_before = set()
        for tag, i0, i1, j0, j1 in difflib.SequenceMatcher(None, ref, bare, autojunk=False).get_opcodes():
            if tag in ("equal", "replace"):
                space_before |= {j0 + d for d in range(min(i1 - i0, j1 - j0)) if i0 + d in starts}
        return "".join((" " if j in space_before and j else "") + c for j, c in enumerate(bare))

    def with_chars(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float, Chars]]:
        out = read_lines(self.main, crops)
        settled = set()
        if self.hangul is not None:  # first: lines that main read with Hangul
            asked = [i for i, (text, _, _) in enumerate(out) if any(is_hangul(c) for c in text)]
            for i, (text, conf) in zip(asked, self.hangul([crops[i] for i in asked]), strict=True):
                if self._wins(out[i][0], text, conf) and any(is_hangul(c) for c in text):
                    out[i] = (self.respaced(text, out[i][0]), conf, None)
                    settled.add(i)
        if self.latin is not None:
            rest = [i for i in range(len(crops)) if i not in settled]
            for i, (text, conf) in zip(rest, self.latin([crops[i] for i in rest]), strict=True):
                if self._wins(out[i][0], text, conf) and not any("\u4e00" <= c <= "\u9fff" for c in text):
                    out[i] = (text, conf, None)
        return out

    def __call__(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        return [(t, c) for t, c, _ in self.with_chars(crops)]


# -- one-file artifacts -----------------------------------------------------------------------------
TASK = "line_reader"


def _provenance(name: str) -> dict[str, Any] | None:
    """Where a packaged component's weights come from (PP-OCR's: the ``rapidocr`` package;
    Tesseract's: the system's ``tesseract`` and its language data)."""
    if name == "ppocr":
        import rapidocr

        return {"package": "rapidocr", "version": getattr(rapidocr, "__version__", None)}
    if name == "tesseract":
        import pytesseract

        return {"program": "tesseract", "version": str(pytesseract.get_tesseract_version())}
    return None


def save_line_reader(
    path: str | Path,
    *,
    recognizer: str | Path,
    detector: dict[str, Any] | None = None,
    latin: str | None = None,
    hangul: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """One file holding a layout-free reader: the recogniser's weights and charset, the detector, and
    ``meta``. ``latin="ppocr"``: PP-OCR's recogniser reads the lines it reads well (a
    ``ScriptCommittee``; its version is recorded). ``detector``: ``{"name": "ppocr"}`` (PP-OCR's, from the ``rapidocr`` package; its version
    is recorded) or ``{"name": "db", "model": TEXT_MAP_ARTIFACT, "localizer": READER or None,
    "threshold": 0.4, "mask_open": 0.05, "skew_limit": 2.0}`` (idsight's own, whose networks go into the
    file; ``mask_open`` and ``skew_limit``: see ``idsight.ocr.textdet.CardTextDetector``)."""
    from idsight import hub
    from idsight.artifact import load_artifact, save_artifact
    from idsight.models.recognizer import recognizer_of
    from idsight.ocr import textdet  # noqa: F401  (registers the "db" detector)

    state, rmeta = recognizer_of(*load_artifact(recognizer))  # another reader file: its recogniser
    arch = rmeta.get("arch")
    if (
        not isinstance(arch, dict)
        or not isinstance(arch.get("name"), str)
        or not isinstance(rmeta.get("charset"), str)
    ):
        from idsight.errors import BadModelError

        raise BadModelError("not a line-recogniser artifact (no arch or charset)", path=recognizer)
    det = dict(detector or {"name": "ppocr"})
    TEXT_DETECTORS.get(det["name"])
    tensors = {f"recognizer.{k}": v for k, v in state.items()}
    record: dict[str, Any] = {"name": det["name"], "kwargs": {}}
    if det["name"] == "ppocr":
        record["provenance"] = _provenance("ppocr")
    elif det["name"] == "db":
        dstate, dmeta = load_artifact(det["model"])
        tensors |= {f"detector.{k}": v for k, v in dstate.items()}
        record.update(arch=dmeta["arch"], provenance=dmeta.get("provenance"))
        record["kwargs"] = {
            "threshold": float(det.get("threshold", 0.4)),
            "height_scale": float(det.get("height_scale", 1.0)),
        }
        if det.get("localizer"):
            lstate, lmeta = load_artifact(hub.resolve(det["localizer"]))
            larch = lmeta.get("arch") or {}
            record["kwargs"]["mask_open"] = float(det.get("mask_open", 0.05))
            record["kwargs"]["skew_limit"] = float(det.get("skew_limit", 2.0))
            if "localizer" in larch:  # a card reader: its localiser
                tensors |= {k: v for k, v in lstate.items() if k.startswith("localizer.")}
                record["localizer_arch"] = larch["localizer"]
            else:  # one network that ``idsight train`` wrote (configs/localizer_student.yaml)
                tensors |= {f"localizer.{k}": v for k, v in lstate.items()}
                record["localizer_arch"] = larch
                record["localizer_provenance"] = lmeta.get("provenance")
    own = det["name"] == "db" and latin is None and hangul is None
    full = {
        "task": TASK,
        "role": "student" if own else "teacher",  # idsight's own networks only, or packaged parts too
        "parameter_count": int(sum(v.numel() for v in tensors.values())),
        "detector": record,
        "recognizer": {
            "arch": rmeta["arch"],
            "charset": rmeta["charset"],
            "provenance": rmeta.get("provenance"),
        },
        **(meta or {}),
    }
    for script, member in (("latin", latin), ("hangul", hangul)):
        if member is not None:
            LINE_RECOGNIZERS.get(member)
            full["recognizer"][script] = {"name": member, "provenance": _provenance(member)}
    return save_artifact(path, tensors, full, dtype="float32")


LINE_RUNTIMES = ("torch", "onnx", "onnx-int8")


def load_line_reader(path: str | Path, *, threads: int = 1, runtime: str = "torch") -> LayoutFreeReader:
    """The reader of a ``line_reader`` file; ``runtime``: ``torch``, ``onnx`` (idsight's networks
    exported at load and run in onnxruntime) or ``onnx-int8`` (the same, dynamically int8-quantised)."""
    from idsight.artifact import load_artifact
    from idsight.errors import BadModelError

    if runtime not in LINE_RUNTIMES:
        raise BadModelError(f"unknown runtime {runtime!r} (known: {', '.join(LINE_RUNTIMES)})", path=path)

    state, meta = load_artifact(path)
    if meta.get("task") != TASK:
        raise BadModelError(f"not a layout-free reader (task {meta.get('task')!r})", path=path)
    rec, det = meta.get("recognizer"), meta.get("detector")
    if not isinstance(rec, dict) or not isinstance(det, dict) or not isinstance(det.get("name"), str):
        raise BadModelError("the reader's recogniser or detector record is missing", path=path)
    from idsight.models.recognizer import recognizer_of

    recognizer: LineRecognizer = CRNNRecognizer(
        state=recognizer_of(state, meta)[0],
        arch=rec.get("arch"),
        charset=rec.get("charset"),
        threads=threads,
    )
    members = {
        script: LINE_RECOGNIZERS.build(m["name"], threads=threads)
        for script in ("latin", "hangul")
        if isinstance(m := rec.get(script), dict) and isinstance(m.get("name"), str)
    }
    if members:
        recognizer = ScriptCommittee(
            main=recognizer, latin=members.get("latin"), hangul=members.get("hangul")
        )
    from idsight.ocr.textdet import build_net  # (also registers the "db" detector)

    kwargs = dict(det.get("kwargs", {}))
    if det["name"] == "db":

        def part(prefix: str) -> dict[str, Any]:
            return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}

        try:
            kwargs["net"] = build_net(det["arch"], part("detector."))
            if "localizer_arch" in det:
                kwargs["localizer"] = build_net(det["localizer_arch"], part("localizer."))
        except (KeyError, RuntimeError, TypeError) as err:
            raise BadModelError(
                f"the text detector does not load ({type(err).__name__})", path=path
            ) from None
    detector = TEXT_DETECTORS.build(det["name"], threads=threads, **kwargs)
    reader = LayoutFreeReader(detector=detector, recognizer=recognizer)
    if runtime != "torch":
        _to_onnx(reader, int8=runtime == "onnx-int8", threads=threads)
    return reader


def _to_onnx(reader: LayoutFreeReader, *, int8: bool, threads: int) -> None:
    """Swap the reader's networks for onnxruntime sessions of their ONNX graphs."""
    from idsight.export import KINDS, line_reader_graphs
    from idsight.ocr.runtime import OrtNet

    graphs = line_reader_graphs(reader, int8=int8)
    det, rec = reader.detector, reader.recognizer
    outputs = {"detector": "maps", "localizer": "maps", "recognizer": KINDS["recognizer"]["output"]}
    nets = {k: OrtNet(g, outputs[k], threads=threads) for k, g in graphs.items()}
    det.net = nets["detector"]  # type: ignore[attr-defined]
    rec.net = nets["recognizer"]  # type: ignore[attr-defined]
    if "localizer" in nets:
        det.localizer.net = nets["localizer"]  # type: ignore[attr-defined]
