"""Command line of kit.

    python -m kit run NOTEBOOK [-p NAME VALUE]... [-f FILE] [--redo]
    python -m kit pipeline FILE [--redo]
    python -m kit sweep FILE [--scheduler ADDRESS|serial] [--workers N] [--retries N] [--redo]
    python -m kit synthetic DIR [--seed S] [--num-frames N] [--num-labeled N] [--image-size W H]
    python -m kit rewrite-h5 PROJECT_DIR   # make a project's .h5 files open in pandas 2 (DeepLabCut)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml


def _value(text: str):
    """Parse a -p value as papermill does: YAML scalars (numbers, true/false), else the string."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return text if value is None and text else value


def _parameters(args: argparse.Namespace) -> dict:
    parameters = {}
    for path in args.file or []:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise SystemExit(f"{path}: a parameters file must map names to values.")
        parameters.update(loaded)
    for name, value in args.parameter or []:
        parameters[name] = _value(value)
    return parameters


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one notebook headless into a runs/ folder")
    run.add_argument("notebook")
    run.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"))
    run.add_argument("-f", "--file", action="append", help="YAML file of parameters")
    pipeline = commands.add_parser(
        "pipeline", help="run the notebooks of a pipeline file in order, stopping at a failure")
    pipeline.add_argument("file", help="YAML: shared 'parameters' and a list of 'steps'")
    sweep = commands.add_parser("sweep", help="run a sweep file's jobs on Dask (or serially)")
    sweep.add_argument("file", help="a pipeline file with a 'sweep' list, one job per entry")
    sweep.add_argument("--scheduler", help="Dask scheduler address, or 'serial' "
                       "(default: a local cluster sized to this machine)")
    sweep.add_argument("--workers", type=int, help="workers of the local cluster")
    sweep.add_argument("--retries", type=int, default=1, help="further attempts per failing job")
    for command in (run, pipeline, sweep):
        command.add_argument("--runs-dir",
                             help="where run folders go (default: <project_dir>/runs or ./runs)")
        command.add_argument("--redo", action="store_true",
                             help="run even if an identical run completed")
    synthetic = commands.add_parser("synthetic", help="make a synthetic project (exact labels)")
    synthetic.add_argument("project_dir")
    synthetic.add_argument("--seed", type=int, default=0)
    synthetic.add_argument("--num-frames", type=int, default=200)
    synthetic.add_argument("--num-labeled", type=int, default=60)
    synthetic.add_argument("--image-size", type=int, nargs=2, default=(256, 256),
                           metavar=("WIDTH", "HEIGHT"))
    rewrite = commands.add_parser(
        "rewrite-h5", help="rewrite the .h5 files of a project that pandas 2 (DeepLabCut's "
        "environment) cannot read; each old file is kept as <name>.bak")
    rewrite.add_argument("project_dir")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from kit.experiments.runner import NotebookFailed, load_pipeline, run_notebook, run_pipeline

    if args.command == "synthetic":
        from kit.experiments.synthetic import make_synthetic_project

        project = make_synthetic_project(
            args.project_dir, seed=args.seed, num_frames=args.num_frames,
            num_labeled=args.num_labeled, image_size=tuple(args.image_size), exist_ok=True)
        print(f"project: {project.root}")
        return 0
    if args.command == "rewrite-h5":
        from kit.project.hdf import rewrite_project_h5

        if not Path(args.project_dir).is_dir():
            print(f"error: no folder at {args.project_dir}", file=sys.stderr)
            return 1
        changed = rewrite_project_h5(args.project_dir)
        for path in changed:
            print(f"rewritten (old file kept as {path.name}.bak): {path}")
        print(f"{len(changed)} file(s) rewritten; every .h5 under {args.project_dir} now opens "
              "in pandas 2 and 3.")
        return 0
    if args.command == "sweep":
        from kit.experiments.sweep import load_sweep, run_sweep

        table = run_sweep(load_sweep(args.file), args.scheduler, args.workers, args.retries,
                          args.runs_dir, args.redo)
        print(table.drop(columns="parameters").to_string())
        return int((table.status == "failed").any())
    try:
        if args.command == "pipeline":
            results = run_pipeline(load_pipeline(args.file), args.runs_dir, args.redo)
        else:
            results = [run_notebook(args.notebook, _parameters(args), args.runs_dir, args.redo)]
    except (NotebookFailed, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for result in results:
        word = "already completed with these parameters" if result.skipped else "done"
        print(f"{word}: {result.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
