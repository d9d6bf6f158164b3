"""oneDNN is turned on where kit starts processes, never by importing kit; the user's
TF_ENABLE_ONEDNN_OPTS always wins. Each check runs in a fresh Python."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kit import ONEDNN_VARIABLE

MKL = "from tensorflow.python.util import _pywrap_util_port as port; print(port.IsMklEnabled())"


def _python(code: str, env_value: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != ONEDNN_VARIABLE}
    if env_value is not None:
        env[ONEDNN_VARIABLE] = env_value
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=False)


def _last_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_importing_kit_changes_no_setting():
    code = f"import os, kit; print(os.environ.get({ONEDNN_VARIABLE!r}))"
    assert _last_line(_python(code, None)) == "None"


def test_use_onednn_turns_it_on_before_tensorflow_and_respects_the_users_choice():
    pytest.importorskip("tensorflow")
    code = f"import kit; print(kit.use_onednn()); {MKL}"
    assert _last_line(_python(code, None)) == "True"
    done = _python(code, "0")
    assert _last_line(done) == "False" and done.stdout.split()[0] == "False"


def test_use_onednn_after_tensorflow_says_it_is_too_late():
    pytest.importorskip("tensorflow")
    done = _python("import tensorflow, kit; kit.use_onednn()", None)
    assert done.returncode != 0
    assert "RuntimeError" in done.stderr and "before importing keras or tensorflow" in done.stderr
    # With the variable set before Python started there is nothing to be late for.
    assert _last_line(_python("import tensorflow, kit; print(kit.use_onednn())", "1")) == "True"


def test_the_command_line_turns_it_on_for_itself():
    code = ("import runpy, sys, os; sys.argv = ['kit', '--help']\n"
            "try:\n    runpy.run_module('kit', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            f"print(os.environ.get({ONEDNN_VARIABLE!r}))")
    assert _last_line(_python(code, None)) == "1"
    assert _last_line(_python(code, "0")) == "0"
