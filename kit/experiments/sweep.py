"""Sweeps: many notebook runs at once, on a Dask cluster or one after the other.

A job is one notebook and its parameters (a :class:`kit.experiments.runner.Step` or a
``(notebook, parameters)`` pair), or a list of them run in order on one worker
(e.g. train then evaluate). Every notebook runs through :func:`kit.experiments.runner.run_notebook`,
so its results land in the project exactly as in a local run, and a job whose
runs already completed with the same parameters is skipped: a sweep started
again after an interruption redoes only what did not finish.

``run_sweep(jobs)`` starts a ``distributed.LocalCluster`` sized to the machine
(one worker process per GPU, else one per two CPU cores, each running one
notebook at a time); ``scheduler=`` takes the address of any Dask scheduler
(e.g. one started by dask-jobqueue on SLURM, see the README) or ``"serial"``
to run the jobs in this process, in order. A failing job is retried
``SweepConfig.retries`` times and reported; the others go on.

Encryption: a Dask scheduler runs whatever code it is sent, so anyone who can reach a
plain ``tcp://`` scheduler can run code as you. On a shared cluster give
``SweepConfig(security=...)`` a ``distributed.security.Security`` (TLS certificates,
e.g. :func:`make_security`) and use a ``tls://`` address, or pass a cluster started
with ``security=Security.temporary()`` (its security goes with it).

``python -m kit sweep FILE`` runs a sweep file: a pipeline file (see
:func:`kit.experiments.runner.load_pipeline`) with a ``sweep`` list, one job per entry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from kit.experiments.runner import (
    Step,
    environment,
    load_pipeline,
    resolve_parameters,
    run_pipeline,
)

SERIAL = "serial"
COLUMNS = ["job", "parameters", "status", "attempts", "folder", "error"]


def visible_gpus() -> list[str]:
    """GPU ids this process may use: ``CUDA_VISIBLE_DEVICES`` if set, else ``nvidia-smi -L``."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g for g in listed.replace(" ", "").split(",") if g and g != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                             timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU ")]


def default_num_workers(gpus: Sequence[str] | None = None) -> int:
    """One worker per GPU (one training at a time each), else one per two CPU cores."""
    gpus = visible_gpus() if gpus is None else gpus
    return len(gpus) if gpus else max(1, (os.cpu_count() or 1) // 2)


def thread_environment(threads: int) -> dict[str, str]:
    """Environment variables that give a notebook kernel ``threads`` CPU threads
    (TensorFlow, PyTorch and BLAS read these)."""
    n = str(threads)
    return {"TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": n,
            "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}


def _as_steps(job: Any) -> list[Step]:
    """A job (Step, (notebook, parameters), or a list of those) as absolute Steps."""
    single = isinstance(job, tuple) and len(job) == 2 and isinstance(job[1], Mapping)
    if isinstance(job, Step) or single:
        items = [job]
    elif isinstance(job, list) and job:
        items = job
    else:
        raise ValueError(
            "A job is (notebook, parameters), a kit.experiments.runner.Step, or a non-empty list of them. "
            f"Received: {job!r}."
        )
    steps = []
    for item in items:
        notebook, parameters = (item.notebook, item.parameters) if isinstance(item, Step) else item
        # Resolved here, against the caller's folder: workers may run elsewhere.
        steps.append(Step(Path(notebook).resolve(), resolve_parameters(parameters, Path.cwd())))
    return steps


def _run_job(steps: list[Step], runs_dir: str | None, redo: bool, gpus: list[str],
             threads: int | None) -> dict:
    """Run one job's steps (in a worker or in-process); never raises for a failing notebook.
    The kernels papermill starts inherit the GPU and thread settings made here."""
    env = thread_environment(threads) if threads else {}
    if gpus:  # one GPU per worker
        from distributed import get_worker

        name = get_worker().name
        index = name if isinstance(name, int) else abs(hash(name))
        env["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]
    try:
        with environment(env):
            results = run_pipeline(steps, runs_dir, redo, log_to_console=False)
    except Exception as e:  # noqa: BLE001 (reported in the table, job retried)
        return {"status": "failed", "folder": "", "error": f"{type(e).__name__}: {e}"}
    status = "skipped" if all(r.skipped for r in results) else "done"
    return {"status": status, "folder": str(results[-1].folder), "error": ""}


def _row(steps: list[Step], attempts: int, outcome: dict) -> dict:
    return {"job": " -> ".join(s.notebook.stem for s in steps),
            "parameters": {k: v for s in steps for k, v in s.parameters.items()},
            "attempts": attempts, **outcome}


@dataclass(frozen=True)
class SweepConfig:
    """How a sweep runs.

    Attributes:
        num_workers: workers of the LocalCluster (None: :func:`default_num_workers`).
        retries: further attempts for a failing job.
        runs_dir, redo: as in :func:`kit.experiments.runner.run_notebook`.
        threads: CPU threads of each notebook kernel (None: the machine's cores split
            evenly between the LocalCluster's workers; unchanged for "serial" and for
            other schedulers). TensorFlow on the CPU gives bit-identical results for the
            same seed and thread count, but not across thread counts: give the same
            ``threads`` to compare a Dask sweep with a serial one.
        security: a ``distributed.security.Security`` for TLS (see the module docstring;
            :func:`make_security`); needed for a ``tls://`` address. With no scheduler
            the LocalCluster started here uses it, over ``tls://``.
    """

    num_workers: int | None = None
    retries: int = 1
    runs_dir: str | os.PathLike | None = None
    redo: bool = False
    threads: int | None = None
    security: Any = None

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0. Received: retries={self.retries}.")


def make_security(ca_file: str | None = None, cert: str | None = None, key: str | None = None,
                  temporary: bool = False):
    """A ``distributed.security.Security`` for this client: from certificate files (those
    the scheduler's cluster uses), or ``temporary`` (a new self-signed certificate, kept in
    memory: only for a cluster started here, as no other scheduler knows it; needs the
    ``cryptography`` package)."""
    from distributed.security import Security

    files = {"tls_ca_file": ca_file, "tls_client_cert": cert, "tls_client_key": key}
    if temporary == any(files.values()):
        raise ValueError(
            "Give either temporary=True or the certificate files (ca_file, cert, key), not "
            f"both or neither. Received: temporary={temporary}, ca_file={ca_file!r}, "
            f"cert={cert!r}, key={key!r}."
        )
    if temporary:
        return Security.temporary()
    return Security(require_encryption=True, **{k: v for k, v in files.items() if v})


def run_sweep(jobs: Sequence[Any], scheduler: Any = None,
              config: SweepConfig = SweepConfig()) -> pd.DataFrame:
    """Run ``jobs`` (see the module docstring) and return one row per job.

    Args:
        jobs: each ``(notebook, parameters)``, a :class:`kit.experiments.runner.Step`, or a list
            of those run in order. Relative paths are taken from the current folder.
        scheduler: None (a LocalCluster on this machine), ``"serial"`` (in this
            process, in order), a scheduler address (``"tcp://host:8786"``, or
            ``"tls://host:8786"`` with ``config.security``), or a ``distributed.Client``
            or cluster object (e.g. dask-jobqueue's SLURMCluster).
        config: workers, retries, run folders, threads and TLS (:class:`SweepConfig`).

    Returns:
        A DataFrame with columns ``job`` (notebook names), ``parameters``, ``status``
        ("done", "skipped": completed before, or "failed"), ``attempts``, ``folder``
        (the last run folder) and ``error``, in the order of ``jobs``.
    """
    if isinstance(scheduler, str) and scheduler.startswith("tls://") and config.security is None:
        raise ValueError(
            f"A tls:// scheduler needs the certificates to talk to it. Received: "
            f"scheduler={scheduler!r}, security=None. Pass SweepConfig(security=...) (see "
            "make_security), or `--tls-ca-file --tls-cert --tls-key` on the command line."
        )
    steps = [_as_steps(job) for job in jobs]
    runs = None if config.runs_dir is None else str(Path(config.runs_dir).resolve())
    if isinstance(scheduler, str) and scheduler == SERIAL:
        rows = []
        for job in steps:
            for attempt in range(1, config.retries + 2):
                outcome = _run_job(job, runs, config.redo, [], config.threads)
                if outcome["status"] != "failed":
                    break
            rows.append(_row(job, attempt, outcome))
        return pd.DataFrame(rows, columns=COLUMNS)
    return _run_on_dask(steps, scheduler, config, runs)


def _client(scheduler: Any, num_workers: int, security: Any):
    """A Client, and what to close when done: the Client and the LocalCluster made here
    (a Client given by the caller stays open)."""
    from distributed import Client, LocalCluster

    if scheduler is None:
        tls = {} if security is None else {"security": security, "protocol": "tls://"}
        cluster = LocalCluster(n_workers=num_workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, **tls)
        client = Client(cluster, security=security)
        return client, [client, cluster]
    if isinstance(scheduler, Client):
        return scheduler, []
    client = Client(scheduler, security=security)
    return client, [client]


def _run_on_dask(steps: list[list[Step]], scheduler: Any, config: SweepConfig,
                 runs: str | None) -> pd.DataFrame:
    from distributed import as_completed

    gpus = visible_gpus() if scheduler is None else []
    num_workers = config.num_workers or default_num_workers(gpus)
    threads = config.threads
    if threads is None and scheduler is None:
        threads = max(1, (os.cpu_count() or 1) // num_workers)
    client, to_close = _client(scheduler, num_workers, config.security)
    rows: list[dict | None] = [None] * len(steps)
    try:
        futures = {}
        for i, job in enumerate(steps):
            future = client.submit(_run_job, job, runs, config.redo, gpus, threads, pure=False)
            futures[future] = (i, 1)
        pending = as_completed(list(futures))
        for future in pending:
            i, attempt = futures.pop(future)
            try:
                outcome = future.result()
            except Exception as e:  # noqa: BLE001 (a worker died: KilledWorker, CommClosedError)
                outcome = {"status": "failed", "folder": "", "error": f"{type(e).__name__}: {e}"}
            if outcome["status"] == "failed" and attempt <= config.retries:
                again = client.submit(_run_job, steps[i], runs, config.redo, gpus, threads,
                                      pure=False)
                futures[again] = (i, attempt + 1)
                pending.add(again)
                continue
            rows[i] = _row(steps[i], attempt, outcome)
    finally:
        for opened in to_close:
            opened.close()
    return pd.DataFrame(rows, columns=COLUMNS)


def load_sweep(path: str | os.PathLike) -> list[list[Step]]:
    """Read a sweep file: a pipeline file with a ``sweep`` list of parameter mappings.

    Each entry is one job: the file's steps, with the entry's values replacing the
    shared ``parameters``::

        parameters: {project_dir: ../runs/synthetic/project, train_steps: 240}
        sweep:
          - {shuffle: 1, train_fraction: 0.5}
          - {shuffle: 1, train_fraction: 0.8}
        steps:
          - notebook: ../notebooks/03_train.ipynb
          - notebook: ../notebooks/04_evaluate.ipynb
    """
    spec = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    entries = spec.get("sweep") if isinstance(spec, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ValueError(
            f"{path}: a sweep file needs a list 'sweep' of parameter mappings (one per job). "
            f"Received: sweep={entries!r}."
        )
    return [load_pipeline(path, entry) for entry in entries]
