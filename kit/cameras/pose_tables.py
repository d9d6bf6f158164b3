"""Pose tables of the 3D room: every camera's 2D analysis (read) and the 3D table (read, write).

2D analysis tables are DeepLabCut's (read and written by :mod:`kit.project.dlc_tables`):
columns ``(scorer, bodyparts, coords)`` (one animal) or ``(scorer, individuals, bodyparts,
coords)`` (several), with coords ``x, y, likelihood`` (pixels), as ``.h5`` (key
``df_with_missing``) or ``.csv``. The 3D table has the same column levels as its inputs
with coords ``x, y, z, error, views``: world units, the mean reprojection error in pixels,
and how many cameras the point was triangulated from (NaN, NaN, NaN, NaN, 0 where none).

Arrays carry kit's individuals axis: ``(num_frames, num_individuals, num_bodyparts,
num_coords)``, one individual (``individuals`` None) for a single-animal table.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from kit.project.dlc_tables import make_table as _make_table
from kit.project.dlc_tables import read_table as _read_table
from kit.project.dlc_tables import table_coords, table_points, write_table

COORDS_2D = ["x", "y", "likelihood"]
COORDS_3D = ["x", "y", "z", "error", "views"]


def make_table(points: np.ndarray, scorer: str, bodyparts: Sequence[str],
               coords: Sequence[str], individuals: Sequence[str] | None = None) -> pd.DataFrame:
    """A pose table from ``points`` (num_frames, num_individuals, num_bodyparts, len(coords)),
    index 0..N-1; ``individuals`` None: DeepLabCut's single-animal layout (one individual)."""
    df = _make_table(points, range(len(points)), scorer, bodyparts, individuals, coords)
    return df.set_axis(pd.RangeIndex(len(df)))  # as written before the individuals axis


def save_table(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a pose table atomically as ``.h5`` or ``.csv`` (by the suffix); return the path."""
    return write_table(df, path)


def read_table(path: str | os.PathLike, coords: Sequence[str]
               ) -> tuple[np.ndarray, list[str], list[str] | None, str]:
    """Read a pose table with the given ``coords`` per body part (either column layout).

    Returns:
        points: (num_frames, num_individuals, num_bodyparts, len(coords)), float64, NaN
            where an individual has no such body part.
        bodyparts: in column order (every individual's).
        individuals: in column order; None for the single-animal layout.
        scorer: the first column level.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No pose table at {path}. Check the path or analyze the video.")
    df = _read_table(path)
    table_coords(df, [coords], path)
    points, bodyparts, individuals = table_points(df, coords, source=path)
    return points, bodyparts, individuals, str(df.columns.get_level_values(0)[0])


def read_points_2d(path: str | os.PathLike) -> tuple[np.ndarray, list[str], list[str] | None]:
    """A 2D analysis table: (num_frames, num_individuals, num_bodyparts, 3) x, y (pixels),
    likelihood; body parts; individuals (None: single-animal)."""
    return read_table(path, COORDS_2D)[:3]


def read_poses_3d(path: str | os.PathLike) -> tuple[np.ndarray, list[str], list[str] | None]:
    """A 3D table: (num_frames, num_individuals, num_bodyparts, 5) x, y, z, error, views;
    body parts; individuals (None: single-animal)."""
    return read_table(path, COORDS_3D)[:3]


def save_poses_3d(path: str | os.PathLike, points: np.ndarray, bodyparts: Sequence[str],
                  individuals: Sequence[str] | None = None, scorer: str = "kit-3d") -> Path:
    """Write a 3D table (num_frames, num_individuals, num_bodyparts, 5) x, y, z, error, views
    as .h5 or .csv; ``individuals`` None writes the single-animal layout (one individual)."""
    return save_table(make_table(points, scorer, bodyparts, COORDS_3D, individuals), path)
