"""The GPU check's CPU fallback runs and prints its one table (benchmarks/gpu_check.py)."""

import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gpu_check():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu_check

        yield gpu_check
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_cpu_fallback_prints_every_row_with_finite_positive_numbers(gpu_check, capsys):
    rows = gpu_check.main(["--tiny", "--timeout", "120"])
    measures = [row["measure"] for row in rows]
    assert not [m for m in measures if m.startswith("FAILED")], measures
    expected = ["train steps/s (incl. compilation)", "train images/s",
                "data-wait fraction (first interval left out)",
                "analysis frames/s, batch 1", "analysis frames/s, batch 8",
                "live latency mean", "live latency p99", "live read-to-pose frames/s"]
    assert measures == expected
    for row in rows:
        assert math.isfinite(row["value"]), row
        if row["measure"].startswith("data-wait"):
            assert 0 <= row["value"] <= 1
        else:
            assert row["value"] > 0, row
    table = capsys.readouterr().out
    assert all(measure in table for measure in expected)


def test_the_shell_wrapper_falls_back_without_a_gpu():
    script = (ROOT / "benchmarks" / "gpu_check.sh").read_text()
    assert "--tiny" in script and "jax[cuda12]" in script and "pip install" in script
    done = subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu_check.sh")])
    assert done.returncode == 0  # the script parses
