"""kit.project.venvs: a venv of its own is built once, by one of the callers side by side."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from kit.project import venvs


@pytest.fixture
def fake_builds(monkeypatch):
    """venvs' subprocess.run replaced: `venv` makes the python file (slowly, so that a second
    caller arrives meanwhile), `pip install` records what it installs; `fail` makes pip fail."""
    calls, fail = [], []

    def run(step, **kwargs):
        calls.append(step)
        if step[1:3] == ["-m", "venv"]:
            time.sleep(0.3)
            python = Path(step[-1]) / "bin" / "python"
            python.parent.mkdir(parents=True, exist_ok=True)
            python.write_text("")
        elif fail:
            raise subprocess.CalledProcessError(1, step, stderr="No matching distribution")
        return subprocess.CompletedProcess(step, 0)

    monkeypatch.setattr(venvs.subprocess, "run", run)
    return calls, fail


def test_callers_side_by_side_build_once_and_share_it(tmp_path, fake_builds):
    calls, _ = fake_builds
    found = []
    callers = [threading.Thread(target=lambda: found.append(
        venvs.own_venv(tmp_path / "venv-x", ["x==1"]))) for _ in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert found == [tmp_path / "venv-x" / "bin" / "python"] * 2
    assert [step[-1] for step in calls] == [str(tmp_path / "venv-x"), "x==1"]  # one build


def test_other_requirements_or_a_build_cut_short_build_again(tmp_path, fake_builds):
    calls, fail = fake_builds
    fail.append(True)
    with pytest.raises(subprocess.CalledProcessError, match="returned non-zero"):
        venvs.own_venv(tmp_path / "venv-x", ["x==1"])
    fail.clear()
    venvs.own_venv(tmp_path / "venv-x", ["x==1"])  # the cut-short build is not taken
    venvs.own_venv(tmp_path / "venv-x", ["x==1"])  # kept
    venvs.own_venv(tmp_path / "venv-x", ["x==2"])  # other requirements
    assert [step[-1] for step in calls if "pip" in step] == ["x==1", "x==1", "x==2"]
