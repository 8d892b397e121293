"""Synthetic ID cards: values, rectified card rendering, flat scans and photos, line crops, data sets.

Public API: ``sample_card_values``, ``render_card``, ``render_line_sample``, ``write_cards``,
``cards_complete``.
"""

from idsight.data.synth.lines import render_line_sample
from idsight.data.synth.render import render_card
from idsight.data.synth.values import CardValues, sample_card_values
from idsight.data.synth.writer import card_rng, cards_complete, write_cards

__all__ = [
    "CardValues",
    "card_rng",
    "cards_complete",
    "render_card",
    "render_line_sample",
    "sample_card_values",
    "write_cards",
]
