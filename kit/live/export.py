"""A trained model as one file for deployment: ONNX (``model.onnx``) with a small
``live_config.json`` beside it holding what the live predictor needs.

Layout, in the model folder: ``exported/model.onnx`` and ``exported/live_config.json``
(keys: :data:`kit.live.runtimes.INFO_KEYS`, plus ``heads``, ``input``, ``train_steps``,
``keras_version``, ``format``). Copy the ``exported`` folder to the rig; it needs
onnxruntime and numpy, not the training code's TensorFlow.

Keras writes the ONNX file itself (``model.export(path, format="onnx")``, Keras >= 3.6; on
TensorFlow it goes through tf2onnx), with the height and width left free so that dynamic
cropping can change them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kit.live.runtimes import INFO_KEYS, Net, keras_net, onnx_net
from kit.net.model_folder import ModelFolder
from kit.net.predict import Predictor
from kit.project import atomic_path, atomic_write_text

EXPORT_DIR = "exported"
ONNX_FILE = "model.onnx"
CONFIG_FILE = "live_config.json"


def export_model(model_dir: str | Path, folder: str | Path | None = None) -> Path:
    """Write the model of ``model_dir`` (BatchNorm folded) as ONNX plus live_config.json.

    Args:
        model_dir: a model folder written by :func:`kit.net.train.train`.
        folder: where to write; default ``<model_dir>/exported``.

    Returns:
        The folder holding ``model.onnx`` and ``live_config.json``.
    """
    predictor = Predictor(model_dir)  # loads, checks the heads and folds BatchNorm
    folder = Path(folder) if folder is not None else Path(model_dir) / EXPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    model = predictor.model
    model.predict_on_batch(np.zeros((1, 64, 64, 3), np.float32))  # Keras exports called models
    with atomic_path(folder / ONNX_FILE) as tmp:
        model.export(str(tmp), format="onnx", verbose=False)
    pose = ModelFolder(model_dir).load_pose_config().to_dict()
    config = {key: pose[key] for key in INFO_KEYS}
    config.update(heads=pose["heads"], input=model.inputs[0].name, format="onnx",
                  train_steps=pose["train_steps"], keras_version=keras.__version__)
    atomic_write_text(folder / CONFIG_FILE, json.dumps(config, indent=1))
    return folder


def ensure_exported(model_dir: str | Path) -> Path:
    """The exported folder of ``model_dir``, exported first if it is missing or older than
    the model (a model trained again)."""
    folder = Path(model_dir) / EXPORT_DIR
    onnx_file, model_file = folder / ONNX_FILE, ModelFolder(model_dir).model_file
    if (onnx_file.is_file() and (folder / CONFIG_FILE).is_file() and model_file.is_file()
            and onnx_file.stat().st_mtime >= model_file.stat().st_mtime):
        return folder
    return export_model(model_dir)


def load_live_config(folder: str | Path) -> dict[str, Any]:
    """The ``live_config.json`` of an exported folder."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"No {CONFIG_FILE} in {folder}: not an exported model. Export it first: "
            "kit.live.export.export_model(model_dir) (notebooks/08_live.ipynb does it)."
        )
    config = json.loads(path.read_text())
    missing = [key for key in INFO_KEYS if key not in config]
    if missing:
        raise ValueError(f"{path} lacks {missing}. Export the model again (export_model).")
    return config


def exported_folder(path: str | Path) -> Path:
    """``path`` itself if it holds model.onnx, else ``<path>/exported`` (a model folder)."""
    path = Path(path)
    return path if (path / ONNX_FILE).is_file() else path / EXPORT_DIR


def load_net(path: str | Path, runtime: str) -> tuple[Net, dict[str, Any]]:
    """The network and its info for ``runtime``: "keras" (a model folder) or "onnx" (an
    exported folder, or a model folder holding ``exported/``)."""
    if runtime not in RUNTIMES:
        raise ValueError(f"Unknown runtime {runtime!r}. Valid choices: {sorted(RUNTIMES)}.")
    return RUNTIMES[runtime](path)


def _onnx(path: str | Path) -> tuple[Net, dict[str, Any]]:
    folder = exported_folder(path)
    if not (folder / ONNX_FILE).is_file():
        raise FileNotFoundError(
            f"No {ONNX_FILE} in {folder}. Export the model first: "
            f"kit.live.export.export_model({str(path)!r}), or use runtime='keras'."
        )
    return onnx_net(folder / ONNX_FILE, load_live_config(folder))


RUNTIMES = {"keras": keras_net, "onnx": _onnx}
