"""Rare poses drawn more often: each labeled frame's chance per draw by how rare its pose is
among the labeled frames (``TrainConfig.pose_balance``).

A few dozen labeled frames show the animal's usual poses many times and its rare ones (a head
turned on its side, a rearing mouse) once or twice, and a network trained on equal draws fits
the usual ones best. A frame's rarity here is the distance from its pose to its ``neighbours``-th
nearest labeled pose, each pose described by the distances between its body parts, compared
as ratios: a description that does not change as the animal moves, turns, flips or comes
nearer the camera, so that only its shape counts (the turns, flips and scales are the
augmentation's). Frames are then drawn in proportion to ``rarity ** power``: 0 draws all alike,
1 in proportion to rarity. The poses the frames' labels show are the only input: no image, no
test frame. Several animals: a frame is as rare as its rarest animal.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np

NEIGHBOURS = 5  # the rarity's neighbour: the 5th nearest labeled pose (fewer if fewer frames)


def shape_descriptors(points: np.ndarray) -> np.ndarray:
    """(P, K, 2) poses -> (P, K (K - 1) / 2) logarithms of the distances between their body
    parts; NaN where a part is missing."""
    points = np.asarray(points, dtype=np.float64)
    rows, cols = np.triu_indices(points.shape[1], 1)
    distances = np.linalg.norm(points[:, rows] - points[:, cols], axis=-1)
    with _quiet_nan():
        floor = 1e-3 * np.nanmedian(distances, axis=1, keepdims=True)  # parts on one pixel
    return np.log(np.maximum(distances, floor))  # NaN stays NaN


def pose_rarity(points: np.ndarray, neighbours: int = NEIGHBOURS) -> np.ndarray:
    """Each pose's distance to its ``neighbours``-th nearest other pose: the root mean square,
    over the part pairs both poses show, of the difference of their log distances less its
    mean (so that size does not count, and a missing part only leaves its pairs out); a pose
    with nothing to compare with gets the median rarity."""
    descriptors = shape_descriptors(points)
    n = len(descriptors)
    if n < 2:
        return np.ones(n)
    distance = np.empty((n, n))
    chunk = max(1, 2_000_000 // (n * max(descriptors.shape[1], 1)))  # memory: chunk x n x pairs
    with _quiet_nan():
        for start in range(0, n, chunk):
            diff = descriptors[start:start + chunk, None] - descriptors[None]
            diff -= np.nanmean(diff, axis=-1, keepdims=True)
            distance[start:start + chunk] = np.sqrt(np.nanmean(diff ** 2, axis=-1))
    distance[np.isnan(distance)] = np.inf  # no pair of parts in common
    np.fill_diagonal(distance, np.inf)
    rarity = np.sort(distance, axis=1)[:, min(neighbours, n - 1) - 1]
    known = np.isfinite(rarity)
    rarity[~known] = np.median(rarity[known]) if known.any() else 1.0
    return rarity


def pose_draw_p(points: np.ndarray, power: float, neighbours: int = NEIGHBOURS) -> np.ndarray:
    """Each labeled frame's chance per draw, in proportion to its :func:`pose_rarity` raised
    to ``power`` (0: all alike).

    Args:
        points: (N, K, 2) one animal's labels per frame, or (N, M, K, 2) several animals'
            (a frame as rare as its rarest animal), x then y, NaN = missing.
        power: how strongly rarity counts, >= 0.
    """
    if power < 0:
        raise ValueError(f"pose_balance must be >= 0 (0: every labeled frame drawn alike). "
                         f"Received: {power}.")
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    if power == 0 or n < 2:
        return np.full(n, 1 / max(n, 1))
    poses = points.reshape(-1, *points.shape[-2:])  # every animal of every frame
    present = np.isfinite(poses).all(-1).sum(-1) >= 2
    rarity = np.full(len(poses), np.nan)
    rarity[present] = pose_rarity(poses[present], neighbours)
    with _quiet_nan():
        frame_rarity = np.nanmax(rarity.reshape(n, -1), axis=1)
    frame_rarity[np.isnan(frame_rarity)] = np.nanmedian(frame_rarity) if present.any() else 1.0
    weights = np.maximum(frame_rarity, 1e-6 * frame_rarity.max() + 1e-12) ** power
    return weights / weights.sum()


@contextlib.contextmanager
def _quiet_nan():
    """NumPy's 'All-NaN slice' and 'Mean of empty slice' warnings silenced: an all-NaN row is
    a pose without parts, which the callers handle."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
