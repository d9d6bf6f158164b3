"""Analysis files: DeepLabCut's ``<video><scorer>.h5`` (+ ``.csv``), its filtered version
``<name>_filtered.h5``, kit's partial analyses (resumable) and evaluation predictions, and
``machinelabels-iter<i>.h5`` (a network's predictions on frames to label): one layout, and
the one place that converts between it and kit's pose arrays.

Inside kit, poses carry an individuals axis: ``(num_frames, num_individuals, num_bodyparts,
3)``, x, y (image pixels) then likelihood; one individual for a single-animal project.
On disk a table keeps DeepLabCut's layouts exactly:

- single animal: columns ``(scorer, bodyparts, coords)``; read as ``individuals=None``
  and one individual; written so when ``individuals=None``;
- multi-animal (DeepLabCut 2.2+ analyses and machine labels): columns ``(scorer,
  individuals, bodyparts, coords)``. Individuals may have different body parts (DeepLabCut
  files "unique" body parts under the individual ``single``): the array holds every body
  part of the file for every individual, NaN where an individual has none.

coords are ``x``, ``y``, ``likelihood`` per body part (label tables: ``x``, ``y``); the index
holds frame numbers (analyses) or image paths relative to the project (evaluations, machine
labels).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tables.exceptions import HDF5ExtError

from kit.project.dlc_tables import (
    COLUMN_NAMES,
    MULTI_COLUMN_NAMES,
    make_table,
    read_csv_table,
    read_table,
    table_bodyparts,
    table_coords,
    table_individuals,
    table_points,
    write_table,
)
from kit.project.hdf import H5_KEY, read_h5, read_h5_attrs

__all__ = ["COLUMN_NAMES", "MULTI_COLUMN_NAMES", "POSE_COORDS", "analysis_bodyparts",
           "filtered_path", "load_partial_poses", "load_poses", "poses_from_table",
           "predictions_frame", "read_analysis", "read_machine_labels", "read_table_csv",
           "save_analysis", "save_machine_labels", "select_individuals", "table_individuals"]

POSE_COORDS = ("x", "y", "likelihood")
analysis_bodyparts = table_bodyparts  # the body parts of a table (every individual's), in order


def predictions_frame(points: np.ndarray, index: Sequence, scorer: str,
                      bodyparts: Sequence[str],
                      individuals: Sequence[str] | None = None) -> pd.DataFrame:
    """An analysis table from poses (the inverse of :func:`poses_from_table`).

    Args:
        points: (num_rows, num_individuals, num_bodyparts, 3) x, y (image pixels), likelihood.
        index: frame numbers, or image paths relative to the project, one per row.
        scorer: the first column level (e.g. ``DLC_resnet50_<Task><date>shuffle1_1000``).
        bodyparts: the num_bodyparts names.
        individuals: None for DeepLabCut's single-animal layout (num_individuals must be 1),
            else the num_individuals names (multi-animal layout).
    """
    return make_table(points, index, scorer, bodyparts, individuals, POSE_COORDS)


def poses_from_table(df: pd.DataFrame, bodyparts: Sequence[str] | None = None,
                     source: object = "the table") -> tuple[np.ndarray, list[str], list[str] | None]:
    """A table's poses (either layout; see the module docstring).

    Args:
        bodyparts: the body parts to take, in this order (default: the table's); one the
            table lacks raises.
        source: names the table in errors (e.g. its path).

    Returns:
        ``(poses, bodyparts, individuals)``: poses (num_rows, num_individuals,
        num_bodyparts, C) float64 with C the table's coords per body part (3: x, y,
        likelihood; 2 for label tables: x, y), NaN where missing; ``individuals`` None for
        the single-animal layout (then num_individuals is 1).
    """
    coords = table_coords(df, (POSE_COORDS, ("x", "y")), source, extra_after=POSE_COORDS)
    return table_points(df, coords, bodyparts, source)


def select_individuals(poses: np.ndarray, individuals: Sequence[str] | None,
                       names: Sequence[str] | None) -> np.ndarray:
    """Poses of the individuals ``names``, matched by name, in that order (NaN for a name
    absent from ``individuals``); single-animal poses (``individuals`` None) need ``names``
    None too. poses: (num_rows, num_individuals, num_bodyparts, C)."""
    if individuals is None or names is None:
        if individuals is not names:
            raise ValueError(f"Cannot match single-animal poses with individuals. Received: "
                             f"individuals={individuals!r}, names={names!r}.")
        return poses
    out = np.full((len(poses), len(names), *poses.shape[2:]), np.nan)
    for i, name in enumerate(names):
        if name in individuals:
            out[:, i] = poses[:, list(individuals).index(name)]
    return out


def read_table_csv(path: str | os.PathLike) -> pd.DataFrame:
    """A pose table written as CSV, either layout (see
    :func:`kit.project.dlc_tables.read_csv_table`), as float64."""
    return read_csv_table(path).astype(np.float64)


def read_analysis(path: str | os.PathLike) -> pd.DataFrame:
    """The table of an analysis file (``.h5``, or ``.csv`` as DeepLabCut writes it beside);
    a missing, truncated or foreign file raises, naming it."""
    try:
        if Path(path).suffix == ".csv":
            return read_table_csv(path)
        return read_table(path)
    except (OSError, KeyError, ValueError, TypeError, IndexError, HDF5ExtError,
            pd.errors.ParserError) as e:
        raise ValueError(
            f"{path} cannot be read as an analysis table ({type(e).__name__}). It may be "
            "truncated or not an analysis file: analyze the video again (overwrite=True)."
        ) from e


def load_poses(path: str | os.PathLike, bodyparts: Sequence[str] | None = None
               ) -> tuple[np.ndarray, list[str], list[str] | None]:
    """An analysis file's poses: ``(poses, bodyparts, individuals)``.

    Args:
        path: an analysis ``.h5`` or ``.csv``, either layout.
        bodyparts: the body parts to take, in this order (default: the file's).

    Returns:
        poses (num_frames, num_individuals, num_bodyparts, 3): x, y (image pixels),
        likelihood, NaN where missing; the body part names; the individuals' names, or
        None for a single-animal file (one individual). :func:`predictions_frame` with the
        same names writes the same layout back.
    """
    df = read_analysis(path)
    poses, bodyparts, individuals = poses_from_table(df, bodyparts, source=path)
    if poses.shape[-1] != 3:
        raise ValueError(f"{path} has no likelihood column: it is a label table (x, y), not an "
                         "analysis. Pass an analysis file, or read it with poses_from_table.")
    return poses, bodyparts, individuals


def filtered_path(h5_path: str | os.PathLike, suffix: str = ".h5") -> Path:
    """DeepLabCut's name for the filtered version of an analysis file: ``<name>_filtered.h5``."""
    h5_path = Path(h5_path)
    return h5_path.with_name(f"{h5_path.stem}_filtered{suffix}")


def load_partial_poses(path: Path, settings: dict) -> np.ndarray | None:
    """(num_frames_done, num_individuals, num_bodyparts, 3) poses of a partial analysis (see
    :func:`save_analysis`), if it was written with the same ``settings``; else None, with a
    warning saying why."""
    if not path.is_file():
        return None
    try:
        saved = json.loads(read_h5_attrs(path)["kit_settings"])
        df = read_h5(path, key=H5_KEY)
    except (OSError, ValueError, KeyError, AttributeError, HDF5ExtError) as e:
        warnings.warn(f"{path} cannot be read ({type(e).__name__}); starting over.", stacklevel=3)
        return None
    if saved != settings:
        warnings.warn(f"{path} was written with other settings ({saved}); starting over.",
                      stacklevel=3)
        return None
    return poses_from_table(df, source=path)[0]


def save_analysis(path: Path, df: pd.DataFrame, settings: dict | None = None) -> None:
    """Write an analysis table atomically; ``settings`` (a partial analysis' run settings)
    are kept with it for :func:`load_partial_poses`."""
    write_table(df, path, attrs=None if settings is None else {"kit_settings": json.dumps(settings)})


def read_machine_labels(path: str | os.PathLike) -> pd.DataFrame:
    """A ``machinelabels-iter<i>.h5`` table (empty table if the file holds no frame)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No machine labels at {path}. Extract outlier frames first "
                                "(kit.results.outliers.extract_outliers).")
    return read_h5(path, key=H5_KEY)


def save_machine_labels(path: str | os.PathLike, df: pd.DataFrame) -> Path:
    """Write a machine-label table atomically (see :func:`kit.project.dlc_tables.write_table`)."""
    return write_table(df, path)
