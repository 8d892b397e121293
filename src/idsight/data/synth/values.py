"""Sampling the content of a card: printed line texts and the field values behind them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from idsight.templates import Template, get_template

T = TypeVar("T")


@dataclass
class CardValues:
    """What one card shows.

    ``lines`` maps line key -> printed text (only lines that are printed); ``fields`` maps field name ->
    value in the structured ("second") format; ``extras`` holds printed text outside the line boxes
    and sampling flags (e.g. ``hanja``, ``country_name``, ``edge_cases``).
    """

    template: str
    lines: dict[str, str]
    fields: dict[str, str]
    extras: dict[str, object] = field(default_factory=dict)


def choice(rng: np.random.Generator, items: Sequence[T]) -> T:
    """One uniformly chosen item."""
    return items[int(rng.integers(len(items)))]


def random_date(rng: np.random.Generator, start: dt.date, end: dt.date) -> dt.date:
    """A uniform date in ``[start, end]``."""
    return start + dt.timedelta(days=int(rng.integers((end - start).days + 1)))


def add_years(day: dt.date, years: int) -> dt.date:
    """Same calendar day ``years`` later (29 February -> 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def sample_card_values(
    template: Template | str, rng: np.random.Generator, *, edge_cases: float = 0.15
) -> CardValues:
    """Sample printed lines and field values for ``template`` (see docs/design.md).

    ``edge_cases`` is the probability of each rare-but-valid variant (4-syllable names, two-line
    addresses, long or multiple names, sex X, ...).
    """
    from idsight.data.synth import kr, td1

    name = template if isinstance(template, str) else template.name
    get_template(name)  # raises UnknownNameError for unknown names
    sampler = kr.sample_kr_rrc if name == "kr-rrc" else td1.sample_td1
    return sampler(rng, edge_cases=edge_cases)
