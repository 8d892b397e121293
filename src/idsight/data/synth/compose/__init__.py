"""Synthetic cards that cannot be memorised: random designs from named families, every installed font,
many print styles, every printed line recorded (``compose_card``, ``place_card``, ``write_composed``)."""

from idsight.data.synth.compose.card import compose_card
from idsight.data.synth.compose.families import FAMILY_NAMES, HELD_OUT_DESIGNS
from idsight.data.synth.compose.fontpool import HELD_OUT_FONTS
from idsight.data.synth.compose.model import DOC_TYPES, ComposedCard, card_size
from idsight.data.synth.compose.scenes import SCENE_KINDS, Placed, place_card
from idsight.data.synth.compose.writer import compose_sample, write_composed

__all__ = [
    "DOC_TYPES",
    "FAMILY_NAMES",
    "HELD_OUT_DESIGNS",
    "HELD_OUT_FONTS",
    "SCENE_KINDS",
    "ComposedCard",
    "Placed",
    "card_size",
    "compose_card",
    "compose_sample",
    "place_card",
    "write_composed",
]
