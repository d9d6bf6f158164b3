"""Analysis files: DeepLabCut's ``<video><scorer>.h5`` (+ ``.csv``), its filtered version
``<name>_filtered.h5``, kit's partial analyses (resumable) and evaluation predictions, and
``machinelabels-iter<i>.h5`` (a network's predictions on frames to label): one layout.

An analysis table has columns ``(scorer, bodyparts, coords)`` with coords ``x``, ``y``
(image pixels) and ``likelihood`` per body part; the index holds frame numbers (analyses)
or image paths relative to the project (evaluations, machine labels).
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

from kit.project.hdf import H5_KEY, read_h5_attrs, write_h5

COLUMN_NAMES = ["scorer", "bodyparts", "coords"]


def predictions_frame(points: np.ndarray, index: Sequence, scorer: str,
                      bodyparts: Sequence[str]) -> pd.DataFrame:
    """An analysis table.

    Args:
        points: (num_rows, num_bodyparts, 3) x, y (image pixels), likelihood.
        index: frame numbers, or image paths relative to the project, one per row.
    """
    columns = pd.MultiIndex.from_product([[scorer], list(bodyparts), ["x", "y", "likelihood"]],
                                         names=COLUMN_NAMES)
    values = np.asarray(points, np.float64).reshape(len(points), 3 * len(bodyparts))
    return pd.DataFrame(values, index=pd.Index(list(index)), columns=columns)


def analysis_bodyparts(df: pd.DataFrame) -> list[str]:
    """The body parts of an analysis table, in column order."""
    return list(dict.fromkeys(df.columns.get_level_values("bodyparts")))


def read_analysis(h5: str | os.PathLike) -> pd.DataFrame:
    """The table of an analysis file; a missing, truncated or foreign file raises, naming it."""
    try:
        return pd.read_hdf(h5, key=H5_KEY)
    except (OSError, KeyError, ValueError, TypeError, HDF5ExtError) as e:
        raise ValueError(
            f"{h5} cannot be read as an analysis table ({type(e).__name__}). It may be truncated "
            "or not an analysis file: analyze the video again (overwrite=True)."
        ) from e


def load_points(h5: str | os.PathLike, bodyparts: Sequence[str] | None = None) -> np.ndarray:
    """An analysis table as (num_frames, num_bodyparts, 3): x, y, likelihood (body parts
    in ``bodyparts`` order, default the file's)."""
    df = read_analysis(h5)
    coords = list(df.columns.get_level_values(-1))
    if df.columns.nlevels != 3 or coords != ["x", "y", "likelihood"] * (len(coords) // 3):
        raise ValueError(
            f"{h5} is not an analysis table: columns must be (scorer, bodyparts, coords) "
            f"with coords x, y, likelihood per body part. Received coords: {coords[:6]}..."
        )
    scorer = df.columns.get_level_values("scorer")[0]
    if bodyparts is None:
        bodyparts = analysis_bodyparts(df)
    columns = pd.MultiIndex.from_product([[scorer], list(bodyparts), ["x", "y", "likelihood"]])
    return df.loc[:, columns].to_numpy(np.float64).reshape(len(df), len(bodyparts), 3)


def filtered_path(h5_path: str | os.PathLike, suffix: str = ".h5") -> Path:
    """DeepLabCut's name for the filtered version of an analysis file: ``<name>_filtered.h5``."""
    h5_path = Path(h5_path)
    return h5_path.with_name(f"{h5_path.stem}_filtered{suffix}")


def load_partial_points(path: Path, settings: dict, num_bodyparts: int) -> np.ndarray | None:
    """(num_frames_done, num_bodyparts, 3) points of a partial analysis (see
    :func:`save_analysis`), if it was written with the same ``settings``; else None, with a
    warning saying why."""
    if not path.is_file():
        return None
    try:
        saved = json.loads(read_h5_attrs(path)["kit_settings"])
        df = pd.read_hdf(path, key=H5_KEY)
    except (OSError, ValueError, KeyError, AttributeError, HDF5ExtError) as e:
        warnings.warn(f"{path} cannot be read ({type(e).__name__}); starting over.", stacklevel=3)
        return None
    if saved != settings:
        warnings.warn(f"{path} was written with other settings ({saved}); starting over.",
                      stacklevel=3)
        return None
    return df.to_numpy(np.float64).reshape(len(df), num_bodyparts, 3)


def save_analysis(path: Path, df: pd.DataFrame, settings: dict | None = None) -> None:
    """Write an analysis table atomically; ``settings`` (a partial analysis' run settings)
    are kept with it for :func:`load_partial_points`."""
    write_h5(df, path, attrs=None if settings is None else {"kit_settings": json.dumps(settings)})


def read_machine_labels(path: str | os.PathLike) -> pd.DataFrame:
    """A ``machinelabels-iter<i>.h5`` table (empty table if the file holds no frame)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No machine labels at {path}. Extract outlier frames first "
                                "(kit.results.outliers.extract_outliers).")
    return pd.read_hdf(path, key=H5_KEY)


def save_machine_labels(path: str | os.PathLike, df: pd.DataFrame) -> Path:
    """Write a machine-label table atomically (see :func:`kit.project.hdf.write_h5`)."""
    return write_h5(df, path)
