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
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from kit.project import Project, atomic_write_text
from kit.project.labels import make_labels_frame, read_project_labels_file, save_labels
from kit.project.multianimal import AnimalLayout

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
        """Who holds the lock: process, host, scorer and since when."""
        h = self.holder
        return (
            f"{self.path} is held by process {h.get('pid')} on {h.get('host')} "
            f"(scorer {h.get('scorer')}, since {h.get('time')})"
        )

    def release(self) -> None:
        """Release the lock if this process holds it."""
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

    In a multi-animal project (``project.layout`` set) the table has DeepLabCut's four
    column levels and points have one row per table individual (the animals, then
    ``single``); in a single-animal project there is one row.

    Args:
        project: the project (its scorer names the label file).
        video: the labeled-data folder name.
        images: image paths relative to the project (``labeled-data/<video>/img0042.png``)
            that may get labels; rows of the file for other images are kept as they are.

    Raises:
        ValueError: the label file does not fit the project (see
            :func:`kit.project.labels.read_project_labels_file`); nothing is written.
    """

    def __init__(self, project: Project, video: str, images: Sequence[str]) -> None:
        self.project, self.video = project, video
        self.bodyparts, self.layout = project.bodyparts, project.layout
        self.individuals = self.layout.table_individuals if self.layout else []
        self.path = project.labels_file(video)
        self.warnings: list[str] = []
        self.table = self._read()  # first: a file that does not fit raises before any change
        self._written = set(self.table.index)  # rows the file holds (others are not saved)
        _remove_orphaned_temporary_files(self.path.parent)
        rows = self.layout.has_part() if self.layout else np.ones((1, len(self.bodyparts)), bool)
        self.has_part = rows  # (num_rows, num_bodyparts): which row has which part
        self._slots = np.argwhere(rows)  # (row, part) of each column pair, in table order
        missing = [name for name in images if name not in self.table.index]
        if missing:
            empty = np.full((len(missing), *rows.shape, 2), np.nan)
            self.table = pd.concat([self.table, self._frame(empty, missing)])
        self._signature = _signature(self.path)

    @property
    def num_rows(self) -> int:
        """Rows of :meth:`all_points`: the table individuals, or 1 for one animal."""
        return len(self.has_part)

    def _frame(self, points: np.ndarray, index: Sequence[str]) -> pd.DataFrame:
        """``points`` (num_frames, num_rows, num_bodyparts, 2) as a label table."""
        points = points if self.layout else points[:, 0]
        return make_labels_frame(points, index, self.project.scorer, self.bodyparts, self.layout)

    def _read(self) -> pd.DataFrame:
        """The file's labels, checked, columns in config order, or an empty table."""
        csv = self.path.with_suffix(".csv")
        path = self.path if self.path.is_file() else csv
        if path.is_file():
            return read_project_labels_file(self.project, path)
        shape = (0, len(self.individuals) or 1, len(self.bodyparts), 2)
        return self._frame(np.zeros(shape), [])

    def all_points(self, name: str) -> np.ndarray:
        """(num_rows, num_bodyparts, 2) x then y of one image, NaN = not labeled / not visible
        (and where a row has no such part)."""
        values = self.table.loc[name].to_numpy(np.float64).reshape(-1, 2)
        if not self.layout:
            return values[None].copy()  # pandas' array is read-only
        out = np.full((*self.has_part.shape, 2), np.nan)
        out[self._slots[:, 0], self._slots[:, 1]] = values  # table columns follow the slots
        return out

    def points(self, name: str, individual: int = 0) -> np.ndarray:
        """(num_bodyparts, 2) x then y of one individual (row) of one image, NaN = not placed."""
        return self.all_points(name)[individual]

    def is_labeled(self, name: str, individual: int | None = None) -> bool:
        """True when the image has at least one placed point (of ``individual``, if given)."""
        points = self.all_points(name)
        return bool(np.isfinite(points if individual is None else points[individual]).any())

    def _columns(self, individual: int, part: int) -> list[tuple]:
        if not self.has_part[individual, part]:
            own = [b for b, h in zip(self.bodyparts, self.has_part[individual]) if h]
            raise ValueError(
                f"Individual {self.individuals[individual]!r} has no body part "
                f"{self.bodyparts[part]!r} (unique body parts belong to 'single'). "
                f"Choose one of its parts: {own}.")
        head = (self.project.scorer, self.individuals[individual]) if self.layout else (
            self.project.scorer,)
        return [(*head, self.bodyparts[part], c) for c in ("x", "y")]

    def set_points(self, name: str, changes: Mapping[tuple[int, int], tuple[float, float] | None]
                   ) -> Path:
        """Set several points of image ``name`` at once, one save.

        Args:
            changes: ``{(individual, part): (x, y) or None}``, indices into rows and
                body parts; None = not visible.
        """
        return self.set_images({name: changes})

    def set_images(self, changes: Mapping[str, Mapping[tuple[int, int],
                                                     tuple[float, float] | None]]) -> Path:
        """:meth:`set_points` of several images, one save (so the ``.bak`` is the file
        before all of them)."""
        for name, points in changes.items():
            for (individual, part), xy in points.items():
                values = (np.nan, np.nan) if xy is None else (float(xy[0]), float(xy[1]))
                self.table.loc[name, self._columns(individual, part)] = values
        return self.save(list(changes))

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


def parse_suggestions(df: pd.DataFrame | None, bodyparts: list[str],
                      layout: AnimalLayout | None = None) -> dict[str, np.ndarray]:
    """``{image name: (num_rows, num_bodyparts, 3) x, y, likelihood}`` from a prediction
    table of DeepLabCut's layout (with a ``layout``: four column levels, rows the table
    individuals, NaN where an individual has no such part; else one row)."""
    if df is None:
        return {}
    scorer = df.columns.get_level_values(0)[0]
    coords = ["x", "y", "likelihood"]
    pairs = layout.pairs() if layout else [((), b) for b in bodyparts]
    columns = (layout.columns(scorer, coords) if layout
               else pd.MultiIndex.from_product([[scorer], bodyparts, coords]))
    missing = columns.difference(df.columns) if df.columns.nlevels == columns.nlevels else columns
    if len(missing):
        raise ValueError(
            f"suggestions need x, y, likelihood columns for every body part {bodyparts}"
            f"{' of every individual ' + str(layout.table_individuals) if layout else ''}. "
            f"Missing: {list(missing)[:4]}. Pass a prediction table (DeepLabCut layout).")
    values = df.loc[:, columns].to_numpy(np.float64).reshape(len(df), len(pairs), 3)
    rows = layout.has_part() if layout else np.ones((1, len(bodyparts)), bool)
    out = np.full((len(df), *rows.shape, 3), np.nan)
    slots = np.argwhere(rows)  # in the order of pairs()
    out[:, slots[:, 0], slots[:, 1]] = values
    names = [
        "/".join(map(str, i)) if isinstance(i, tuple) else str(i).replace("\\", "/")
        for i in df.index
    ]
    return dict(zip(names, out))
