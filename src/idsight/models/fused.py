"""The contour-fused classifier: a frozen contour extractor beside an ImageNet-pretrained backbone.

``image`` (B, 3, H, W), normalised with the ImageNet mean and std (as the contour data sets give it):

1. the frozen contour extractor (:class:`idsight.models.contour.ContourNet`, heads dropped) gives the
   multi-level contour features (B, C_c, H, W);
2. the backbone (the first classification network, from timm) gives its last feature map
   (B, C_b, h, w), on the input re-normalised to what its weights expect;
3. the contour features are area-resized to (h, w) and concatenated to the backbone's along channels;
4. two 3x3 conv-BN-ReLU fusion layers, global average pooling, dropout and a fully connected layer
   (the second classification network) give ``logits`` over ``classes``.

``train``: ``"head"`` updates the fusion layers and the FC only, ``"all"`` the backbone too. The contour
extractor is never updated, and frozen parts stay in eval mode (their batch-norm statistics do not move).
With no extractor (``contour_arch=None``) the same network is the backbone alone, the baseline of
``benchmarks/contours.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from idsight.models.backbones import IMAGENET_MEAN_STD, create_backbone, mean_std
from idsight.models.contour import ContourNet
from idsight.models.layers import conv_bn
from idsight.registry import MODELS

TRAIN = ("head", "all")


class ContourFusedClassifier(nn.Module):
    """See the module docstring. ``forward(image) -> {"logits": (B, len(classes))}``."""

    def __init__(
        self,
        *,
        backbone: nn.Module,
        backbone_name: str,
        extractor: ContourNet | None,
        classes: Sequence[str],
        train: str = "all",
        fusion_channels: int = 128,
        dropout: float = 0.2,
        input_size: int = 64,
    ) -> None:
        super().__init__()
        if train not in TRAIN:
            raise ValueError(f"train must be one of {', '.join(TRAIN)}, not {train!r}")
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ValueError(f"classes must be at least two distinct names, got {list(classes)}")
        self.classes, self.train_what, self.input_size = tuple(classes), train, input_size
        self.backbone = backbone
        self.extractor = extractor.without_head() if extractor is not None else None
        for p in self.extractor.parameters() if self.extractor is not None else ():
            p.requires_grad_(False)
        if train == "head":
            for p in self.backbone.parameters():
                p.requires_grad_(False)
        mean, std = mean_std(backbone_name)
        shift = [(a - m) / s for a, m, s in zip(IMAGENET_MEAN_STD[0], mean, std, strict=True)]
        scale = [a / s for a, s in zip(IMAGENET_MEAN_STD[1], std, strict=True)]
        # x_backbone = x * scale + shift, from the ImageNet-normalised input (kept with the weights)
        self.register_buffer("bb_scale", torch.tensor(scale).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("bb_shift", torch.tensor(shift).view(1, 3, 1, 1), persistent=False)
        width: Any = backbone.num_features  # timm's feature width (an int attribute)
        c_in = int(width) + (self.extractor.out_channels if self.extractor else 0)
        self.fusion = nn.Sequential(
            conv_bn(c_in, fusion_channels, 3), conv_bn(fusion_channels, fusion_channels, 3)
        )
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(fusion_channels, len(self.classes))

    def frozen(self) -> list[nn.Module]:
        parts: list[nn.Module] = [self.extractor] if self.extractor is not None else []
        return parts + ([self.backbone] if self.train_what == "head" else [])

    def train(self, mode: bool = True) -> ContourFusedClassifier:
        super().train(mode)
        for m in self.frozen():
            m.eval()
        return self

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        f = self.backbone.forward_features(image * self.bb_scale + self.bb_shift)  # type: ignore[operator]
        if self.extractor is not None:
            with torch.no_grad():
                c = self.extractor(image)["features"]
            f = torch.cat([f, F.adaptive_avg_pool2d(c, f.shape[-2:])], 1)
        h = self.fusion(f).mean(dim=(2, 3))
        return {"logits": self.fc(self.drop(h))}


def _extractor(contour: str | None, contour_arch: dict[str, Any] | None) -> ContourNet | None:
    if contour is not None:
        from idsight.contours.extractor import load_extractor

        return load_extractor(contour)
    if contour_arch is not None:  # the structure only: an artifact's weights fill it
        net = MODELS.build(contour_arch["name"], **dict(contour_arch.get("kwargs") or {}))
        if not isinstance(net, ContourNet):
            raise ValueError(f"{contour_arch['name']!r} is not a contour network")
        return net
    return None


@MODELS.register("contour_fused")
def contour_fused(
    *,
    classes: Sequence[str],
    backbone: str = "tf_efficientnet_lite0",
    pretrained: str | None = "package",
    contour: str | None = None,
    contour_arch: dict[str, Any] | None = None,
    train: str = "all",
    fusion_channels: int = 128,
    dropout: float = 0.2,
    input_size: int = 64,
) -> ContourFusedClassifier:
    """The contour-fused classifier. ``contour``: a contour-extractor artifact (``idsight train
    configs/contours_*.yaml``); ``contour_arch``: its architecture alone (how a saved classifier is
    rebuilt; its file holds the extractor's weights); neither: the backbone alone. ``pretrained``: see
    :func:`idsight.models.backbones.create_backbone`. ``input_size``: the side images are resized to."""
    return ContourFusedClassifier(
        backbone=create_backbone(backbone, pretrained=pretrained),
        backbone_name=backbone,
        extractor=_extractor(contour, contour_arch),
        classes=classes,
        train=train,
        fusion_channels=fusion_channels,
        dropout=dropout,
        input_size=input_size,
    )


def recorded_arch(kwargs: dict[str, Any]) -> dict[str, Any]:
    """What a saved classifier records: the extractor's architecture instead of its file, and no
    pretrained weights (the classifier's own file holds every weight)."""
    kw = dict(kwargs)
    contour = kw.pop("contour", None)
    if contour is not None:
        from idsight.artifact import load_artifact

        kw["contour_arch"] = load_artifact(contour)[1]["arch"]
    kw["pretrained"] = None
    return {"name": "contour_fused", "kwargs": kw}
