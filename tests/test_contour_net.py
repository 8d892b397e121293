"""The contour extraction network and its class-balanced loss."""

from __future__ import annotations

import pytest
import torch

from idsight.models.contour import BLOCKS, UNIFY, ContourNet, contour_small
from idsight.registry import MODELS
from idsight.tasks.contour import ContourDetection, balanced_bce


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("unify", UNIFY)
def test_every_level_is_unified_to_the_input_size(block: str, unify: str) -> None:
    net = ContourNet(channels=(8, 12, 16), block=block, unify=unify, side_channels=4)
    out = net(torch.randn(2, 3, 36, 52))
    assert out["features"].shape == (2, 12, 36, 52)  # 3 levels x 4 channels, at the input size
    assert out["edges"].shape == (2, 1, 36, 52)
    assert [tuple(s.shape) for s in out["sides"]] == [(2, 1, 36, 52)] * 3


def test_bad_choices_are_refused() -> None:
    with pytest.raises(ValueError, match="block must be one of"):
        ContourNet(block="inception")
    with pytest.raises(ValueError, match="unify must be one of"):
        ContourNet(unify="bicubic")
    assert isinstance(MODELS.build("contour_small", block="se"), ContourNet)


def test_balanced_loss_weighs_rare_edges_up_and_ignores_partial_agreement() -> None:
    target = torch.zeros(1, 1, 10, 10)
    target[0, 0, 5, :] = 1.0  # 10 edge pixels of 100
    logits = torch.zeros_like(target)
    # at p = 0.5 every counted pixel costs log 2, weighted 0.9 (edges) or 0.1 (the 90 others)
    expected = (10 * 0.9 + 90 * 0.1) * torch.log(torch.tensor(2.0)) / 100
    assert torch.isclose(balanced_bce(logits, target), expected)
    partial = target.clone()
    partial[0, 0, 0, :] = 0.25  # a quarter of annotators: neither edge nor background
    wrong = logits.clone()
    wrong[0, 0, 0, :] = 20.0  # confidently "edge" there costs nothing
    assert torch.isclose(balanced_bce(wrong, partial), balanced_bce(logits, partial))


def test_gradients_reach_every_stage_and_the_loss_falls_on_a_tiny_set() -> None:
    torch.manual_seed(0)
    image = torch.zeros(2, 3, 32, 32)
    image[:, :, 8:24, 8:24] = 1.0
    edges = torch.zeros(2, 1, 32, 32)
    edges[:, :, 8, 8:24] = edges[:, :, 23, 8:24] = edges[:, :, 8:24, 8] = edges[:, :, 8:24, 23] = 1.0
    net = ContourNet(channels=(8, 16), side_channels=4)
    task = ContourDetection(side_weight=0.5)
    out = task(net, {"image": image, "edges": edges})
    out["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.stages.parameters())
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = float(out["loss"].detach())
    for _ in range(60):
        opt.zero_grad()
        loss = task(net, {"image": image, "edges": edges})["loss"]
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.5 * first
    prob = net.eval().contour_maps(image)["fused"]
    assert prob[edges.bool()].mean() > prob[~edges.bool()].mean() + 0.3


def test_extractor_without_head_gives_features_only() -> None:
    net = contour_small()
    n_with = sum(p.numel() for p in net.parameters())
    net.without_head()
    out = net(torch.randn(1, 3, 32, 32))
    assert set(out) == {"features"} and out["features"].shape == (1, 32, 32, 32)
    assert sum(p.numel() for p in net.parameters()) == n_with - (32 + 1) - 4 * (8 + 1)
    with pytest.raises(ValueError, match="no contour head"):
        net.contour_maps(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="no contour head"):
        ContourDetection()(net, {"image": torch.randn(1, 3, 32, 32), "edges": torch.zeros(1, 1, 32, 32)})


def _artifact(tmp_path):  # noqa: ANN001, ANN202
    from idsight.artifact import save_artifact

    arch = {"name": "contour_net", "kwargs": {"channels": [8, 16], "side_channels": 4}}
    torch.manual_seed(0)
    net = MODELS.build(arch["name"], **arch["kwargs"])
    return save_artifact(
        tmp_path / "contours.safetensors", net.state_dict(), {"task": "contour_detection", "arch": arch}
    )


def test_contours_command_writes_the_fused_map_and_each_level(tmp_path) -> None:  # noqa: ANN001
    import cv2
    import numpy as np
    from typer.testing import CliRunner

    from idsight.cli.main import app
    from idsight.contours.extractor import load_extractor

    model = _artifact(tmp_path)
    image = tmp_path / "shape.png"
    img = np.zeros((45, 61, 3), np.uint8)  # a size no level divides: padded, then cropped back
    cv2.circle(img, (30, 22), 12, (255, 255, 255), -1)
    cv2.imwrite(str(image), img)
    res = CliRunner().invoke(
        app, ["contours", str(image), "--model", str(model), "--out", str(tmp_path / "m")]
    )
    assert res.exit_code == 0, res.output
    written = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert written == ["shape_fused.png", "shape_level1.png", "shape_level2.png"]
    assert cv2.imread(str(tmp_path / "m" / "shape_fused.png"), cv2.IMREAD_UNCHANGED).shape == (45, 61)
    assert "edges" not in load_extractor(model)(torch.zeros(1, 3, 16, 16))  # heads dropped by default

    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    res = CliRunner().invoke(
        app, ["contours", str(junk), str(image), "--model", str(model), "--out", str(tmp_path / "m")]
    )
    assert res.exit_code == 2 and "junk.png" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(
        app, ["contours", str(image), "--model", str(image), "--out", str(tmp_path / "m")]
    )
    assert res.exit_code == 2 and "shape.png" in res.output
    res = CliRunner().invoke(app, ["contours", str(image), "--model", str(model), "--out", str(image)])
    assert res.exit_code == 2 and "not a folder" in res.output


def test_hed_baseline_has_the_same_outputs_and_far_more_parameters() -> None:
    hed = MODELS.build("hed_vgg16")
    out = hed(torch.randn(1, 3, 40, 56))
    assert out["edges"].shape == (1, 1, 40, 56) and len(out["sides"]) == 5
    loss = ContourDetection()(hed, {"image": torch.randn(1, 3, 40, 56), "edges": torch.zeros(1, 1, 40, 56)})
    assert torch.isfinite(loss["loss"])
    n_hed = sum(p.numel() for p in hed.parameters())
    assert n_hed > 14_000_000 and n_hed > 10 * sum(p.numel() for p in contour_small().parameters())
