"""The visible + infrared face network, its task, and the verification metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import idsight.data.faces  # noqa: F401  (registers the data sets)
import idsight.models  # noqa: F401  (registers the builders)
import idsight.tasks  # noqa: F401  (registers the tasks)
from idsight.faces.verify import cross_spectral_report, rank1, roc, tar_at_far
from idsight.registry import MODELS, TASKS


def _net(**kw: object) -> torch.nn.Module:
    return MODELS.build(
        "vis_ir_facenet", num_classes=4, backbone="mobilenetv3_small_050", input_size=64, **kw
    )


@pytest.mark.parametrize(("head", "shared"), [("arcface", True), ("softmax", False)])
def test_shapes_heads_and_gradients(head: str, shared: bool) -> None:
    torch.manual_seed(0)
    net = _net(head=head, shared_head=shared).train()
    x, y = torch.randn(4, 3, 64, 64), torch.tensor([0, 1, 2, 3])
    out = net(vis=x, nir=x.flip(-1), label=y)
    assert out["vis_logits"].shape == (4, 4) and out["nir_embedding"].shape == (4, 128)
    assert (len(net.heads) == 1) == shared
    task = TASKS.build("vis_ir_identity", w_vis=1.0, w_ir=0.5)
    res = task(net, {"vis": x, "nir": x.flip(-1), "label": y})
    assert torch.isclose(res["loss"], res["vis"] + 0.5 * res["ir"])
    res["loss"].backward()
    for spectrum in ("vis", "nir"):
        assert all(p.grad is not None for p in net.branches[spectrum].parameters())
    only_vis = TASKS.build("vis_ir_identity", w_vis=1.0, w_ir=0.0)
    net.zero_grad()
    only_vis(net, {"vis": x, "nir": x, "label": y})["loss"].backward()
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in net.branches["nir"].parameters())
    emb = net.eval().embed(x, spectrum="nir")
    assert torch.allclose(emb.norm(dim=1), torch.ones(4), atol=1e-5)


def test_arcface_margin_lowers_only_the_true_class() -> None:
    from idsight.models.faces import ArcFaceHead

    head = ArcFaceHead(8, 3, scale=1.0, margin=0.3).train()
    emb, y = torch.randn(5, 8), torch.tensor([0, 1, 2, 0, 1])
    with_margin = head(emb, y)
    plain = head.eval()(emb, y)
    onehot = torch.nn.functional.one_hot(y, 3).bool()
    assert (with_margin[onehot] < plain[onehot]).all() and torch.equal(with_margin[~onehot], plain[~onehot])


def test_loss_falls_on_tiny_pairs() -> None:
    torch.manual_seed(0)
    net = _net(head="softmax").train()
    task = TASKS.build("vis_ir_identity")
    y = torch.arange(4).repeat(2)
    base = torch.randn(4, 3, 64, 64)[y]
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(15):
        batch = {
            "vis": base + 0.1 * torch.randn_like(base),
            "nir": base.mean(1, keepdim=True).expand_as(base),
            "label": y,
        }
        out = task(net, batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"].detach()))
    assert losses[-1] < 0.5 * losses[0]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="head must be one of"):
        _net(head="cosface")
    with pytest.raises(ValueError, match="not all 0"):
        TASKS.build("vis_ir_identity", w_vis=0.0, w_ir=0.0)
    with pytest.raises(ValueError, match="spectrum must be one of"):
        _net().eval().embed(torch.randn(1, 3, 64, 64), spectrum="uv")


def test_metrics_on_known_scores() -> None:
    genuine = np.array([0.9, 0.8, 0.7, 0.45])
    impostor = np.array([0.65, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, -0.1, -0.2, -0.3])
    assert tar_at_far(genuine, impostor, 0.1) == (0.75, 0.5)  # one impostor (0.65) accepted
    assert tar_at_far(genuine, impostor, 0.0) == (0.75, 0.65)  # none accepted
    assert tar_at_far(genuine, impostor, 1.0)[0] == 1.0
    assert roc(genuine, impostor)["auc"] == pytest.approx(
        1 - 2 / 40
    )  # 0.45 below 0.65 and 0.5: 2 of 40 pairs wrong
    assert roc(np.array([1.0]), np.array([0.0]))["auc"] == 1.0
    gallery = np.eye(3)
    probe = np.array([[0.9, 0.1, 0], [0, 0.2, 0.9], [0.6, 0.5, 0]])
    probe /= np.linalg.norm(probe, axis=1, keepdims=True)
    assert rank1(gallery, np.array([0, 1, 2]), probe, np.array([0, 2, 1])) == pytest.approx(2 / 3)
    rep = cross_spectral_report(gallery, np.array([0, 1, 2]), probe, np.array([0, 2, 1]), fars=(0.5,))
    assert rep["genuine_pairs"] == 3 and rep["impostor_pairs"] == 6 and rep["rank1"] == pytest.approx(0.6667)


def test_generated_face_pairs_items() -> None:
    import idsight.data.faces  # noqa: F401
    from idsight.registry import DATASETS

    ds = DATASETS.build(
        "generated_faces", count=6, seed=1, identities="heldout", nir_setting="heldout", size=64
    )
    item = ds[2]
    assert item["vis"].shape == (3, 64, 64) and item["nir"].shape == (3, 64, 64) and int(item["label"]) == 2
    assert torch.equal(item["nir"][0], item["nir"][1])  # infrared is one channel
    assert torch.equal(ds[2]["vis"], item["vis"]) and not torch.equal(ds[2]["vis"], ds[3]["vis"])
    assert len(ds.identities) == 21


def test_distillation_pulls_both_branches_to_the_teacher() -> None:
    torch.manual_seed(0)
    net = _net(head="softmax").train()
    task = TASKS.build("vis_ir_identity", w_vis=0.0, w_ir=0.0, w_distill=1.0)
    y = torch.arange(4)
    x = torch.randn(4, 3, 64, 64)
    teacher = torch.nn.functional.normalize(torch.randn(4, 128), dim=-1)
    batch = {"vis": x, "nir": x.mean(1, keepdim=True).expand_as(x), "label": y, "teacher": teacher}
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    first = task(net, batch)
    assert torch.isclose(first["loss"], first["distill_vis"] + first["distill_ir"])
    for _ in range(20):
        out = task(net, batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    assert float(out["distill_vis"].detach()) < 0.5 * float(first["distill_vis"].detach())
    assert float(out["distill_ir"].detach()) < 0.5 * float(first["distill_ir"].detach())
    no_teacher = task(net, {k: v for k, v in batch.items() if k != "teacher"})
    assert "distill" not in no_teacher  # nothing to distil from: the identity losses alone


def test_one_shared_branch_serves_both_spectra() -> None:
    torch.manual_seed(0)
    two, one = _net().eval(), _net(shared_branch=True).eval()
    assert sum(p.numel() for p in one.parameters()) < 0.6 * sum(p.numel() for p in two.parameters())
    x = torch.randn(2, 3, 64, 64)
    assert torch.allclose(one.embed(x, spectrum="vis"), one.embed(x, spectrum="nir"))
    assert not torch.allclose(two.embed(x, spectrum="vis"), two.embed(x, spectrum="nir"))
