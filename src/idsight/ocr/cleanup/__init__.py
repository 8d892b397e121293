"""Language-model cleanup of recognised lines into field values.

``clean_card(template, lines)`` turns the recogniser's per-line reads (``LineRead``) into the
template's field values, with checks (MRZ/RRN check digits, dates, formats, VIZ-vs-MRZ) and a
list of every change made. Components are swappable through the ``CLEANUPS`` registry:
``CLEANUPS.build("default")(template, lines)``.
"""

from __future__ import annotations

from typing import Any

from idsight.ocr.cleanup.card import Cleanup, clean_card
from idsight.ocr.cleanup.fields import CleanupConfig
from idsight.ocr.cleanup.lexicon import LexiconModels, build_models, default_models, load_lexicon
from idsight.ocr.cleanup.lm import CharNgram, beam_correct
from idsight.registry import Registry

CLEANUPS: Registry[Any] = Registry("cleanup")


@CLEANUPS.register("default")
def default_cleanup(
    *,
    lm: CharNgram | None = None,
    config: CleanupConfig | None = None,
    models: LexiconModels | None = None,
    **overrides: Any,
) -> Cleanup:
    """The default cleanup; keyword ``overrides`` set ``CleanupConfig`` fields."""
    cfg = config or CleanupConfig()
    for k, v in overrides.items():
        if not hasattr(cfg, k):
            raise TypeError(f"unknown cleanup option {k!r}")
        setattr(cfg, k, v)
    return Cleanup(lm=lm, config=cfg, models=models)


__all__ = [
    "CLEANUPS",
    "CharNgram",
    "Cleanup",
    "CleanupConfig",
    "LexiconModels",
    "beam_correct",
    "build_models",
    "clean_card",
    "default_cleanup",
    "default_models",
    "load_lexicon",
]
