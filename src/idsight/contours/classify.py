"""A trained contour-fused classifier as a one-file artifact: load it once, classify images.

``idsight train configs/classify_*.yaml`` writes the artifact (task ``classification``, model
``contour_fused``): every weight (backbone, frozen contour extractor, fusion layers, head) in one file,
and in its header the architecture with the class names and input size, the training config and its
provenance. ``load_classifier(path)`` rebuilds it without any other file; ``classify`` letterboxes an
RGB image to the input size, normalises it as in training and returns the class probabilities.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from idsight.errors import BadModelError
from idsight.models.fused import ContourFusedClassifier


def load_classifier(path: str | Path) -> ContourFusedClassifier:
    from idsight.artifact import load_artifact
    from idsight.registry import MODELS

    state, meta = load_artifact(path)
    arch = meta.get("arch")
    if not isinstance(arch, dict) or arch.get("name") != "contour_fused":
        raise BadModelError(f"not a contour-fused classifier (model {arch!r:.80})", path=path)
    import idsight.models  # noqa: F401  (registers the builders)

    try:
        net = MODELS.build("contour_fused", **{**dict(arch.get("kwargs") or {}), "pretrained": None})
        net.load_state_dict(state)
    except (TypeError, ValueError, KeyError, RuntimeError) as err:
        raise BadModelError(
            f"weights do not fit the network ({str(err).splitlines()[0][:200]})", path=path
        ) from None
    return net.eval()


@torch.inference_mode()
def classify(net: ContourFusedClassifier, images_rgb: list[np.ndarray]) -> list[dict[str, Any]]:
    """One ``{"label", "confidence", "probabilities": {class: p}}`` per image (a batch in one pass)."""
    from idsight.data.contours import normalise
    from idsight.data.images import letterbox

    if not images_rgb:
        return []
    x = torch.stack([normalise(letterbox(img, net.input_size)) for img in images_rgb])
    probs = net(x)["logits"].softmax(-1)
    out = []
    for p in probs.tolist():
        k = int(np.argmax(p))
        out.append(
            {
                "label": net.classes[k],
                "confidence": round(p[k], 4),
                "probabilities": {c: round(v, 4) for c, v in zip(net.classes, p, strict=True)},
            }
        )
    return out
