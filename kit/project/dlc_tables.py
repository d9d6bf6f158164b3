"""DeepLabCut's tables on disk: the one reader and writer of their ``.h5`` and ``.csv`` forms.

Label files, analysis files and the 3D room's tables are all this one layout:

- columns: three levels ``(scorer, bodyparts, coords)`` (single animal) or four
  ``(scorer, individuals, bodyparts, coords)`` (multi-animal, DeepLabCut 2.2+), with coords
  per body part such as ``x, y`` (labels), ``x, y, likelihood`` (analyses) or
  ``x, y, z, error, views`` (3D);
- index: frame numbers, or image paths relative to the project either as one string
  (``labeled-data/<video>/img0042.png``) or split into three levels (labeled-data, video,
  image), as DeepLabCut 2.2+ may write label files. Read tables always hold the joined
  string; :func:`write_table` splits it again on request;
- ``.h5``: pandas' HDF5 (key ``df_with_missing``; see :mod:`kit.project.hdf`); ``.csv``:
  one header row per column level, its first cell the level's name, then one or three
  index columns.

The rest of kit asks this module for the header (:func:`csv_layout`), reads
(:func:`read_table`), writes (:func:`write_table`, atomic) and converts between tables and
arrays ``(num_rows, num_individuals, num_bodyparts, num_coords)`` (:func:`make_table`,
:func:`table_points`).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kit.project.files import atomic_path
from kit.project.hdf import H5_KEY, read_h5, write_h5

COLUMN_NAMES = ["scorer", "bodyparts", "coords"]  # single animal
MULTI_COLUMN_NAMES = ["scorer", "individuals", "bodyparts", "coords"]  # multi-animal
SUFFIXES = (".h5", ".csv")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def column_names(nlevels: int) -> list[str]:
    """The level names of a table with ``nlevels`` column levels (3 or 4)."""
    if nlevels not in (3, 4):
        raise ValueError(f"A DeepLabCut table has 3 column levels {COLUMN_NAMES} or 4 "
                         f"{MULTI_COLUMN_NAMES}. Received: {nlevels}.")
    return list(COLUMN_NAMES if nlevels == 3 else MULTI_COLUMN_NAMES)


def is_multi_animal(df: pd.DataFrame) -> bool:
    """Whether ``df`` has the multi-animal layout (an individuals level)."""
    return isinstance(df.columns, pd.MultiIndex) and df.columns.nlevels == 4


@dataclass(frozen=True)
class CsvLayout:
    """The shape of a table's ``.csv``.

    Attributes:
        num_header: header rows, 3 (single animal) or 4 (multi-animal).
        num_index: index columns, 1 (a frame number or image path) or 3 (labeled-data,
            video, image).
        num_rows: data rows (empty lines not counted).
    """

    num_header: int
    num_index: int
    num_rows: int


def csv_layout(path: str | os.PathLike) -> CsvLayout:
    """Read the header of a table's ``.csv``: the first cells of the header rows name the
    levels (``scorer``, [``individuals``,] ``bodyparts``, ``coords``); the index columns are
    the empty cells before the first coordinate name.

    Raises:
        ValueError: the header rows are not named so, or the last row has fewer cells than
            the header (a file cut short, whose missing cells pandas would silently read as
            NaN; a short row inside the file cannot come from a cut, and DeepLabCut's own
            sample files have some: their missing cells are NaN).
    """
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    filled = [(n, row) for n, row in enumerate(rows, 1) if row]
    if filled and len(filled[-1][1]) < len(rows[0]):
        raise ValueError(f"line(s) [{filled[-1][0]}] have fewer cells than the header")
    names = [row[0] if row else "" for row in rows[:4]]
    num_header = 4 if names[1:2] == ["individuals"] else 3
    if names[:num_header] != column_names(num_header):
        raise ValueError(f"{path} has no DeepLabCut table header: its rows start {names}; "
                         f"expected {COLUMN_NAMES} or {MULTI_COLUMN_NAMES}.")
    coords = rows[num_header - 1]
    num_index = 1 + next((i for i, cell in enumerate(coords[1:]) if cell), 0)
    return CsvLayout(num_header, num_index, sum(1 for row in rows[num_header:] if row))


def join_index(index: pd.Index) -> pd.Index:
    """A split index (labeled-data, video, image) joined with "/" (Windows' "\\" too); other
    indexes as they are."""
    if isinstance(index, pd.MultiIndex):
        return pd.Index(["/".join(map(str, parts)) for parts in index])
    if index.dtype == object or pd.api.types.is_string_dtype(index.dtype):
        return pd.Index([str(i).replace("\\", "/") for i in index])
    return index


def split_index(index: pd.Index) -> pd.MultiIndex:
    """Image paths ``labeled-data/<video>/<image>`` as DeepLabCut 2.2+'s three index levels."""
    parts = [tuple(str(i).split("/")) for i in index]
    if any(len(p) != 3 for p in parts):
        bad = [i for i, p in zip(index, parts) if len(p) != 3][:3]
        raise ValueError(f"A split index needs paths labeled-data/<video>/<image>. Received: {bad}.")
    return pd.MultiIndex.from_tuples(parts)


def _lost_first_row(df: pd.DataFrame, layout: CsvLayout) -> bool:
    """Whether pandas took a first data row without any value (all NaN) for the index
    names: one row fewer than the file has, and the "names" are an image path or a frame."""
    name = str(df.index.names[-1])
    return layout.num_rows == len(df) + 1 and (name.lower().endswith(IMAGE_SUFFIXES) or (
        layout.num_index == 1 and name.isdigit()))


def _first_row_back(df: pd.DataFrame, num_index: int) -> pd.DataFrame:
    """Put back the first data row pandas took for the index names (see
    :func:`_lost_first_row`), all NaN."""
    names = list(df.index.names)
    if num_index == 1:
        value = names[0]
        if pd.api.types.is_integer_dtype(df.index.dtype) and str(value).isdigit():
            value = int(value)
        first_index = pd.Index([value])
    else:
        first_index = pd.MultiIndex.from_tuples([tuple(names)])
    first = pd.DataFrame(np.nan, index=first_index, columns=df.columns)
    return pd.concat([first, df.rename_axis([None] * num_index)])


def read_csv_table(path: str | os.PathLike) -> pd.DataFrame:
    """A table's ``.csv`` (either column layout, either index layout), values exact
    (``float_precision="round_trip"``), the index joined (:func:`join_index`), the column
    levels named. Cells that are not numbers stay as read (check them with ``astype``)."""
    layout = csv_layout(path)
    df = pd.read_csv(path, header=list(range(layout.num_header)),
                     index_col=list(range(layout.num_index)), float_precision="round_trip")
    if _lost_first_row(df, layout):
        df = _first_row_back(df, layout.num_index)
    df.index = join_index(df.index)
    df.columns = df.columns.set_names(column_names(layout.num_header))
    return df


def read_table(path: str | os.PathLike, key: str | None = H5_KEY) -> pd.DataFrame:
    """A table from ``.h5`` (``key``; None: the file's only key) or ``.csv``, the index joined
    (:func:`join_index`) and, with 3 or 4 column levels, the levels named. Whatever the
    ``.h5`` holds is returned (callers check it is a pose table)."""
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ValueError(f"DeepLabCut tables are .h5 or .csv. Received: {path}.")
    if path.suffix == ".csv":
        return read_csv_table(path)
    df = read_h5(path, key=key)
    if isinstance(df, pd.DataFrame | pd.Series):
        df.index = join_index(df.index)
    if isinstance(df, pd.DataFrame) and isinstance(df.columns, pd.MultiIndex) and \
            df.columns.nlevels in (3, 4):
        df.columns = df.columns.set_names(column_names(df.columns.nlevels))
    return df


def has_split_index(path: str | os.PathLike) -> bool:
    """Whether the table at ``path`` stores its index as three levels (labeled-data, video,
    image); False if there is no file."""
    path = Path(path)
    if not path.is_file():
        return False
    if path.suffix == ".csv":
        return csv_layout(path).num_index == 3
    return isinstance(read_h5(path).index, pd.MultiIndex)


def write_table(df: pd.DataFrame, path: str | os.PathLike, split: bool = False,
                attrs: Mapping[str, str] | None = None) -> Path:
    """Write ``df`` atomically as ``.h5`` or ``.csv`` (by the suffix), as DeepLabCut lays them.

    Args:
        split: write the index (image paths) as three levels (labeled-data, video, image);
            an ``.h5`` is then pandas' ``fixed`` format (DeepLabCut's for label files), else
            ``table`` (its analyses).
        attrs: stored on an ``.h5``'s table (see :func:`kit.project.hdf.read_h5_attrs`).
    """
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ValueError(f"DeepLabCut tables are .h5 or .csv. Received: {path}.")
    if split:
        df = df.set_axis(split_index(df.index))
    if path.suffix == ".h5":
        return write_h5(df, path, attrs=attrs, table=not split)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        df.to_csv(tmp)
    return path


def make_table(points: np.ndarray, index: Sequence, scorer: str, bodyparts: Sequence[str],
               individuals: Sequence[str] | None, coords: Sequence[str]) -> pd.DataFrame:
    """A table from an array (the inverse of :func:`table_points`).

    Args:
        points: (num_rows, num_individuals, num_bodyparts, len(coords)).
        index: one entry per row (frame numbers or image paths).
        individuals: None for the single-animal layout (num_individuals must be 1), else
            the num_individuals names (multi-animal layout).
    """
    points = np.asarray(points, np.float64)
    num_individuals = 1 if individuals is None else len(individuals)
    expected = (num_individuals, len(bodyparts), len(coords))
    if points.ndim != 4 or points.shape[1:] != expected:
        raise ValueError(
            f"points must have shape (num_rows, num_individuals, num_bodyparts, {len(coords)}) "
            f"= (N, {', '.join(map(str, expected))}) for individuals={individuals!r} and "
            f"{len(bodyparts)} body parts. Received: {points.shape}. A single-animal array "
            f"(N, num_bodyparts, {len(coords)}) needs its individuals axis: points[:, None]."
        )
    levels = [[scorer], *([] if individuals is None else [list(individuals)]), list(bodyparts),
              list(coords)]
    columns = pd.MultiIndex.from_product(levels, names=column_names(len(levels)))
    values = points.reshape(len(points), -1) if len(points) else np.zeros((0, len(columns)))
    return pd.DataFrame(values, index=pd.Index(list(index)), columns=columns)


def table_individuals(df: pd.DataFrame) -> list[str] | None:
    """The individuals of a table, in column order; None for the single-animal layout."""
    if df.columns.nlevels == 3:
        return None
    return list(dict.fromkeys(df.columns.get_level_values(1)))


def table_bodyparts(df: pd.DataFrame) -> list[str]:
    """The body parts of a table (every individual's), in column order."""
    return list(dict.fromkeys(df.columns.get_level_values(-2)))


def table_coords(df: pd.DataFrame, choices: Sequence[Sequence[str]], source: object,
                 extra_after: Sequence[str] = ()) -> tuple[str, ...]:
    """The coords per body part of a pose table, the first of ``choices`` it repeats; raises
    naming ``source`` if none, or if it has several scorers. A table whose coords per body
    part begin with ``extra_after`` (one of ``choices``) and go on (an ensemble's variances
    after x, y, likelihood: :mod:`kit.results.ensemble`) gives ``extra_after``."""
    nlevels = df.columns.nlevels if isinstance(df.columns, pd.MultiIndex) else 1
    coords = list(df.columns.get_level_values(-1)) if nlevels > 1 else []
    found = list(dict.fromkeys(coords))
    for per_part in choices:
        extra = list(per_part) == list(extra_after) == found[:len(per_part)]
        repeated = found if extra else per_part
        if nlevels in (3, 4) and coords and coords == list(repeated) * (len(coords)
                                                                       // len(repeated)):
            if df.columns.get_level_values(0).nunique() != 1:
                raise ValueError(f"{source} mixes several scorers in one table; keep one.")
            return tuple(per_part)
    raise ValueError(
        f"{source} is not a pose table: columns must be {COLUMN_NAMES} or "
        f"{MULTI_COLUMN_NAMES}, with coords {' or '.join(', '.join(c) for c in choices)} per "
        f"body part. Received {nlevels} column level(s), coords: {coords[:6]}..."
    )


def table_points(df: pd.DataFrame, coords: Sequence[str], bodyparts: Sequence[str] | None = None,
                 source: object = "the table"
                 ) -> tuple[np.ndarray, list[str], list[str] | None]:
    """A pose table's values as an array (either column layout).

    Args:
        coords: the table's coords per body part (see :func:`table_coords`).
        bodyparts: the body parts to take, in this order (default: the table's); one the
            table lacks raises.
        source: names the table in errors (e.g. its path).

    Returns:
        ``(points, bodyparts, individuals)``: points (num_rows, num_individuals,
        num_bodyparts, len(coords)) float64, NaN where missing (an individual without that
        body part too); ``individuals`` None for the single-animal layout (one individual).
    """
    found = table_bodyparts(df)
    bodyparts = found if bodyparts is None else list(bodyparts)
    unknown = [b for b in bodyparts if b not in found]
    if unknown:
        raise ValueError(f"{source} has no body parts {unknown}; it has {found}.")
    scorer = df.columns.get_level_values(0)[0]
    individuals = table_individuals(df)
    levels = [[scorer], *([individuals] if individuals else []), bodyparts, list(coords)]
    values = df.reindex(columns=pd.MultiIndex.from_product(levels)).to_numpy(np.float64)
    shape = (len(df), len(individuals or [None]), len(bodyparts), len(coords))
    return values.reshape(shape), bodyparts, individuals
