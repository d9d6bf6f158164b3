"""The network of a live predictor, one frame at a time: Keras (the model folder) or ONNX
Runtime (the exported file), both turning (1, h, w, 3) images into score-map logits and
location-refinement maps; and their decoding into positions.

Both runtimes take images of any size (dynamic cropping changes it from frame to frame).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kit.net.predict import Predictor, sigmoid
from kit.net.targets import TargetConfig, decode

# (1, h, w, 3) float32 RGB 0-255 -> (logits (1, h', w', K), locref (1, h', w', 2K))
Net = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

# What a live predictor needs besides the network: the keys of live_config.json.
INFO_KEYS = ("bodyparts", "net_type", "stride", "backbone_stride", "locref_stdev",
             "global_scale")


def decode_outputs(logits: np.ndarray, locref: np.ndarray, info: dict[str, Any]) -> np.ndarray:
    """Positions from the network's outputs, as :meth:`kit.net.predict.Predictor` decodes them.

    Args:
        logits: (N, h, w, K) score-map logits.
        locref: (N, h, w, 2K) location-refinement maps.
        info: :data:`INFO_KEYS` (stride and locref_stdev are used).

    Returns:
        (N, K, 3) float64: x, y in the network's input pixels, likelihood in [0, 1].
    """
    targets = TargetConfig(stride=info["stride"], locref_stdev=info["locref_stdev"])
    return decode(sigmoid(np.asarray(logits)), np.asarray(locref), targets)


def keras_net(model_dir: str | Path) -> tuple[Net, dict[str, Any]]:
    """The trained model of ``model_dir`` loaded as :class:`Predictor` loads it (BatchNorm
    folded), called through Keras's compiled predict function; and its :data:`INFO_KEYS`.

    (``jit_compile=True`` was measured slower on a CPU, 685 vs 609 ms at 320x240, and
    recompiles for every crop size, so it is not used.)
    """
    predictor = Predictor(model_dir)
    info = {"bodyparts": predictor.bodyparts, "net_type": predictor.net_type,
            "stride": predictor.targets.stride, "backbone_stride": predictor.backbone_stride,
            "locref_stdev": predictor.targets.locref_stdev,
            "global_scale": predictor.global_scale}
    model = predictor.model

    def run(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits, locref = model.predict_on_batch(images)
        return np.asarray(logits), np.asarray(locref)

    return run, info


def onnx_net(onnx_file: str | Path, info: dict[str, Any]) -> tuple[Net, dict[str, Any]]:
    """An exported model (:func:`kit.live.export.export_model`) run by ONNX Runtime on the CPU
    (or CUDA where onnxruntime-gpu is installed); ``info`` is its live_config.json."""
    import onnxruntime  # imported here: only the ONNX runtime needs it

    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                 if p in onnxruntime.get_available_providers()]
    options = onnxruntime.SessionOptions()
    # Threads that sleep between frames instead of spinning: measured 25-35% lower latency
    # (ResNet-50, 113x97 and 256x192 inputs) on a 2-core machine shared with other work,
    # where spinning threads compete with everything else for the cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(onnx_file), options, providers=providers)
    input_name = session.get_inputs()[0].name

    def run(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits, locref = session.run(None, {input_name: images})
        return logits, locref

    return run, info
