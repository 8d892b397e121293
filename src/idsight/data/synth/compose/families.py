"""Design families: named parametric layout grammars. A card draws one family from its pool, then every
choice within it (photo side, label placement, columns, title alignment, artwork, fonts, colours).

``HELD_OUT_DESIGNS`` never produce a ``train`` card; ``design_pool="heldout"`` draws only them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from idsight.data.synth.compose.model import check_pool


@dataclass(frozen=True)
class Family:
    name: str
    photo: tuple[str, ...] = ("left", "right")  # drawn uniformly; "none": no portrait
    labels: tuple[str, ...] = ("above",)  # above | beside | none
    columns: tuple[int, ...] = (1, 2)  # cells per row for short fields
    title_align: tuple[str, ...] = ("left", "center")
    title_place: str = "top"  # top | band (on a coloured header band) | bottom
    schemes: tuple[str, ...] = ("mono", "mono", "bilingual", "stacked", "mixed")
    side_band: bool = False  # a coloured vertical strip along one edge
    frames: bool = False  # thin frames around each field
    justify: float = 0.7  # probability of spreading the rows over the body height
    centred: bool = False  # values centred in their cells
    light: float = 0.15  # probability of a white / very light card
    size: tuple[float, float] = (0.9, 1.15)  # value text size factor
    kr_footer: float = 0.3  # kr-rrc: issue date and issuer centred at the bottom, unlabelled
    ghost: float = 0.2  # a small second portrait


FAMILIES: tuple[Family, ...] = (
    Family("photo-left-labels-above", photo=("left",), title_align=("left", "center", "right")),
    Family("photo-right-labels-above", photo=("right",), columns=(2,), title_align=("left",)),
    Family(
        "photo-left-labels-beside",
        photo=("left",),
        labels=("beside",),
        columns=(1,),
        schemes=("mono", "bilingual", "mixed"),
    ),
    Family(
        "photo-right-labels-beside",
        photo=("right",),
        labels=("beside",),
        columns=(1, 2),
        schemes=("mono", "bilingual"),
    ),
    Family("header-band", title_place="band", labels=("above", "beside"), title_align=("left", "center")),
    Family(
        "no-labels", photo=("right", "left"), labels=("none",), columns=(1,), kr_footer=0.8, size=(1.0, 1.3)
    ),
    Family(
        "centered-title", photo=("left", "right", "none"), title_align=("center",), columns=(2,), centred=True
    ),
    Family("no-photo", photo=("none",), labels=("above", "beside"), columns=(2, 3), ghost=0.0),
    Family(
        "compact-bilingual",
        photo=("left", "right"),
        schemes=("stacked", "bilingual"),
        columns=(2,),
        size=(0.75, 0.95),
    ),
    # held out of all training
    Family("framed-grid", frames=True, columns=(2,), justify=1.0, title_align=("left", "center")),
    Family("side-band", side_band=True, photo=("left", "right"), labels=("beside", "above"), columns=(1, 2)),
    Family(
        "title-bottom",
        title_place="bottom",
        labels=("above", "none"),
        title_align=("left", "right", "center"),
    ),
)
HELD_OUT_DESIGNS = ("framed-grid", "side-band", "title-bottom")
FAMILY_NAMES = tuple(f.name for f in FAMILIES)


def families(pool: str) -> tuple[Family, ...]:
    """The families a card of ``pool`` may draw."""
    check_pool(pool, "design")
    return tuple(f for f in FAMILIES if (f.name in HELD_OUT_DESIGNS) == (pool == "heldout"))


def get_family(name: str) -> Family:
    for f in FAMILIES:
        if f.name == name:
            return f
    from idsight.errors import UnknownNameError

    raise UnknownNameError(f"unknown design family {name!r} (known: {', '.join(FAMILY_NAMES)})")


def pick_family(pool: str, rng: np.random.Generator) -> Family:
    pool_families = families(pool)
    return pool_families[int(rng.integers(len(pool_families)))]
