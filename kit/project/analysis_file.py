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

coords are ``x``, ``y``, ``likelihood`` per body part (label tables: ``x``, ``y``; an
ensemble's smoothed analysis adds eks's variances after them, which the readers here skip);
the index holds frame numbers (analyses) or image paths relative to the project
(evaluations, machine labels).
"""

from __future__ import annotations

import csv
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tables.exceptions import HDF5ExtError

from kit.project.hdf import H5_KEY, read_h5, read_h5_attrs, write_h5

COLUMN_NAMES = ["scorer", "bodyparts", "coords"]  # single animal
MULTI_COLUMN_NAMES = ["scorer", "individuals", "bodyparts", "coords"]  # multi-animal
POSE_COORDS = ("x", "y", "likelihood")


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
    return _table(points, index, scorer, bodyparts, individuals, POSE_COORDS)


def _table(points, index, scorer, bodyparts, individuals, coords) -> pd.DataFrame:
    points = np.asarray(points, np.float64)
    num_individuals = 1 if individuals is None else len(individuals)
    expected = (num_individuals, len(bodyparts), len(coords))
    if points.ndim != 4 or points.shape[1:] != expected:
        raise ValueError(
            f"points must have shape (num_rows, num_individuals, num_bodyparts, {len(coords)}) "
            f"= (N, {', '.join(map(str, expected))}) for individuals={individuals!r} and "
            f"{len(bodyparts)} body parts. Received: {points.shape}. A single-animal array "
            "(N, num_bodyparts, 3) needs its individuals axis: points[:, None]."
        )
    if individuals is None:
        columns = pd.MultiIndex.from_product([[scorer], list(bodyparts), list(coords)],
                                             names=COLUMN_NAMES)
    else:
        columns = pd.MultiIndex.from_product(
            [[scorer], list(individuals), list(bodyparts), list(coords)], names=MULTI_COLUMN_NAMES)
    values = points.reshape(len(points), -1) if len(points) else np.zeros((0, len(columns)))
    return pd.DataFrame(values, index=pd.Index(list(index)), columns=columns)


def table_individuals(df: pd.DataFrame) -> list[str] | None:
    """The individuals of a table, in column order; None for the single-animal layout."""
    if df.columns.nlevels == 3:
        return None
    return list(dict.fromkeys(df.columns.get_level_values(1)))


def analysis_bodyparts(df: pd.DataFrame) -> list[str]:
    """The body parts of a table (every individual's), in column order."""
    return list(dict.fromkeys(df.columns.get_level_values(-2)))


def _check_layout(df: pd.DataFrame, source: object) -> tuple[str, ...]:
    """The table's pose coords per body part (x, y[, likelihood]); raises if not a pose
    table. Further coords after x, y, likelihood (an ensemble's variances,
    :mod:`kit.results.ensemble`) are allowed and left out."""
    nlevels = df.columns.nlevels if isinstance(df.columns, pd.MultiIndex) else 1
    coords = list(df.columns.get_level_values(-1)) if nlevels > 1 else []
    per_part = tuple(dict.fromkeys(coords))
    if (nlevels in (3, 4) and coords and coords == list(per_part) * (len(coords) // len(per_part))
            and (per_part == ("x", "y") or per_part[:3] == POSE_COORDS)):
        if df.columns.get_level_values(0).nunique() != 1:
            raise ValueError(f"{source} mixes several scorers in one table; keep one.")
        return per_part[:3]
    raise ValueError(
        f"{source} is not a pose table: columns must be (scorer, bodyparts, coords) or "
        "(scorer, individuals, bodyparts, coords), with coords x, y[, likelihood] per body "
        f"part. Received {nlevels} column level(s), coords: {coords[:6]}..."
    )


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
    coords = _check_layout(df, source)
    found = analysis_bodyparts(df)
    bodyparts = found if bodyparts is None else list(bodyparts)
    unknown = [b for b in bodyparts if b not in found]
    if unknown:
        raise ValueError(f"{source} has no body parts {unknown}; it has {found}.")
    scorer = df.columns.get_level_values(0)[0]
    individuals = table_individuals(df)
    levels = [[scorer], *([individuals] if individuals else []), bodyparts, list(coords)]
    columns = pd.MultiIndex.from_product(levels)
    values = df.reindex(columns=columns).to_numpy(np.float64)  # absent (individual, part): NaN
    shape = (len(df), len(individuals or [None]), len(bodyparts), len(coords))
    return values.reshape(shape), bodyparts, individuals


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
    """A pose table written as CSV, either layout: three or four header rows (the first
    cells name the levels: scorer, [individuals,] bodyparts, coords), then one or three
    index columns (DeepLabCut 2.2+ may split image paths into labeled-data, video, image;
    joined here with "/")."""
    with open(path, newline="", encoding="utf-8") as f:
        heads = [row for row, _ in zip(csv.reader(f), range(4), strict=False)]
    names = [row[0] if row else "" for row in heads]
    nlevels = 4 if names[:4] == MULTI_COLUMN_NAMES else 3
    if names[:nlevels] != (MULTI_COLUMN_NAMES if nlevels == 4 else COLUMN_NAMES):
        raise ValueError(f"{path} has no pose table header: its rows start {names}; expected "
                         f"{COLUMN_NAMES} or {MULTI_COLUMN_NAMES}.")
    coords_row = heads[nlevels - 1]
    num_index = 1 + next((i for i, cell in enumerate(coords_row[1:]) if cell), 0)
    df = pd.read_csv(path, header=list(range(nlevels)), index_col=list(range(num_index)),
                     float_precision="round_trip")  # exact on pandas 2 too
    if num_index > 1:
        df.index = pd.Index(["/".join(map(str, parts)) for parts in df.index])
    df.columns = df.columns.set_names(MULTI_COLUMN_NAMES if nlevels == 4 else COLUMN_NAMES)
    return df.astype(np.float64)


def read_analysis(path: str | os.PathLike) -> pd.DataFrame:
    """The table of an analysis file (``.h5``, or ``.csv`` as DeepLabCut writes it beside);
    a missing, truncated or foreign file raises, naming it."""
    try:
        if Path(path).suffix == ".csv":
            return read_table_csv(path)
        return read_h5(path, key=H5_KEY)
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
    write_h5(df, path, attrs=None if settings is None else {"kit_settings": json.dumps(settings)})


def read_machine_labels(path: str | os.PathLike) -> pd.DataFrame:
    """A ``machinelabels-iter<i>.h5`` table (empty table if the file holds no frame)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No machine labels at {path}. Extract outlier frames first "
                                "(kit.results.outliers.extract_outliers).")
    return read_h5(path, key=H5_KEY)


def save_machine_labels(path: str | os.PathLike, df: pd.DataFrame) -> Path:
    """Write a machine-label table atomically (see :func:`kit.project.hdf.write_h5`)."""
    return write_h5(df, path)
