"""Venvs of their own, for tools whose dependencies would replace kit's (eks for ensembles;
in the tests, the other pandas major version and aniposelib): built once from the package
index and kept, one builder at a time (two test workers or two notebooks side by side: the
second waits for the first and takes its venv)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; builders side by side are then the user's care
    fcntl = None

READY = "kit-ready.json"  # the requirements a finished build installed


def own_venv(folder: str | os.PathLike, requirements: Sequence[str],
             timeout_s: float = 900.0) -> Path:
    """The Python of a venv at ``folder`` with ``requirements`` (pip from the package index):
    built on first use and kept; built again when the requirements differ or an earlier build
    was cut short. Raises :class:`subprocess.CalledProcessError` (its ``stderr`` says why) or
    :class:`subprocess.TimeoutExpired` when it cannot be built."""
    folder = Path(folder)
    windows = os.name == "nt"
    python = folder / ("Scripts" if windows else "bin") / ("python.exe" if windows else "python")
    ready = folder / READY
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(folder.name + ".lock"), "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (python.exists() and ready.is_file()
                and json.loads(ready.read_text()) == list(requirements)):
            for step in ([sys.executable, "-m", "venv", "--clear", str(folder)],
                         [str(python), "-m", "pip", "install", "-q", *requirements]):
                subprocess.run(step, check=True, capture_output=True, text=True,
                               timeout=timeout_s)
            ready.write_text(json.dumps(list(requirements)))
    return python
