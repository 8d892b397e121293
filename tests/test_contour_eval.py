"""BSDS-style edge evaluation (ODS / OIS / AP) on hand-made maps whose scores are known exactly."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage
from scipy.optimize import linear_sum_assignment
from skimage.draw import circle_perimeter, line
from skimage.morphology import thin as binary_thin

from idsight.contours.evaluate import evaluate, match, thin

SIZE = 64
DIAG = float(np.hypot(SIZE, SIZE))


def _segments(*segments: tuple[int, int, int, int], shape: tuple[int, int] = (SIZE, SIZE)) -> np.ndarray:
    """A boolean map with 1-pixel digital line segments (r0, c0, r1, c1)."""
    out = np.zeros(shape, dtype=bool)
    for r0, c0, r1, c1 in segments:
        rr, cc = line(r0, c0, r1, c1)
        out[rr, cc] = True
    return out


def _circle(
    radius: int, centre: tuple[int, int] = (32, 32), shape: tuple[int, int] = (SIZE, SIZE)
) -> np.ndarray:
    out = np.zeros(shape, dtype=bool)
    rr, cc = circle_perimeter(centre[0], centre[1], radius, shape=shape)
    out[rr, cc] = True
    return out


def _square() -> np.ndarray:
    return _segments((10, 10, 10, 50), (50, 10, 50, 50), (10, 10, 50, 10), (10, 50, 50, 50))


@contextmanager
def _no_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _scores(result: dict) -> tuple[float, float, float]:
    return result["ods_precision"], result["ods_recall"], result["ods_f"]


# --- thin (non-maximum suppression) -------------------------------------------------------------------


@pytest.mark.parametrize(
    "edges",
    [
        _segments((30, 5, 30, 60)),
        _segments((5, 30, 60, 30)),
        _segments((5, 5, 60, 60)),
        _segments((5, 60, 60, 5)),
        _segments((10, 5, 40, 60)),
        _segments((5, 10, 60, 35)),
        _segments((30, 5, 30, 60), (5, 30, 60, 30)),  # a crossing
        _segments((30, 5, 30, 60), (30, 30, 60, 30)),  # a T-junction
        _square(),
        _circle(20),
        _circle(3),
        _segments((30, 30, 30, 30)),  # a single pixel
    ],
    ids=["h", "v", "diag", "anti", "slope", "steep", "cross", "T", "square", "circle", "small", "dot"],
)
def test_thin_keeps_one_pixel_edges_unchanged(edges: np.ndarray) -> None:
    for strength in (1.0, 0.37):
        prob = edges * strength
        np.testing.assert_array_equal(thin(prob), prob)


def test_thin_keeps_straight_edges_of_varying_strength() -> None:
    rng = np.random.default_rng(0)
    for edges in (_segments((30, 5, 30, 60)), _segments((5, 30, 60, 30)), _segments((5, 5, 60, 60))):
        prob = edges * rng.uniform(0.05, 1.0, edges.shape)
        np.testing.assert_array_equal(thin(prob), prob)


def test_thin_keeps_constant_strength_skeletons() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        blob = ndimage.gaussian_filter(rng.random((40, 40)), 2)
        skeleton = binary_thin(blob > np.quantile(blob, 0.6)) * rng.uniform(0.1, 1.0)
        np.testing.assert_array_equal(thin(skeleton), skeleton)


def test_thin_reduces_a_soft_ridge_to_its_crest() -> None:
    def ridge(edges: np.ndarray) -> np.ndarray:  # 0.5 on a 3-pixel band, 1 on its 1-pixel crest
        return np.maximum(ndimage.binary_dilation(edges, np.ones((3, 3))) * 0.5, edges * 1.0)

    closed = _circle(20) | _circle(8)
    np.testing.assert_array_equal(thin(ridge(closed)), closed * 1.0)
    # along an open line the crest alone survives; the band's rounded caps beyond the ends may keep a pixel
    # or two, which the binary thinning of ``evaluate`` removes
    straight = _segments((30, 5, 30, 60))
    np.testing.assert_array_equal(thin(ridge(straight))[:, 5:61], straight[:, 5:61] * 1.0)
    assert thin(np.zeros((8, 8))).sum() == 0
    assert thin(np.ones((1, 5))).shape == (1, 5)


# --- match --------------------------------------------------------------------------------------------


def test_match_is_one_to_one() -> None:
    gt = np.zeros((10, 10), dtype=bool)
    gt[5, 5] = True
    pred = np.zeros_like(gt)
    pred[5, 4] = pred[5, 6] = True
    pred_hit, gt_hit = match(pred, gt, 1.0)
    assert pred_hit.sum() == 1 and gt_hit.sum() == 1
    assert gt_hit[5, 5] and (pred_hit & pred).sum() == 1


def test_match_has_maximum_cardinality() -> None:
    # greedy matching of a to its nearest GT pixel x would strand b; the maximum matching pairs a-y, b-x
    gt = np.zeros((10, 10), dtype=bool)
    gt[5, 5] = gt[5, 7] = True  # x, y
    pred = np.zeros_like(gt)
    pred[5, 6] = pred[5, 4] = True  # a (near x and y), b (near x only)
    pred_hit, gt_hit = match(pred, gt, 1.0)
    np.testing.assert_array_equal(pred_hit, pred)
    np.testing.assert_array_equal(gt_hit, gt)


def test_match_distance_is_inclusive_and_euclidean() -> None:
    gt = np.zeros((6, 6), dtype=bool)
    gt[2, 2] = True
    pred = np.zeros_like(gt)
    pred[3, 3] = True  # sqrt(2) away
    assert match(pred, gt, 1.0)[0].sum() == 0
    assert match(pred, gt, 1.42)[0].sum() == 1
    assert match(gt, gt, 0.0)[0].sum() == 1
    empty = np.zeros_like(gt)
    assert match(empty, gt, 3.0)[1].sum() == 0 and match(pred, empty, 3.0)[0].sum() == 0


def test_match_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="shape"):
        match(np.zeros((4, 4)), np.zeros((4, 5)), 1.0)
    with pytest.raises(ValueError, match="max_dist"):
        match(np.zeros((4, 4)), np.zeros((4, 4)), -1.0)


points = st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), max_size=25, unique=True)


@settings(max_examples=60, deadline=None)
@given(pred_pts=points, gt_pts=points, radius=st.sampled_from([0.0, 1.0, 1.5, 2.0, 3.0]))
def test_match_cardinality_equals_assignment_optimum(
    pred_pts: list[tuple[int, int]], gt_pts: list[tuple[int, int]], radius: float
) -> None:
    pred = np.zeros((12, 12), dtype=bool)
    gt = np.zeros((12, 12), dtype=bool)
    for r, c in pred_pts:
        pred[r, c] = True
    for r, c in gt_pts:
        gt[r, c] = True
    pred_hit, gt_hit = match(pred, gt, radius)
    assert pred_hit.sum() == gt_hit.sum()
    assert not (pred_hit & ~pred).any() and not (gt_hit & ~gt).any()
    expected = 0
    if pred_pts and gt_pts:  # dense reference, fine for a dozen points
        p, g = np.array(pred_pts, float), np.array(gt_pts, float)
        feasible = np.hypot(*(p[:, None, :] - g[None, :, :]).transpose(2, 0, 1)) <= radius
        rows, cols = linear_sum_assignment(~feasible)
        expected = int(feasible[rows, cols].sum())
    assert pred_hit.sum() == expected


# --- evaluate -----------------------------------------------------------------------------------------


def test_perfect_prediction_scores_one() -> None:
    gts = [_circle(20) | _circle(8), _segments((5, 5, 60, 40), (40, 2, 40, 62))]
    result = evaluate([g.astype(float) for g in gts], gts)
    assert result["ods_f"] == result["ois_f"] == 1.0
    assert _scores(result) == (1.0, 1.0, 1.0)
    assert result["ap"] == pytest.approx(1.0)


def test_one_pixel_shift_is_within_tolerance_only_if_tolerance_reaches_one_pixel() -> None:
    gt = _segments((5, 20, 100, 20), shape=(128, 128))
    pred = np.roll(gt, 1, axis=1).astype(float)
    assert 0.0075 * np.hypot(128, 128) > 1  # the BSDS default is 1.36 px here
    assert _scores(evaluate([pred], [gt], thresholds=9)) == (1.0, 1.0, 1.0)
    assert _scores(evaluate([pred], [gt], thresholds=9, max_dist=0.9 / np.hypot(128, 128))) == (0, 0, 0)


def test_half_a_contour_scores_two_thirds() -> None:
    gt = _segments((30, 10, 30, 49))  # 40 pixels
    pred = _segments((30, 10, 30, 29)).astype(float)  # the left 20
    p, r, f = _scores(evaluate([pred], [gt], thresholds=9, max_dist=2 / DIAG))
    assert (p, r) == (1.0, 0.5)
    assert f == pytest.approx(2 / 3)


def test_spurious_far_edge_lowers_precision_by_its_pixel_count() -> None:
    gt = _segments((10, 10, 10, 49))  # 40 pixels
    pred = (gt | _segments((50, 20, 50, 39))).astype(float)  # + 20 pixels 40 rows away
    result = evaluate([pred], [gt], thresholds=9, max_dist=2 / DIAG)
    p, r, f = _scores(result)
    assert p == pytest.approx(40 / 60) and r == 1.0
    assert f == pytest.approx(2 * (2 / 3) / (2 / 3 + 1))  # 0.8
    assert result["ois_f"] == pytest.approx(0.8)


def test_two_annotators_one_matched_gives_half_recall() -> None:
    first = _segments((10, 10, 10, 49))
    second = _segments((50, 10, 50, 49))
    result = evaluate([first.astype(float)], [[first, second]], thresholds=9, max_dist=2 / DIAG)
    p, r, f = _scores(result)
    assert (p, r) == (1.0, 0.5) and f == pytest.approx(2 / 3)
    # a pixel counts for precision if any annotator matches it; recall sums over annotators
    half_each = (_segments((10, 10, 10, 29)) | _segments((50, 10, 50, 29))).astype(float)
    stacked = np.stack([first, second])  # a (K, H, W) array works too
    assert _scores(evaluate([half_each], [stacked], thresholds=9, max_dist=2 / DIAG))[:2] == (1.0, 0.5)


def test_annotators_are_matched_separately() -> None:
    gt = _segments((10, 10, 10, 49))
    result = evaluate([gt.astype(float)], [[gt, gt]], thresholds=9, max_dist=2 / DIAG)
    assert _scores(result) == (1.0, 1.0, 1.0)  # both annotators recover all 40 pixels


@pytest.mark.parametrize("edges", [_segments((30, 5, 30, 60)), _circle(20), _segments((5, 5, 60, 60))])
def test_thick_prediction_is_thinned_and_scores_one(edges: np.ndarray) -> None:
    band = ndimage.binary_dilation(edges, np.ones((3, 3)))  # 3 pixels thick
    ridge = np.maximum(band * 0.5, edges * 1.0)  # a soft 3-pixel ridge, as a network draws it
    for pred in (band.astype(float), ridge):
        assert _scores(evaluate([pred], [edges], thresholds=9, max_dist=1.5 / DIAG)) == (1.0, 1.0, 1.0)


def test_ois_beats_ods_when_images_prefer_different_thresholds() -> None:
    gt1 = _segments((10, 10, 10, 49))
    gt2 = _segments((30, 10, 30, 49))
    pred1 = gt1 * 0.8 + _segments((50, 10, 50, 49)) * 0.3  # a spurious edge below 0.3: best t in (0.3, 0.8]
    pred2 = gt2 * 0.2  # a weak but correct edge: best t <= 0.2
    result = evaluate([pred1, pred2], [gt1, gt2], max_dist=2 / DIAG)
    # one threshold <= 0.2 keeps the spurious edge (P = 80/120, R = 1, F = 0.8); above 0.3 image 2 is lost
    # (P = 1, R = 0.5, F = 2/3); per image both can be perfect
    assert result["ods_f"] == pytest.approx(0.8)
    assert result["ods_threshold"] <= 0.2
    assert result["ois_f"] == 1.0
    assert result["ois_f"] > result["ods_f"]


def test_average_precision_integrates_the_interpolated_curve() -> None:
    gt = _segments((30, 10, 30, 49))  # 40 pixels
    pred = _segments((30, 10, 30, 29)) * 0.8 + _segments((30, 30, 30, 49)) * 0.2
    pred = pred + _segments((5, 10, 5, 29)) * 0.4  # 20 spurious pixels
    result = evaluate([pred], [gt], thresholds=[0.1, 0.3, 0.5, 0.9], max_dist=2 / DIAG, thin_preds=False)
    curve = [v for c in result["curve"] for v in (c["threshold"], c["precision"], c["recall"])]
    assert curve == pytest.approx([0.1, 40 / 60, 1.0, 0.3, 0.5, 0.5, 0.5, 1.0, 0.5, 0.9, 1.0, 0.0])
    # recall 0 -> P 1; recall 0.5 -> best P 1; recall 1 -> P 2/3: 0.5 * 1 + 0.5 * (1 + 2/3) / 2
    assert result["ap"] == pytest.approx(0.5 + 0.5 * (1 + 2 / 3) / 2)
    assert result["ods_f"] == pytest.approx(0.8) and result["ods_threshold"] == 0.1


def test_empty_prediction_and_empty_ground_truth_follow_the_conventions() -> None:
    gt = _square()
    nothing = np.zeros((SIZE, SIZE))
    with _no_warnings():
        missed = evaluate([nothing], [gt])  # nothing predicted: P = 1, R = 0, F = 0
        hallucinated = evaluate([gt.astype(float)], [np.zeros_like(gt)])  # nothing to find: P = 0, R = 1
        both_empty = evaluate([nothing], [np.zeros_like(gt)])  # P = R = F = 1
    assert _scores(missed) == (1.0, 0.0, 0.0) and missed["ois_f"] == 0.0 and missed["ap"] == 0.0
    assert _scores(hallucinated) == (0.0, 1.0, 0.0) and hallucinated["ois_f"] == 0.0
    assert _scores(both_empty) == (1.0, 1.0, 1.0) and both_empty["ois_f"] == 1.0
    assert all(c["f"] == 0.0 for c in missed["curve"])


def test_square_corners_are_thinned_away_as_in_bsds() -> None:
    # the ground truth is not thinned (as BSDS): the 4 removable corner pixels of a digital square are
    # lost by the prediction's thinning and cannot be matched one-to-one, so a copy of it scores R = 156/160
    gt = _square()
    assert gt.sum() == 160 and binary_thin(gt).sum() == 156
    assert _scores(evaluate([gt * 1.0], [gt], thresholds=9))[:2] == (1.0, pytest.approx(156 / 160))
    thinned = binary_thin(gt)
    assert _scores(evaluate([thinned * 1.0], [thinned], thresholds=9)) == (1.0, 1.0, 1.0)


def test_default_thresholds_and_plain_float_output() -> None:
    gt = _circle(20)
    result = evaluate([gt * 0.5], [gt])
    thresholds = [c["threshold"] for c in result["curve"]]
    assert len(thresholds) == 99
    assert thresholds[0] == pytest.approx(0.01) and thresholds[-1] == pytest.approx(0.99)
    assert result["ods_threshold"] == pytest.approx(0.01)
    assert [c["f"] for c in result["curve"]] == [1.0] * 50 + [0.0] * 49  # predicted at >= 0.5 only
    assert json.loads(json.dumps(result)) == result
    assert all(type(v) is float for k, v in result.items() if k != "curve")
    assert [c["threshold"] for c in evaluate([gt * 0.5], [gt], thresholds=3)["curve"]] == [0.25, 0.5, 0.75]


def test_mismatched_inputs_raise() -> None:
    pred = np.zeros((SIZE, SIZE))
    with pytest.raises(ValueError, match="shape"):
        evaluate([pred], [np.zeros((SIZE, SIZE + 1), dtype=bool)])
    with pytest.raises(ValueError, match="annotator 1"):
        evaluate([pred], [[np.zeros((SIZE, SIZE)), np.zeros((SIZE - 1, SIZE))]])
    with pytest.raises(ValueError, match="2 predictions but 1 ground truth"):
        evaluate([pred, pred], [pred])
    with pytest.raises(ValueError, match="2-D"):
        evaluate([np.zeros(SIZE)], [np.zeros(SIZE)])
    with pytest.raises(ValueError, match="thresholds"):
        evaluate([pred], [pred], thresholds=0)
    with pytest.raises(ValueError, match="no predictions"):
        evaluate([], [])


soft_maps = arrays(np.float64, (16, 16), elements=st.floats(0.0, 1.0, allow_nan=False, width=32))
gt_maps = arrays(np.bool_, (16, 16), elements=st.booleans())


@settings(max_examples=40, deadline=None)
@given(
    images=st.lists(st.tuples(soft_maps, st.lists(gt_maps, min_size=1, max_size=2)), min_size=1, max_size=3),
    thin_preds=st.booleans(),
)
def test_scores_are_bounded_and_ods_is_the_curve_maximum(
    images: list[tuple[np.ndarray, list[np.ndarray]]], thin_preds: bool
) -> None:
    preds, gts = zip(*images, strict=True)
    with _no_warnings():
        result = evaluate(list(preds), list(gts), thresholds=5, max_dist=0.05, thin_preds=thin_preds)
    for key in ("ods_f", "ods_precision", "ods_recall", "ois_f", "ois_precision", "ois_recall", "ap"):
        assert 0.0 <= result[key] <= 1.0
    fs = [c["f"] for c in result["curve"]]
    assert all(0.0 <= c[k] <= 1.0 for c in result["curve"] for k in ("precision", "recall", "f"))
    assert result["ods_f"] == max(fs)
    if len(images) == 1:  # for a single image OIS and ODS pick the same threshold
        assert result["ois_f"] == result["ods_f"]
    json.dumps(result)
