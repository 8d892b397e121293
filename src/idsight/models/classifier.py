"""Template classifier: which card template (if any) a rectified card shows.

Input: the rectified card resized to ``(B, 3, 96, 152)`` (H, W), normalised with mean = std = 0.5.
Output: ``{"logits": (B, 3)}`` over :data:`CLASSES` = ("kr-rrc", "td1", "none").
"""

from __future__ import annotations

from torch import Tensor, nn

from idsight.models.layers import DWSep, conv_bn
from idsight.registry import MODELS

INPUT_SIZE = (96, 152)  # (H, W)
CLASSES: tuple[str, ...] = ("kr-rrc", "td1", "none")


class TemplateClassifier(nn.Module):
    input_size = INPUT_SIZE
    classes = CLASSES

    def __init__(self, widths: tuple[int, ...], *, num_classes: int, dropout: float, light: bool) -> None:
        super().__init__()
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        cin = 3
        for i, c in enumerate(widths):
            layers.append(conv_bn(cin, c, 3, 2) if i == 0 or not light else DWSep(cin, c, 2))
            cin = c
        self.features = nn.Sequential(*layers)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(cin, num_classes)

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        f = self.features(image).mean(dim=(2, 3))  # global average pool (B, C)
        return {"logits": self.head(self.drop(f))}


@MODELS.register("tplcls_small")
def tplcls_small(*, num_classes: int = len(CLASSES), dropout: float = 0.2) -> TemplateClassifier:
    """Five stride-2 conv-BN-ReLU stages (96x152 -> 3x5) + GAP + linear; ~0.1M params."""
    return TemplateClassifier((16, 32, 48, 64, 96), num_classes=num_classes, dropout=dropout, light=False)
