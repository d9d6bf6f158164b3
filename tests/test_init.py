"""Importing kit sets TensorFlow's oneDNN kernels on, unless the user said otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CHECK = (
    "import kit\n"
    "from tensorflow.python.util import _pywrap_util_port as port\n"
    "print(port.IsMklEnabled())\n"
)


def _onednn_enabled(env_value: str | None) -> bool:
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if env_value is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = env_value
    done = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True,
                          text=True, check=True)
    return done.stdout.strip().splitlines()[-1] == "True"


def test_importing_kit_turns_onednn_on_and_respects_the_users_choice():
    pytest.importorskip("tensorflow")
    assert _onednn_enabled(None)
    assert not _onednn_enabled("0")
