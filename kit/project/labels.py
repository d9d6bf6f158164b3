"""Label files: ``labeled-data/<video>/CollectedData_<scorer>.h5`` (+ ``.csv``).

A label table is the pandas DataFrame DeepLabCut uses: columns are a MultiIndex
``(scorer, bodyparts, coords)`` with coords ``x`` and ``y`` (image pixels, x to
the right, y down, sub-pixel values kept, NaN = not visible); the index holds
image paths relative to the project (``labeled-data/<video>/img0042.png``).
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tables.exceptions import HDF5ExtError

from kit.project import Project, atomic_path
from kit.project.hdf import read_h5, write_h5

COLUMN_NAMES = ["scorer", "bodyparts", "coords"]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def make_labels_frame(
    points: np.ndarray, index: Sequence[str], scorer: str, bodyparts: Sequence[str]
) -> pd.DataFrame:
    """Build a label table.

    Args:
        points: (num_frames, num_bodyparts, 2), x then y, image pixels, NaN = missing.
        index: image paths relative to the project, one per frame.
        scorer: the labeler's name (first column level).
        bodyparts: names, in the order of ``points``' second axis.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 3 or points.shape[1:] != (len(bodyparts), 2):
        raise ValueError(
            f"points must have shape (num_frames, {len(bodyparts)}, 2). Received: {points.shape}."
        )
    columns = pd.MultiIndex.from_product([[scorer], list(bodyparts), ["x", "y"]], names=COLUMN_NAMES)
    values = points.reshape(len(points), 2 * len(bodyparts))  # -1 cannot be inferred for 0 frames
    return pd.DataFrame(values, index=pd.Index(list(index)), columns=columns)


def labels_to_array(df: pd.DataFrame, bodyparts: Sequence[str]) -> np.ndarray:
    """Return (num_frames, num_bodyparts, 2) float64 points, x then y, NaN = missing."""
    scorer = df.columns.get_level_values("scorer")[0]
    cols = pd.MultiIndex.from_product([[scorer], list(bodyparts), ["x", "y"]])
    return df.loc[:, cols].to_numpy(dtype=np.float64).reshape(len(df), len(bodyparts), 2)


def _normalize(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    fix = (
        "A label file needs three header rows (scorer, bodyparts, coords) with coords x and y; "
        "see data-templates/CollectedData_template.csv."
    )
    if not isinstance(df.columns, pd.MultiIndex) or df.columns.nlevels != 3:
        raise ValueError(f"{path} has a wrong header: {df.columns.nlevels} column level(s). {fix}")
    df = df.copy()
    df.columns = df.columns.set_names(COLUMN_NAMES)
    coords = set(df.columns.get_level_values("coords"))
    if not coords <= {"x", "y", "likelihood"} or not {"x", "y"} <= coords:
        raise ValueError(f"{path} has a wrong header: coords {sorted(coords)}. {fix}")
    if df.columns.get_level_values("scorer").nunique() != 1:
        raise ValueError(f"{path} mixes several scorers in one file. {fix}")
    df = df.loc[:, df.columns.get_level_values("coords") != "likelihood"]
    if isinstance(df.index, pd.MultiIndex):  # DeepLabCut >= 2.2 may store (labeled-data, video, image)
        df.index = pd.Index(["/".join(map(str, parts)) for parts in df.index])
    else:
        df.index = pd.Index([str(i).replace("\\", "/") for i in df.index])
    duplicated = df.index[df.index.duplicated()]
    if len(duplicated):
        raise ValueError(
            f"{path} labels the same image twice: {sorted(set(duplicated))[:5]}. "
            "Delete the duplicate rows (keep the correct one) and reopen."
        )
    try:
        return df.astype(np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path} has a coordinate that is not a number ({e}). Fix that cell.") from e


def _check_csv_rows(path: Path) -> int:
    """Raise if a row has fewer cells than the header: a file cut short, whose missing
    cells pandas would silently read as NaN (not visible). Returns the number of rows
    below the three header rows."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    short = [n for n, row in enumerate(rows, 1) if row and len(row) < len(rows[0])]
    if short:
        raise ValueError(f"line(s) {short[:5]} have fewer cells than the header")
    return sum(1 for row in rows[3:] if row)


def read_labels_file(path: str | os.PathLike) -> pd.DataFrame:
    """Read one CollectedData file (``.h5`` or ``.csv``), checked and normalized."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No label file at {path}.")
    try:
        if path.suffix == ".csv":
            df = pd.read_csv(path, header=[0, 1, 2], index_col=0, float_precision="round_trip")
            name = str(df.index.name).lower()
            if _check_csv_rows(path) == len(df) + 1 and name.endswith(IMAGE_SUFFIXES):
                # pandas takes a first row without any label (all NaN) for index names
                first = pd.DataFrame(np.nan, index=[df.index.name], columns=df.columns)
                df = pd.concat([first, df.rename_axis(None)])
        else:
            df = read_h5(path)
    except (OSError, ValueError, KeyError, IndexError, TypeError, HDF5ExtError,
            pd.errors.ParserError) as e:
        backup = path.with_name(path.name + ".bak")
        hint = f" A backup of the previous version is at {backup}." if backup.exists() else ""
        raise ValueError(
            f"{path} cannot be read as a label table ({type(e).__name__}: {e}). "
            f"It may be truncated or corrupted.{hint} Restore it, or delete it and read the "
            f"{path.with_suffix('.csv' if path.suffix == '.h5' else '.h5').name} copy."
        ) from e
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{path} does not hold a label table (found {type(df).__name__}).")
    return _normalize(df, path)


def load_labels(project: Project, videos: Sequence[str] | None = None) -> pd.DataFrame:
    """All labels of a project (or of some videos), columns ordered as config bodyparts.

    Reads the ``.h5`` of each labeled-data folder, or its ``.csv`` when there is
    no ``.h5``. Folders without a label file are skipped. Body parts must match
    the config exactly.
    """
    frames = []
    for video in project.labeled_videos() if videos is None else videos:
        h5, csv = project.labels_file(video, ".h5"), project.labels_file(video, ".csv")
        path = h5 if h5.is_file() else csv
        if not path.is_file():
            continue
        df = read_labels_file(path)
        found = list(dict.fromkeys(df.columns.get_level_values("bodyparts")))
        if set(found) != set(project.bodyparts):
            missing = [b for b in project.bodyparts if b not in found]
            extra = [b for b in found if b not in project.bodyparts]
            raise ValueError(
                f"{path}: its body parts differ from {project.config_path}. "
                f"Missing in the file: {missing}; not in the config: {extra}. "
                "Make the config's bodyparts list match the labels (or relabel)."
            )
        points = labels_to_array(df, project.bodyparts)
        frames.append(make_labels_frame(points, df.index, project.scorer, project.bodyparts))
    if not frames:
        return make_labels_frame(np.zeros((0, len(project.bodyparts), 2)), [], project.scorer,
                                 project.bodyparts)
    return pd.concat(frames)


def _csv_writer(df: pd.DataFrame):
    def write(path: Path) -> None:
        with atomic_path(path) as tmp:
            df.to_csv(tmp)
    return write


def write_labels_file(df: pd.DataFrame, h5_path: str | os.PathLike) -> None:
    """Write ``df`` to ``h5_path`` and the ``.csv`` beside it, atomically.

    The previous versions are kept as ``<name>.bak``, so a mistake can be undone.
    """
    h5_path = Path(h5_path)
    h5_path.parent.mkdir(parents=True, exist_ok=True)
    csv_path = h5_path.with_suffix(".csv")
    for path, write in (
        (h5_path, lambda p: write_h5(df, p)),
        (csv_path, _csv_writer(df)),
    ):
        if path.exists():
            with atomic_path(path.with_name(path.name + ".bak")) as tmp:
                shutil.copyfile(path, tmp)
        write(path)


def save_labels(project: Project, video: str, df: pd.DataFrame) -> Path:
    """Save the labels of one video to its CollectedData files; return the ``.h5`` path.

    ``df`` is checked first: columns must be the config's body parts with the
    project's scorer, and every index entry must point into ``labeled-data/<video>/``.
    """
    df = _normalize(df, project.labels_file(video))
    prefix = f"labeled-data/{video}/"
    outside = [i for i in df.index if not i.startswith(prefix)]
    if outside:
        raise ValueError(
            f"Labels for video {video!r} must index images under {prefix}. Received: {outside[:3]}."
        )
    points = labels_to_array(df, project.bodyparts)
    clean = make_labels_frame(points, df.index, project.scorer, project.bodyparts)
    path = project.labels_file(video)
    write_labels_file(clean, path)
    return path
