"""Command line: ``python -m kit run NOTEBOOK [-p NAME VALUE]... [-f FILE] [--redo]``."""

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one notebook headless into a runs/ folder")
    run.add_argument("notebook")
    run.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"))
    run.add_argument("-f", "--file", action="append", help="YAML file of parameters")
    run.add_argument("--runs-dir", help="where run folders go (default: <project_dir>/runs or ./runs)")
    run.add_argument("--redo", action="store_true", help="run even if an identical run completed")
    args = parser.parse_args(argv)

    from kit.runner import NotebookFailed, run_notebook

    try:
        result = run_notebook(args.notebook, _parameters(args), args.runs_dir, args.redo)
    except (NotebookFailed, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    word = "already completed with these parameters" if result.skipped else "done"
    print(f"{word}: {result.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
