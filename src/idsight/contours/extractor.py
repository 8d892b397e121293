"""A trained contour extractor as a one-file artifact: load it, and write its contour maps.

``idsight train configs/contours_shapes.yaml`` writes the artifact (task ``contour_detection``; the
architecture, the training config and provenance in its header). ``load_extractor(path)`` gives the
extractor without its 1-channel heads, as the contour-fused classifier uses it (frozen), or with
them (``head=True``) for ``contour_maps``: the fused map and one map per level, written as PNGs by
``write_contour_maps`` (``idsight contours IMAGE --out DIR``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from idsight.data.contours import MEAN, STD  # the normalisation the extractor was trained with
from idsight.errors import BadModelError
from idsight.models.contour import ContourNet

TASK = "contour_detection"


def load_extractor(path: str | Path, *, head: bool = False) -> ContourNet:
    """The network of a contour artifact, in eval mode, its heads dropped unless ``head``."""
    from idsight.artifact import load_artifact
    from idsight.registry import MODELS

    state, meta = load_artifact(path)
    arch = meta.get("arch")
    if meta.get("task") != TASK or not isinstance(arch, dict) or not isinstance(arch.get("name"), str):
        raise BadModelError(f"not a contour extractor (task {meta.get('task')!r})", path=path)
    import idsight.models  # noqa: F401  (registers the builders)

    try:
        net = MODELS.build(arch["name"], **dict(arch.get("kwargs") or {}))
        net.load_state_dict(state)
    except (TypeError, ValueError, KeyError, RuntimeError) as err:
        raise BadModelError(
            f"weights do not fit the network ({str(err).splitlines()[0]})", path=path
        ) from None
    if not isinstance(net, ContourNet):
        raise BadModelError(f"{arch['name']!r} is not a contour network", path=path)
    return (net if head else net.without_head()).eval()


def to_input(image_rgb: np.ndarray, *, multiple: int = 8) -> torch.Tensor:
    """An RGB uint8 image as a normalised (1, 3, H, W) tensor, padded (edge-replicated) to a multiple
    of ``multiple`` so that every level's size divides evenly."""
    h, w = image_rgb.shape[:2]
    ph, pw = -h % multiple, -w % multiple
    img = cv2.copyMakeBorder(image_rgb, 0, ph, 0, pw, cv2.BORDER_REPLICATE) if ph or pw else image_rgb
    x = (img.astype(np.float32) / 255.0 - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


def contour_maps(net: ContourNet, image_rgb: np.ndarray) -> dict[str, np.ndarray]:
    """``fused`` (H, W) and ``levels`` (S, H, W) probability maps of one image, at its size."""
    h, w = image_rgb.shape[:2]
    maps = net.contour_maps(to_input(image_rgb))
    return {
        "fused": maps["fused"][0, 0, :h, :w].numpy(),
        "levels": maps["levels"][0, :, :h, :w].numpy(),
    }


def write_contour_maps(net: ContourNet, image_rgb: np.ndarray, out_dir: Path, stem: str) -> list[Path]:
    """``<stem>_fused.png`` and ``<stem>_level<k>.png`` (k = 1 the finest) in ``out_dir``."""
    maps = contour_maps(net, image_rgb)
    out_dir.mkdir(parents=True, exist_ok=True)
    named = [("fused", maps["fused"])] + [(f"level{k + 1}", m) for k, m in enumerate(maps["levels"])]
    paths = []
    for name, m in named:
        p = out_dir / f"{stem}_{name}.png"
        if not cv2.imwrite(str(p), np.round(np.clip(m, 0, 1) * 255).astype(np.uint8)):
            from idsight.errors import OutputError

            raise OutputError("could not write the contour map", path=p)
        paths.append(p)
    return paths
