"""Pose tables of the 3D room: every camera's 2D analysis (read) and the 3D table (read, write).

2D analysis tables are DeepLabCut's: columns ``(scorer, bodyparts, coords)`` with coords
``x, y, likelihood`` (pixels), as ``.h5`` (key ``df_with_missing``) or ``.csv`` (three
header rows). The 3D table has the same column levels with coords
``x, y, z, error, views``: world units, the mean reprojection error in pixels, and how
many cameras the point was triangulated from (NaN, NaN, NaN, NaN, 0 where none).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from kit.project import atomic_path
from kit.project.hdf import H5_KEY, read_h5, write_h5

COLUMN_NAMES = ["scorer", "bodyparts", "coords"]
COORDS_2D = ["x", "y", "likelihood"]
COORDS_3D = ["x", "y", "z", "error", "views"]


def make_table(points: np.ndarray, scorer: str, bodyparts: Sequence[str],
               coords: Sequence[str]) -> pd.DataFrame:
    """A pose table from ``points`` (num_frames, num_bodyparts, len(coords)), index 0..N-1."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 3 or points.shape[1:] != (len(bodyparts), len(coords)):
        raise ValueError(f"points must have shape (num_frames, {len(bodyparts)}, {len(coords)}). "
                         f"Received: {points.shape}.")
    columns = pd.MultiIndex.from_product([[scorer], list(bodyparts), list(coords)],
                                         names=COLUMN_NAMES)
    return pd.DataFrame(points.reshape(len(points), -1), columns=columns)


def save_table(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a pose table atomically as ``.h5`` or ``.csv`` (by the suffix); return the path."""
    path = Path(path)
    if path.suffix not in (".h5", ".csv"):
        raise ValueError(f"Pose tables are .h5 or .csv. Received: {path}.")
    if path.suffix == ".h5":
        return write_h5(df, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        df.to_csv(tmp)
    return path


def read_table(path: str | os.PathLike, coords: Sequence[str]
               ) -> tuple[np.ndarray, list[str], str]:
    """Read a pose table with the given ``coords`` per body part.

    Returns:
        points: (num_frames, num_bodyparts, len(coords)), float64.
        bodyparts: in column order.
        scorer: the first column level.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No pose table at {path}. Check the path or analyze the video.")
    if path.suffix == ".csv":
        df = pd.read_csv(path, header=[0, 1, 2], index_col=0, float_precision="round_trip")
    elif path.suffix == ".h5":
        df = read_h5(path, key=H5_KEY)
    else:
        raise ValueError(f"Pose tables are .h5 or .csv. Received: {path}.")
    found = list(df.columns.get_level_values(-1))
    if df.columns.nlevels != 3 or found != list(coords) * (len(found) // len(coords)):
        raise ValueError(f"{path}: columns must be (scorer, bodyparts, coords) with coords "
                         f"{list(coords)} per body part. Received coords: {found[:6]}...")
    bodyparts = list(dict.fromkeys(df.columns.get_level_values(1)))
    points = df.to_numpy(np.float64).reshape(len(df), len(bodyparts), len(coords))
    return points, bodyparts, str(df.columns.get_level_values(0)[0])


def read_points_2d(path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """A 2D analysis table: (num_frames, num_bodyparts, 3) x, y (pixels), likelihood; body parts."""
    points, bodyparts, _ = read_table(path, COORDS_2D)
    return points, bodyparts


def read_poses_3d(path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """A 3D table: (num_frames, num_bodyparts, 5) x, y, z, error, views; body parts."""
    points, bodyparts, _ = read_table(path, COORDS_3D)
    return points, bodyparts


def save_poses_3d(path: str | os.PathLike, points: np.ndarray, bodyparts: Sequence[str],
                  scorer: str = "kit-3d") -> Path:
    """Write a 3D table (num_frames, num_bodyparts, 5) x, y, z, error, views as .h5 or .csv."""
    return save_table(make_table(points, scorer, bodyparts, COORDS_3D), path)
