"""Field-line detectors: a small U-Net producing one line map per detector class.

Input: the rectified card resized to ``(B, 3, 160, 256)`` (H, W), normalised with mean = std = 0.5.
Output: ``{"maps": (B, K, 80, 128)}`` logits (apply a sigmoid), ``K = len(LINE_KEYS)`` = 16, i.e.
one map per ``"<template>/<line>"`` class at stride 2. Boxes come from
:func:`idsight.models.postprocess.maps_to_boxes`.

The encoder has five stride-2 stages (down to 5 x 8); the decoder is FPN-like to keep the
high-resolution cost low: the deep path is projected with a 1x1 conv at low resolution, upsampled
(nearest), added to a 1x1 projection of the skip and smoothed with one 3x3 block.
"""

from __future__ import annotations

from typing import Any, cast

import torch.nn.functional as F
from torch import Tensor, nn

from idsight.models.layers import DWSep, conv_bn
from idsight.registry import MODELS
from idsight.templates import LINE_KEYS

INPUT_SIZE = (160, 256)  # (H, W)
STRIDE = 2


def _block(cin: int, cout: int, stride: int, light: bool) -> nn.Module:
    return DWSep(cin, cout, stride) if light else conv_bn(cin, cout, 3, stride)


class _Up(nn.Module):
    def __init__(self, deep: int, skip: int, out: int, light: bool) -> None:
        super().__init__()
        self.deep = conv_bn(deep, out, 1, act=False)
        self.skip = conv_bn(skip, out, 1, act=False)
        self.smooth = _block(out, out, 1, light)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = F.interpolate(self.deep(x), scale_factor=2.0, mode="nearest")
        return self.smooth(F.relu(x + self.skip(skip)))


def fpn_decoder(
    enc: list[int] | tuple[int, ...], dec: tuple[int, ...], *, num_classes: int, light: bool
) -> tuple[nn.ModuleList, nn.Conv2d]:
    """Deep-to-fine upsampling stages over encoder widths ``enc`` (fine first) and a 1x1 head."""
    ups: list[nn.Module] = []
    deep = enc[-1]
    for skip, out in zip(enc[-2::-1], dec, strict=True):
        ups.append(_Up(deep, skip, out, light))
        deep = out
    head = nn.Conv2d(dec[-1], num_classes, 1)
    assert head.bias is not None
    nn.init.constant_(head.bias, -4.0)  # lines are sparse: start near p = 0.02
    return nn.ModuleList(ups), head


def fpn_decode(ups: nn.ModuleList, head: nn.Module, feats: list[Tensor]) -> Tensor:
    x = feats[-1]
    for up, skip in zip(ups, feats[-2::-1], strict=True):
        x = up(x, skip)
    return head(x)


class LineUNet(nn.Module):
    """Encoder widths ``enc`` (5 stages, stride 2 each), decoder widths ``dec`` (4 stages, deep to fine)."""

    stride = STRIDE
    input_size = INPUT_SIZE

    def __init__(
        self, enc: tuple[int, ...], dec: tuple[int, ...], *, num_classes: int, light: bool, depth: int = 2
    ) -> None:
        super().__init__()
        assert len(enc) == 5 and len(dec) == 4
        self.num_classes = num_classes
        stages: list[nn.Module] = []
        cin = 3
        for i, c in enumerate(enc):
            first = conv_bn(cin, c, 3, 2) if i == 0 else _block(cin, c, 2, light)
            stages.append(nn.Sequential(first, *[_block(c, c, 1, light) for _ in range(depth - 1)]))
            cin = c
        self.enc = nn.ModuleList(stages)
        self.dec, self.head = fpn_decoder(enc, dec, num_classes=num_classes, light=light)

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        feats = []
        x = image
        for stage in self.enc:
            x = stage(x)
            feats.append(x)
        return {"maps": fpn_decode(self.dec, self.head, feats)}


@MODELS.register("unet_tiny")
def unet_tiny(*, num_classes: int = len(LINE_KEYS)) -> LineUNet:
    """~28k params (16 classes), one depthwise-separable block per stage: the student's maps."""
    return LineUNet((8, 16, 32, 64, 96), (48, 32, 16, 8), num_classes=num_classes, light=True, depth=1)


@MODELS.register("unet_teacher")
def unet_teacher(*, num_classes: int = len(LINE_KEYS)) -> LineUNet:
    """~2.1M params, full 3x3 convs."""
    return LineUNet((24, 48, 96, 192, 256), (128, 96, 48, 32), num_classes=num_classes, light=False)


@MODELS.register("unet_student")
def unet_student(*, num_classes: int = len(LINE_KEYS)) -> LineUNet:
    """~0.1M params, depthwise-separable convs."""
    return LineUNet((16, 24, 48, 96, 128), (64, 48, 24, 16), num_classes=num_classes, light=True)


class ResNetLineNet(nn.Module):
    """A timm ResNet encoder (randomly initialised: card text is far from ImageNet) with the
    same FPN-like decoder as :class:`LineUNet`; the heavy teacher detector."""

    stride = STRIDE
    input_size = INPUT_SIZE

    def __init__(self, backbone: str, dec: tuple[int, ...], *, num_classes: int) -> None:
        super().__init__()
        import timm

        self.num_classes = num_classes
        self.encoder = timm.create_model(
            backbone, features_only=True, pretrained=False, out_indices=(0, 1, 2, 3, 4)
        )
        enc = cast(Any, self.encoder).feature_info.channels()
        self.dec, self.head = fpn_decoder(enc, dec, num_classes=num_classes, light=False)

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        return {"maps": fpn_decode(self.dec, self.head, self.encoder(image))}


@MODELS.register("resnet18_lines")
def resnet18_lines(*, num_classes: int = len(LINE_KEYS)) -> ResNetLineNet:
    """~11.8M params: timm resnet18 encoder + FPN-like decoder (the teacher's heavy part)."""
    return ResNetLineNet("resnet18", (128, 96, 64, 48), num_classes=num_classes)
