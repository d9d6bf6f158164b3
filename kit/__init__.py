"""kit: markerless animal pose estimation with the DeepLabCut method, in notebooks.

The stages form one pipeline, each importing only the ones before it:
project -> labeling -> net -> results -> plots -> experiments (see README).
Import what you need (``from kit.net import train``); importing kit changes nothing
and runs nothing heavy.

oneDNN: TensorFlow turns on its oneDNN CPU kernels by itself only on CPUs with AVX-512
VNNI, BF16 or AMX. On the 2-core AVX2 machine they made a ResNet-50 train step at batch 8
about 1.4x and prediction at batch 8 about 1.3x faster (prediction at batch 1: 0.7x); see
benchmarks/RESULTS.md. So kit turns them on where it starts processes: ``python -m kit``,
every notebook kernel of kit's runner (:mod:`kit.experiments.runner`, sweeps included).
In your own script call :func:`use_onednn` before importing Keras or TensorFlow: the
setting is read once, when TensorFlow loads. ``TF_ENABLE_ONEDNN_OPTS=0`` set before
starting Python (or the notebook server) always wins. The setting does nothing on the JAX
and PyTorch backends.
"""

from __future__ import annotations

import os
import sys

__version__ = "0.1.0"

ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"


def onednn_environment() -> dict[str, str]:
    """The variable a process kit starts gets: oneDNN on, unless the user set it already.

    Returns ``{"TF_ENABLE_ONEDNN_OPTS": value}``, ``value`` being the user's setting if
    there is one (``"0"`` keeps it off), else ``"1"``.
    """
    return {ONEDNN_VARIABLE: os.environ.get(ONEDNN_VARIABLE, "1")}


def use_onednn() -> bool:
    """Turn TensorFlow's oneDNN CPU kernels on in this process, unless the user set
    ``TF_ENABLE_ONEDNN_OPTS`` (their choice wins). Call it before importing Keras or
    TensorFlow. Returns whether oneDNN is requested.

    Raises:
        RuntimeError: TensorFlow is already imported and the variable was not set, so
            the setting would come too late and silently do nothing.
    """
    if ONEDNN_VARIABLE not in os.environ and "tensorflow" in sys.modules:
        raise RuntimeError(
            "kit.use_onednn() was called after TensorFlow was imported (perhaps by "
            "`import keras`); TensorFlow reads TF_ENABLE_ONEDNN_OPTS only when it loads. Call "
            "kit.use_onednn() before importing keras or tensorflow, or start Python with "
            "TF_ENABLE_ONEDNN_OPTS=1."
        )
    os.environ.update(onednn_environment())
    return os.environ[ONEDNN_VARIABLE] != "0"
