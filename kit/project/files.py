"""Writing files so that a crash or a full disk never leaves half a file: :func:`atomic_path`,
:func:`atomic_write_text` and :class:`DiskFullError`. Every writer of kit goes through them."""

from __future__ import annotations

import contextlib
import errno
import os
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
