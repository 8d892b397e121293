"""The card reader: composes localisation, template classification, field detection,
recognition and cleanup. The model is loaded once; ``read`` is called per card.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from idsight import hub
from idsight.data.charset import CHARSET
from idsight.data.io import load_image, lut_planes, shrink
from idsight.errors import BadConfigError, BadModelError, NoCardError
from idsight.models.postprocess import ctc_decode_lines, maps_to_boxes
from idsight.models.reader import ReaderModel, check_charset
from idsight.ocr.cleanup import CLEANUPS
from idsight.ocr.localize import CardView, Localization, locate
from idsight.ocr.runtime import TimedNetworks  # (also registers the runtimes)
from idsight.ocr.types import CleanupResult, LineRead
from idsight.registry import LOCALIZERS, RUNTIMES
from idsight.templates import CARD_SIZE, LINE_KEYS, TEMPLATE_NAMES, get_template

CLASSES = (*TEMPLATE_NAMES, "none")
DEFAULT_PREPROCESSING: dict[str, Any] = {
    "mean": [0.5, 0.5, 0.5],
    "std": [0.5, 0.5, 0.5],
    "classifier_size": [152, 96],  # (W, H)
    "detector_size": [256, 160],
    "recognizer_height": 32,
    "recognizer_max_width": 800,
    "recognizer_stride": 4,
    "crop_pad": [0.3, 0.2],  # (x, y) padding around a line box, as a fraction of its height
    # how a photo's line crops are cut: "window" warps the padded window at card resolution, then
    # area-resizes it to the recogniser height (as training cuts rectified cards); "direct" warps
    # the photo straight to that height in one step (cheaper; the pixels differ slightly)
    "line_warp": "window",
}
LINE_WARPS = ("window", "direct")
# keys added after models were shipped without them, and the value that reads those models as they
# were read when their metrics were recorded (a later change of DEFAULT_PREPROCESSING leaves them be)
LEGACY_PREPROCESSING: dict[str, Any] = {"line_warp": "window"}


@dataclass
class ReadResult:
    image: str
    template: str
    fields: dict[str, dict[str, Any]]
    checks: dict[str, Any]
    corrections: list[dict[str, Any]]
    timings_ms: dict[str, float]
    network_ms: float = 0.0  # of timings_ms["total"], the time inside the four networks
    lines: dict[str, LineRead] = field(default_factory=dict, repr=False)
    corners: list[list[float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "template": self.template,
            "fields": self.fields,
            "checks": self.checks,
            "corrections": self.corrections,
            "timings_ms": self.timings_ms,
        }


def to_tensor(img: np.ndarray, mean: list[float], std: list[float]) -> torch.Tensor:
    """(H, W, 3) uint8 -> normalised (3, H, W) float32: (x / 255 - mean) / std."""
    return torch.from_numpy(lut_planes(img, _lut(tuple(mean), tuple(std))))


@functools.lru_cache(maxsize=8)
def _lut(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """``(3, 256)`` float32: channel ``c``'s normalised value of every byte, ``v * scale - shift``
    computed in float32 as the whole-array formula did, so a table lookup gives the same values
    (a third of the time of converting and scaling each pixel)."""
    std32 = np.asarray(std, dtype=np.float32)
    scale, shift = 1.0 / (255.0 * std32), np.asarray(mean, dtype=np.float32) / std32
    v = np.arange(256, dtype=np.float32)[None, :]
    lut = v * scale.astype(np.float32)[:, None] - shift[:, None]
    lut.flags.writeable = False
    return lut


def line_batch(crops: list[np.ndarray], mean: list[float], std: list[float]) -> torch.Tensor:
    """``pad_batch([to_tensor(c, mean, std) for c in crops])``, the same values in one buffer,
    without a tensor per crop (a read has about eight lines)."""
    lut = _lut(tuple(mean), tuple(std))
    h = crops[0].shape[0]
    x = np.zeros((len(crops), 3, h, max(c.shape[1] for c in crops)), np.float32)
    for i, crop in enumerate(crops):  # the padding stays zero, as pad_batch's
        lut_planes(crop, lut, out=x[i, :, :, : crop.shape[1]])
    return torch.from_numpy(x)


def crop_line(
    card: np.ndarray | CardView, box: list[float], pre: dict[str, Any]
) -> tuple[np.ndarray, float, float]:
    """Cut a line box (card frame) with padding, resized to the recogniser height, from a rectified
    card or a :class:`CardView` (which warps just that window; with ``pre["line_warp"] == "direct"``
    straight to the recogniser height).

    Returns the crop and the (x offset, x scale) that map crop x back to card x.
    """
    if isinstance(card, CardView):
        cx0, cy0, cx1, cy1 = line_window(box, pre, card.size)
        if pre.get("line_warp", "window") == "direct":
            w, h = line_size(cx1 - cx0, cy1 - cy0, pre)
            return card.region(cx0, cy0, cx1, cy1, out=(w, h)), float(cx0), (cx1 - cx0) / w
        piece = card.region(cx0, cy0, cx1, cy1)
    else:
        cx0, cy0, cx1, cy1 = line_window(box, pre, (card.shape[1], card.shape[0]))
        piece = card[cy0:cy1, cx0:cx1]
    out = fit_height(piece, pre)
    return out, float(cx0), (cx1 - cx0) / out.shape[1]


def line_window(box: list[float], pre: dict[str, Any], frame: tuple[int, int]) -> tuple[int, int, int, int]:
    """The padded window ``(x0, y0, x1, y1)`` a line box is cut from, inside a ``frame`` (W, H)."""
    x0, y0, x1, y1 = box
    bh = max(4.0, y1 - y0)
    px, py = pre["crop_pad"][0] * bh, pre["crop_pad"][1] * bh
    W, H = frame
    cx0, cy0 = min(W - 1, max(0, int(x0 - px))), min(H - 1, max(0, int(y0 - py)))
    cx1, cy1 = min(W, max(cx0 + 1, int(np.ceil(x1 + px)))), min(H, max(cy0 + 1, int(np.ceil(y1 + py))))
    return cx0, cy0, cx1, cy1


def fit_height(crop: np.ndarray, pre: dict[str, Any]) -> np.ndarray:
    """Resize a line crop to the recogniser's height, its width a multiple of the stride (capped)."""
    return cv2.resize(crop, line_size(crop.shape[1], crop.shape[0], pre), interpolation=cv2.INTER_AREA)


def line_size(width: int, height: int, pre: dict[str, Any]) -> tuple[int, int]:
    """The recogniser input size ``(W, H)`` of a ``width`` x ``height`` line window: the recogniser
    height, and the width at the same aspect ratio rounded to a multiple of the stride (capped)."""
    h = pre["recognizer_height"]
    stride = pre["recognizer_stride"]
    w = int(round(width * h / max(1, height) / stride)) * stride
    return int(min(pre["recognizer_max_width"], max(stride * 4, w))), h


def width_buckets(widths: list[int], *, max_ratio: float = 1.6, max_size: int = 32) -> list[list[int]]:
    """Group indices of similar widths (sorted), so each group is padded only to its own maximum."""
    order = sorted(range(len(widths)), key=lambda i: widths[i])
    groups: list[list[int]] = []
    for i in order:
        if groups and len(groups[-1]) < max_size and widths[i] <= max_ratio * widths[groups[-1][0]]:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def pad_batch(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Right-pad (3, H, W_i) tensors to one width with zeros (mid-grey after normalisation)."""
    wmax = max(t.shape[-1] for t in tensors)
    out = torch.zeros(len(tensors), 3, tensors[0].shape[1], wmax)
    for i, t in enumerate(tensors):
        out[i, :, :, : t.shape[-1]] = t
    return out


class CardReader:
    """Reads ID cards end to end with one loaded model artifact."""

    def __init__(
        self,
        model: ReaderModel,
        meta: dict[str, Any],
        *,
        localizer: str = "mask",
        cleanup: str = "default",
        runtime: str = "torch",
        min_class_prob: float = 0.5,
        retry_below: float = 0.9,
        name: str = "",
        preprocessing: dict[str, Any] | None = None,
    ) -> None:
        """``preprocessing`` overrides keys of the artifact's recorded preprocessing (for a
        benchmark of a variant, e.g. ``{"line_warp": "direct"}``)."""
        recorded = meta.get("preprocessing", {})
        self.pre = {**DEFAULT_PREPROCESSING, **LEGACY_PREPROCESSING, **recorded, **(preprocessing or {})}
        if unknown := set(preprocessing or {}) - set(DEFAULT_PREPROCESSING):
            raise BadConfigError(
                f"unknown preprocessing keys {sorted(unknown)}; known: {sorted(DEFAULT_PREPROCESSING)}"
            )
        if self.pre["line_warp"] not in LINE_WARPS:
            raise BadConfigError(f"line_warp must be one of {LINE_WARPS}, not {self.pre['line_warp']!r}")
        self.runtime = runtime
        self.model = RUNTIMES.build(runtime, model=model)
        self.nets = TimedNetworks(self.model)
        self.meta = meta
        self.name = name
        self.charset: str = meta.get("charset", CHARSET)
        self.localizer = LOCALIZERS.build(localizer, model=self.nets)
        self.cleanup = CLEANUPS.build(cleanup)
        self.min_class_prob = min_class_prob
        self.retry_below = retry_below  # below this template probability, try other localisations

    @classmethod
    def load(cls, model: str | Path = "default", **kwargs: Any) -> CardReader:
        if "runtime" in kwargs:
            RUNTIMES.get(kwargs["runtime"])  # an unknown name fails before the weights are read
        path = hub.resolve(model)
        net, meta = ReaderModel.from_artifact(path)
        if meta.get("task") != "card_reader":
            raise BadModelError(f"not a card-reader model (task {meta.get('task')!r})", path=path)
        check_charset(meta.get("charset", CHARSET), net.num_classes, path)
        if not isinstance(meta.get("preprocessing", {}), dict):
            raise BadModelError("the recorded preprocessing is not a mapping", path=path)
        return cls(net, meta, name=path.name, **kwargs)

    def read_path(self, path: str | Path, *, template: str | None = None) -> ReadResult:
        return self.read(load_image(path), template=template, name=str(path))

    @torch.inference_mode()
    def read(self, image: np.ndarray, *, template: str | None = None, name: str = "<array>") -> ReadResult:
        if template is not None:
            get_template(template)  # raises UnknownNameError early
        t: dict[str, float] = {}
        self.nets.ms = 0.0
        t0 = time.perf_counter()
        loc, card, probs, cls_ms = self._localize(image, template)
        if loc is None or card is None or probs is None:
            raise NoCardError("no ID card found in the image", path=name)
        template, cls_prob = self._pick_template(probs, template, name)
        t2 = time.perf_counter()
        t["localize"] = (t2 - t0) * 1e3 - cls_ms
        t["classify"] = cls_ms

        boxes = self._detect(card, template)
        t3 = time.perf_counter()
        t["detect"] = (t3 - t2) * 1e3

        lines = self._recognize(card, boxes, loc)
        t4 = time.perf_counter()
        t["recognize"] = (t4 - t3) * 1e3

        res: CleanupResult = self.cleanup(template, lines)
        t5 = time.perf_counter()
        t["cleanup"] = (t5 - t4) * 1e3
        t["total"] = (t5 - t0) * 1e3
        fields = {
            k: {"text": f.text, "confidence": round(float(f.confidence), 4), "box": _round_box(f.box)}
            for k, f in res.fields.items()
        }
        checks = {**res.checks, "template_confidence": round(cls_prob, 4), "localization": loc.method}
        return ReadResult(
            image=name,
            template=template,
            fields=fields,
            checks=checks,
            corrections=res.corrections,
            timings_ms={k: round(v, 2) for k, v in t.items()},
            network_ms=round(self.nets.ms, 2),
            lines=lines,
            corners=loc.corners.tolist(),
        )

    # -- stages -------------------------------------------------------------------------
    def _localize(
        self, image: np.ndarray, forced: str | None
    ) -> tuple[Localization | None, CardView | None, torch.Tensor | None, float]:
        """The localiser's quadrilateral, or, when the classifier doubts that it holds a card, the
        most card-like of the localiser's alternatives. Returns (loc, card, class probs, classifier ms)."""
        loc, alternatives = locate(self.localizer, image)
        card = None if loc is None else CardView(image, loc)
        t0 = time.perf_counter()
        probs = None if card is None else self._class_probs(card)
        cls_ms = (time.perf_counter() - t0) * 1e3
        if probs is None or _card_prob(probs, forced) < self.retry_below:
            for alt in alternatives:
                alt_card = CardView(image, alt)
                t0 = time.perf_counter()
                alt_probs = self._class_probs(alt_card)
                cls_ms += (time.perf_counter() - t0) * 1e3
                if probs is None or _card_prob(alt_probs, forced) > _card_prob(probs, forced):
                    loc, card, probs = alt, alt_card, alt_probs
        return loc, card, probs, cls_ms

    def _overview(self, card: CardView, size: tuple[int, int]) -> np.ndarray:
        """The card at a network's input ``size``: a warp to twice the largest input (a view shared
        by the classifier and detector), then :func:`shrink`, as training does from the full card."""
        sizes = (self.pre["classifier_size"], self.pre["detector_size"])
        big = (2 * max(s[0] for s in sizes), 2 * max(s[1] for s in sizes))
        return shrink(card.overview(big), size)

    def _class_probs(self, card: CardView) -> torch.Tensor:
        size = tuple(self.pre["classifier_size"])
        x = to_tensor(self._overview(card, size), self.pre["mean"], self.pre["std"])
        return self.nets.classifier(x[None])["logits"].softmax(-1)[0]

    def _pick_template(self, probs: torch.Tensor, forced: str | None, name: str) -> tuple[str, float]:
        if forced is not None:
            return forced, _card_prob(probs, forced)
        k = int(probs.argmax())
        if CLASSES[k] == "none" or float(probs[k]) < self.min_class_prob:
            raise NoCardError(
                f"no ID card recognised in the image (best guess {CLASSES[k]!r}, p={float(probs[k]):.2f})",
                path=name,
            )
        return CLASSES[k], float(probs[k])

    def _detect(self, card: CardView, template: str) -> dict[str, tuple[list[float], float]]:
        tpl = get_template(template)
        size = tuple(self.pre["detector_size"])
        x = to_tensor(self._overview(card, size), self.pre["mean"], self.pre["std"])
        idx = [LINE_KEYS.index(f"{template}/{k}") for k in tpl.line_keys]
        maps = self.nets.detector(x[None])["maps"][0, idx].sigmoid()  # this template's lines only
        sx = CARD_SIZE[0] / maps.shape[-1]
        sy = CARD_SIZE[1] / maps.shape[-2]
        found = maps_to_boxes(maps, list(tpl.line_keys), scale=(sx, sy))
        boxes: dict[str, tuple[list[float], float]] = {}
        optional = {k for f in tpl.fields for k in f.optional_lines}
        for k in tpl.line_keys:
            if k in found:
                boxes[k] = (list(map(float, found[k][0])), float(found[k][1]))
            elif k not in optional:  # fall back to the template's nominal box
                boxes[k] = (list(map(float, tpl.layout[k])), 0.0)
        return boxes

    def _recognize(
        self, card: CardView, boxes: dict[str, tuple[list[float], float]], loc: Localization
    ) -> dict[str, LineRead]:
        if not boxes:
            return {}
        keys = list(boxes)
        maps, raw = [], []
        for k in keys:
            crop, off, sc = crop_line(card, boxes[k][0], self.pre)
            raw.append(crop)
            maps.append((off, sc, crop.shape[1]))
        probs_of: dict[int, np.ndarray] = {}
        for group in width_buckets([c.shape[1] for c in raw]):
            x = line_batch([raw[j] for j in group], self.pre["mean"], self.pre["std"])
            lg = self.nets.recognizer(x)["logits"]
            probs = lg.float().softmax(-1).numpy()  # one softmax for the group
            probs_of.update({j: probs[n] for n, j in enumerate(group)})
        stride = self.pre["recognizer_stride"]
        inv = np.linalg.inv(loc.homography())
        out: dict[str, LineRead] = {}
        decoded = ctc_decode_lines(
            [probs_of[i][: maps[i][2] // stride] for i in range(len(keys))],
            self.charset,
            stride=float(stride),
        )
        for i, (k, (text, conf, chars)) in enumerate(zip(keys, decoded, strict=True)):
            off, sc, _ = maps[i]
            box = boxes[k][0]
            ymid = (box[1] + box[3]) / 2
            if chars:  # crop pixels -> card frame -> image pixels, all spans of the line at once
                xs = np.array([[c.x0, c.x1] for c in chars], dtype=np.float64).reshape(-1) * sc + off
                img = _apply_h(inv, np.stack([xs, np.full_like(xs, ymid)], axis=1))[:, 0]
                for n, c in enumerate(chars):
                    c.x0, c.x1 = float(img[2 * n]), float(img[2 * n + 1])
            out[k] = LineRead(
                key=k, text=text, confidence=conf, chars=chars, box=_box_to_image(inv, box), crop=raw[i]
            )
        return out


def _card_prob(probs: torch.Tensor, forced: str | None) -> float:
    """How card-like a rectified image is: the forced template's probability, else the best card class's."""
    if forced is not None:
        return float(probs[CLASSES.index(forced)])
    return float(probs[: len(TEMPLATE_NAMES)].max())


def _apply_h(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ h.T
    return p[:, :2] / p[:, 2:3]


def _box_to_image(inv: np.ndarray, box: list[float]) -> list[float]:
    x0, y0, x1, y1 = box
    q = _apply_h(inv, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64))
    return [float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()), float(q[:, 1].max())]


def _round_box(box: list[float] | None) -> list[int] | None:
    return None if box is None else [int(round(v)) for v in box]
