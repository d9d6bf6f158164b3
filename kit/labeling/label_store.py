"""The labels of one video while it is being labeled: load, edit, save at once, lock.

:class:`LabelStore` holds the label table of ``labeled-data/<video>/`` and
writes it with :func:`kit.project.labels.save_labels` (atomic, previous version kept as
``.bak``) after every change, so killing the kernel loses at most the change in
flight. Before each save it compares the file on disk with what it last read or
wrote; if someone else changed it meanwhile, their rows are merged in (only the
frame being edited is taken from memory) and a warning says so.

:class:`LabelLock` is a lock file, ``labeled-data/<video>/.labeler.lock``
(JSON: pid, host, time, scorer), so two kernels do not label the same video at
once. A lock whose process is dead (same host) is stale and taken over; one
held by this same process (a re-run notebook cell) is taken over too.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import socket
import sys
import uuid
import warnings
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from kit.project import Project, atomic_write_text
from kit.project.labels import labels_to_array, make_labels_frame, read_labels_file, save_labels

LOCK_NAME = ".labeler.lock"
ON_LOCKED = ("read-only", "raise")
_HELD: dict[Path, weakref.ref] = {}  # lock path -> the LabelLock of this process holding it


class LabelsLockedError(RuntimeError):
    """Another live process is labeling this video."""


def _pid_alive_posix(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: checks only
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _pid_alive_windows(pid: int) -> bool:
    # Not os.kill(pid, 0): on Windows signal 0 is CTRL_C_EVENT, which interrupts the process.
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.get_last_error() == 5  # ERROR_ACCESS_DENIED: exists, someone else's
    try:
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs, without sending it anything."""
    return (_pid_alive_windows if sys.platform == "win32" else _pid_alive_posix)(pid)


def _remove_if_ours(path: Path, token: str) -> None:
    try:
        if json.loads(path.read_text()).get("token") == token:
            path.unlink()
    except (OSError, ValueError):
        pass  # gone already, or replaced by another labeler: not ours to remove


class LabelLock:
    """A lock file in a labeled-data folder. ``acquired`` tells whether this process holds it.

    Released by :meth:`release`, when the object is garbage collected, or at exit.
    """

    def __init__(self, folder: Path, scorer: str) -> None:
        self.path = Path(folder) / LOCK_NAME
        self.token = uuid.uuid4().hex
        self.holder: dict = {}  # the other process's lock record when not acquired
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "scorer": scorer,
            "time": _dt.datetime.now().isoformat(timespec="seconds"),
            "token": self.token,
        }
        self.acquired = self._try_acquire(record)
        if self.acquired:
            previous = _HELD.get(self.path)
            if previous is not None and previous() is not None:
                previous().acquired = False  # an older labeler of this kernel turns read-only
            _HELD[self.path] = weakref.ref(self)
            self._finalizer = weakref.finalize(self, _remove_if_ours, self.path, self.token)

    def _try_acquire(self, record: dict) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(record)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = json.loads(self.path.read_text())
            except (OSError, ValueError):
                holder = {}  # unreadable: a crash while writing it; treat as stale
            if self._is_live(holder):
                self.holder = holder
                return False
            atomic_write_text(self.path, text)
            return json.loads(self.path.read_text()).get("token") == self.token
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return True

    @staticmethod
    def _is_live(holder: dict) -> bool:
        pid = holder.get("pid")
        if not isinstance(pid, int) or pid == os.getpid():
            return False
        if holder.get("host") != socket.gethostname():
            return True  # cannot check a process on another machine: assume it is alive
        return _pid_alive(pid)

    def describe_holder(self) -> str:
        h = self.holder
        return (
            f"{self.path} is held by process {h.get('pid')} on {h.get('host')} "
            f"(scorer {h.get('scorer')}, since {h.get('time')})"
        )

    def release(self) -> None:
        if self.acquired:
            self._finalizer()
            self.acquired = False


def _remove_orphaned_temporary_files(folder: Path) -> None:
    """Delete ``.tmp<pid>-CollectedData_*`` files (see kit.project.atomic_path) of dead writers."""
    for path in folder.glob(".tmp*-CollectedData_*"):
        pid = path.name[4:].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            path.unlink(missing_ok=True)


def _signature(path: Path) -> tuple | None:
    if not path.is_file():
        return None
    return path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest()


class LabelStore:
    """The label table of one video, saved to disk after every change.

    Args:
        project: the project (its scorer names the label file).
        video: the labeled-data folder name.
        images: image paths relative to the project (``labeled-data/<video>/img0042.png``)
            that may get labels; rows of the file for other images are kept as they are.
    """

    def __init__(self, project: Project, video: str, images: Sequence[str]) -> None:
        self.project, self.video = project, video
        self.bodyparts = project.bodyparts
        self.path = project.labels_file(video)
        self.warnings: list[str] = []
        _remove_orphaned_temporary_files(self.path.parent)
        self.table = self._read()
        missing = [name for name in images if name not in self.table.index]
        if missing:
            empty = np.full((len(missing), len(self.bodyparts), 2), np.nan)
            self.table = pd.concat([self.table, self._frame(empty, missing)])
        self._written = set(self._read().index)  # rows the file holds (others are not saved)
        self._signature = _signature(self.path)

    def _frame(self, points: np.ndarray, index: Sequence[str]) -> pd.DataFrame:
        return make_labels_frame(points, index, self.project.scorer, self.bodyparts)

    def _read(self) -> pd.DataFrame:
        """The file's labels, columns in config order, or an empty table if there is no file."""
        csv = self.path.with_suffix(".csv")
        path = self.path if self.path.is_file() else csv
        if not path.is_file():
            return self._frame(np.zeros((0, len(self.bodyparts), 2)), [])
        df = read_labels_file(path)
        return self._frame(labels_to_array(df, self.bodyparts), df.index)

    def points(self, name: str) -> np.ndarray:
        """(num_bodyparts, 2) x then y of one image, NaN = not labeled / not visible."""
        return self.table.loc[name].to_numpy(np.float64).reshape(len(self.bodyparts), 2)

    def is_labeled(self, name: str) -> bool:
        """True when the image has at least one placed point."""
        return bool(np.isfinite(self.points(name)).any())

    def set_point(self, name: str, part: int, xy: tuple[float, float] | None) -> Path:
        """Place body part ``part`` of image ``name`` at ``xy`` (None = not visible); save."""
        values = (np.nan, np.nan) if xy is None else (float(xy[0]), float(xy[1]))
        columns = [(self.project.scorer, self.bodyparts[part], c) for c in ("x", "y")]
        self.table.loc[name, columns] = values
        return self.save([name])

    def save(self, edited: Sequence[str]) -> Path:
        """Write the table, rows ``edited`` from memory, every other row as on disk.

        If the file changed since this store last read or wrote it, the other
        rows are taken from disk (merged) and a warning is given.
        """
        if _signature(self.path) != self._signature:
            self._merge_from_disk(edited)
        keep = self._written | set(edited)
        out = self.table.loc[[i for i in self.table.index if i in keep]].sort_index()
        path = save_labels(self.project, self.video, out)
        self._written = set(out.index)
        self._signature = _signature(self.path)
        return path

    def _merge_from_disk(self, edited: Sequence[str]) -> None:
        disk = self._read()
        message = (
            f"{self.path} was changed by someone else since it was loaded; merged: rows "
            f"of other frames are taken from disk, only {list(edited)} from this labeler."
        )
        warnings.warn(message, stacklevel=3)
        self.warnings.append(message)
        others = disk.drop(index=[i for i in edited if i in disk.index])
        common = others.index.intersection(self.table.index)
        self.table.loc[common] = others.loc[common, self.table.columns].to_numpy()
        new_rows = others.index.difference(self.table.index)
        self.table = pd.concat([self.table, others.loc[new_rows]])
        self._written |= set(disk.index)


def with_scorer(project: Project, scorer: str) -> Project:
    """The project labeled by ``scorer`` (its label files are ``CollectedData_<scorer>``)."""
    if not scorer or scorer == project.scorer:
        return project
    return dataclasses.replace(project, config={**project.config, "scorer": scorer})


def frame_images(project: Project, video: str) -> list[str]:
    """PNG images of ``labeled-data/<video>/``, as label-index names, sorted."""
    folder = project.labeled_data_dir(video)
    names = sorted(p.name for p in folder.glob("*.png") if not p.name.startswith("."))
    return [f"labeled-data/{video}/{name}" for name in names]


def first_video(project: Project) -> str:
    """The first labeled-data folder holding frames (``<video>_labeled`` drawings excluded)."""
    for video in project.labeled_videos():
        if not video.endswith("_labeled") and frame_images(project, video):
            return video
    raise ValueError(
        f"No extracted frames under {project.labeled_data_root}. Extract some first "
        "(notebooks/01_create_project.ipynb or kit.extract.extract_for_labeling)."
    )


def parse_suggestions(df: pd.DataFrame | None, bodyparts: list[str]) -> dict[str, np.ndarray]:
    """``{image name: (num_bodyparts, 3) x, y, likelihood}`` from a DeepLabCut prediction table."""
    if df is None:
        return {}
    scorer = df.columns.get_level_values(0)[0]
    columns = pd.MultiIndex.from_product([[scorer], bodyparts, ["x", "y", "likelihood"]])
    missing = columns.difference(df.columns)
    if len(missing):
        raise ValueError(
            f"suggestions need x, y, likelihood columns for every body part {bodyparts}. "
            f"Missing: {list(missing)[:4]}. Pass a prediction table (DeepLabCut layout)."
        )
    values = df.loc[:, columns].to_numpy(np.float64).reshape(len(df), len(bodyparts), 3)
    names = [
        "/".join(map(str, i)) if isinstance(i, tuple) else str(i).replace("\\", "/")
        for i in df.index
    ]
    return dict(zip(names, values))
