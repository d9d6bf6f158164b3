"""How poses are drawn, everywhere in kit: body part colours, :class:`PoseStyle`,
:func:`draw_pose` (points on a frame) and :func:`save_figure`. In the project stage so that
labeling, results and figures all draw the same way without importing each other."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from kit.project.config import DEFAULT_PCUTOFF, check_pcutoff
from kit.project.files import atomic_path


def bodypart_colors(num_bodyparts: int, colormap: str = "rainbow") -> np.ndarray:
    """(K, 4) RGBA colours, one per body part, spread over ``colormap``."""
    cmap = matplotlib.colormaps[colormap]
    return cmap(np.linspace(0, 1, max(num_bodyparts, 2)))[:num_bodyparts]


def save_figure(fig: plt.Figure, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Save ``fig`` atomically (the format follows the file's suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip("."))
    return path


def confident_mask(points: np.ndarray, pcutoff: float) -> np.ndarray:
    """``points.shape[:-1]`` bool: likelihood (last coordinate) >= pcutoff (NaN counts as not)."""
    return points[..., 2] >= pcutoff


COLOR_BY = ("bodypart", "individual")  # PoseStyle.color_by


@dataclass(frozen=True)
class PoseStyle:
    """How analysed body parts are drawn on frames (labeled videos, stills).

    Attributes:
        pcutoff: points below it are hidden (``low_likelihood="hide"``) or drawn
            as faded rings (``"fade"``).
        colormap: a Matplotlib colormap name (the config's ``colormap``).
        dotsize: dot diameter in pixels (the config's ``dotsize``).
        skeleton: pairs of body part names joined by a line (the config's ``skeleton``).
        trail_length: draw each part's path over this many previous frames (0: none).
        low_likelihood: ``"hide"`` or ``"fade"`` points below pcutoff.
        color_by: one colour per ``"bodypart"`` (every individual alike) or per
            ``"individual"`` (several animals: who is who). See ``COLOR_BY``.
    """

    pcutoff: float = DEFAULT_PCUTOFF
    colormap: str = "rainbow"
    dotsize: float = 8
    skeleton: tuple[tuple[str, str], ...] = ()
    trail_length: int = 0
    low_likelihood: str = "hide"
    color_by: str = "bodypart"

    def __post_init__(self):
        check_pcutoff(self.pcutoff)
        if self.color_by not in COLOR_BY:
            raise ValueError(f"color_by must be one of {COLOR_BY}. Received: {self.color_by!r}.")
        if self.low_likelihood not in ("hide", "fade"):
            raise ValueError(
                f"low_likelihood must be 'hide' or 'fade'. Received: {self.low_likelihood!r}."
            )


def skeleton_indices(bodyparts: Sequence[str], skeleton: Sequence[Sequence[str]]
                     ) -> tuple[tuple[int, int], ...]:
    """The config's skeleton (pairs of names) as index pairs; pairs naming unknown parts raise."""
    unknown = sorted({n for pair in skeleton for n in pair} - set(bodyparts))
    if unknown:
        raise ValueError(f"skeleton names body parts {unknown} not among {list(bodyparts)}.")
    names = list(bodyparts)
    return tuple((names.index(a), names.index(b)) for a, b in skeleton)


def _fixed(x: float, y: float) -> tuple[int, int]:
    return round(x * 16), round(y * 16)  # OpenCV's shift=4: 1/16-pixel positions


def draw_pose(frame: np.ndarray, points: np.ndarray, t: int, style: PoseStyle,
              bodyparts: Sequence[str]) -> np.ndarray:
    """Frame ``t`` with every individual's body parts drawn (a copy); one colour per body part,
    or per individual (``style.color_by``).

    Args:
        frame: RGB uint8 (H, W, 3).
        points: (num_frames, num_individuals, num_bodyparts, 3) x, y (image pixels),
            likelihood of the whole video (trails look back).
        t: the frame's index in ``points``.
        bodyparts: the num_bodyparts names (the skeleton names them).
    """
    if points.ndim != 4 or points.shape[2:] != (len(bodyparts), 3):
        raise ValueError(f"points must have shape (num_frames, num_individuals, {len(bodyparts)}, "
                         f"3). Received: {points.shape}.")
    out = frame.copy()
    num_individuals, num_bodyparts = points.shape[1:3]
    by_individual = style.color_by == "individual"
    palette = [tuple(int(v) for v in c[:3] * 255) for c in bodypart_colors(
        num_individuals if by_individual else num_bodyparts, style.colormap)]
    for individual in range(num_individuals):
        colors = [palette[individual]] * num_bodyparts if by_individual else palette
        _draw_individual(out, points[:, individual], t, style, bodyparts, colors)
    return out


def _draw_individual(out: np.ndarray, points: np.ndarray, t: int, style: PoseStyle,
                     bodyparts: Sequence[str], colors: list) -> None:
    """Draw one individual's (num_frames, num_bodyparts, 3) points of frame ``t`` on ``out``."""
    confident = confident_mask(points, style.pcutoff)
    radius = max(1, round(style.dotsize / 2 * 16))
    for t0 in range(max(1, t - style.trail_length + 1), t + 1) if style.trail_length else ():
        for k in np.flatnonzero(confident[t0] & confident[t0 - 1]):
            cv2.line(out, _fixed(*points[t0 - 1, k, :2]), _fixed(*points[t0, k, :2]),
                     colors[k], 1, cv2.LINE_AA, 4)
    for a, b in skeleton_indices(bodyparts, style.skeleton):
        if confident[t, a] and confident[t, b]:
            cv2.line(out, _fixed(*points[t, a, :2]), _fixed(*points[t, b, :2]), (255, 255, 255),
                     1, cv2.LINE_AA, 4)
    for k, (x, y, _) in enumerate(points[t]):
        if confident[t, k]:
            cv2.circle(out, _fixed(x, y), radius, colors[k], -1, cv2.LINE_AA, 4)
        elif style.low_likelihood == "fade" and np.isfinite(x) and np.isfinite(y):
            cv2.circle(out, _fixed(x, y), radius, colors[k], 1, cv2.LINE_AA, 4)
