"""Rendering the rectified card (``CARD_SIZE``) with tight line boxes in the card frame."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from idsight.data.synth import design, fonts
from idsight.data.synth.text import fitted_mask, paste_ink, size_for_height, text_mask
from idsight.data.synth.values import CardValues, sample_card_values
from idsight.templates import CARD_SIZE, Template, get_template

MARGIN = 14  # text never comes closer than this to the card edge
# portrait boxes (x0, y0, x1, y1) in the card frame
PHOTO_BOX = {"kr-rrc": (640, 120, 812, 350), "td1": (30, 80, 222, 336)}
TD1_LABELS = {
    "document_number": "Document No.",
    "surname": "Surname",
    "given_names": "Given names",
    "sex": "Sex",
    "nationality": "Nationality",
    "date_of_birth": "Date of birth",
    "date_of_expiry": "Date of expiry",
}
HEIGHT_FRACTION = 0.7  # ink height / nominal box height


@dataclass
class CardRender:
    """A rendered rectified card: ``lines`` maps line key -> (printed text, tight box [x0, y0, x1, y1])."""

    image: np.ndarray
    values: CardValues
    lines: dict[str, tuple[str, list[int]]] = field(default_factory=dict)
    style: dict[str, object] = field(default_factory=dict)


@dataclass
class _Painter:
    canvas: np.ndarray
    rng: np.random.Generator
    ink: design.Color
    shift: tuple[int, int]
    scale: float

    def line(
        self, text: str, box: tuple[int, int, int, int], path: str, max_x: int, fraction: float | None
    ) -> list[int]:
        """Draw ``text`` in nominal ``box`` (jittered); returns its tight box.

        ``fraction`` is the ink height relative to the box height; ``None`` fills the box width instead.
        """
        rng = self.rng
        x0, y0, x1, y1 = box
        x = x0 + self.shift[0] + int(rng.integers(-3, 4))
        if fraction is None:
            probe = 40
            width = text_mask(text, fonts.load_font(path, probe)).shape[1]
            size = round(probe * (x1 - x0) * rng.uniform(0.93, 0.99) / width)
        else:
            size = size_for_height(text, path, (y1 - y0) * fraction * self.scale * rng.uniform(0.95, 1.05))
        mask, _ = fitted_mask(text, path, size, max_x - x)
        y = round((y0 + y1) / 2 - mask.shape[0] / 2) + self.shift[1] + int(rng.integers(-3, 4))
        return paste_ink(self.canvas, mask, x, y, self.ink)

    def free_text(
        self, text: str, path: str, height: float, x: int, y: int, color: design.Color
    ) -> list[int]:
        """Draw unlabelled text (titles, labels) with its top-left ink corner at (x, y)."""
        mask = text_mask(text, fonts.load_font(path, size_for_height(text, path, height)))
        return paste_ink(self.canvas, mask, x, y, color)


def _base(rng: np.random.Generator, template: str) -> tuple[np.ndarray, str]:
    image = Image.fromarray(design.gradient(CARD_SIZE, rng))
    design.draw_guilloche(image, rng, strength=int(rng.integers(20, 55)))
    x0, y0, x1, y1 = PHOTO_BOX[template]
    face, source = design.face_image((x1 - x0, y1 - y0), rng)
    canvas = np.array(image)
    canvas[y0:y1, x0:x1] = face
    return canvas, source


def _draw_kr(p: _Painter, values: CardValues, template: Template, pool: str) -> tuple[dict, dict]:
    rng = p.rng
    face = fonts.pick(rng, fonts.korean_faces(pool))
    title_color = design.ink_color(rng) if rng.random() < 0.5 else (40, 60, 130)
    p.free_text(
        template.title, face.path, 40 * rng.uniform(0.85, 1.1), 50 + p.shift[0], 38 + p.shift[1], title_color
    )
    photo_x = PHOTO_BOX["kr-rrc"][0] - 12
    boxes = {}
    for key, text in values.lines.items():
        nominal = template.layout[key]
        max_x = photo_x if nominal[1] < PHOTO_BOX["kr-rrc"][3] else CARD_SIZE[0] - MARGIN
        boxes[key] = p.line(text, nominal, face.path, max_x, HEIGHT_FRACTION)
    hanja = str(values.extras.get("hanja", ""))
    printed_hanja = bool(hanja) and fonts.has_glyphs(face.path, hanja)
    if printed_hanja:
        x0, y0, x1, y1 = boxes["name"]
        p.free_text(f"({hanja})", face.path, (y1 - y0) * 0.8, x1 + int(rng.integers(8, 20)), y0, p.ink)
    x0, y0, x1, y1 = boxes["issuer"]
    radius = (y1 - y0) * rng.uniform(0.7, 0.9)
    design.draw_stamp_np(p.canvas, (x1 + radius + 6, (y0 + y1) / 2), radius, rng)
    return boxes, {"font_ko": face.name, "hanja": printed_hanja}


def _draw_td1(p: _Painter, values: CardValues, template: Template, pool: str) -> tuple[dict, dict]:
    rng = p.rng
    face = fonts.pick(rng, fonts.latin_faces(pool))
    label_face = fonts.pick(rng, fonts.latin_faces(pool))
    title_color = design.ink_color(rng) if rng.random() < 0.5 else (30, 50, 120)
    p.free_text(
        template.title, face.path, 24 * rng.uniform(0.85, 1.1), 30 + p.shift[0], 14 + p.shift[1], title_color
    )
    country = str(values.extras.get("country_name", ""))
    p.free_text(country, label_face.path, 12, 30 + p.shift[0], 50 + p.shift[1], title_color)
    r, g, b = (int(c) for c in np.clip(np.array(p.ink) + 70, 0, 255))
    label_color = (r, g, b)
    boxes = {}
    for key, text in values.lines.items():
        is_mrz = key.startswith("mrz")
        path = fonts.OCRB_PATH.as_posix() if is_mrz else face.path
        fraction = None if is_mrz else HEIGHT_FRACTION
        boxes[key] = p.line(text, template.layout[key], path, CARD_SIZE[0] - MARGIN, fraction)
        if key in TD1_LABELS:
            label_h = 10 * rng.uniform(0.85, 1.1)
            top = boxes[key][1] - 4 - round(label_h)
            p.free_text(TD1_LABELS[key], label_face.path, label_h, boxes[key][0], top, label_color)
    return boxes, {"font_latin": face.name, "font_label": label_face.name, "font_mrz": fonts.mrz_face().name}


def render_canonical(
    template: Template | str, rng: np.random.Generator, *, font_pool: str = "train", edge_cases: float = 0.15
) -> CardRender:
    """Sample values and draw the rectified card; line boxes are tight ink boxes in the card frame."""
    tpl = get_template(template) if isinstance(template, str) else template
    values = sample_card_values(tpl, rng, edge_cases=edge_cases)
    canvas, face_source = _base(rng, tpl.name)
    painter = _Painter(
        canvas,
        rng,
        design.ink_color(rng),
        (int(rng.integers(-8, 9)), int(rng.integers(-8, 9))),
        rng.uniform(0.85, 1.1),
    )
    draw = _draw_kr if tpl.name == "kr-rrc" else _draw_td1
    boxes, style = draw(painter, values, tpl, font_pool)
    lines = {key: (text, boxes[key]) for key, text in values.lines.items()}
    style |= {
        "face": face_source,
        "ink": list(painter.ink),
        "font_pool": font_pool,
        "edge_cases": values.extras["edge_cases"],
    }
    return CardRender(canvas, values, lines, style)
