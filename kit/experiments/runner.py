"""Run notebooks headless with papermill, one folder per run.

``python -m kit run NOTEBOOK [-p NAME VALUE ...] [-f params.yaml] [--redo]`` executes
the notebook into ``<runs>/<timestamp>-<notebook>/`` (the executed notebook,
``parameters.yaml``, ``log.txt``, and ``done.json`` once it succeeds), where
``<runs>`` is ``<project_dir>/runs`` when the notebook gets a ``project_dir``,
else ``./runs``. A run already completed with the same parameters is skipped
unless ``redo``. The notebook runs in its own folder, as in Jupyter; string
parameters that name an existing path or contain a ``/`` (or ``\\`` on Windows) are
made absolute against the folder you run from, so paths mean the same in both places.
The kernel gets TensorFlow's oneDNN kernels on unless ``TF_ENABLE_ONEDNN_OPTS`` is set
(see :func:`kit.onednn_environment`).

``python -m kit pipeline FILE [--redo]`` runs the notebooks of a pipeline file one
after the other (see :func:`load_pipeline`), stopping at the first that fails.
"""

from __future__ import annotations

import ast
import contextlib
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

from kit import onednn_environment
from kit.project import atomic_write_text

_SEPARATORS = tuple({"/", os.sep})  # "/" is a separator on Windows too

# The repository's notebooks/ folder: kit is used from a checkout (pip install -e .),
# whose notebooks are the stages and experiments the runner executes.
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def notebook_path(name: str) -> Path:
    """The repository's notebook ``name`` ("03_train" or "03_train.ipynb")."""
    path = NOTEBOOKS / (name if name.endswith(".ipynb") else name + ".ipynb")
    if not path.is_file():
        raise FileNotFoundError(
            f"No notebook {name!r} in {NOTEBOOKS}. Received: name={name!r}. Notebooks: "
            f"{sorted(p.stem for p in NOTEBOOKS.glob('*.ipynb'))}."
        )
    return path


@dataclass(frozen=True)
class RunResult:
    """A notebook run: its folder, the executed notebook, and whether it was skipped."""
    folder: Path
    notebook: Path  # the executed copy
    skipped: bool  # True when an identical completed run was found


class NotebookFailed(RuntimeError):
    """A cell raised; the message names the cell and the error."""


def resolve_parameters(parameters: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """Make path-like string parameters absolute against ``base`` (see module docstring)."""
    out = {}
    for name, value in parameters.items():
        if isinstance(value, str) and value and (
                any(sep in value for sep in _SEPARATORS) or (base / value).exists()):
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


@contextlib.contextmanager
def environment(changes: Mapping[str, str]):
    """Set environment variables for the kernels started inside (they inherit this
    process's); restore them after."""
    saved = {k: os.environ.get(k) for k in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


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
    output = _execute(notebook, folder, parameters, log_to_console)
    atomic_write_text(folder / "done.json", json.dumps({"key": key, "notebook": notebook.name}))
    return RunResult(folder, output, skipped=False)


def _execute(notebook: Path, folder: Path, parameters: Mapping[str, Any],
             log_to_console: bool) -> Path:
    """Run ``notebook`` into ``folder`` with papermill, logging to ``folder/log.txt``."""
    import papermill  # local: heavy, and only the runner needs it

    handler = logging.FileHandler(folder / "log.txt", encoding="utf-8")
    logger = logging.getLogger("papermill")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    if log_to_console and not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    output = folder / notebook.name
    try:
        with environment(onednn_environment()):
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
    return output


def notebook_parameters(notebook: str | os.PathLike) -> list[str]:
    """Names assigned in the notebook's ``parameters`` cell, in order."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    cell = next((c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        return []
    names = []
    for node in ast.parse("".join(cell["source"])).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


@dataclass(frozen=True)
class Step:
    """One notebook of a pipeline and the parameters it gets (paths already absolute)."""

    notebook: Path
    parameters: dict[str, Any]


def load_pipeline(path: str | os.PathLike, overrides: Mapping[str, Any] | None = None) -> list[Step]:
    """Read a pipeline file: shared ``parameters`` and a list of ``steps``.

    The file (YAML)::

        parameters:            # given to every step whose notebook declares them
          project_dir: ../runs/synthetic/project
          shuffle: 1
        steps:
          - notebook: ../notebooks/03_train.ipynb
            parameters: {train_steps: 240}   # this step only; override shared ones
          - notebook: ../notebooks/04_evaluate.ipynb

    Notebook paths and path-like string parameters are relative to the file's folder.
    A step parameter its notebook does not declare is an error (a typo would
    otherwise be injected and ignored); shared ones go only where declared.
    ``overrides`` (e.g. one entry of a sweep, see :func:`kit.experiments.sweep.load_sweep`) are
    shared parameters that replace the file's.
    """
    path = Path(path)
    spec = _read_pipeline_file(path, sweeping=overrides is not None)
    base = path.resolve().parent
    shared = resolve_parameters({**(spec.get("parameters") or {}), **(overrides or {})}, base)
    out = [_step(path, i, step, shared) for i, step in enumerate(spec["steps"], 1)]
    unused = sorted(set(overrides or {}) - {k for step in out for k in step.parameters})
    if unused:
        raise ValueError(f"{path}: no step declares the parameters {unused} (from {overrides!r}).")
    return out


def _read_pipeline_file(path: Path, sweeping: bool) -> dict[str, Any]:
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    steps = spec.get("steps") if isinstance(spec, dict) else None
    if not isinstance(steps, list) or not steps:
        raise ValueError(
            f"{path}: a pipeline file needs a non-empty list 'steps' (and optionally "
            f"'parameters'). Received top-level keys: {sorted(spec) if isinstance(spec, dict) else spec!r}."
        )
    if "sweep" in spec and not sweeping:
        raise ValueError(
            f"{path} has a 'sweep' list: run it with `python -m kit sweep {path}` "
            "(add `--scheduler serial` to run its jobs here, one after the other)."
        )
    return spec


def _step(path: Path, i: int, step: Any, shared: Mapping[str, Any]) -> Step:
    """Step ``i`` of pipeline file ``path``: its notebook and its parameters, checked."""
    if not isinstance(step, dict) or "notebook" not in step:
        raise ValueError(f"{path}: step {i} must be a mapping with a 'notebook'. Received: {step!r}.")
    base = path.resolve().parent
    notebook = (base / step["notebook"]).resolve()
    if not notebook.is_file():
        raise FileNotFoundError(f"{path}: step {i}: no notebook at {notebook}.")
    declared = notebook_parameters(notebook)
    own = resolve_parameters(step.get("parameters") or {}, base)
    unknown = sorted(set(own) - set(declared))
    if unknown:
        raise ValueError(
            f"{path}: step {i} ({notebook.name}) gives parameters it does not declare: "
            f"{unknown}. Its parameters are: {declared}."
        )
    return Step(notebook, {k: v for k, v in shared.items() if k in declared} | own)


def run_pipeline(
    steps: list[Step], runs_dir: str | os.PathLike | None = None, redo: bool = False,
    log_to_console: bool = True,
) -> list[RunResult]:
    """Run ``steps`` in order with :func:`run_notebook`; return their results.

    A step is skipped when an identical run completed, unless ``redo`` or an
    earlier step ran anew (its inputs may have changed).

    Raises:
        NotebookFailed: naming the step, the notebook, the cell and the error; later
            steps are not run.
    """
    results = []
    for i, step in enumerate(steps, 1):
        try:
            result = run_notebook(step.notebook, step.parameters, runs_dir, redo, log_to_console)
        except NotebookFailed as e:
            raise NotebookFailed(f"step {i} of {len(steps)}: {e}") from None
        results.append(result)
        redo = redo or not result.skipped
    return results
