"""The multi-level contour extraction network.

Cascaded stages, each a 3x3 conv (stride 2 after the first) plus a residual block of a selectable type
(``residual``, ``dense`` or ``se``: squeeze-excitation). Every stage gives a side output at its own
size; a dimension-unification layer (``bilinear``, ``nearest`` or ``deconv``) brings each to the input
size, and the unified outputs are concatenated into the multi-level contour features (the "second
contour features" that the fused classifier takes). While training, a 1-channel conv turns the fused
features into one contour map (``edges``); each side output also has a 1-channel conv for optional deep
supervision (``sides``). ``without_head()`` drops both once training is done: the extractor then gives
only ``features``, and ``contour_maps()`` still gives maps for inspection when the head is kept.

Registered: ``contour_net`` (configurable) and ``contour_small`` (the default recipe).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from idsight.models.layers import BasicBlock, conv_bn
from idsight.registry import MODELS

BLOCKS = ("residual", "dense", "se")
UNIFY = ("bilinear", "nearest", "deconv")


class DenseBlock(nn.Module):
    """Two densely connected 3x3 conv-BN-ReLU layers (growth ``c // 2``), a 1x1 transition back to ``c``
    channels, and the block's input added (a residual dense block)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        g = max(4, c // 2)
        self.l1 = conv_bn(c, g, 3)
        self.l2 = conv_bn(c + g, g, 3)
        self.fuse = conv_bn(c + 2 * g, c, 1, act=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        a = self.l1(x)
        b = self.l2(torch.cat([x, a], 1))
        return self.act(x + self.fuse(torch.cat([x, a, b], 1)))


class SEBlock(nn.Module):
    """A residual basic block whose residual branch is re-weighted per channel (squeeze-excitation)."""

    def __init__(self, c: int, reduction: int = 4) -> None:
        super().__init__()
        self.conv1 = conv_bn(c, c, 3)
        self.conv2 = conv_bn(c, c, 3, act=False)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(c, max(4, c // reduction), 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(max(4, c // reduction), c, 1),
            nn.Sigmoid(),
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv2(self.conv1(x))
        return self.act(x + y * self.gate(y))


def _block(kind: str, c: int) -> nn.Module:
    if kind == "residual":
        return BasicBlock(c, c)
    if kind == "dense":
        return DenseBlock(c)
    return SEBlock(c)


class Unify(nn.Module):
    """A side output (``cin`` channels, at 1/``scale`` of the input) brought to ``cout`` channels at the
    input size: 1x1 conv then bilinear or nearest resizing, or a learned transposed convolution."""

    def __init__(self, cin: int, cout: int, scale: int, mode: str) -> None:
        super().__init__()
        self.mode, self.scale = mode, scale
        self.reduce = nn.Conv2d(cin, cout, 1)
        self.up: nn.Module | None = None
        if mode == "deconv" and scale > 1:
            self.up = nn.ConvTranspose2d(cout, cout, 2 * scale, stride=scale, padding=scale // 2, bias=False)

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        y = self.reduce(x)
        if self.up is not None:
            y = self.up(y)
        if tuple(y.shape[-2:]) != size:  # bilinear / nearest, or the deconv's rounding at odd sizes
            mode = "nearest" if self.mode == "nearest" else "bilinear"
            y = F.interpolate(
                y, size=size, mode=mode, **({} if mode == "nearest" else {"align_corners": False})
            )
        return y


class ContourNet(nn.Module):
    """See the module docstring. ``forward(image) -> {"features", ["edges", "sides"]}``: ``features``
    (B, side_channels * stages, H, W); ``edges`` (B, 1, H, W) logits of the fused map; ``sides`` a list of
    (B, 1, H, W) logits, one per stage."""

    def __init__(
        self,
        *,
        channels: Sequence[int] = (16, 32, 64, 96),
        block: str = "residual",
        unify: str = "bilinear",
        side_channels: int = 8,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"block must be one of {', '.join(BLOCKS)}, not {block!r}")
        if unify not in UNIFY:
            raise ValueError(f"unify must be one of {', '.join(UNIFY)}, not {unify!r}")
        if not channels:
            raise ValueError("channels must name at least one stage")
        self.channels, self.block, self.unify_mode = tuple(channels), block, unify
        self.side_channels = side_channels
        stages, sides = [], []
        cin = in_channels
        for i, c in enumerate(self.channels):
            stages.append(nn.Sequential(conv_bn(cin, c, 3, stride=1 if i == 0 else 2), _block(block, c)))
            sides.append(Unify(c, side_channels, 2**i, unify))
            cin = c
        self.stages = nn.ModuleList(stages)
        self.unify = nn.ModuleList(sides)
        self.out_channels = side_channels * len(self.channels)
        self.head: nn.Module | None = nn.Conv2d(self.out_channels, 1, 1)
        self.side_heads: nn.ModuleList | None = nn.ModuleList(
            nn.Conv2d(side_channels, 1, 1) for _ in self.channels
        )

    def side_features(self, image: Tensor) -> list[Tensor]:
        """Each stage's unified side output, at the input size."""
        size = (int(image.shape[-2]), int(image.shape[-1]))
        out, x = [], image
        for stage, unify in zip(self.stages, self.unify, strict=True):
            x = stage(x)
            out.append(unify(x, size))
        return out

    def forward(self, image: Tensor) -> dict[str, Tensor | list[Tensor]]:
        sides = self.side_features(image)
        out: dict[str, Tensor | list[Tensor]] = {"features": torch.cat(sides, 1)}
        if self.head is not None and self.side_heads is not None:
            out["edges"] = self.head(out["features"])  # type: ignore[arg-type]
            out["sides"] = [h(s) for h, s in zip(self.side_heads, sides, strict=True)]
        return out

    def without_head(self) -> ContourNet:
        """The extractor alone: the 1-channel heads dropped (in place; returns self)."""
        self.head, self.side_heads = None, None
        return self

    @torch.inference_mode()
    def contour_maps(self, image: Tensor) -> dict[str, Tensor]:
        """Probability maps for inspection: ``fused`` (B, 1, H, W) and ``levels`` (B, S, H, W)."""
        if self.head is None or self.side_heads is None:
            raise ValueError("this extractor has no contour head (it was dropped after training)")
        out = self(image)
        return {
            "fused": out["edges"].sigmoid(),  # type: ignore[union-attr]
            "levels": torch.cat(out["sides"], 1).sigmoid(),  # type: ignore[arg-type]
        }


@MODELS.register("contour_net")
def contour_net(
    *,
    channels: Sequence[int] = (16, 32, 64, 96),
    block: str = "residual",
    unify: str = "bilinear",
    side_channels: int = 8,
) -> ContourNet:
    return ContourNet(channels=channels, block=block, unify=unify, side_channels=side_channels)


@MODELS.register("contour_small")
def contour_small(*, block: str = "residual", unify: str = "bilinear") -> ContourNet:
    """Four stages of 16-96 channels, 8 channels per level (32 fused): about 0.3M parameters."""
    return ContourNet(channels=(16, 32, 64, 96), block=block, unify=unify, side_channels=8)


class HEDVGG16(nn.Module):
    """An HED-like baseline (Xie & Tu, 2015): VGG16's five conv stages (torchvision's layout, random
    init: no weights are downloaded), a 1-channel side output after each (conv1_2 ... conv5_3)
    upsampled bilinearly to the input size, and a 1x1 conv fusing the five. Same outputs as
    :class:`ContourNet` (``features`` are the five side maps)."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models import vgg16

        layers = list(vgg16(weights=None).features)
        cuts = [i for i, m in enumerate(layers) if isinstance(m, nn.MaxPool2d)]  # after each stage
        starts = [0, *[c + 1 for c in cuts[:-1]]]
        ends = cuts  # the last pooling is not used
        stages = []
        for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
            pool = [nn.MaxPool2d(2, 2, ceil_mode=True)] if i else []
            stages.append(nn.Sequential(*pool, *layers[a:b]))
        self.stages = nn.ModuleList(stages)
        widths = [64, 128, 256, 512, 512]
        self.side_heads = nn.ModuleList(nn.Conv2d(c, 1, 1) for c in widths)
        self.head = nn.Conv2d(len(widths), 1, 1)

    def forward(self, image: Tensor) -> dict[str, Tensor | list[Tensor]]:
        size = (int(image.shape[-2]), int(image.shape[-1]))
        sides, x = [], image
        for stage, head in zip(self.stages, self.side_heads, strict=True):
            x = stage(x)
            sides.append(F.interpolate(head(x), size=size, mode="bilinear", align_corners=False))
        features = torch.cat(sides, 1)
        return {"features": features, "edges": self.head(features), "sides": sides}


@MODELS.register("hed_vgg16")
def hed_vgg16() -> HEDVGG16:
    """The HED-like VGG16 baseline of ``benchmarks/contours.py`` (about 14.7M parameters)."""
    return HEDVGG16()
