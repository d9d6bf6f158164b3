"""Writing files so that a crash or a full disk never leaves half a file: :func:`atomic_path`,
:func:`atomic_write_text` and :class:`DiskFullError`. Every writer of kit goes through them.
:func:`link_or_copy` puts a file of another folder into a project without copying it where
the file system allows."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


class DiskFullError(OSError):
    """The disk (or the user's quota) filled up while kit wrote a file.

    An ``OSError`` with ``errno`` ENOSPC or EDQUOT, so ``except OSError`` and
    ``e.errno == errno.ENOSPC`` still match; the message names the file and says that
    the previous version of it is intact and the same command resumes.
    """


_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``.

    A crash at any moment leaves either the old file or the new one, never half
    a file: the data is written to the temporary file, flushed to disk, then
    renamed (an atomic operation on POSIX file systems).

    Raises:
        DiskFullError: the disk or quota filled up while writing (the temporary file
            is removed, ``path`` keeps its previous content).
    """
    path = Path(path)
    tmp = path.with_name(f".tmp{os.getpid()}-{path.name}")  # same ending: writers pick formats by it
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if e.errno not in _DISK_FULL or isinstance(e, DiskFullError):
            raise
        raise DiskFullError(
            e.errno,
            f"No space left on the disk (or over the quota) while writing {path}. "
            f"Its previous version, if any, is intact. Free some space, then run the same "
            f"command again: it resumes from the last complete save. ({e.strerror})",
            str(path),
        ) from e
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def link_or_copy(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Make ``dst`` a symbolic link to ``src`` (its absolute path), or a copy where links
    cannot be made (Windows without the privilege, some network drives); return ``dst``.

    An existing ``dst`` is left alone. The link (or copy) is made under a temporary name and
    renamed, so ``dst`` is never half there; kit's writers replace a linked file rather than
    write through the link (:func:`atomic_path`), so the source is never changed.
    """
    src, dst = Path(src).resolve(), Path(dst)
    if not src.is_file():
        raise FileNotFoundError(f"No file at {src} to link or copy to {dst}. Check the path.")
    if dst.exists() or dst.is_symlink():
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".tmp{os.getpid()}-{dst.name}")
    try:
        # not atomic_path: it opens the file to sync it, and src may be read-only
        tmp.symlink_to(src)
        os.replace(tmp, dst)
    except (OSError, NotImplementedError):
        tmp.unlink(missing_ok=True)
        with atomic_path(dst) as copy:
            shutil.copy2(src, copy)
            copy.chmod(0o644)  # a copy of a read-only file must stay writable for atomic_path
    return dst
