"""Score-map and location-refinement targets, and their decoding (pure numpy).

DeepLabCut's targets: for each body part a score map that is 1 on every grid
cell whose centre lies within ``pos_dist_thresh`` input pixels of the label and
0 elsewhere, and location-refinement (locref) maps holding, on those cells, the
offset from the cell centre to the label divided by ``locref_stdev``.

Grid cell (row i, column j) of a map with stride s has its centre at input pixel
``(x, y) = (j * s + s / 2, i * s + s / 2)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

STRIDE = 8


@dataclass(frozen=True)
class TargetConfig:
    """How labels become training targets (DeepLabCut's defaults)."""

    stride: int = STRIDE
    pos_dist_thresh: float = 17.0  # disk radius, input pixels
    locref_stdev: float = 7.2801  # locref maps hold offset / locref_stdev
    paf_width: float = 20.0  # multi-animal: PAF half-width, input pixels (DLC's pafwidth)

    def __post_init__(self):
        if min(self.stride, self.pos_dist_thresh, self.locref_stdev, self.paf_width) <= 0:
            raise ValueError(f"TargetConfig values must be positive. Received: {self}.")


def map_shape(height: int, width: int, backbone_stride: int = 16,
              stride: int = STRIDE) -> tuple[int, int]:
    """Output map size of the network for an input of ``height x width`` pixels.

    The backbone's features have ``ceil(size / backbone_stride)`` cells (its padded
    convolutions round up; 16 for ResNet-50); the heads enlarge them
    ``backbone_stride / stride`` times.
    """
    factor = backbone_stride // stride
    return factor * math.ceil(height / backbone_stride), factor * math.ceil(width / backbone_stride)


def make_targets(
    points: np.ndarray, map_hw: tuple[int, int], config: TargetConfig = TargetConfig()
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Build the targets of one image.

    Args:
        points: (num_bodyparts, 2), x then y, input pixels, NaN = missing.
        map_hw: (map_height, map_width), usually :func:`map_shape` of the input.
        config: stride, disk radius and locref scale.

    Returns:
        scmap: (h, w, K) float32, 1 inside each part's disk, else 0.
        scmap_weights: (h, w, K) float32, 1 for labeled parts, 0 for missing ones
            (a missing part contributes no loss).
        locref: (h, w, 2K) float32, channels (dx_0, dy_0, dx_1, dy_1, ...), offset
            from cell centre to label / locref_stdev, inside the disk.
        locref_weights: (h, w, 2K) float32, 1 inside the disk, else 0.
    """
    points = np.asarray(points, dtype=np.float64)
    h, w = map_hw
    num_parts = len(points)
    s = config.stride
    cx = np.arange(w) * s + s / 2
    cy = np.arange(h) * s + s / 2
    scmap = np.zeros((h, w, num_parts), np.float32)
    scmap_weights = np.zeros((h, w, num_parts), np.float32)
    locref = np.zeros((h, w, 2 * num_parts), np.float32)
    locref_weights = np.zeros((h, w, 2 * num_parts), np.float32)
    for k, (x, y) in enumerate(points):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        scmap_weights[:, :, k] = 1.0
        dx = x - cx[None, :]
        dy = y - cy[:, None]
        inside = dx**2 + dy**2 <= config.pos_dist_thresh**2
        scmap[:, :, k] = inside
        locref[:, :, 2 * k] = np.where(inside, dx / config.locref_stdev, 0.0)
        locref[:, :, 2 * k + 1] = np.where(inside, dy / config.locref_stdev, 0.0)
        locref_weights[:, :, 2 * k] = inside
        locref_weights[:, :, 2 * k + 1] = inside
    return scmap, scmap_weights, locref, locref_weights


def decode(
    scores: np.ndarray, locref: np.ndarray, config: TargetConfig = TargetConfig()
) -> np.ndarray:
    """Turn score maps and locref maps into body-part positions.

    Per part: the arg-max cell of the score map, plus its location-refinement
    offset, in input pixels; the likelihood is the score at that cell.

    Args:
        scores: (N, h, w, K) probabilities in [0, 1] (or (h, w, K) for one image).
        locref: (N, h, w, 2K) as made by :func:`make_targets` (or (h, w, 2K)).

    Returns:
        (N, K, 3) float64 (or (K, 3)): x, y in input pixels, and likelihood.
    """
    single = scores.ndim == 3
    if single:
        scores, locref = scores[None], locref[None]
    n, h, w, k = scores.shape
    flat = scores.reshape(n, h * w, k)
    best = flat.argmax(axis=1)  # (n, k)
    rows, cols = np.divmod(best, w)
    likelihood = np.take_along_axis(flat, best[:, None, :], axis=1)[:, 0, :]
    offsets = locref.reshape(n, h * w, k, 2)
    off = offsets[np.arange(n)[:, None], best, np.arange(k)[None, :]]  # (n, k, 2)
    s = config.stride
    x = cols * s + s / 2 + off[..., 0] * config.locref_stdev
    y = rows * s + s / 2 + off[..., 1] * config.locref_stdev
    out = np.stack([x, y, likelihood], axis=-1).astype(np.float64)
    return out[0] if single else out


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    out = np.empty_like(z, dtype=np.float32)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out
