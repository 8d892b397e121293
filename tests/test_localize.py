"""Localisation geometry: corner ordering, side fitting and edge refinement on drawn cards."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idsight.data.io import shrink
from idsight.ocr.localize import (
    CardView,
    ContourLocalizer,
    EdgeImage,
    Localization,
    _fit_sides,
    order_corners,
    rectify,
    refine_quad,
)
from idsight.templates import CARD_SIZE

TRUE = np.array([[300, 180], [1020, 230], [990, 690], [260, 620]], dtype=np.float32)


def _scene(rng: np.random.Generator) -> np.ndarray:
    img = rng.integers(40, 120, size=(900, 1300, 3), dtype=np.uint8)
    img = cv2.GaussianBlur(img, (7, 7), 0)
    cv2.fillPoly(img, [TRUE.astype(np.int32)], (235, 230, 220))
    cv2.putText(img, "IDENTITY CARD", (360, 300), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (30, 30, 90), 4)
    return img


@given(st.permutations(list(range(4))))
def test_order_corners_is_permutation_invariant(perm: list[int]) -> None:
    assert np.allclose(order_corners(TRUE[perm]), TRUE)


def test_refinement_snaps_a_coarse_quad_to_the_card_edges() -> None:
    img = _scene(np.random.default_rng(0))
    coarse = TRUE + np.array([[9, -8], [-7, 9], [8, 8], [-9, -7]], dtype=np.float32)
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    fine = refine_quad(gray, coarse, band=15.0)
    assert np.abs(coarse - TRUE).max() > 8
    assert np.abs(fine - TRUE).max() < 2.0


@settings(max_examples=60, deadline=None)
@given(
    st.integers(4, 60),
    st.integers(4, 60),
    st.integers(0, 2**31 - 1),
    st.floats(-12.0, 70.0),
    st.floats(-12.0, 70.0),
    st.floats(0.0, 40.0),
    st.floats(0.0, 40.0),
)
def test_edge_image_samples_what_the_whole_smoothed_image_gives(
    h: int, w: int, seed: int, x: float, y: float, dx: float, dy: float
) -> None:
    """Smoothing only a window around the points is exact, also where they leave the image."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    xs = (x + dx * rng.random((7, 5))).astype(np.float32)
    ys = (y + dy * rng.random((7, 5))).astype(np.float32)
    whole = cv2.GaussianBlur(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), (3, 3), 0)
    ref = cv2.remap(whole, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    np.testing.assert_array_equal(EdgeImage(img).sample(xs, ys), ref)


def test_refinement_on_an_edge_image_is_refinement_on_the_smoothed_grey_image() -> None:
    img = _scene(np.random.default_rng(1))
    coarse = TRUE + np.array([[6, -5], [-4, 7], [5, 6], [-7, -4]], dtype=np.float32)
    whole = cv2.GaussianBlur(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), (3, 3), 0)
    np.testing.assert_array_equal(
        refine_quad(EdgeImage(img), coarse, band=12.0), refine_quad(whole, coarse, band=12.0)
    )


def test_side_fitting_recovers_corners_from_a_rounded_mask() -> None:
    mask = np.zeros((900, 1300), np.uint8)
    cv2.fillPoly(mask, [TRUE.astype(np.int32)], 1)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (61, 61)))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    c = max(contours, key=cv2.contourArea).astype(np.float32)
    rough = cv2.boxPoints(cv2.minAreaRect(c))
    fitted = _fit_sides(c, rough)
    assert np.abs(fitted - TRUE).max() < 4.0


def test_contour_localiser_flat_scan_is_full_frame() -> None:
    w, h = CARD_SIZE
    card = np.full((h, w, 3), 230, np.uint8)
    cv2.putText(card, "FLAT SCAN", (100, 200), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (20, 20, 20), 3)
    loc = ContourLocalizer()(card)
    assert loc is not None and loc.method == "full_frame"
    assert rectify(card, loc).shape == (h, w, 3)


@pytest.mark.parametrize("shape", [(300, 300, 3), (100, 900, 3)])
def test_contour_localiser_rejects_plain_non_card_images(shape: tuple[int, int, int]) -> None:
    assert ContourLocalizer()(np.full(shape, 128, np.uint8)) is None


@settings(max_examples=20, deadline=None)
@given(st.floats(-20, 20), st.floats(-20, 20))
def test_homography_maps_corners_to_the_card_frame(dx: float, dy: float) -> None:
    loc = Localization(TRUE + np.float32([dx, dy]), 1.0, "given")
    hm = loc.homography()
    p = np.c_[loc.corners, np.ones(4)] @ hm.T
    p = p[:, :2] / p[:, 2:]
    w, h = CARD_SIZE
    assert np.allclose(p, [[0, 0], [w, 0], [w, h], [0, h]], atol=1e-3)


@settings(max_examples=20, deadline=None)
@given(
    st.integers(0, CARD_SIZE[0] - 2),
    st.integers(0, CARD_SIZE[1] - 2),
    st.integers(1, 400),
    st.integers(1, 80),
)
def test_card_view_region_is_the_rectified_card_sliced(x0: int, y0: int, w: int, h: int) -> None:
    img = _scene(np.random.default_rng(1))
    loc = Localization(TRUE, 1.0, "given")
    x1, y1 = min(CARD_SIZE[0], x0 + w), min(CARD_SIZE[1], y0 + h)
    full = rectify(img, loc)
    got = CardView(img, loc).region(x0, y0, x1, y1)
    assert got.shape == full[y0:y1, x0:x1].shape
    # the same warp restricted to a window: equal up to OpenCV's fixed-point rounding
    assert np.abs(got.astype(int) - full[y0:y1, x0:x1].astype(int)).max() <= 1


def test_card_view_overview_matches_the_full_card_shrunk() -> None:
    img = _scene(np.random.default_rng(2))
    loc = Localization(TRUE, 1.0, "given")
    view = CardView(img, loc)
    small = view.overview((512, 320))
    assert small.shape == (320, 512, 3)
    assert view.overview((512, 320)) is small  # warped once per size
    a = shrink(small, (256, 160)).astype(float)
    b = shrink(rectify(img, loc), (256, 160)).astype(float)
    assert np.abs(a - b).mean() < 2.0
    assert view.overview((5000, 5000)).shape == (CARD_SIZE[1], CARD_SIZE[0], 3)  # never above full size


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 50), st.integers(1, 50), st.integers(0, 2**31 - 1))
def test_mask_input_table_is_the_float32_formula(h: int, w: int, seed: int) -> None:
    import torch

    from idsight.data.io import lut_planes
    from idsight.ocr.localize import MASK_LUT

    img = np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    want = torch.from_numpy(img).permute(2, 0, 1).float().div(127.5).sub(1.0)
    assert torch.equal(torch.from_numpy(lut_planes(img, MASK_LUT)), want)


@pytest.mark.parametrize("out", [(60, 32), (124, 32), (40, 18)])
def test_region_warped_to_a_size_is_the_window_resized(out: tuple[int, int]) -> None:
    """A window warped straight to ``out`` samples where resizing the cut window would (pixel
    centres onto pixel centres), so ``line_warp="direct"`` crops line up with ``"window"`` ones."""
    rng = np.random.default_rng(5)
    w, h = CARD_SIZE
    img = cv2.GaussianBlur(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8), (0, 0), 2.0)
    full = Localization(np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32), 1.0, "full_frame")
    view = CardView(img, full)
    x0, y0, x1, y1 = 101, 57, 197, 106
    np.testing.assert_array_equal(view.region(x0, y0, x1, y1), img[y0:y1, x0:x1])  # scale 1: a cut
    want = cv2.resize(img[y0:y1, x0:x1], out, interpolation=cv2.INTER_LINEAR).astype(int)
    got = view.region(x0, y0, x1, y1, out=out).astype(int)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 2


def test_robust_mask_fit_ignores_background_let_into_the_mask() -> None:
    """A mask with a thin streak of background joined to one side: the plain hull fit bends a corner
    towards it, the opened, overlap-chosen fit (``open_frac``) stays on the card."""
    from types import SimpleNamespace

    from idsight.ocr.localize import MaskLocalizer

    image = _scene(np.random.default_rng(3))
    size = (256, 160)
    scale = np.array([size[0] / image.shape[1], size[1] / image.shape[0]], np.float32)
    prob = np.zeros(size[::-1], np.float32)
    cv2.fillPoly(prob, [np.round(TRUE * scale).astype(np.int32)], 1.0)
    cv2.rectangle(prob, (190, 60), (252, 65), 0.8, -1)  # a thin streak of sky beside the right side
    gray = EdgeImage(image)

    def fit(open_frac: float) -> np.ndarray:
        loc = MaskLocalizer(model=SimpleNamespace(localizer=None), open_frac=open_frac)
        result = loc._fit(gray, prob, 0.5)
        assert result is not None
        return order_corners(result.corners)

    plain, robust = fit(0.0), fit(0.05)
    assert np.linalg.norm(plain - TRUE, axis=1).max() > 40
    assert np.linalg.norm(robust - TRUE, axis=1).max() < 12
