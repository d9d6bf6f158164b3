"""Pages made at build time (run by mkdocs-gen-files inside `mkdocs build`; see docs/build.py).

- ``paper/<key>.ipynb`` and ``figures/<key>/*.png``: the notebooks docs/build.py executed
  (from ``build/docs-notebooks/``); where one has not run, a page and figures that say so.
- ``assets/benchmarks/*.png``: the plots the benchmark scripts wrote to benchmarks/output/.
- ``reference/notebooks/``: one page per notebook, its parameters as papermill's
  ``--help-notebook`` shows them.
- ``reference/modules/``: one mkdocstrings page per public module of kit.

Every public module, class, function and method of kit must have a docstring: each one
missing is logged as a warning, which fails ``mkdocs build --strict``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import sys
from pathlib import Path

import mkdocs_gen_files

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("mkdocs.plugins.kit_docs")


def _load_build():
    spec = importlib.util.spec_from_file_location("kit_docs_build", REPO / "docs" / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


build = _load_build()

PAPER_PAGES = ("learning-curve", "bodypart-experiment", "multiple-animals")


def _placeholder_png(text: str) -> bytes:
    """A small image saying why a figure is missing (the page stays buildable)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(6, 1.2), dpi=80)
    figure.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=10)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def _stub_notebook(execution) -> str:
    text = (f"# {execution.notebook}\n\nThis page shows `notebooks/{execution.notebook}.ipynb` "
            "executed by `make docs`, which has not run it in this build (`--no-execute`, or "
            "it needs `../shared/datasets`). Run `make docs` to see its outputs.")
    return json.dumps({"cells": [{"cell_type": "markdown", "metadata": {}, "source": text}],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


# TensorFlow's start-up lines, and the kernels' of the trainings a notebook runs (papermill)
TENSORFLOW_NOISE = re.compile(r"absl::InitializeLog|oneDNN custom operations|TF_ENABLE_ONEDNN_OPTS"
                              r"|^\s*$|^(I|W)0000 |^\[IPKernelApp\] ")
FULL_RUNS = {
    "learning-curve": "python -m kit run notebooks/10_learning_curves.ipynb -p workdir runs/lc",
    "bodypart-experiment": "python -m kit run notebooks/11_bodypart_experiment.ipynb -p workdir runs/bp",
    "multiple-animals": "python -m kit run notebooks/12_multiple_animals.ipynb -p workdir runs/nb12",
}


def _page_notebook(execution, text: str) -> str:
    """The executed notebook as the page shows it: a note on its settings first, and
    TensorFlow's start-up messages left out of the cells' stderr."""
    notebook = json.loads(text)
    for cell in notebook["cells"]:
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                lines = "".join(output["text"]).splitlines(keepends=True)
                output["text"] = [line for line in lines if not TENSORFLOW_NOISE.search(line)]
                if not output["text"]:
                    continue
            outputs.append(output)
        if "outputs" in cell:
            cell["outputs"] = outputs
    note = (f"> **Executed by `make docs` with small settings.** This is "
            f"`notebooks/{execution.notebook}.ipynb` run by kit's runner with the settings of "
            f"its `injected-parameters` cell, so that it finishes in minutes on 2 CPU cores: "
            f"its networks are barely trained. The full run, with the notebook's defaults: "
            f"`{FULL_RUNS[execution.key]}`. The paper's numbers and the full runs' results: "
            f"[The paper, replicated](../).\n")  # a notebook's links are not rewritten
    notebook["cells"].insert(1, {"cell_type": "markdown", "metadata": {}, "source": note})
    return json.dumps(notebook)


def executed_notebooks() -> None:
    """Copy the executed notebooks and their figures into the site (or say they are absent)."""
    for execution in build.EXECUTIONS:
        out = build.OUTPUT / execution.key
        executed = out / f"{execution.key}.ipynb"
        if execution.key in PAPER_PAGES:
            with mkdocs_gen_files.open(f"paper/{execution.key}.ipynb", "w") as page:
                page.write(_page_notebook(execution, executed.read_text(encoding="utf-8"))
                           if executed.is_file() else _stub_notebook(execution))
        names = [f"output-{i}.png" for i in range(1, execution.outputs + 1)]
        for name in names + list(execution.files):
            figure = out / "figures" / name
            with mkdocs_gen_files.open(f"figures/{execution.key}/{name}", "wb") as file:
                if figure.is_file():
                    file.write(figure.read_bytes())
                else:
                    why = ("needs ../shared/datasets/openfield-Pranav-2018-10-30: run `make "
                           "docs` where it is" if execution.needs_openfield
                           else "not executed in this build: run `make docs`")
                    file.write(_placeholder_png(f"{execution.notebook}: this figure {why}"))


def benchmark_plots() -> None:
    """The benchmark scripts' plots, shown on the Benchmarks page only."""
    for path in sorted((REPO / "benchmarks" / "output").glob("*.png")):
        with mkdocs_gen_files.open(f"assets/benchmarks/{path.name}", "wb") as file:
            file.write(path.read_bytes())


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def notebook_pages() -> list[str]:
    """One page per notebook: its purpose, its parameters, how to run it."""
    import papermill

    executed = {e.notebook: e.key for e in build.EXECUTIONS if e.key in PAPER_PAGES}
    summary = ["* [Overview](index.md)"]
    rows = []
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        intro = "".join(cells[0]["source"]) if cells[0]["cell_type"] == "markdown" else ""
        title, _, purpose = intro.partition("\n")
        title = title.lstrip("# ").strip() or path.stem
        lines = [f"# `{path.stem}`: {title}", "", purpose.strip(), "",
                 "## Parameters", "",
                 f"`python -m papermill --help-notebook notebooks/{path.name}` shows the same.",
                 "", "| name | type | default | meaning |", "|---|---|---|---|"]
        for name, p in papermill.inspect_notebook(str(path)).items():
            lines.append(f"| `{name}` | {p['inferred_type_name']} | `{_cell(p['default'])}` "
                         f"| {_cell(p['help'])} |")
        lines += ["", "## Run it", "", "```",
                  f".venv/bin/python -m kit run notebooks/{path.name} -p NAME VALUE ...", "```"]
        if path.stem in executed:
            lines += ["", f"Executed with small settings: "
                          f"[The paper, replicated](../../paper/{executed[path.stem]}.ipynb)."]
        with mkdocs_gen_files.open(f"reference/notebooks/{path.stem}.md", "w") as page:
            page.write("\n".join(lines) + "\n")
        summary.append(f"* [{path.stem}]({path.stem}.md)")
        rows.append(f"| [`{path.stem}`]({path.stem}.md) | {_cell(title)} |")
    with mkdocs_gen_files.open("reference/notebooks/index.md", "w") as page:
        page.write("# Notebooks\n\nEvery notebook of `notebooks/`, one stage or experiment "
                   "each, with its parameters (the `parameters` cell, as papermill's "
                   "`--help-notebook` shows them).\n\n| notebook | what it does |\n|---|---|\n"
                   + "\n".join(rows) + "\n")
    with mkdocs_gen_files.open("reference/notebooks/SUMMARY.md", "w") as nav:
        nav.write("\n".join(summary) + "\n")
    return [p.stem for p in (REPO / "notebooks").glob("*.ipynb")]


STAGES = ("kit", "kit.project", "kit.labeling", "kit.net", "kit.results", "kit.plots",
          "kit.experiments", "kit.live", "kit.cameras")  # the order data flows


def _stage(name: str) -> tuple[int, str]:
    prefixes = [i for i, stage in enumerate(STAGES) if name == stage or name.startswith(stage + ".")]
    return (max(prefixes) if prefixes else len(STAGES), name)


def public_modules() -> list[str]:
    """Every module of kit whose dotted path has no part starting with an underscore, by stage."""
    names = []
    for path in sorted((REPO / "kit").rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not any(part.startswith("_") for part in parts):
            names.append(".".join(parts))
    return sorted(names, key=_stage)


def missing_docstrings() -> list[str]:
    """Public modules, classes, functions and methods of kit without a docstring."""
    import griffe

    missing = []

    def walk(obj) -> None:
        if not obj.docstring:
            missing.append(obj.path)
        for name, member in obj.members.items():
            if name.startswith("_") or member.is_alias:
                continue
            if member.is_module or member.is_class or member.is_function:
                walk(member)

    walk(griffe.load("kit", search_paths=[str(REPO)], docstring_parser="google"))
    return missing


def module_pages() -> None:
    """One page per public module, rendered by mkdocstrings from its docstrings."""
    summary = ["* [Overview](index.md)"]
    rows = []
    for name in public_modules():
        with mkdocs_gen_files.open(f"reference/modules/{name}.md", "w") as page:
            page.write(f"# `{name}`\n\n::: {name}\n")
        summary.append(f"* [{name}]({name}.md)")
        rows.append(f"| [`{name}`]({name}.md) |")
    with mkdocs_gen_files.open("reference/modules/index.md", "w") as page:
        page.write("# Modules\n\nEvery public module of `kit`, from its docstrings, in the "
                   "order data flows (see [the package map](../package-map.md)).\n\n"
                   "| module |\n|---|\n" + "\n".join(rows) + "\n")
    with mkdocs_gen_files.open("reference/modules/SUMMARY.md", "w") as nav:
        nav.write("\n".join(summary) + "\n")
    for path in missing_docstrings():
        log.warning("kit: %s has no docstring (every public object needs one)", path)


executed_notebooks()
benchmark_plots()
notebook_pages()
module_pages()
