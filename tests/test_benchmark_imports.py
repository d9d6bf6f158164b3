"""The benchmarks call into kit from inside their functions, so a renamed kit function breaks
a benchmark only when someone runs it, hours later (``lp_peer.py`` imported a
``blocks_errors`` that ``beyond_labels`` had renamed). Every ``from kit... import name`` in
``benchmarks/`` must resolve."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def kit_imports(path: Path) -> list[tuple[int, str, str]]:
    """(line, module, name) of every ``from kit... import name`` in the file, nested ones
    included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [(node.lineno, node.module, alias.name) for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
            and node.module.split(".")[0] == "kit" for alias in node.names]


def test_finds_nested_kit_imports(tmp_path):
    script = tmp_path / "bench.py"
    script.write_text("import os\n\ndef run():\n    from kit.net import train as t, data\n")
    assert kit_imports(script) == [(4, "kit.net", "train"), (4, "kit.net", "data")]


@pytest.mark.parametrize("path", sorted(BENCHMARKS.glob("*.py")), ids=lambda p: p.name)
def test_every_kit_import_of_a_benchmark_resolves(path):
    missing = []
    for line, module, name in kit_imports(path):
        imported = importlib.import_module(module)
        if not hasattr(imported, name):
            try:  # a submodule not imported by its package yet
                importlib.import_module(f"{module}.{name}")
            except ModuleNotFoundError:
                missing.append(f"{path.name}:{line}: {module}.{name}")
    assert not missing, f"kit names the benchmarks import and kit no longer has: {missing}"
