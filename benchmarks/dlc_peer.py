"""DeepLabCut 3 (PyTorch engine) measured on this machine with the peer recipes in
../shared/peer (called there, not copied), in the python of a separate DLC venv.

    .venv/bin/python benchmarks/dlc_peer.py --dlc-python /work/venv-dlc/bin/python

prepares a scratch copy of the openfield project for DeepLabCut (setup_project.py, once)
and prints DLC's bare-model train step and predict speed (model_bench.py) as JSON rows
shaped like benchmarks/train_bench.py's. Peak memory is that of the whole model_bench
process (all its shapes), read from the OS when it exits.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PEER = REPO.parent / "shared" / "peer"
OPENFIELD = REPO.parent / "shared" / "datasets" / "openfield-Pranav-2018-10-30"
SCRATCH = Path(tempfile.gettempdir()) / "kit-dlc-peer"


def _run(cmd: list[str]) -> tuple[str, int]:
    """Run ``cmd``; return its stdout and peak RSS in MB (from wait4's resource usage)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        _, status, rusage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {stderr.strip()[-800:]}")
    return stdout, rusage.ru_maxrss // 1024


def prepare_project(dlc_python: str, source: str | os.PathLike | None = None) -> Path:
    """A scratch copy of the project made ready for DeepLabCut 3 (kept for later runs)."""
    source = Path(source or OPENFIELD)
    project = SCRATCH / source.name
    if next(project.glob("dlc-models-pytorch/iteration-0/*shuffle1/train/pytorch_config.yaml"),
            None):
        return project
    if not (source / "config.yaml").is_file():
        raise FileNotFoundError(f"No DeepLabCut project at {source}. Pass --dlc-project.")
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(source, project)
    _run([dlc_python, str(PEER / "setup_project.py"), str(project)])
    return project


def model_bench(dlc_python: str, reps: int = 3, source=None) -> list[dict]:
    """DLC's bare ResNet-50 (model_bench.py): rows of kind, hw, batch, images_per_s, ..."""
    if not Path(dlc_python).is_file():
        print(f"DeepLabCut not measured: no python at {dlc_python}.", file=sys.stderr)
        return []
    project = prepare_project(dlc_python, source)
    # model_bench.py times train steps after 2 warm-up steps; at least 4 reps give a median.
    out, peak = _run([dlc_python, str(PEER / "model_bench.py"), str(project), str(max(4, reps))])
    return _rows(out, peak)


def _rows(out: str, peak_mb: int) -> list[dict]:
    """The JSON records a DLC model benchmark printed, as train_bench.py rows (peak memory:
    the record's own if it has one, else ``peak_mb``); other records are printed."""
    rows = []
    for line in out.splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        if "bench" in record:
            kind = "train" if record["bench"] == "train_step" else "predict"
            rows.append({"backend": "dlc-torch", "kind": kind, "hw": record["hw"],
                         "batch": record["batch"], "reps": record["reps"],
                         "median_s_per_step": record["median_s_per_step"],
                         "images_per_s": record["images_per_s"],
                         "maxrss_mb": record.get("maxrss_mb", peak_mb)})
        elif record:
            print(f"DeepLabCut: {json.dumps(record)}")
    return rows


def model_grid(dlc_python: str, shapes: list[tuple], reps: int = 3, source=None) -> list[dict]:
    """DLC's bare ResNet-50 on any (kind, height, width, batch) shapes (dlc_model_grid.py,
    ours, run in DLC's venv): rows like :func:`model_bench`'s; peak memory is that of the
    process up to each shape (shapes run in the order given)."""
    if not Path(dlc_python).is_file():
        print(f"DeepLabCut not measured: no python at {dlc_python}.", file=sys.stderr)
        return []
    project = prepare_project(dlc_python, source)
    specs = [f"{kind}:{h}x{w}:{b}" for kind, h, w, b in shapes]
    out, peak = _run([dlc_python, str(REPO / "benchmarks" / "dlc_model_grid.py"),
                      str(project), str(reps), *specs])
    return _rows(out, peak)


def ensure_snapshot(dlc_python: str, project: Path) -> None:
    """DeepLabCut analyzes with a trained snapshot: make one from random weights (no
    download) trained for one epoch at batch 1 (peer random_init.py and train_bench.py)."""
    train_dir = next(project.glob("dlc-models-pytorch/iteration-0/*shuffle1/train"))
    if next(train_dir.glob("snapshot-*.pt"), None):
        return
    _run([dlc_python, str(PEER / "random_init.py"), str(project)])
    _run([dlc_python, str(PEER / "train_bench.py"), str(project), "1", "1",
          str(project / "train_bench.json")])


def train_frames(project: Path) -> int:
    """How many frames DeepLabCut trains on in shuffle 1 (its Documentation_data pickle:
    [data, train indices, test indices, train fraction])."""
    import pickle

    doc = next(project.glob("training-datasets/iteration-0/*/Documentation_data-*shuffle1.pickle"))
    with open(doc, "rb") as f:
        return len(pickle.load(f)[1])


def analyze_bench(dlc_python: str, video: str | os.PathLike, batch_size: int,
                  source=None) -> dict:
    """``deeplabcut.analyze_videos`` on ``video`` (peer analyze_bench.py): frames per second
    from DeepLabCut's own run time and from the wall clock, and the process's peak RSS."""
    project = prepare_project(dlc_python, source)
    ensure_snapshot(dlc_python, project)
    out, peak = _run([dlc_python, str(PEER / "analyze_bench.py"), str(project), str(video),
                      str(batch_size)])
    found = re.search(r"frames=(\d+).*fps=([\d.]+) fps_wall=([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"DeepLabCut's analyze_bench.py printed no figures: {out[-400:]}")
    return {"batch_size": batch_size, "frames": int(found[1]), "fps": float(found[2]),
            "fps_wall": float(found[3]), "peak_rss_mb": peak}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dlc-python", default=os.environ.get("DLC_PYTHON"), required=False)
    parser.add_argument("--dlc-project", help="DLC project to copy (default: shared openfield)")
    parser.add_argument("--reps", type=int, default=4)
    args = parser.parse_args()
    if not args.dlc_python:
        print("DeepLabCut not measured: pass --dlc-python or set DLC_PYTHON.")
        return 0
    for row in model_bench(args.dlc_python, args.reps, args.dlc_project):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
