"""Build the documentation site: execute the notebooks it shows, then ``mkdocs build --strict``.

    python docs/build.py            # what `make docs` runs; the site lands in site/
    python docs/build.py --no-execute   # only mkdocs (pages whose notebook has not run say so)

Step 1 runs each notebook the site shows through kit's runner
(:func:`kit.experiments.runner.run_notebook`) with the small parameters of ``EXECUTIONS``
below, in ``build/docs-work/``, and keeps the executed notebook and its figures in
``build/docs-notebooks/<key>/`` (build outputs: ``notebooks/`` stays without outputs).
A notebook whose inputs (the notebook, its parameters, kit's sources) did not change
since its last execution is not run again. Step 2 is ``mkdocs build --strict``: the
``gen-files`` script ``docs/gen_pages.py`` adds the executed notebooks, their figures, the
benchmark plots and the reference pages, and any warning (a broken link, a page missing
from the navigation, a public object of kit without a docstring) fails the build.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
WORK = REPO / "build" / "docs-work"
OUTPUT = REPO / "build" / "docs-notebooks"
OPENFIELD = REPO.parent / "shared" / "datasets" / "openfield-Pranav-2018-10-30"
TUTORIAL = WORK / "tutorial"


@dataclass(frozen=True)
class Execution:
    """One notebook run the site shows: ``key`` names its page and figures."""

    key: str
    notebook: str
    parameters: dict
    files: dict = field(default_factory=dict)  # figure name -> glob under WORK of a file it writes
    outputs: int = 0  # image outputs of its cells the pages show (saved as output-<n>.png)
    needs_openfield: bool = False
    after: tuple[str, ...] = field(default=())  # executions that must run first


TINY_SYNTHETIC = {"batch_size": 4, "image_size": 64, "crop_size": 64, "seed": 0}
TINY_TUTORIAL = {"project_dir": str(TUTORIAL / "openfield"), "net_type": "mobilenet_v2_0.35"}

EXECUTIONS = [
    Execution("quickstart", "00_quickstart", {
        **TINY_SYNTHETIC, "workdir": str(WORK / "quickstart"), "train_steps": 60,
        "num_labeled": 20}, outputs=1, files={
        "test_frames.png": "quickstart/project/evaluation-results-kit/*/*/test_frames.png"}),
    Execution("tutorial-create", "01_create_project", {
        "project_dir": str(TUTORIAL / "new-project"),
        "videos": [str(OPENFIELD / "videos" / "m3v1mp4.mp4")], "task": "openfield",
        "scorer": "student", "numframes2pick": 4}, needs_openfield=True),
    Execution("tutorial-train", "03_train", {
        **TINY_TUTORIAL, "train_steps": 20, "batch_size": 2, "crop_size": 128, "weights": "",
        "optimizer": "adam", "save_every": 10}, needs_openfield=True,
        files={
            "train_loss.png": "tutorial/openfield/kit-models/*/*/train_loss.png"}),
    Execution("tutorial-evaluate", "04_evaluate", {
        "project_dir": TINY_TUTORIAL["project_dir"], "net_type": "mobilenet_v2_0.35",
        "num_figure_frames": 4}, needs_openfield=True, after=("tutorial-train",),
        files={
            "test_frames.png": "tutorial/openfield/evaluation-results-kit/*/*/test_frames.png"}),
    Execution("tutorial-analyze", "05_analyze_videos", {
        "project_dir": TINY_TUTORIAL["project_dir"], "net_type": "mobilenet_v2_0.35",
        "max_frames": 30, "num_stills": 1, "make_labeled_video": True},
        needs_openfield=True, after=("tutorial-train",),
        files={
            "trajectories.png": "tutorial/openfield/videos/*_trajectories.png",
            "still.png": "tutorial/openfield/videos/*_filtered_frame*.png"}),
    Execution("learning-curve", "10_learning_curves", {
        **TINY_SYNTHETIC, "workdir": str(WORK / "learning_curve"), "shuffles": 1,
        "train_steps": 20, "train_sizes": [3, 6], "num_labeled": 6,
        "net_type": "mobilenet_v2_0.35"}),
    Execution("bodypart-experiment", "11_bodypart_experiment", {
        **TINY_SYNTHETIC, "workdir": str(WORK / "bodypart_experiment"), "shuffles": 1,
        "train_steps": 10, "train_sizes": [4], "num_labeled": 6,
        "net_type": "mobilenet_v2_0.35", "novel_videos": "animal1"}),
    Execution("multiple-animals", "12_multiple_animals", {
        **TINY_SYNTHETIC, "workdir": str(WORK / "multiple_animals"), "num_videos": 1,
        "num_labeled": 8, "train_steps": 20, "num_frames": 2, "threshold": 0.05,
        "net_type": "mobilenet_v2_0.35"}),
]


def _inputs_digest(execution: Execution) -> str:
    """What the run's outputs depend on: the notebook, its parameters, kit's sources."""
    digest = hashlib.sha256()
    digest.update((NOTEBOOKS / f"{execution.notebook}.ipynb").read_bytes())
    digest.update(json.dumps(execution.parameters, sort_keys=True).encode())
    for path in sorted((REPO / "kit").rglob("*.py")):
        digest.update(path.relative_to(REPO).as_posix().encode() + path.read_bytes())
    for key in execution.after:  # a step on the project an earlier step made
        digest.update(_inputs_digest(next(e for e in EXECUTIONS if e.key == key)).encode())
    return digest.hexdigest()


def _save_figures(notebook: Path, execution: Execution, folder: Path) -> list[str]:
    """Write the executed notebook's image outputs and the files it saved into ``folder``."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    names, count = [], 0
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {}).get("image/png")
            if data:
                count += 1
                name = f"output-{count}.png"
                (folder / name).write_bytes(base64.b64decode("".join(data)))
                names.append(name)
    for name, pattern in execution.files.items():
        paths = sorted(WORK.glob(pattern))
        if not paths:
            raise FileNotFoundError(f"{execution.key}: the notebook wrote no {WORK / pattern}")
        shutil.copyfile(paths[0], folder / name)
        names.append(name)
    return names


def _prepare(execution: Execution) -> None:
    """The tutorial trains on a copy of the shared openfield project (which stays read-only)."""
    copy = TUTORIAL / "openfield"
    if execution.needs_openfield and execution.key == "tutorial-train":
        if copy.exists():
            shutil.rmtree(copy)
        shutil.copytree(OPENFIELD, copy)
    if execution.key == "tutorial-create" and (TUTORIAL / "new-project").exists():
        shutil.rmtree(TUTORIAL / "new-project")


def execute(execution: Execution, force: bool = False) -> str:
    """Run one notebook unless its outputs are current, then save its figures."""
    from kit.experiments.runner import run_notebook

    out = OUTPUT / execution.key
    if execution.needs_openfield and not OPENFIELD.is_dir():
        return f"skipped: the shared openfield project is not at {OPENFIELD}"
    digest = _inputs_digest(execution)
    stamp = out / "inputs.json"
    executed = out / f"{execution.key}.ipynb"
    if force or not stamp.is_file() or json.loads(stamp.read_text())["digest"] != digest:
        _prepare(execution)
        start = time.monotonic()
        result = run_notebook(NOTEBOOKS / f"{execution.notebook}.ipynb", execution.parameters,
                              runs_dir=WORK / "runs", redo=True, log_to_console=False)
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        shutil.copyfile(result.notebook, executed)
        seconds = time.monotonic() - start
        stamp.write_text(json.dumps({"digest": digest, "notebook": execution.notebook,
                                     "parameters": execution.parameters,
                                     "seconds": round(seconds, 1)}, indent=1))
        what = f"executed in {seconds:.0f} s"
    else:
        what = "up to date"
    _save_figures(executed, execution, out / "figures")
    return what


def main(argv: list[str] | None = None) -> int:
    """Execute the notebooks (unless ``--no-execute``), then build the site strictly."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-execute", action="store_true", help="only run mkdocs")
    parser.add_argument("--force", action="store_true", help="execute every notebook again")
    parser.add_argument("--only", nargs="*", default=None, help="execute only these keys")
    args = parser.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(REPO))
    start = time.monotonic()
    for execution in EXECUTIONS:
        if not args.no_execute and (args.only is None or execution.key in args.only):
            print(f"docs: {execution.key} ({execution.notebook}): ", end="", flush=True)
            print(execute(execution, args.force), flush=True)
        elif (OUTPUT / execution.key / f"{execution.key}.ipynb").is_file():
            try:
                _save_figures(OUTPUT / execution.key / f"{execution.key}.ipynb", execution,
                              OUTPUT / execution.key / "figures")
            except FileNotFoundError as error:  # its work folder is gone: the page says so
                print(f"docs: {error}")
    print("docs: mkdocs build --strict", flush=True)
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true",
           "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    code = subprocess.call([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=REPO,
                           env=env)
    print(f"docs: {'site/index.html' if code == 0 else 'FAILED'} "
          f"({time.monotonic() - start:.0f} s in all)")
    return code


if __name__ == "__main__":
    sys.exit(main())
