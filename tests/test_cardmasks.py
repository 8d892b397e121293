"""Card masks of composed scenes (the layout-free student's localiser data) and reader-part warm starts."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from idsight.data.cardmasks import SIZE, STRIDE, ComposedCardMasks, card_mask


def test_card_mask_fills_the_quadrilateral_at_the_output_stride() -> None:
    frame = (1000, 600)
    corners = np.array([[100, 60], [700, 60], [700, 420], [100, 420]], np.float64)
    mask = card_mask(corners, frame)
    assert mask.shape == (SIZE[1] // STRIDE, SIZE[0] // STRIDE) and set(np.unique(mask)) == {0.0, 1.0}
    assert abs(mask.mean() - (600 * 360) / (1000 * 600)) < 0.02
    ys, xs = np.nonzero(mask)
    sx, sy = mask.shape[1] / frame[0], mask.shape[0] / frame[1]
    assert abs(xs.min() - 100 * sx) <= 1.5 and abs(xs.max() + 1 - 700 * sx) <= 1.5
    assert abs(ys.min() - 60 * sy) <= 1.5 and abs(ys.max() + 1 - 420 * sy) <= 1.5


def test_composed_masks_are_deterministic_and_cover_the_card() -> None:
    data = ComposedCardMasks(count=6, seed=5)
    batch = ComposedCardMasks.collate([data[i] for i in range(6)])
    assert batch["image"].shape == (6, 3, SIZE[1], SIZE[0]) and batch["maps"].shape == (6, 1, 80, 128)
    assert float(batch["image"].min()) >= -1.0 and float(batch["image"].max()) <= 1.0
    assert torch.equal(data[2][1], ComposedCardMasks(count=6, seed=5)[2][1])
    photos = [data.sample(i) for i in range(6)]
    photos = [(im, m) for im, m in photos if 0.05 < m.mean() < 0.95]  # flat scans are all card
    assert photos
    for image, mask in photos:  # the mask follows the card: its inside differs from its surround
        h, w = image.shape[:2]
        big = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST) > 0
        assert np.abs(image[big].mean(0) - image[~big].mean(0)).max() > 3


def test_part_from_reader_is_the_readers_network(tmp_path: Path) -> None:
    from idsight import hub
    from idsight.artifact import load_artifact, save_artifact
    from idsight.models.reader import ReaderModel
    from idsight.models.recognizer import concrete_arch, part_from_reader
    from idsight.ocr.layoutfree import load_line_reader, save_line_reader

    net = part_from_reader(reader="idsight-reader-student", part="localizer").eval()
    reader, meta = ReaderModel.from_artifact(hub.resolve("idsight-reader-student"))
    x = torch.randn(1, 3, SIZE[1], SIZE[0])
    with torch.inference_mode():
        assert torch.allclose(net(x)["maps"], reader.localizer.eval()(x)["maps"], atol=1e-5)
    arch = concrete_arch("part_from_reader", {"reader": "idsight-reader-student", "part": "localizer"})
    assert arch == meta["arch"]["localizer"]
    # a localiser that ``idsight train`` wrote goes into a layout-free reader file
    with torch.no_grad():
        net.head.bias.add_(1.0)
    loc = save_artifact(tmp_path / "loc.safetensors", net.state_dict(), {"arch": arch}, dtype="float32")
    det = Path("models/idsight-text-detector-student.safetensors")
    out = save_line_reader(
        tmp_path / "reader.safetensors",
        recognizer=Path("src/idsight/assets/models/idsight-reader-open-student.safetensors"),
        detector={"name": "db", "model": det, "localizer": str(loc)},
    )
    state, _ = load_artifact(out)
    assert torch.equal(state["localizer.head.bias"], net.state_dict()["head.bias"])
    assert load_line_reader(out).detector.localizer is not None
