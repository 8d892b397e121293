"""The contour-fused classifier: pretrained backbone loading, freezing, training, artifact round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import idsight.models  # noqa: F401  (registers the builders)
from idsight.errors import BadModelError
from idsight.models.backbones import (
    _lite0_file,
    create_backbone,
    efficientnet_pytorch_to_timm,
    mean_std,
    read_state,
)
from idsight.models.contour import contour_small
from idsight.models.fused import ContourFusedClassifier
from idsight.registry import MODELS


@pytest.fixture(scope="module")
def extractor_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from idsight.artifact import save_artifact

    torch.manual_seed(0)
    net = contour_small()
    path = tmp_path_factory.mktemp("ext") / "contours.safetensors"
    arch = {"name": "contour_small", "kwargs": {}}
    save_artifact(path, net.state_dict(), {"task": "contour_detection", "arch": arch}, dtype="float32")
    return path


def _fused(
    extractor: Path | None, *, train: str = "all", pretrained: str | None = None
) -> ContourFusedClassifier:
    return MODELS.build(
        "contour_fused",
        classes=["a", "b", "c"],
        contour=None if extractor is None else str(extractor),
        pretrained=pretrained,
        train=train,
        input_size=32,
    )


def test_packaged_imagenet_weights_are_converted_and_right() -> None:
    """Every tensor of the package's EfficientNet-Lite0 file lands on timm's names, and the network
    then recognises real photos: scikit-image's cat and cup of coffee."""
    import cv2
    import timm
    from skimage import data

    state = efficientnet_pytorch_to_timm(read_state(_lite0_file()))
    full = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    assert set(state) == set(full.state_dict())
    full.load_state_dict(state)
    full.eval()
    mean, std = mean_std("tf_efficientnet_lite0")
    tops = []
    for img in (data.chelsea(), data.coffee()):
        x = (cv2.resize(img, (224, 224)).astype(np.float32) / 255 - np.array(mean)) / np.array(std)
        with torch.inference_mode():
            tops.append(int(full(torch.from_numpy(x.transpose(2, 0, 1)).float()[None]).argmax()))
    assert tops[0] in (281, 282, 285) and tops[1] == 967  # tabby / tiger / Egyptian cat; espresso


def test_backbone_errors(tmp_path: Path) -> None:
    with pytest.raises(BadModelError, match="unknown backbone 'no_such_net'"):
        create_backbone("no_such_net")
    good = create_backbone("tf_efficientnet_lite0", pretrained=None).state_dict()
    bad = dict(good)
    bad["blocks.1.0.conv_dw.weight"] = torch.zeros(3, 1, 3, 3)
    save_file({k: v.contiguous() for k, v in bad.items()}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(BadModelError, match=r"blocks\.1\.0\.conv_dw\.weight has shape \(3, 1, 3, 3\)") as e:
        create_backbone("tf_efficientnet_lite0", pretrained=str(tmp_path / "bad.safetensors"))
    assert "bad.safetensors" in str(e.value)
    short = dict(good)
    del short["conv_head.weight"]
    torch.save(short, tmp_path / "short.pth")
    with pytest.raises(BadModelError, match="conv_head.weight is missing"):
        create_backbone("tf_efficientnet_lite0", pretrained=str(tmp_path / "short.pth"))
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(BadModelError, match="cannot read weights"):
        create_backbone("tf_efficientnet_lite0", pretrained=str(tmp_path / "junk.pth"))
    with pytest.raises(BadModelError, match="no package ships"):
        create_backbone("resnet18", pretrained="package")


def test_shapes_and_what_updates(extractor_file: Path) -> None:
    torch.manual_seed(0)
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 0])
    for train in ("all", "head"):
        net = _fused(extractor_file, train=train).train()
        assert net.extractor is not None and net.extractor.head is None  # the 1-channel head is dropped
        assert not net.extractor.training and (train == "all") == net.backbone.training
        ext_before = {k: v.clone() for k, v in net.extractor.state_dict().items()}
        bb_before = {k: v.clone() for k, v in net.backbone.state_dict().items()}
        out = net(x)["logits"]
        assert out.shape == (4, 3)
        torch.nn.functional.cross_entropy(out, y).backward()
        assert all(p.grad is None for p in net.extractor.parameters())
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.fc.parameters())
        bb_grads = [p.grad for p in net.backbone.parameters()]
        assert all(g is not None for g in bb_grads) if train == "all" else all(g is None for g in bb_grads)
        assert all(torch.equal(v, net.extractor.state_dict()[k]) for k, v in ext_before.items())
        if train == "head":  # batch-norm statistics of a frozen backbone do not move either
            assert all(torch.equal(v, net.backbone.state_dict()[k]) for k, v in bb_before.items())
    alone = _fused(None)
    assert alone.extractor is None and alone(x)["logits"].shape == (4, 3)
    assert alone.fusion[0][0].in_channels + net.extractor.out_channels == net.fusion[0][0].in_channels


def test_bad_classifier_arguments(extractor_file: Path) -> None:
    with pytest.raises(ValueError, match="train must be one of head, all"):
        _fused(extractor_file, train="backbone")
    with pytest.raises(ValueError, match="at least two distinct"):
        MODELS.build("contour_fused", classes=["a", "a"], pretrained=None)


def _stripes(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    base = torch.arange(32).float().div(3).sin().sign()
    x = torch.where(y.view(n, 1, 1) == 0, base.view(1, 32, 1), base.view(1, 1, 32)).expand(n, 32, 32)
    return x.unsqueeze(1).repeat(1, 3, 1, 1) + 0.3 * torch.randn(n, 3, 32, 32, generator=g), y


def test_loss_falls_on_tiny_data(extractor_file: Path) -> None:
    torch.manual_seed(0)
    net = MODELS.build(
        "contour_fused", classes=["h", "v"], contour=str(extractor_file), pretrained=None, input_size=32
    )
    from idsight.tasks.classification import ImageClassification

    task = ImageClassification()
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=3e-3)
    x, y = _stripes(32, 0)
    net.train()
    losses = []
    for _ in range(25):
        out = task(net, {"image": x, "label": y})
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"].detach()))
    assert losses[-1] < 0.5 * losses[0] and float(out["acc"]) > 0.9
