"""Visible + infrared face recognition: one branch per spectrum, each with an identity head.

A branch is a timm backbone (default ``mobilenetv3_small_100``, a lightweight one that runs on a
phone) whose last feature map is reduced by a global depthwise conv (GDC, as MobileFaceNet does),
then a linear layer and batch norm give the embedding (``embedding_dim``, L2-normalised for
matching). The identity head is ``softmax`` (a linear classifier) or ``arcface`` (additive angular
margin: ``s * cos(theta + m)`` for the true class). ``shared_head``: one head for both branches,
which puts the two embedding spaces in one (cross-spectral matching: a card photo against an
infrared live face); otherwise one head per branch.

``forward(vis=..., nir=..., label=...)`` returns ``{"vis_logits", "nir_logits", "vis_embedding",
"nir_embedding"}`` for the spectra given; the ArcFace margin needs ``label`` while training.
``embed(image, spectrum=...)`` gives normalised embeddings for verification.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from idsight.models.backbones import create_backbone
from idsight.registry import MODELS

HEADS = ("softmax", "arcface")
SPECTRA = ("vis", "nir")


class Embedder(nn.Module):
    """Backbone -> global depthwise conv -> linear -> batch norm."""

    def __init__(self, backbone: str, dim: int, input_size: int, pretrained: str | None) -> None:
        super().__init__()
        self.body = create_backbone(backbone, pretrained=pretrained)
        if type(self.body).__name__ == "MobileNetV3":  # its conv_head belongs to forward_head: unused here
            self.body.conv_head = nn.Identity()
        with torch.no_grad():  # the feature map's shape (eval: batch norm cannot train on one 1x1 map)
            self.body.eval()
            c, h, w = self.body.forward_features(torch.zeros(1, 3, input_size, input_size)).shape[1:]  # type: ignore[operator]
            self.body.train()
        self.gdc = nn.Sequential(nn.Conv2d(c, c, (h, w), groups=c, bias=False), nn.BatchNorm2d(c))
        self.fc = nn.Linear(c, dim, bias=False)
        self.bn = nn.BatchNorm1d(dim)

    def forward(self, x: Tensor) -> Tensor:
        f = self.gdc(self.body.forward_features(x)).flatten(1)  # type: ignore[operator]
        return self.bn(self.fc(f))


class ArcFaceHead(nn.Module):
    """Additive angular margin (ArcFace): logits ``s * cos(theta_j)``, the true class's ``s * cos(theta + m)``
    (with the usual fallback ``cos(theta) - m * sin(m)`` where ``theta + m`` would pass pi)."""

    def __init__(self, dim: int, classes: int, *, scale: float = 32.0, margin: float = 0.5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(classes, dim))
        nn.init.xavier_uniform_(self.weight)
        self.scale, self.margin = scale, margin

    def forward(self, emb: Tensor, label: Tensor | None = None) -> Tensor:
        cos = F.linear(F.normalize(emb), F.normalize(self.weight)).clamp(-1 + 1e-7, 1 - 1e-7)
        if label is None or not self.training:
            return cos * self.scale
        theta_m = torch.cos(torch.acos(cos) + self.margin)
        fallback = cos - self.margin * math.sin(self.margin)
        target = torch.where(cos > math.cos(math.pi - self.margin), theta_m, fallback)
        onehot = F.one_hot(label, cos.shape[1]).bool()
        return torch.where(onehot, target, cos) * self.scale


class SoftmaxHead(nn.Module):
    def __init__(self, dim: int, classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(dim, classes)

    def forward(self, emb: Tensor, label: Tensor | None = None) -> Tensor:
        return self.fc(emb)


@MODELS.register("vis_ir_facenet")
class VisIRFaceNet(nn.Module):
    """Two branches (visible, near-infrared) of a timm backbone + GDC embedding, with a softmax or
    ArcFace identity head, shared or one per branch; ``shared_branch``: one network for both spectra
    instead. ``pretrained``: see ``create_backbone``. See the module docstring."""

    def __init__(
        self,
        *,
        num_classes: int,
        backbone: str = "mobilenetv3_small_100",
        embedding_dim: int = 128,
        head: str = "arcface",
        shared_head: bool = True,
        shared_branch: bool = False,
        input_size: int = 112,
        pretrained: str | None = None,
    ) -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}, not {head!r}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        self.input_size, self.embedding_dim, self.shared_head = input_size, embedding_dim, shared_head
        self.shared_branch = shared_branch
        if shared_branch:  # one network for both spectra (the baseline the two branches are compared with)
            one = Embedder(backbone, embedding_dim, input_size, pretrained)
            self.branches = nn.ModuleDict({"vis": one})
        else:
            self.branches = nn.ModuleDict(
                {s: Embedder(backbone, embedding_dim, input_size, pretrained) for s in SPECTRA}
            )

        def make() -> nn.Module:
            return (
                ArcFaceHead(embedding_dim, num_classes)
                if head == "arcface"
                else SoftmaxHead(embedding_dim, num_classes)
            )

        self.heads = nn.ModuleDict({"shared": make()} if shared_head else {s: make() for s in SPECTRA})

    def head(self, spectrum: str) -> nn.Module:
        return self.heads["shared"] if self.shared_head else self.heads[spectrum]

    def branch(self, spectrum: str) -> nn.Module:
        return self.branches["vis"] if self.shared_branch else self.branches[spectrum]

    def forward(
        self, *, vis: Tensor | None = None, nir: Tensor | None = None, label: Tensor | None = None
    ) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for spectrum, x in (("vis", vis), ("nir", nir)):
            if x is None:
                continue
            emb = self.branch(spectrum)(x)
            out[f"{spectrum}_embedding"] = emb
            out[f"{spectrum}_logits"] = self.head(spectrum)(emb, label)
        return out

    @torch.inference_mode()
    def embed(self, image: Tensor, *, spectrum: str) -> Tensor:
        """L2-normalised embeddings (B, embedding_dim) of faces seen in ``spectrum``."""
        if spectrum not in SPECTRA:
            raise ValueError(f"spectrum must be one of {', '.join(SPECTRA)}, not {spectrum!r}")
        return F.normalize(self.branch(spectrum)(image))
