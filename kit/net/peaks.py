"""Every peak of the score maps: the readout of a frame with several animals (pure numpy).

A network trained on single animals and applied to a frame with several has one peak per
animal on each body part's score map (Mathis et al. 2018; DeepLabCut 2.2's multi-animal
readout). :func:`find_peaks` returns every local maximum above a threshold, no two of the
same body part closer than a radius (non-maximum suppression, as DeepLabCut's max-pool
NMS), with the location refinement of :func:`kit.net.targets.decode` applied; the best peak
of each body part is exactly what ``decode`` returns.

Grid convention (:mod:`kit.net.targets`): cell (row i, col j) of a map with stride s has its
centre at input pixel ``(j * s + s / 2, i * s + s / 2)``; locref maps hold
``(dx, dy) / locref_stdev``.

Cost: only the cells above the threshold are compared with their neighbours (one gather per
offset of the NMS disk), so a (1, 60, 80, 10) map takes about 0.1 ms on one core.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from kit.net.targets import TargetConfig


@dataclass(frozen=True)
class PeakTable:
    """Every peak of a batch of score maps, one entry per peak.

    Sorted by frame, then body part, then score (highest first), then raster order of the
    cell. All arrays have shape (num_peaks,).

    Attributes:
        frame, part, row, col: int64, where the peak is (map cells).
        x, y: float64, input pixels, location refinement applied.
        score: float64, the score map's value at the peak cell.
    """

    frame: np.ndarray
    part: np.ndarray
    row: np.ndarray
    col: np.ndarray
    x: np.ndarray
    y: np.ndarray
    score: np.ndarray

    def bounds(self, num_frames: int, num_parts: int) -> np.ndarray:
        """(num_frames * num_parts + 1,) int: peaks of (frame n, part k) are the entries
        ``bounds[n*K + k] : bounds[n*K + k + 1]``."""
        keys = self.frame * num_parts + self.part
        return np.searchsorted(keys, np.arange(num_frames * num_parts + 1))


@lru_cache(maxsize=32)
def _offsets(radius_cells: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Offsets (di, dj) of the NMS neighbourhood: the disk of ``radius_cells`` plus the 8
    neighbours (a peak is at least a local maximum of its 3x3 cells); and the half-width."""
    half = max(1, int(np.floor(radius_cells)))
    di, dj = np.mgrid[-half:half + 1, -half:half + 1]
    inside = (di**2 + dj**2 <= radius_cells**2) | ((np.abs(di) <= 1) & (np.abs(dj) <= 1))
    inside[half, half] = False
    return di[inside], dj[inside], half


def _untie(frame: np.ndarray, row: np.ndarray, col: np.ndarray, part: np.ndarray,
           value: np.ndarray, radius_cells: float) -> np.ndarray:
    """Which candidates to keep when some tie (a flat plateau, e.g. a saturated sigmoid).

    Candidates are sorted by frame, part, score (highest first), raster order. Only equal
    scores of one frame and part can be within the radius of each other, so only runs of
    those are looked at: each 8-connected plateau keeps its first cell in raster order (as
    argmax), then those plateaus' cells suppress later ones within the radius.
    """
    keep = np.ones(len(value), bool)
    same = (frame[1:] == frame[:-1]) & (part[1:] == part[:-1]) & (value[1:] == value[:-1])
    if not same.any():
        return keep  # the usual case: no ties, every candidate is a peak
    starts = np.flatnonzero(np.r_[True, ~same])
    for start, stop in zip(starts, np.r_[starts[1:], len(value)]):
        if stop - start < 2:
            continue
        r, c = row[start:stop], col[start:stop]
        d2 = (r[:, None] - r[None, :]) ** 2 + (c[:, None] - c[None, :]) ** 2
        if np.count_nonzero(d2 <= max(radius_cells**2, 2)) == len(r):
            continue  # equal but apart (only the diagonal is near): all are peaks
        keep[start:stop] = _plateau_peaks(d2, radius_cells)
    return keep


def _plateau_peaks(d2: np.ndarray, radius_cells: float) -> np.ndarray:
    """Of equal candidates in raster order with squared cell distances ``d2`` (m, m): the
    first cell of each 8-connected plateau, unless an earlier kept one is within the
    radius. Returns (m,) bool."""
    m = len(d2)
    plateau = list(range(m))  # union-find over 8-neighbours
    for i, j in zip(*np.nonzero(np.triu(d2 <= 2, 1))):
        a, b = plateau[i], plateau[j]
        while plateau[a] != a:
            a = plateau[a]
        while plateau[b] != b:
            b = plateau[b]
        plateau[max(a, b)] = min(a, b)  # the root is the plateau's first cell
    kept: list[int] = []
    for i in range(m):
        root = i
        while plateau[root] != root:
            root = plateau[root]
        if root == i and all(d2[i, j] > radius_cells**2 for j in kept):
            kept.append(i)
    out = np.zeros(m, bool)
    out[kept] = True
    return out


def _check(scores: np.ndarray, locref: np.ndarray | None, threshold: float,
           nms_radius_px: float) -> None:
    if scores.ndim != 4:
        raise ValueError(f"scores must be (N, h, w, K). Received shape {scores.shape}.")
    if locref is not None and locref.shape != (*scores.shape[:3], 2 * scores.shape[3]):
        raise ValueError(f"locref must be (N, h, w, 2K) for scores {scores.shape}. "
                         f"Received shape {locref.shape}.")
    if not np.isfinite(threshold) or not np.isfinite(nms_radius_px) or nms_radius_px < 0:
        raise ValueError(f"threshold must be finite and nms_radius_px >= 0 (input pixels). "
                         f"Received: threshold={threshold!r}, nms_radius_px={nms_radius_px!r}.")


def peak_table(scores: np.ndarray, locref: np.ndarray | None, threshold: float,
               nms_radius_px: float, targets: TargetConfig = TargetConfig()) -> PeakTable:
    """Every local maximum of a batch of score maps, as one table.

    A cell is a peak when its score is >= ``threshold`` and >= every cell of the same map
    within ``nms_radius_px`` (distance between cell centres; the 8 neighbouring cells
    always count). A flat plateau gives one peak, its first cell in raster order (as
    ``argmax``), and of equal peaks closer than the radius only the first is kept.

    Args:
        scores: (N, h, w, K) probabilities.
        locref: (N, h, w, 2K) channels (dx_0, dy_0, dx_1, ...) / locref_stdev, or None
            for cell centres.
        threshold: lowest score kept.
        nms_radius_px: suppression radius, input pixels.
        targets: stride and locref_stdev of the maps.
    """
    scores = np.asarray(scores)
    _check(scores, locref, threshold, nms_radius_px)
    n, h, w, k = scores.shape
    di, dj, half = _offsets(nms_radius_px / targets.stride)
    # flat indices: np.nonzero of a 4-d array and np.pad cost ~10x more than this
    index = np.flatnonzero(scores >= threshold)
    value = scores.reshape(-1)[index]
    rest, part = np.divmod(index, k)
    rest, col = np.divmod(rest, w)
    frame, row = np.divmod(rest, h)
    wide, tall = w + 2 * half, h + 2 * half
    padded = np.full((n, tall, wide, k), -np.inf, scores.dtype)
    padded[:, half:half + h, half:half + w] = scores
    padded = padded.reshape(-1)
    centre = ((frame * tall + row + half) * wide + col + half) * k + part
    neighbours = padded[centre[:, None] + (di * wide + dj) * k]  # (M, num_offsets)
    is_peak = np.all(value[:, None] >= neighbours, axis=1)
    frame, row, col, part, value = (v[is_peak] for v in (frame, row, col, part, value))
    order = np.lexsort((row * w + col, -value, part, frame))
    frame, row, col, part, value = (v[order] for v in (frame, row, col, part, value))
    keep = _untie(frame, row, col, part, value, nms_radius_px / targets.stride)
    frame, row, col, part, value = (v[keep] for v in (frame, row, col, part, value))
    s = targets.stride
    x = col * s + s / 2
    y = row * s + s / 2
    if locref is not None:
        x = x + locref[frame, row, col, 2 * part] * targets.locref_stdev
        y = y + locref[frame, row, col, 2 * part + 1] * targets.locref_stdev
    return PeakTable(frame.astype(np.int64), part.astype(np.int64), row.astype(np.int64),
                     col.astype(np.int64), np.asarray(x, np.float64),
                     np.asarray(y, np.float64), value.astype(np.float64))


def find_peaks_batch(scores: np.ndarray, locref: np.ndarray | None, threshold: float,
                     nms_radius_px: float,
                     targets: TargetConfig = TargetConfig()) -> list[list[np.ndarray]]:
    """:func:`find_peaks` of each frame of (N, h, w, K) maps (one vectorised pass).

    Returns:
        N lists of K arrays (M_k, 3): x, y (input pixels), score; highest score first.
    """
    table = peak_table(scores, locref, threshold, nms_radius_px, targets)
    n, _, _, k = np.shape(scores)
    bounds = table.bounds(n, k)
    xys = np.stack([table.x, table.y, table.score], axis=1)
    return [[xys[bounds[f * k + p]:bounds[f * k + p + 1]] for p in range(k)] for f in range(n)]


def find_peaks(scores: np.ndarray, locref: np.ndarray | None, threshold: float,
               nms_radius_px: float, targets: TargetConfig = TargetConfig()) -> list[np.ndarray]:
    """Every local maximum above ``threshold`` of each body part's score map.

    Args:
        scores: (h, w, K) probabilities of one frame.
        locref: (h, w, 2K) location refinement (offset / locref_stdev), or None.
        threshold: lowest score kept (DeepLabCut's ``pcutoff``-like cut).
        nms_radius_px: no two peaks of one body part closer than this (input pixels,
            between cell centres); the 8 neighbouring cells are always suppressed.
        targets: stride and locref_stdev of the maps.

    Returns:
        K arrays (M_k, 3) float64: x, y in input pixels (locref applied), score; sorted by
        score, highest first. The first row equals :func:`kit.net.targets.decode`'s
        answer whenever that part's best score is >= threshold.
    """
    scores = np.asarray(scores)
    if scores.ndim != 3:
        raise ValueError(f"scores must be (h, w, K) for one frame; use find_peaks_batch "
                         f"for (N, h, w, K). Received shape {scores.shape}.")
    batch_locref = None if locref is None else np.asarray(locref)[None]
    return find_peaks_batch(scores[None], batch_locref, threshold, nms_radius_px, targets)[0]
