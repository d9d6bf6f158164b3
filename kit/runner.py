"""Run notebooks headless with papermill, one folder per run.

``python -m kit run NOTEBOOK [-p NAME VALUE ...] [-f params.yaml] [--redo]`` executes
the notebook into ``<runs>/<timestamp>-<notebook>/`` (the executed notebook,
``parameters.yaml``, ``log.txt``, and ``done.json`` once it succeeds), where
``<runs>`` is ``<project_dir>/runs`` when the notebook gets a ``project_dir``,
else ``./runs``. A run already completed with the same parameters is skipped
unless ``redo``. The notebook runs in its own folder, as in Jupyter; string
parameters that name an existing path or contain a ``/`` are made absolute
against the folder you run from, so paths mean the same in both places.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kit.project import atomic_write_text


@dataclass(frozen=True)
class RunResult:
    folder: Path
    notebook: Path  # the executed copy
    skipped: bool  # True when an identical completed run was found


class NotebookFailed(RuntimeError):
    """A cell raised; the message names the cell and the error."""


def resolve_parameters(parameters: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """Make path-like string parameters absolute against ``base`` (see module docstring)."""
    out = {}
    for name, value in parameters.items():
        if isinstance(value, str) and value and ("/" in value or (base / value).exists()):
            value = str((base / Path(value).expanduser()).resolve())
        out[name] = value
    return out


def _parameters_key(notebook: Path, parameters: Mapping[str, Any]) -> str:
    text = json.dumps({"notebook": notebook.name, "parameters": parameters}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _completed_run(runs: Path, notebook: Path, key: str) -> Path | None:
    for done in sorted(runs.glob(f"*-{notebook.stem}/done.json")):
        if json.loads(done.read_text()).get("key") == key:
            return done.parent
    return None


def run_notebook(
    notebook: str | os.PathLike,
    parameters: Mapping[str, Any] | None = None,
    runs_dir: str | os.PathLike | None = None,
    redo: bool = False,
    log_to_console: bool = True,
) -> RunResult:
    """Execute ``notebook`` with ``parameters``; return the run folder.

    Raises:
        FileNotFoundError: no such notebook.
        NotebookFailed: a cell raised (its number and error are in the message;
            the executed notebook with the traceback is kept in the run folder).
    """
    import papermill  # local: heavy, and only the runner needs it

    notebook = Path(notebook).resolve()
    if not notebook.is_file():
        raise FileNotFoundError(f"No notebook at {notebook}. Notebooks are in notebooks/.")
    parameters = resolve_parameters(parameters or {}, Path.cwd())
    if runs_dir is None:
        base = Path(parameters["project_dir"]) if "project_dir" in parameters else Path.cwd()
        runs_dir = base / "runs"
    runs = Path(runs_dir).resolve()
    key = _parameters_key(notebook, parameters)
    previous = None if redo else _completed_run(runs, notebook, key)
    if previous is not None:
        return RunResult(previous, previous / notebook.name, skipped=True)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    folder = runs / f"{stamp}-{notebook.stem}"
    folder.mkdir(parents=True)
    atomic_write_text(folder / "parameters.yaml", yaml.safe_dump(parameters, sort_keys=True))
    handler = logging.FileHandler(folder / "log.txt", encoding="utf-8")
    logger = logging.getLogger("papermill")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    if log_to_console and not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    output = folder / notebook.name
    try:
        papermill.execute_notebook(
            str(notebook), str(output), parameters=parameters, cwd=str(notebook.parent),
            kernel_name="python3", log_output=True, progress_bar=False,
        )
    except papermill.PapermillExecutionError as e:
        raise NotebookFailed(
            f"{notebook.name} failed in cell {e.exec_count}: {e.ename}: {e.evalue}\n"
            f"The executed notebook, with the traceback, is {output}."
        ) from None
    finally:
        logger.removeHandler(handler)
        handler.close()
    atomic_write_text(folder / "done.json", json.dumps({"key": key, "notebook": notebook.name}))
    return RunResult(folder, output, skipped=False)
