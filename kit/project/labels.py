"""Label files: ``labeled-data/<video>/CollectedData_<scorer>.h5`` (+ ``.csv``).

A label table is the pandas DataFrame DeepLabCut uses: columns are a MultiIndex
``(scorer, bodyparts, coords)`` with coords ``x`` and ``y`` (image pixels, x to
the right, y down, sub-pixel values kept, NaN = not visible); the index holds
image paths relative to the project (``labeled-data/<video>/img0042.png``).
A multi-animal project's table has four levels ``(scorer, individuals, bodyparts,
coords)`` (see :mod:`kit.project.multianimal`); DeepLabCut 2.2+ may split the index into
three columns (labeled-data, video, image), which kit joins with "/" and writes back the
way the file had it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tables.exceptions import HDF5ExtError

from kit.project import Project, atomic_path
from kit.project.dlc_tables import (
    COLUMN_NAMES,
    column_names,
    has_split_index,
    join_index,
    read_table,
    write_table,
)
from kit.project.multianimal import AnimalLayout


def make_labels_frame(
    points: np.ndarray, index: Sequence[str], scorer: str, bodyparts: Sequence[str],
    layout: AnimalLayout | None = None,
) -> pd.DataFrame:
    """Build a label table.

    Args:
        points: (num_frames, num_bodyparts, 2), x then y, image pixels, NaN = missing;
            with a ``layout``, (num_frames, num_table_individuals, num_bodyparts, 2)
            (individuals as ``layout.table_individuals``, body parts as ``layout.bodyparts``).
        index: image paths relative to the project, one per frame.
        scorer: the labeler's name (first column level).
        bodyparts: names, in the order of ``points``' body part axis.
        layout: a multi-animal project's layout (4-level columns); None for one animal.
    """
    points = np.asarray(points, dtype=np.float64)
    if layout is not None:
        return _multi_frame(points, index, scorer, layout)
    if points.ndim != 3 or points.shape[1:] != (len(bodyparts), 2):
        raise ValueError(
            f"points must have shape (num_frames, {len(bodyparts)}, 2). Received: {points.shape}."
        )
    columns = pd.MultiIndex.from_product([[scorer], list(bodyparts), ["x", "y"]], names=COLUMN_NAMES)
    values = points.reshape(len(points), 2 * len(bodyparts))  # -1 cannot be inferred for 0 frames
    return pd.DataFrame(values, index=pd.Index(list(index)), columns=columns)


def _multi_frame(points: np.ndarray, index: Sequence[str], scorer: str,
                 layout: AnimalLayout) -> pd.DataFrame:
    rows, parts = layout.table_individuals, layout.bodyparts
    if points.ndim != 4 or points.shape[1:] != (len(rows), len(parts), 2):
        raise ValueError(f"points must have shape (num_frames, {len(rows)}, {len(parts)}, 2) "
                         f"(individuals {rows}, body parts {parts}). Received: {points.shape}.")
    picked = [points[:, rows.index(i), parts.index(b)] for i, b in layout.pairs()]
    # not -1: it cannot be inferred for 0 frames (an empty table: a project not labeled yet)
    values = np.stack(picked, axis=1).reshape(len(points), 2 * len(picked))
    return pd.DataFrame(values, index=pd.Index(list(index)), columns=layout.columns(scorer))


def labels_to_array(df: pd.DataFrame, bodyparts: Sequence[str],
                    layout: AnimalLayout | None = None) -> np.ndarray:
    """(num_frames, num_bodyparts, 2) float64 points, x then y, NaN = missing; with a
    ``layout``, (num_frames, num_table_individuals, num_bodyparts, 2), NaN where an
    individual is not labeled or has no such body part."""
    scorer = df.columns.get_level_values("scorer")[0]
    if layout is None:
        if df.columns.nlevels == 4:
            raise ValueError("A multi-animal label table (individuals level) needs the "
                             "project's layout: labels_to_array(df, bodyparts, project.layout).")
        cols = pd.MultiIndex.from_product([[scorer], list(bodyparts), ["x", "y"]])
        return df.loc[:, cols].to_numpy(dtype=np.float64).reshape(len(df), len(bodyparts), 2)
    rows, parts = layout.table_individuals, layout.bodyparts
    out = np.full((len(df), len(rows), len(parts), 2), np.nan)
    for individual, part in layout.pairs():
        xy = [(scorer, individual, part, c) for c in ("x", "y")]
        if xy[0] in df.columns:
            out[:, rows.index(individual), parts.index(part)] = df.loc[:, xy].to_numpy(np.float64)
    return out


def _normalize(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    fix = (
        "A label file needs three header rows (scorer, bodyparts, coords), or four in a "
        "multi-animal project (scorer, individuals, bodyparts, coords), with coords x and y; "
        "see data-templates/CollectedData_template.csv."
    )
    if not isinstance(df.columns, pd.MultiIndex) or df.columns.nlevels not in (3, 4):
        raise ValueError(f"{path} has a wrong header: {df.columns.nlevels} column level(s). {fix}")
    df = df.copy()
    df.columns = df.columns.set_names(column_names(df.columns.nlevels))
    coords = set(df.columns.get_level_values("coords"))
    if not coords <= {"x", "y", "likelihood"} or not {"x", "y"} <= coords:
        raise ValueError(f"{path} has a wrong header: coords {sorted(coords)}. {fix}")
    if df.columns.get_level_values("scorer").nunique() != 1:
        raise ValueError(f"{path} mixes several scorers in one file. {fix}")
    df = df.loc[:, df.columns.get_level_values("coords") != "likelihood"]
    df.index = pd.Index([str(i) for i in join_index(df.index)])
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


def read_labels_file(path: str | os.PathLike) -> pd.DataFrame:
    """Read one CollectedData file (``.h5`` or ``.csv``), checked and normalized."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No label file at {path}.")
    try:
        df = read_table(path, key=None)
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


def _check_against_project(df: pd.DataFrame, project: Project, path: Path) -> None:
    """Raise, naming ``path`` and the fix, when ``df``'s layout is not the project's."""
    layout, multi = project.layout, df.columns.nlevels == 4
    if multi != (layout is not None):
        kind = "a multi-animal" if multi else "a single-animal"
        raise ValueError(
            f"{path} is {kind} label file, but {project.config_path} is "
            f"{'single' if multi else 'multi'}-animal (multianimalproject: "
            f"{layout is not None}). Open it in a project of its kind, or convert the labels.")
    if layout is not None:
        found = set(zip(df.columns.get_level_values("individuals"),
                        df.columns.get_level_values("bodyparts")))
        extra = sorted(found - set(layout.pairs()))
        if extra:
            individuals = sorted({i for i, _ in extra} - set(layout.table_individuals))
            parts = sorted({b for _, b in extra} - set(layout.bodyparts))
            raise ValueError(
                f"{path}: (individual, body part) pairs {extra[:6]} are not in "
                f"{project.config_path} (individuals not in the config: {individuals}; body "
                f"parts not in the config: {parts}; the config has individuals "
                f"{list(layout.individuals)}, multianimalbodyparts "
                f"{list(layout.multianimal_bodyparts)}, uniquebodyparts "
                f"{list(layout.unique_bodyparts)}). Add them to the config, or relabel.")
        return
    found = list(dict.fromkeys(df.columns.get_level_values("bodyparts")))
    if set(found) != set(project.bodyparts):
        missing = [b for b in project.bodyparts if b not in found]
        extra = [b for b in found if b not in project.bodyparts]
        raise ValueError(
            f"{path}: its body parts differ from {project.config_path}. "
            f"Missing in the file: {missing}; not in the config: {extra}. "
            "Make the config's bodyparts list match the labels (or relabel)."
        )


def _in_project_layout(df: pd.DataFrame, project: Project) -> pd.DataFrame:
    """``df`` with the project's scorer and every column of its layout, in config order."""
    points = labels_to_array(df, project.bodyparts, project.layout)
    return make_labels_frame(points, df.index, project.scorer, project.bodyparts, project.layout)


def read_project_labels_file(project: Project, path: str | os.PathLike) -> pd.DataFrame:
    """Read one CollectedData file of ``project``, checked against its config (layout,
    individuals, body parts; raises naming the file and the fix), with the project's
    scorer and every column of its layout in config order (unlabeled individuals NaN)."""
    path = Path(path)
    df = read_labels_file(path)
    _check_against_project(df, project, path)
    return _in_project_layout(df, project)


def load_labels(project: Project, videos: Sequence[str] | None = None) -> pd.DataFrame:
    """All labels of a project (or of some videos), columns ordered as config bodyparts
    (in a multi-animal project: every individual's, 4 levels; unlabeled animals are NaN).

    Reads the ``.h5`` of each labeled-data folder, or its ``.csv`` when there is
    no ``.h5``. Folders without a label file are skipped. Body parts must match
    the config exactly (in a multi-animal project: be among its individuals' parts).
    """
    frames = []
    for video in project.labeled_videos() if videos is None else videos:
        h5, csv = project.labels_file(video, ".h5"), project.labels_file(video, ".csv")
        path = h5 if h5.is_file() else csv
        if not path.is_file():
            continue
        frames.append(read_project_labels_file(project, path))
    if not frames:
        shape = (0, len(project.bodyparts), 2) if project.layout is None else (
            0, len(project.layout.table_individuals), len(project.bodyparts), 2)
        return make_labels_frame(np.zeros(shape), [], project.scorer, project.bodyparts,
                                 project.layout)
    return pd.concat(frames)


def split_index_of(h5_path: str | os.PathLike) -> bool:
    """Whether the label file at ``h5_path`` (or its ``.csv``) stores its index as three
    columns (labeled-data, video, image), as DeepLabCut 2.2+ may; False if there is none."""
    h5_path = Path(h5_path)
    csv_path = h5_path.with_suffix(".csv")
    return has_split_index(csv_path if csv_path.is_file() else h5_path)


def write_labels_file(df: pd.DataFrame, h5_path: str | os.PathLike,
                      split_index: bool = False) -> None:
    """Write ``df`` to ``h5_path`` and the ``.csv`` beside it, atomically.

    The previous versions are kept as ``<name>.bak``, so a mistake can be undone.
    ``split_index`` writes the index as three columns (labeled-data, video, image).
    """
    h5_path = Path(h5_path)
    h5_path.parent.mkdir(parents=True, exist_ok=True)
    for path in (h5_path, h5_path.with_suffix(".csv")):
        if path.exists():
            with atomic_path(path.with_name(path.name + ".bak")) as tmp:
                shutil.copyfile(path, tmp)
        write_table(df, path, split=split_index)


def save_labels(project: Project, video: str, df: pd.DataFrame) -> Path:
    """Save the labels of one video to its CollectedData files; return the ``.h5`` path.

    ``df`` is checked first: columns must be the config's body parts (and individuals)
    with the project's scorer, and every index entry must point into
    ``labeled-data/<video>/``. The index keeps the form the file on disk has.
    """
    path = project.labels_file(video)
    df = _normalize(df, path)
    _check_against_project(df, project, path)
    prefix = f"labeled-data/{video}/"
    outside = [i for i in df.index if not i.startswith(prefix)]
    if outside:
        raise ValueError(
            f"Labels for video {video!r} must index images under {prefix}. Received: {outside[:3]}."
        )
    write_labels_file(_in_project_layout(df, project), path, split_index_of(path))
    return path
