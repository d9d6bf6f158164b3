"""HDF5 tables that pandas 2 and pandas 3 both read: the one writer of kit's ``.h5`` files.

DeepLabCut keeps pandas below 3, and pandas 3 no longer stamps the group of a
``format="table"`` frame with ``pandas_version``. pandas 2 reads a table without
that attribute as a pre-0.10.1 file, looks up its columns under legacy names
(``values_0_dtype`` instead of ``values_block_0_dtype``), finds nothing and fails
(``AttributeError: 'NoneType' object has no attribute 'startswith'``). So every
table kit writes gets the attribute every pandas 0.15.2-2.x writes itself
(``"0.15.2"``, the layout version, not the writing library's), which makes the
file byte-for-byte the layout pandas 2 writes; pandas 3 reads it as before.

The table format stays (DeepLabCut writes its analysis files that way, and kit's
partial analyses keep their settings as an attribute of the table). A frame
without rows is written ``fixed``: pandas writes no empty table.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import tables

from kit.project.files import atomic_path

H5_KEY = "df_with_missing"
TABLE_LAYOUT_VERSION = "0.15.2"  # what pandas 0.15.2 ... 2.x write into every table's group


def write_h5(df: pd.DataFrame, path: str | os.PathLike, key: str = H5_KEY,
             attrs: Mapping[str, str] | None = None, table: bool = True) -> Path:
    """Write ``df`` to ``path`` (one key, ``table`` format) atomically, readable by pandas 2
    and 3; ``attrs`` are stored on the table (read them with :func:`read_h5_attrs`).
    ``table=False`` writes pandas' ``fixed`` format (DeepLabCut's for label files, and the
    only one that holds an index of several levels beside columns of several levels)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with pd.HDFStore(tmp, mode="w") as store:
            fixed = df.empty or not table
            store.put(key, df, format="fixed" if fixed else "table", track_times=False)
            storer = store.get_storer(key)
            if not fixed:
                storer.attrs.pandas_version = TABLE_LAYOUT_VERSION
            for name, value in (attrs or {}).items():
                setattr(storer.attrs, name, value)
        _check_written(tmp, key, df, path)
    return path


def _check_written(tmp: Path, key: str, df: pd.DataFrame, path: Path) -> None:
    """Read the new file back before it replaces ``path``: HDF5 reports no error when the
    disk fills up during a write, and would leave a file pandas cannot read."""
    try:
        back = pd.read_hdf(tmp, key=key)
        intact = back.shape == df.shape and np.array_equal(
            back.to_numpy(np.float64), df.to_numpy(np.float64), equal_nan=True)
    except (OSError, ValueError, KeyError, TypeError, tables.HDF5ExtError):
        intact = False
    if not intact:
        full = shutil.disk_usage(tmp.parent).free < max(tmp.stat().st_size, 1 << 20)
        raise OSError(errno.ENOSPC if full else errno.EIO,
                      f"{path} could not be written intact (read back, it differs)", str(path))


def read_h5_attrs(path: str | os.PathLike, key: str = H5_KEY) -> dict[str, object]:
    """The attributes :func:`write_h5` stored with the table (and pandas' own)."""
    with pd.HDFStore(path, mode="r") as store:
        attrs = store.get_storer(key).attrs
        return {name: attrs[name] for name in attrs._v_attrnames}


def _unstamped_tables(h5: tables.File) -> Iterator[tables.Group]:
    for group in h5.walk_groups():
        attrs = group._v_attrs
        if "table_type" in attrs and "pandas_version" not in attrs:
            yield group


def needs_rewrite(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a pandas table that pandas 2 cannot read (written by pandas 3
    without :func:`write_h5`). Files that are not HDF5 raise ``ValueError`` naming them."""
    try:
        with tables.open_file(path, mode="r") as h5:
            return any(True for _ in _unstamped_tables(h5))
    except (OSError, tables.HDF5ExtError) as e:
        raise ValueError(f"{path} cannot be opened as an HDF5 file ({e}). Restore it from "
                         f"its .bak copy if there is one, or delete it and write it again.") from e


def rewrite_h5(path: str | os.PathLike) -> bool:
    """Make ``path`` readable by pandas 2 in place, atomically, the old file kept as
    ``<name>.bak``. Only the missing layout attribute is added: data and other attributes
    are untouched. Returns whether the file changed."""
    path = Path(path)
    if not needs_rewrite(path):
        return False
    with atomic_path(path.with_name(path.name + ".bak")) as tmp:
        shutil.copyfile(path, tmp)
    with atomic_path(path) as tmp:
        _stamped_copy(path, tmp)
    return True


def _stamped_copy(path: Path, copy: Path) -> None:
    shutil.copyfile(path, copy)
    with tables.open_file(copy, mode="a") as h5:
        for group in list(_unstamped_tables(h5)):
            group._v_attrs.pandas_version = TABLE_LAYOUT_VERSION


def read_h5(path: str | os.PathLike, key: str | None = None) -> pd.DataFrame:
    """``pd.read_hdf``, which under pandas 2 also reads the tables pandas 3 wrote without
    the layout version (kit before :func:`write_h5`): kit reads both forms on both pandas."""
    try:
        return pd.read_hdf(path, key=key)
    except AttributeError:  # pandas 2 on an unstamped table: _dtype_to_kind(None)
        if not needs_rewrite(path):
            raise
    with tempfile.TemporaryDirectory(prefix="kit-h5-") as folder:
        copy = Path(folder) / "stamped.h5"
        _stamped_copy(Path(path), copy)
        return pd.read_hdf(copy, key=key)


def rewrite_project_h5(root: str | os.PathLike) -> list[Path]:
    """Rewrite every ``.h5`` under a project folder that pandas 2 cannot read (see
    :func:`rewrite_h5`); return the files changed. Other HDF5 files are left alone."""
    changed = []
    for path in sorted(Path(root).rglob("*.h5")):
        if path.name.startswith(".tmp") or "checkpoints" in path.parts:
            continue
        if rewrite_h5(path):
            changed.append(path)
    return changed
