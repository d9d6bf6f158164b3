"""Smoothing of analysed trajectories: median and Savitzky-Golay filters, gap filling.

Each individual's body parts' x and y are filtered as separate signals over time. Points whose
likelihood is below ``pcutoff`` are treated as missing; gaps of up to
``max_gap`` frames are filled by linear interpolation first, longer gaps (and
gaps at the start or end of the video) stay NaN, and the filters never fill them.
The likelihood column is kept as analysed, so it still says how sure the network
was about each frame. The result is written as DeepLabCut's ``<name>_filtered.h5``.

The Savitzky-Golay filter is implemented here with numpy (a least-squares
polynomial fit in a sliding window, i.e. a convolution with fixed coefficients);
scipy is not a dependency of kit.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kit.project import atomic_path
from kit.project.analysis_file import (
    POSE_COORDS,
    filtered_path,
    poses_from_table,
    predictions_frame,
    read_analysis,
)
from kit.project.config import DEFAULT_PCUTOFF, check_pcutoff
from kit.project.hdf import write_h5


@dataclass(frozen=True)
class FilterConfig:
    """Settings of :func:`filter_analysis`.

    Attributes:
        method: ``"median"`` or ``"savgol"`` (Savitzky-Golay), see ``FILTERS``.
        window: frames in the sliding window; odd, >= 3.
        order: polynomial order of the Savitzky-Golay filter (< window).
        pcutoff: points with likelihood below it are gaps.
        max_gap: gaps of at most this many frames are interpolated linearly.
        save_csv: also write ``<name>_filtered.csv``.
    """

    method: str = "median"
    window: int = 5
    order: int = 3
    pcutoff: float = DEFAULT_PCUTOFF
    max_gap: int = 10
    save_csv: bool = False

    def __post_init__(self):
        if self.method not in FILTERS:
            raise ValueError(f"Unknown method={self.method!r}. Choose one of {sorted(FILTERS)}.")
        if self.window < 3 or self.window % 2 == 0:
            raise ValueError(f"window must be odd and >= 3. Received: window={self.window}.")
        if self.method == "savgol" and not 0 <= self.order < self.window:
            raise ValueError(
                f"Savitzky-Golay needs 0 <= order < window. Received: order={self.order}, "
                f"window={self.window}."
            )
        check_pcutoff(self.pcutoff)
        if self.max_gap < 0:
            raise ValueError(f"Need max_gap >= 0. Received: max_gap={self.max_gap}.")


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def fill_gaps(values: np.ndarray, max_gap: int) -> np.ndarray:
    """Interpolate linearly across NaN runs of at most ``max_gap`` frames between two values.

    Args:
        values: (N,) a signal over frames, NaN = missing.

    Returns:
        (N,) a copy; longer gaps, and gaps touching either end, stay NaN.
    """
    out = np.array(values, dtype=np.float64)
    for start, stop in _runs(np.isnan(out)):
        if start == 0 or stop == len(out) or stop - start > max_gap:
            continue
        t = np.arange(start - 1, stop + 1)
        out[start:stop] = np.interp(t[1:-1], [t[0], t[-1]], [out[start - 1], out[stop]])
    return out


def median_filter(values: np.ndarray, window: int) -> np.ndarray:
    """Running median over ``window`` frames (fewer at the ends and next to gaps); NaN stays NaN."""
    half = window // 2
    padded = np.pad(np.asarray(values, dtype=np.float64), half, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows: masked below
        out = np.nanmedian(windows, axis=1)
    out[np.isnan(values)] = np.nan
    return out


def savgol_coefficients(window: int, order: int) -> np.ndarray:
    """(window, order + 1) least-squares fit: row-vector products give the polynomial.

    ``savgol_coefficients(w, p) @ y`` are the coefficients c_0..c_p of the polynomial
    sum c_j t^j fitted to ``y`` sampled at t = -(w-1)/2 .. (w-1)/2; row 0 (the value
    at the centre) is the smoothing convolution kernel.
    """
    t = np.arange(window) - (window - 1) / 2
    return np.linalg.pinv(np.vander(t, order + 1, increasing=True))


def _savgol_run(y: np.ndarray, window: int, order: int) -> np.ndarray:
    """Savitzky-Golay on a gap-free signal; the ends are the fitted polynomial (scipy's 'interp')."""
    if len(y) <= order:
        return y.copy()
    window = min(window, len(y) if len(y) % 2 else len(y) - 1)
    if window <= order:
        return y.copy()
    fit = savgol_coefficients(window, order)
    half = window // 2
    out = np.empty_like(y)
    out[half:len(y) - half] = np.correlate(y, fit[0], mode="valid")
    t = np.arange(window) - half
    powers = np.vander(t, order + 1, increasing=True)
    out[:half] = (powers @ (fit @ y[:window]))[:half]
    out[len(y) - half:] = (powers @ (fit @ y[-window:]))[window - half:]
    return out


def savgol_filter(values: np.ndarray, window: int, order: int = 3) -> np.ndarray:
    """Savitzky-Golay smoothing of each gap-free stretch of ``values`` (N,); NaN stays NaN.

    Keeps any polynomial of degree <= ``order`` exactly. A stretch shorter than
    ``window`` is fitted with the longest odd window it holds (left as is if that
    is not longer than ``order``).
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.full_like(values, np.nan)
    for start, stop in _runs(np.isfinite(values)):
        out[start:stop] = _savgol_run(values[start:stop], window, order)
    return out


FILTERS: dict[str, Callable[[np.ndarray, FilterConfig], np.ndarray]] = {
    "median": lambda v, c: median_filter(v, c.window),
    "savgol": lambda v, c: savgol_filter(v, c.window, c.order),
}


def filter_points(points: np.ndarray, config: FilterConfig) -> np.ndarray:
    """Filter trajectories: each individual's body parts, each x and y, as separate signals.

    Args:
        points: (num_frames, num_individuals, num_bodyparts, 3) x, y (image pixels),
            likelihood.

    Returns:
        The same shape: x, y gap-filled and filtered (NaN in gaps longer than
        ``max_gap``), likelihood unchanged.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 4 or points.shape[3] != 3:
        raise ValueError("points must have shape (num_frames, num_individuals, num_bodyparts, "
                         f"3). Received: {points.shape}.")
    out = points.copy()
    low = ~(points[..., 2] >= config.pcutoff)  # NaN likelihood counts as low
    for i, k in np.ndindex(*points.shape[1:3]):
        for axis in (0, 1):
            signal = np.where(low[:, i, k], np.nan, points[:, i, k, axis])
            out[:, i, k, axis] = FILTERS[config.method](fill_gaps(signal, config.max_gap), config)
    return out


def filter_analysis(h5_path: str | os.PathLike, config: FilterConfig) -> Path:
    """Filter an analysis file (see :func:`filter_points`); write ``<name>_filtered.h5``
    in the file's layout (single- or multi-animal, same columns and index).

    Returns the path written (and ``.csv`` beside it if ``config.save_csv``).
    """
    h5_path = Path(h5_path)
    if not h5_path.is_file():
        raise FileNotFoundError(f"No analysis file at {h5_path}. Analyze the video first.")
    df = read_analysis(h5_path)
    points, bodyparts, individuals = poses_from_table(df, source=h5_path)
    scorer = df.columns.get_level_values(0)[0]
    pose_columns = df.columns[df.columns.get_level_values(-1).isin(POSE_COORDS)]  # no variances
    out = predictions_frame(filter_points(points, config), df.index, scorer, bodyparts,
                            individuals).reindex(columns=pose_columns)  # NaN padding dropped
    target = filtered_path(h5_path)
    write_h5(out, target)
    if config.save_csv:
        with atomic_path(filtered_path(h5_path, ".csv")) as tmp:
            out.to_csv(tmp)
    return target
