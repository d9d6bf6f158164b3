"""Command line of kit.

    python -m kit run NOTEBOOK [-p NAME VALUE]... [-f FILE] [--redo]
    python -m kit pipeline FILE [--redo]
    python -m kit sweep FILE [--scheduler ADDRESS|serial] [--workers N] [--retries N] [--redo]
                        [--security temporary | --tls-ca-file F --tls-cert F --tls-key F]
    python -m kit synthetic DIR [--seed S] [--num-frames N] [--num-labeled N] [--image-size W H]
                            [--animals N [--look-different]]   # N > 1: a multi-animal project
    python -m kit rewrite-h5 PROJECT_DIR   # make a project's .h5 files open in pandas 2 (DeepLabCut)
    python -m kit import-slp FILE.slp PROJECT_DIR [--instances user|predicted|all]
        [--num-individuals N] [--max-frames N]    # a multi-animal project from SLEAP labels

``python -m kit`` turns TensorFlow's oneDNN CPU kernels on for itself and the notebook
kernels it starts, unless TF_ENABLE_ONEDNN_OPTS is set (see ``kit.use_onednn``).
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
    tls = sweep.add_argument_group(
        "encryption (TLS)", "anyone who can reach a plain tcp:// scheduler can run code as you: "
        "on a shared cluster use a tls:// scheduler and its certificates")
    tls.add_argument("--security", choices=["temporary"],
                     help="encrypt the local cluster started here with a new temporary "
                     "certificate (needs the cryptography package)")
    tls.add_argument("--tls-ca-file", help="certificate authority of the scheduler's cluster")
    tls.add_argument("--tls-cert", help="this client's certificate")
    tls.add_argument("--tls-key", help="this client's private key")
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
    synthetic.add_argument("--animals", type=int, default=1,
                           help="2-4: a multi-animal project of animals that meet and cross")
    synthetic.add_argument("--look-different", action="store_true",
                           help="with --animals: each animal its own colour and size (identity)")
    _file_commands(commands)
    return parser


def _file_commands(commands) -> None:
    """The commands that convert files: rewrite-h5, import-slp."""
    rewrite = commands.add_parser(
        "rewrite-h5", help="rewrite the .h5 files of a project that pandas 2 (DeepLabCut's "
        "environment) cannot read; each old file is kept as <name>.bak")
    rewrite.add_argument("project_dir")
    sleap = commands.add_parser(
        "import-slp", help="a new multi-animal project from a SLEAP .slp file (video, frames, "
        "skeleton, tracks as individuals, instances as labels)")
    sleap.add_argument("slp")
    sleap.add_argument("project_dir")
    sleap.add_argument("--instances", default="user", choices=["user", "predicted", "all"])
    sleap.add_argument("--num-individuals", type=int)
    sleap.add_argument("--max-frames", type=int)


def _synthetic(args: argparse.Namespace) -> int:
    from kit.experiments.synthetic import SyntheticConfig, make_synthetic_project

    if args.animals != 1 or args.look_different:
        return _synthetic_group(args)
    config = SyntheticConfig(seed=args.seed, num_frames=args.num_frames,
                             num_labeled=args.num_labeled, image_size=tuple(args.image_size))
    project = make_synthetic_project(args.project_dir, config, exist_ok=True)
    print(f"project: {project.root}")
    return 0


def _synthetic_group(args: argparse.Namespace) -> int:
    from kit.experiments.synthetic_group import GroupConfig, make_synthetic_group_project

    try:
        config = GroupConfig(num_animals=args.animals, num_frames=args.num_frames,
                             image_size=tuple(args.image_size), seed=args.seed,
                             look_alike=not args.look_different)
        project = make_synthetic_group_project(args.project_dir, config,
                                               num_labeled=args.num_labeled, exist_ok=True)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"project: {project.root}")
    return 0


def _rewrite_h5(args: argparse.Namespace) -> int:
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


def _import_slp(args: argparse.Namespace) -> int:
    from kit.project.sleap_file import import_slp

    try:
        project = import_slp(args.slp, args.project_dir, instances=args.instances,
                             num_individuals=args.num_individuals, max_frames=args.max_frames)
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"project: {project.root} (individuals {list(project.layout.individuals)})")
    return 0


def _security(args: argparse.Namespace):
    """The TLS settings the sweep flags ask for, or None."""
    from kit.experiments.sweep import make_security

    files = (args.tls_ca_file, args.tls_cert, args.tls_key)
    if args.security is None and not any(files):
        return None
    if args.security == "temporary" and args.scheduler is not None:
        raise ValueError(
            f"--security temporary makes a certificate that only a cluster started here knows; "
            f"the scheduler {args.scheduler!r} cannot. Leave out --scheduler, or give its "
            "certificates with --tls-ca-file --tls-cert --tls-key.")
    return make_security(*files, temporary=args.security == "temporary")


def _sweep(args: argparse.Namespace) -> int:
    from kit.experiments.sweep import SweepConfig, load_sweep, run_sweep

    try:
        config = SweepConfig(num_workers=args.workers, retries=args.retries,
                             runs_dir=args.runs_dir, redo=args.redo, security=_security(args))
        jobs = load_sweep(args.file)
        table = run_sweep(jobs, args.scheduler, config)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(table.drop(columns="parameters").to_string())
    return int((table.status == "failed").any())


def _run(args: argparse.Namespace) -> int:
    from kit.experiments.runner import NotebookFailed, load_pipeline, run_notebook, run_pipeline

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


COMMANDS = {"synthetic": _synthetic, "rewrite-h5": _rewrite_h5, "import-slp": _import_slp,
            "sweep": _sweep, "run": _run, "pipeline": _run}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    from kit import use_onednn

    use_onednn()  # before anything imports TensorFlow, here and in the kernels started
    sys.exit(main())
