"""Edge-detection evaluation in the BSDS500 style: ODS / OIS F-measure and average precision.

The protocol follows the Berkeley benchmark (``correspondPixels`` / ``evaluation_bdry_image``) and the
structured-edge / HED evaluation code built on it:

- ``thin(prob)``: non-maximum suppression of a soft edge map across the edge direction.
- ``match(pred, gt, max_dist)``: one-to-one matching of predicted to ground-truth edge pixels within a
  distance, as a maximum-cardinality bipartite matching.
- ``evaluate(preds, gts, ...)``: per threshold, binarise and thin each prediction, match it against every
  annotator, accumulate the BSDS counts and report ODS (best F at one dataset-wide threshold), OIS (best
  threshold per image), AP and the precision-recall curve.

Counting (as BSDS): for one image and one threshold, with annotators ``g = 1..K``,

- recall = (sum over annotators of the GT pixels matched) / (sum over annotators of the GT pixels);
- precision = (predicted pixels matched to at least one annotator) / (predicted pixels).

Conventions for the degenerate cases (no division by zero, no warnings): precision is 1 when nothing is
predicted, recall is 1 when there is nothing to find, and F is 0 when precision + recall is 0. So an empty
prediction of an empty ground truth scores P = R = F = 1, an empty prediction of a non-empty ground truth
P = 1, R = 0, F = 0, and a non-empty prediction of an empty ground truth P = 0, R = 1, F = 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage, sparse
from scipy.sparse.csgraph import maximum_bipartite_matching
from scipy.spatial import cKDTree
from skimage.morphology import thin as _thin_binary

__all__ = ["evaluate", "match", "thin"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

_SMOOTH_RADIUS = 4  # triangle-filter radius used to estimate the edge orientation (convTri(E, 4) in SE/HED)
# relative slack in the NMS comparison: a bilinear sample of equal values can exceed them by one ulp
_ROUNDING = 1e-9


def _conv_tri(image: FloatArray, radius: int) -> FloatArray:
    """Separable triangle filter of the given radius with symmetric padding (Dollar's ``convTri``)."""
    ramp = np.arange(1, radius + 2, dtype=np.float64)
    kernel = np.concatenate([ramp, ramp[-2::-1]]) / float((radius + 1) ** 2)
    out = ndimage.convolve1d(image, kernel, axis=0, mode="reflect")
    return ndimage.convolve1d(out, kernel, axis=1, mode="reflect")


def _gradient(image: FloatArray, axis: int) -> FloatArray:
    """Central-difference derivative along ``axis`` (zero along an axis of length one)."""
    if image.shape[axis] < 2:
        return np.zeros_like(image)
    return np.asarray(np.gradient(image, axis=axis), dtype=np.float64)


def _as_2d(array: ArrayLike, name: str) -> NDArray[Any]:
    out = np.asarray(array)
    if out.ndim != 2:
        raise ValueError(f"{name} must be a 2-D map, got an array of shape {out.shape}")
    return out


def thin(prob: ArrayLike) -> FloatArray:
    """Non-maximum suppression of a soft edge map across the edge direction.

    The edge normal is estimated as in the structured-edge / HED evaluation code: the map is smoothed with
    a triangle filter of radius 4, its second derivatives (the gradient of the gradient) form a Hessian, and
    the normal is the direction of strongest negative curvature, i.e. across the ridge. A pixel is kept only
    if its value is ``>=`` both values sampled (bilinearly) one pixel away on either side along the normal
    (up to a relative rounding slack of 1e-9); every other pixel is set to 0. A 1-pixel-wide edge of
    constant strength (any shape: a bilinear sample is then never above it) and a straight horizontal,
    vertical or diagonal 1-pixel edge of any strengths survive unchanged; a plateau (a uniformly thick band)
    is left to the binary thinning of :func:`evaluate`. Unlike SE's ``edgesNms`` no 1.01 multiplier is
    applied and the border is not attenuated.

    Args:
        prob: an (H, W) soft edge map, normally with values in [0, 1].

    Returns:
        A float64 map of the same shape: ``prob`` at the local maxima, 0 elsewhere.
    """
    edge = np.asarray(_as_2d(prob, "prob"), dtype=np.float64)
    if not np.all(np.isfinite(edge)):
        raise ValueError("prob contains NaN or infinite values")
    out = np.zeros_like(edge)
    ys, xs = np.nonzero(edge)
    if ys.size == 0:
        return out
    smooth = _conv_tri(edge, _SMOOTH_RADIUS)
    d_y, d_x = _gradient(smooth, 0), _gradient(smooth, 1)
    h_xx, h_xy, h_yy = _gradient(d_x, 1)[ys, xs], _gradient(d_x, 0)[ys, xs], _gradient(d_y, 0)[ys, xs]
    # direction of the largest curvature is 0.5 * atan2(2 h_xy, h_xx - h_yy); the ridge normal is at 90 deg
    normal = 0.5 * np.arctan2(2.0 * h_xy, h_xx - h_yy) + 0.5 * np.pi
    step_x, step_y = np.cos(normal), np.sin(normal)
    values = edge[ys, xs]
    keep = np.ones(ys.size, dtype=bool)
    for sign in (1.0, -1.0):
        coords = np.stack([ys + sign * step_y, xs + sign * step_x])
        neighbour = ndimage.map_coordinates(edge, coords, order=1, mode="nearest")
        keep &= values >= neighbour - _ROUNDING * np.abs(values)
    out[ys[keep], xs[keep]] = values[keep]
    return out


def _match_points(
    pred_tree: cKDTree, gt_tree: cKDTree, n_pred: int, n_gt: int, max_dist: float
) -> tuple[BoolArray, BoolArray]:
    """Maximum-cardinality one-to-one matching of two point sets within ``max_dist`` (inclusive)."""
    pairs = pred_tree.sparse_distance_matrix(gt_tree, max_dist, output_type="ndarray")
    pred_matched = np.zeros(n_pred, dtype=bool)
    gt_matched = np.zeros(n_gt, dtype=bool)
    if pairs.size == 0:
        return pred_matched, gt_matched
    graph = sparse.csr_array(
        (np.ones(pairs.size, dtype=np.int8), (pairs["i"], pairs["j"])), shape=(n_pred, n_gt)
    )
    partner = maximum_bipartite_matching(graph, perm_type="column")
    pred_matched = partner >= 0
    gt_matched[partner[pred_matched]] = True
    return pred_matched, gt_matched


def match(pred: ArrayLike, gt: ArrayLike, max_dist: float) -> tuple[BoolArray, BoolArray]:
    """Match predicted edge pixels one-to-one to ground-truth edge pixels within ``max_dist`` pixels.

    Every pair of a predicted and a ground-truth edge pixel at Euclidean distance ``<= max_dist`` is a
    candidate edge of a sparse bipartite graph (found with a k-d tree, never a dense N x M matrix); the
    matching is one of maximum cardinality (Hopcroft-Karp, ``scipy.sparse.csgraph``). Only the number of
    matched pixels is unique; which pixels are matched may vary between equally large matchings.

    Args:
        pred: (H, W) predicted edge map; non-zero pixels are edges.
        gt: (H, W) ground-truth edge map; non-zero pixels are edges.
        max_dist: the matching tolerance in pixels (absolute, not relative to the image size).

    Returns:
        ``(pred_matched, gt_matched)``: boolean (H, W) maps of the matched pixels of each; both hold the
        same number of pixels.

    Raises:
        ValueError: if the maps are not 2-D, differ in shape, or ``max_dist`` is negative or not finite.
    """
    pred_map = _as_2d(pred, "pred") != 0
    gt_map = _as_2d(gt, "gt") != 0
    if pred_map.shape != gt_map.shape:
        raise ValueError(f"pred and gt differ in shape: {pred_map.shape} vs {gt_map.shape}")
    if not np.isfinite(max_dist) or max_dist < 0:
        raise ValueError(f"max_dist must be a finite number >= 0, got {max_dist}")
    pred_pts, gt_pts = np.argwhere(pred_map), np.argwhere(gt_map)
    pred_out = np.zeros(pred_map.shape, dtype=bool)
    gt_out = np.zeros(gt_map.shape, dtype=bool)
    if len(pred_pts) == 0 or len(gt_pts) == 0:
        return pred_out, gt_out
    pred_hit, gt_hit = _match_points(
        cKDTree(pred_pts), cKDTree(gt_pts), len(pred_pts), len(gt_pts), float(max_dist)
    )
    pred_out[tuple(pred_pts[pred_hit].T)] = True
    gt_out[tuple(gt_pts[gt_hit].T)] = True
    return pred_out, gt_out


def _thresholds(thresholds: int | Sequence[float]) -> FloatArray:
    """``n`` evenly spaced thresholds strictly inside (0, 1) (BSDS: 99 -> 0.01 .. 0.99), or the given ones."""
    if isinstance(thresholds, int | np.integer):
        n = int(thresholds)
        if n < 1:
            raise ValueError(f"thresholds must be >= 1, got {n}")
        return np.linspace(1.0 / (n + 1), n / (n + 1), n)
    values = np.unique(np.asarray(thresholds, dtype=np.float64))
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("thresholds must be a positive int or a non-empty sequence of finite numbers")
    return values


def _annotators(item: Any, index: int) -> list[BoolArray]:
    """One image's ground truth as a list of boolean maps (one per annotator)."""
    if isinstance(item, list | tuple):
        maps = [np.asarray(m) for m in item]
    else:
        array = np.asarray(item)
        maps = list(array) if array.ndim == 3 else [array]
    if not maps:
        raise ValueError(f"ground truth {index} has no annotator maps")
    for k, m in enumerate(maps):
        if m.ndim != 2:
            raise ValueError(f"ground truth {index}, annotator {k}: expected a 2-D map, got shape {m.shape}")
    return [m != 0 for m in maps]


def _image_counts(
    soft: FloatArray, annotators: list[BoolArray], thresholds: FloatArray, max_dist: float
) -> tuple[IntArray, int, IntArray, IntArray]:
    """BSDS counts of one image at every threshold: (matched GT, GT total, matched pred, pred total)."""
    gt_points = [np.argwhere(m) for m in annotators]
    gt_trees = [cKDTree(p) if len(p) else None for p in gt_points]
    sum_r = int(sum(len(p) for p in gt_points))
    n_thr = thresholds.size
    cnt_r = np.zeros(n_thr, dtype=np.int64)
    cnt_p = np.zeros(n_thr, dtype=np.int64)
    sum_p = np.zeros(n_thr, dtype=np.int64)
    # the binary maps are nested (thresholds ascend): an unchanged pixel count means an unchanged map
    flat = np.sort(soft, axis=None)
    n_above = flat.size - np.searchsorted(flat, thresholds, side="left")
    for j in range(n_thr):
        if j > 0 and n_above[j] == n_above[j - 1]:
            cnt_r[j], cnt_p[j], sum_p[j] = cnt_r[j - 1], cnt_p[j - 1], sum_p[j - 1]
            continue
        if n_above[j] == 0:
            continue
        binary = _thin_binary(soft >= thresholds[j])
        pred_points = np.argwhere(binary)
        n_pred = len(pred_points)
        sum_p[j] = n_pred
        if n_pred == 0:
            continue
        pred_tree = cKDTree(pred_points)
        pred_any = np.zeros(n_pred, dtype=bool)
        matched_gt = 0
        for points, tree in zip(gt_points, gt_trees, strict=True):
            if tree is None:
                continue
            pred_hit, gt_hit = _match_points(pred_tree, tree, n_pred, len(points), max_dist)
            pred_any |= pred_hit
            matched_gt += int(gt_hit.sum())
        cnt_r[j], cnt_p[j] = matched_gt, int(pred_any.sum())
    return cnt_r, sum_r, cnt_p, sum_p


def _prf(
    cnt_r: ArrayLike, sum_r: ArrayLike, cnt_p: ArrayLike, sum_p: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Precision, recall, F from counts, with P = 1 if nothing predicted, R = 1 if nothing to find, F = 0 if
    P + R = 0."""
    c_r, s_r = np.asarray(cnt_r, dtype=np.float64), np.asarray(sum_r, dtype=np.float64)
    c_p, s_p = np.asarray(cnt_p, dtype=np.float64), np.asarray(sum_p, dtype=np.float64)
    c_r, s_r, c_p, s_p = np.broadcast_arrays(c_r, s_r, c_p, s_p)
    precision = np.divide(c_p, s_p, out=np.ones(c_p.shape), where=s_p > 0)
    recall = np.divide(c_r, s_r, out=np.ones(c_r.shape), where=s_r > 0)
    total = precision + recall
    f = np.divide(2.0 * precision * recall, total, out=np.zeros(total.shape), where=total > 0)
    return precision, recall, f


def _average_precision(precision: FloatArray, recall: FloatArray) -> float:
    """Area under the precision-recall curve traced by the thresholds.

    Precision is interpolated linearly in recall between the thresholds' points (as BSDS's ``interp1``),
    constant below the smallest recall reached (at its precision there), and 0 above the largest recall
    reached (as BSDS); where several thresholds reach the same recall the highest precision counts. The
    area is integrated exactly over recall in [0, 1], so it lies in [0, 1]. BSDS instead sums the
    interpolant on a 0.01 grid and takes 0 below the smallest recall, which scores a curve of a single
    point, e.g. a perfect prediction at every threshold, 0.
    """
    order = np.argsort(recall, kind="stable")
    r_sorted, p_sorted = recall[order], precision[order]
    r_unique, start = np.unique(r_sorted, return_index=True)
    p_best = np.maximum.reduceat(p_sorted, start)
    area = float(r_unique[0] * p_best[0])
    area += float(np.sum(np.diff(r_unique) * (p_best[1:] + p_best[:-1]) * 0.5))
    return min(max(area, 0.0), 1.0)


def evaluate(
    preds: Sequence[ArrayLike],
    gts: Sequence[Any],
    *,
    thresholds: int | Sequence[float] = 99,
    max_dist: float = 0.0075,
    thin_preds: bool = True,
) -> dict[str, Any]:
    """Evaluate soft edge maps against ground-truth boundaries, BSDS500 style.

    For every threshold ``t`` each prediction (after non-maximum suppression with :func:`thin` when
    ``thin_preds``) is binarised at ``>= t``, thinned to 1 pixel (``skimage.morphology.thin``, BSDS's
    ``bwmorph(..., 'thin', inf)``) and matched one-to-one (:func:`match`) against each annotator's map
    separately, within ``max_dist`` times the image diagonal. Counts per image and threshold, as BSDS:
    recall = sum over annotators of matched GT pixels / sum over annotators of GT pixels; precision =
    predicted pixels matched to at least one annotator / predicted pixels. See the module docstring for the
    conventions P = 1 when nothing is predicted, R = 1 when there is nothing to find, F = 0 when P + R = 0.
    As in BSDS the ground truth is not thinned: a pixel the thinning removes from a copy of it (e.g. the
    corner of a digital square drawn 4-connected) is a GT pixel left unmatched.

    - ODS (optimal dataset scale): counts summed over the dataset at each threshold; the best F over the
      thresholds (no interpolation between thresholds; ties go to the lowest threshold).
    - OIS (optimal image scale): each image's best-F threshold, then the F of the counts summed over the
      images at those thresholds. OIS is usually, but not necessarily, >= ODS; they are equal for one image.
    - AP: area under the dataset precision-recall curve, precision interpolated linearly in recall between
      thresholds, constant below the smallest recall reached and 0 above the largest (see
      ``_average_precision``).

    Args:
        preds: soft edge maps, each (H, W) with values normally in [0, 1].
        gts: per image, one ground-truth map (boolean or 0/1; non-zero pixels are edges), a list of maps
            (one per annotator) or a (K, H, W) array.
        thresholds: ``n`` for ``n`` evenly spaced thresholds strictly inside (0, 1) (99 -> 0.01, ..., 0.99
            as BSDS), or explicit thresholds (sorted and de-duplicated).
        max_dist: matching tolerance as a fraction of the image diagonal (BSDS: 0.0075).
        thin_preds: apply non-maximum suppression to the soft maps before thresholding.

    Returns:
        A JSON-serialisable dict of plain floats: ``ods_f``, ``ods_threshold``, ``ods_precision``,
        ``ods_recall``, ``ois_f``, ``ois_precision``, ``ois_recall``, ``ap`` and ``curve``, a list of
        ``{"threshold", "precision", "recall", "f"}`` per threshold (ascending).

    Raises:
        ValueError: if the sequences differ in length or are empty, a prediction and its ground truth differ
            in shape, a map is not 2-D, a prediction is not finite, or an argument is out of range.
    """
    pred_list, gt_list = list(preds), list(gts)
    if len(pred_list) != len(gt_list):
        raise ValueError(f"got {len(pred_list)} predictions but {len(gt_list)} ground truths")
    if not pred_list:
        raise ValueError("nothing to evaluate: no predictions")
    if not np.isfinite(max_dist) or max_dist < 0:
        raise ValueError(f"max_dist must be a finite number >= 0, got {max_dist}")
    thr = _thresholds(thresholds)

    n_img = len(pred_list)
    cnt_r = np.zeros((n_img, thr.size), dtype=np.int64)
    cnt_p = np.zeros((n_img, thr.size), dtype=np.int64)
    sum_p = np.zeros((n_img, thr.size), dtype=np.int64)
    sum_r = np.zeros((n_img, 1), dtype=np.int64)
    for i, (pred, gt) in enumerate(zip(pred_list, gt_list, strict=True)):
        soft = np.asarray(_as_2d(pred, f"prediction {i}"), dtype=np.float64)
        if not np.all(np.isfinite(soft)):
            raise ValueError(f"prediction {i} contains NaN or infinite values")
        annotators = _annotators(gt, i)
        for k, m in enumerate(annotators):
            if m.shape != soft.shape:
                raise ValueError(
                    f"prediction {i} has shape {soft.shape} but its ground truth (annotator {k}) has "
                    f"shape {m.shape}"
                )
        if thin_preds:
            soft = thin(soft)
        tolerance = float(max_dist) * float(np.hypot(*soft.shape))
        cnt_r[i], sum_r[i, 0], cnt_p[i], sum_p[i] = _image_counts(soft, annotators, thr, tolerance)

    precision, recall, f = _prf(cnt_r.sum(0), sum_r.sum(), cnt_p.sum(0), sum_p.sum(0))
    best = int(np.argmax(f))

    _, _, f_img = _prf(cnt_r, sum_r, cnt_p, sum_p)
    pick = np.argmax(f_img, axis=1)
    rows = np.arange(n_img)
    ois_p, ois_r, ois_f = _prf(
        cnt_r[rows, pick].sum(), sum_r.sum(), cnt_p[rows, pick].sum(), sum_p[rows, pick].sum()
    )

    return {
        "ods_f": float(f[best]),
        "ods_threshold": float(thr[best]),
        "ods_precision": float(precision[best]),
        "ods_recall": float(recall[best]),
        "ois_f": float(ois_f),
        "ois_precision": float(ois_p),
        "ois_recall": float(ois_r),
        "ap": _average_precision(precision, recall),
        "curve": [
            {"threshold": float(t), "precision": float(p), "recall": float(r), "f": float(v)}
            for t, p, r, v in zip(thr, precision, recall, f, strict=True)
        ],
    }
