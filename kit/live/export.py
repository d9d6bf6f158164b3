"""A trained model as one file for deployment: ONNX (``model.onnx``) with a small
``live_config.json`` beside it holding what the live predictor needs.

Layout, in the model folder: ``exported/model.onnx`` and ``exported/live_config.json``
(keys: the model's pose config, :class:`kit.net.model_folder.PoseConfig`, ``heads`` being
the ONNX file's outputs in order; each head's ``activations``; plus ``input``,
``keras_version``, ``format``). Copy the ``exported`` folder
to the rig; it needs onnxruntime, NumPy, SciPy and OpenCV, not the training code's Keras or
TensorFlow.

Keras writes the ONNX file itself (``model.export(path, format="onnx")``, Keras >= 3.6; on
TensorFlow it goes through tf2onnx), with every head's output and the height and width left
free so that dynamic cropping can change them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from kit.live.runtimes import (  # noqa: F401  (re-exported: the loading side of an export)
    CONFIG_FILE,
    INFO_KEYS,
    ONNX_FILE,
    exported_folder,
    load_live_config,
    load_net,
)
from kit.net.model_folder import ModelFolder
from kit.project import atomic_path, atomic_write_text


def export_model(model_dir: str | Path, folder: str | Path | None = None) -> Path:
    """Write the model of ``model_dir`` (BatchNorm folded) as ONNX plus live_config.json.

    Args:
        model_dir: a model folder written by :func:`kit.net.train.train`.
        folder: where to write; default ``<model_dir>/exported``.

    Returns:
        The folder holding ``model.onnx`` and ``live_config.json``.
    """
    import keras  # imported here: loading an export (and the ONNX runtime) needs no Keras

    from kit.net.heads import get_head
    from kit.net.predict import Predictor

    predictor = Predictor(model_dir)  # loads, checks the heads and folds BatchNorm
    folder = Path(folder) if folder is not None else ModelFolder(model_dir).exported_dir
    folder.mkdir(parents=True, exist_ok=True)
    model = predictor.model
    model.predict_on_batch(np.zeros((1, 64, 64, 3), np.float32))  # Keras exports called models
    with atomic_path(folder / ONNX_FILE) as tmp:
        model.export(str(tmp), format="onnx", verbose=False)
    # The whole pose config (decoder, heads, assembly's graph) and each head's activation.
    config = {**predictor.pose.to_dict(), "activations": {
        name: get_head(name).activation for name in predictor.pose.heads}}
    config.update(input=model.inputs[0].name, format="onnx", keras_version=keras.__version__)
    atomic_write_text(folder / CONFIG_FILE, json.dumps(config, indent=1))
    return folder


def ensure_exported(model_dir: str | Path) -> Path:
    """The exported folder of ``model_dir``, exported first if it is missing or older than
    the model (a model trained again) or than its pose config (a decoding chosen since:
    ``decoder``, ``test_scales``)."""
    model = ModelFolder(model_dir)
    folder = model.exported_dir
    onnx_file, config_file = folder / ONNX_FILE, folder / CONFIG_FILE
    if (onnx_file.is_file() and config_file.is_file() and model.model_file.is_file()
            and onnx_file.stat().st_mtime >= model.model_file.stat().st_mtime
            and config_file.stat().st_mtime >= model.pose_config_file.stat().st_mtime):
        return folder
    return export_model(model_dir)
