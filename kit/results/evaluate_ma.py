"""Errors of several animals: match predicted to labeled animals, then measure.

A multi-animal network predicts animals in no particular order (rows of its (N, I, K, 3)
output), some may be missed and some invented. So before any error is measured, each
frame's predicted animals are matched to its labeled animals:

- :func:`match_animals`: the Hungarian algorithm (``scipy.optimize.linear_sum_assignment``)
  on the mean distance over the body parts both animals have (finite in both). Pairs that
  share no part, or lie farther apart than the labeled animal's size (the diagonal of its
  labeled parts' box, at least ``MIN_ANIMAL_PX``: :func:`kit.net.assembly.matched_pairs`)
  are never matched: a prediction elsewhere
  is an extra animal, not a large error (DeepLabCut keeps only pairs with OKS > 0, the
  same idea). Errors (:func:`matched_errors`) and the missed and
  extra animals (:func:`animal_counts`) follow from that matching.
- :func:`oks_map`: mAP and mAR over object keypoint similarity, as DeepLabCut 3 reports
  them (``deeplabcut.core.metrics``): OKS with sigma 0.1 and bounding-box margin 0 on the
  labeled keypoints' box, greedy matching of predictions sorted by mean likelihood, OKS
  thresholds 0.50:0.05:0.95, 101 recall points as pycocotools; in percent.
- :func:`identity_swaps`: how much an identity switch between consecutive frames would
  explain (outlier frames of tracked analyses, :mod:`kit.results.outliers`).
- :func:`tracking_metrics`: MOTA, IDF1 and identity switches (``motmetrics``) of tracks
  over a video, matching on the mean keypoint distance within ``max_distance_px``.

Arrays: ``pred`` (..., I, K, 3) x, y (image pixels), likelihood; ``truth`` (..., J, K, 2)
x, y; NaN = missing. An animal is present when any of its body parts is finite.
"""

from __future__ import annotations

import motmetrics
import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from kit.net.assembly import animal_size, keypoint_distance, matched_pairs, present

OKS_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # COCO's 0.50:0.05:0.95
RECALL_POINTS = np.linspace(0.0, 1.0, 101)  # pycocotools' (and DeepLabCut's) recall grid


def _check(pred: np.ndarray, truth: np.ndarray, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    if (pred.ndim != ndim or truth.ndim != ndim or pred.shape[-1] < 2 or truth.shape[-1] < 2
            or pred.shape[:-3] != truth.shape[:-3] or pred.shape[-2] != truth.shape[-2]):
        lead = "(N, " if ndim == 4 else ""
        raise ValueError(f"pred must be {lead}I, K, 3) and truth {lead}J, K, 2) with the same "
                         f"frames and body parts. Received: {pred.shape} and {truth.shape}.")
    return pred, truth


def distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(I, J) mean distance (pixels) over the body parts finite in both a[i] and b[j];
    NaN where they share none. a: (I, K, >=2), b: (J, K, >=2)."""
    d = keypoint_distance(a, b)  # the tracker's distance, inf where no part is shared
    return np.where(np.isinf(d), np.nan, d)


def identity_swaps(xy: np.ndarray) -> np.ndarray:
    """(N,) per frame, how much less the individuals move (pixels, summed mean distance)
    when paired with the previous frame's by least movement than when each keeps its
    identity: 0 when keeping is best, more at an identity switch; NaN for the first frame
    and where fewer than two individuals can be compared.

    Args:
        xy: (N, I, K, 2) x, y (image pixels), NaN where missing or not confident. An
            individual is compared when it shares a body part with itself one frame back.
    """
    out = np.full(len(xy), np.nan)
    for t in range(1, len(xy)):
        cost = distance_matrix(xy[t - 1], xy[t])  # (I, I), NaN: no shared part
        rows = np.flatnonzero(np.isfinite(np.diag(cost)))
        if len(rows) < 2:
            continue
        cost = cost[np.ix_(rows, rows)]
        best = linear_sum_assignment(np.where(np.isfinite(cost), cost, np.inf))
        out[t] = np.trace(cost) - cost[best].sum()
    return out


def match_animals(pred: np.ndarray, truth: np.ndarray,
                  max_distance_px: float | None = None) -> list[tuple[int, int]]:
    """Pairs (pred_row, truth_row): as many as can match, with the least summed mean
    distance (Hungarian).

    Args:
        pred: (I, K, 3) one frame's predicted animals; truth: (J, K, 2) its labeled ones.
        max_distance_px: pairs farther apart (mean distance over shared parts) cannot
            match; None: each labeled animal's size (:func:`kit.net.assembly.animal_size`).

    Returns:
        The matched pairs, sorted by truth row.
    """
    pred, truth = _check(pred, truth, 3)
    pairs = matched_pairs(pred, truth, max_distance_px)
    return sorted(pairs, key=lambda pair: pair[1])


def align_to_truth(pred: np.ndarray, truth: np.ndarray, extra: bool = True) -> np.ndarray:
    """Predictions reordered so that row j holds the animal matched to labeled animal j.

    Args:
        pred: (N, I, K, 3); truth: (N, J, K, 2).
        extra: also keep the unmatched predictions (extra animals), in the free rows in
            their order (a free row may be a missed labeled animal's: measure errors with
            ``extra=False``).

    Returns:
        (N, max(I, J), K, 3): matched animals in their labeled animal's row, NaN elsewhere.
    """
    pred, truth = _check(pred, truth, 4)
    num_rows = max(pred.shape[1], truth.shape[1])
    out = np.full((len(pred), num_rows, *pred.shape[2:]), np.nan)
    for n in range(len(pred)):
        pairs = match_animals(pred[n], truth[n])
        for i, j in pairs:
            out[n, j] = pred[n, i]
        if not extra:
            continue
        used = {j for _, j in pairs}
        free = [j for j in range(num_rows) if j not in used]
        unmatched = [i for i in range(pred.shape[1]) if i not in {i for i, _ in pairs}
                     and present(pred[n, i])]
        for i, j in zip(unmatched, free):
            out[n, j] = pred[n, i]
    return out


def matched_errors(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N, J, K) distance (pixels) from each labeled body part to its matched animal's
    prediction; NaN where the part is not labeled, not predicted or the animal unmatched.
    pred: (N, I, K, 3); truth: (N, J, K, 2)."""
    aligned = align_to_truth(pred, truth, extra=False)[:, :truth.shape[1]]
    return np.linalg.norm(aligned[..., :2] - np.asarray(truth, np.float64)[..., :2], axis=-1)


def animal_counts(pred: np.ndarray, truth: np.ndarray, index=None) -> pd.DataFrame:
    """Per frame: ``num_labeled``, ``num_predicted``, ``num_matched``, ``num_missed``
    (labeled animals without a match), ``num_extra`` (predicted animals without one).
    pred: (N, I, K, 3); truth: (N, J, K, 2); index: the N row labels (e.g. image names)."""
    pred, truth = _check(pred, truth, 4)
    matched = [len(match_animals(p, t)) for p, t in zip(pred, truth)]
    table = pd.DataFrame({"num_labeled": present(truth).sum(1),
                          "num_predicted": present(pred).sum(1), "num_matched": matched},
                         index=index)
    table["num_missed"] = table.num_labeled - table.num_matched
    table["num_extra"] = table.num_predicted - table.num_matched
    return table


def oks(pred: np.ndarray, truth: np.ndarray, sigma: float = 0.1, margin: float = 0.0) -> float:
    """Object keypoint similarity of one predicted and one labeled animal, as DeepLabCut.

    ``mean_k exp(-d_k^2 / (2 s^2 (2 sigma)^2))`` over the labeled parts k, d_k the distance
    (a part not predicted: OKS 0), s^2 the area of the labeled parts' bounding box grown by
    ``margin`` pixels on each side. NaN with fewer than 2 labeled parts or an empty box.
    pred: (K, >=2); truth: (K, >=2), pixels.
    """
    pred, truth = np.asarray(pred, np.float64)[:, :2], np.asarray(truth, np.float64)[:, :2]
    labeled = np.isfinite(truth).all(1)
    if labeled.sum() < 2:
        return float("nan")
    true = truth[labeled]
    area = np.prod(np.ptp(true, axis=0) + np.spacing(1) + 2 * margin)
    if np.isclose(area, 0):
        return float("nan")
    d2 = np.sum((pred[labeled] - true) ** 2, axis=1)
    similarity = np.exp(-d2 / (2 * area * (2 * sigma) ** 2))
    return float(np.mean(np.where(np.isfinite(similarity), similarity, 0.0)))


def _frame_matches(pred: np.ndarray, truth: np.ndarray, sigma: float, margin: float,
                   threshold: float) -> list[tuple[float, float]]:
    """(score, oks) of each prediction of one frame, after DeepLabCut's greedy matching:
    predictions by decreasing score take their best labeled animal if it is still free and
    reaches ``threshold`` (otherwise they stay unmatched, OKS 0). pred is sorted already."""
    taken, out = set(), []
    for p in pred:
        similarity = np.array([oks(p, t, sigma, margin) for t in truth])
        match = 0.0
        if len(truth) and np.isfinite(similarity).any():
            best = int(np.nanargmax(similarity))
            if best not in taken and similarity[best] >= threshold:
                taken.add(best)
                match = float(similarity[best])
        out.append((float(np.nanmean(p[:, 2])), match))
    return out


def _two_parts(points: np.ndarray) -> np.ndarray:
    return points[np.isfinite(points[..., :2]).all(-1).sum(-1) > 1]


def oks_map(pred: np.ndarray, truth: np.ndarray, sigma: float = 0.1,
            margin: float = 0.0) -> dict[str, float]:
    """mAP and mAR (percent) over OKS thresholds 0.50:0.05:0.95, as DeepLabCut reports them.

    Only animals with at least two finite body parts count (labeled and predicted).
    Per threshold: predictions of all frames by decreasing mean likelihood, a true
    positive when matched with OKS >= threshold; precision made monotone and read at
    101 recall points; recall at the end. mAP and mAR are the means over thresholds.

    Args:
        pred: (N, I, K, 3); truth: (N, J, K, 2); sigma: OKS sigma (DeepLabCut: 0.1);
            margin: pixels added around the labeled box (DeepLabCut: 0).
    """
    pred, truth = _check(pred, truth, 4)
    frames = []
    for p, t in zip(pred, truth):
        p = _two_parts(p)
        order = np.argsort(-np.nanmean(p[..., 2], axis=-1), kind="mergesort")
        frames.append((p[order], _two_parts(t)))
    num_truth = sum(len(t) for _, t in frames)
    precisions, recalls = [], []
    for threshold in OKS_THRESHOLDS:
        matches = [m for p, t in frames for m in _frame_matches(p, t, sigma, margin, threshold)]
        if not matches or not num_truth:
            return {"mAP": 0.0, "mAR": 0.0}
        scores, similarity = np.array(matches).T
        similarity = similarity[np.argsort(-scores, kind="mergesort")]
        tp = np.cumsum(similarity >= threshold)
        fp = np.cumsum(similarity < threshold)
        recall = tp / num_truth
        precision = np.maximum.accumulate((tp / (tp + fp + np.spacing(1)))[::-1])[::-1]
        at = np.searchsorted(recall, RECALL_POINTS, side="left")
        precisions.append(np.where(at < len(precision),
                                   precision[np.minimum(at, len(precision) - 1)], 0.0))
        recalls.append(recall[-1])
    return {"mAP": 100 * float(np.mean(precisions)), "mAR": 100 * float(np.mean(recalls))}


def tracking_metrics(pred: np.ndarray, truth: np.ndarray, max_distance_px: float | None = None,
                     pcutoff: float = 0.0) -> dict[str, float]:
    """MOTA, IDF1 and identity switches of tracked animals over a video (``motmetrics``).

    Each frame, every predicted track (row of ``pred``) present is a hypothesis and every
    labeled animal present an object; their distance is the mean distance over the body
    parts both have (predictions with likelihood >= ``pcutoff``), and pairs farther than
    ``max_distance_px`` (default: half the labeled animals' median size, :func:`kit.net.assembly.animal_size`;
    or sharing no part) cannot match. motmetrics then matches frame
    by frame, keeping earlier matches where they still hold (CLEAR MOT), and counts switches.

    Args:
        pred: (T, N, K, 3) tracks: row n is the same track in every frame.
        truth: (T, M, K, 2) labeled animals: row m is the same animal in every frame.

    Returns:
        ``mota``, ``idf1``, ``num_switches``, ``num_misses``, ``num_false_positives``,
        ``num_objects`` (labeled animal-frames).
    """
    pred, truth = _check(pred, truth, 4)
    if max_distance_px is None:
        max_distance_px = 0.5 * float(np.nanmedian(animal_size(truth)))
    if max_distance_px <= 0:
        raise ValueError(f"max_distance_px must be positive. Received: {max_distance_px}.")
    pred = np.where((pred[..., 2:3] >= pcutoff), pred, np.nan)  # NaN likelihood drops too
    accumulator = motmetrics.MOTAccumulator(auto_id=True)
    for p, t in zip(pred, truth):
        objects, hypotheses = np.flatnonzero(present(t)), np.flatnonzero(present(p))
        d = distance_matrix(t[objects], p[hypotheses]) if len(objects) and len(hypotheses) \
            else np.zeros((len(objects), len(hypotheses)))
        accumulator.update(objects.tolist(), hypotheses.tolist(),
                           np.where(d <= max_distance_px, d, np.nan))
    names = ["mota", "idf1", "num_switches", "num_misses", "num_false_positives", "num_objects"]
    summary = motmetrics.metrics.create().compute(accumulator, metrics=names, name="video")
    return {name: float(summary.loc["video", name]) for name in names}
