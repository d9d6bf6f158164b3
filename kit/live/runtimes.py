"""The network of a live predictor, one frame at a time: Keras (the model folder) or ONNX
Runtime (the exported file), both turning (1, h, w, 3) images into the maps of every head
(``part_pred`` logits, ``locref``; a multi-animal model also ``paf`` and maybe ``identity``
logits), a dict keyed by head name; and the one function that decodes them into positions
(:func:`decode_outputs`).

Both runtimes take images of any size (dynamic cropping changes it from frame to frame).

Nothing here imports Keras or TensorFlow at import time: the ONNX runtime runs on a rig
with onnxruntime, NumPy, SciPy and OpenCV only; ``runtime="keras"`` imports Keras when it
loads a model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kit.net.assembly import AssemblyConfig
from kit.net.decoders import get_decoder
from kit.net.model_folder import ModelFolder, PoseConfig
from kit.net.targets import sigmoid

# (1, h, w, 3) float32 RGB 0-255 -> the heads' maps: {head: (1, h', w', C)}, or a sequence in
# the order of the info's "heads" (as Keras and ONNX Runtime give them)
Net = Callable[[np.ndarray], Mapping[str, np.ndarray] | Sequence[np.ndarray]]

# What live_config.json must hold (the rest of the model's pose config takes its defaults,
# kit.net.model_folder's, for folders exported before it was written).
INFO_KEYS = ("bodyparts", "net_type", "stride", "backbone_stride", "locref_stdev",
             "global_scale")
# Each head's activation (kit.net.heads' records) as exports before they recorded it had
# them: only these two heads output logits.
OLD_EXPORT_ACTIVATIONS = {"part_pred": "sigmoid", "identity": "sigmoid"}
ACTIVATIONS = {"sigmoid": sigmoid, None: np.asarray}

ONNX_FILE = "model.onnx"
CONFIG_FILE = "live_config.json"


def live_pose(info: Mapping[str, Any]) -> PoseConfig:
    """The pose config within a live info (live_config.json, or a model folder's), with
    its defaults where an older export lacks keys."""
    fields = PoseConfig.__dataclass_fields__
    return PoseConfig.from_dict({k: v for k, v in info.items() if k in fields})


def complete_info(info: Mapping[str, Any]) -> dict[str, Any]:
    """``info`` with every pose-config key (defaults for those an older export lacks) and
    each head's activation."""
    pose = live_pose(info)
    activations = info.get("activations") or {
        name: OLD_EXPORT_ACTIVATIONS.get(name) for name in pose.heads}
    return {**info, **pose.to_dict(), "activations": activations}


def num_rows(info: Mapping[str, Any]) -> int:
    """Rows of a pose: 1 for one animal; the individuals, then ``single`` if the model has
    unique body parts."""
    return live_pose(info).num_rows


def named_outputs(outputs: Mapping[str, np.ndarray] | Sequence[np.ndarray],
                  heads: Sequence[str]) -> dict[str, np.ndarray]:
    """The network's outputs keyed by head name; a sequence is in the order of ``heads``
    (the pose config's, which Keras's and the ONNX file's outputs follow)."""
    if isinstance(outputs, Mapping):
        return {name: np.asarray(outputs[name]) for name in heads}
    if len(outputs) != len(heads):
        raise ValueError(f"The network gave {len(outputs)} outputs for the heads {list(heads)}. "
                         "Export the model again (kit.live.export.export_model).")
    return {name: np.asarray(out) for name, out in zip(heads, outputs)}


def decode_outputs(outputs: Mapping[str, np.ndarray], info: Mapping[str, Any],
                   assembly: AssemblyConfig = AssemblyConfig(), pose: PoseConfig | None = None,
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """Positions from the network's outputs: the one place live decoding happens.

    Each head's activation, then the decoder the model's pose config names
    (:mod:`kit.net.decoders`, as :class:`kit.net.predict.Predictor` decodes): one animal,
    each part's best cell refined by locref; several, every peak assembled into animals
    along the part-affinity fields.

    Args:
        outputs: ``{head: (N, h, w, C)}``: ``part_pred`` logits (K), ``locref`` (2K); a
            multi-animal model's ``paf`` (2E) and ``identity`` logits (I).
        info: live_config.json's content (:func:`complete_info`).
        assembly: peak threshold and matching of a multi-animal model.
        pose: the pose config to decode with (e.g. :func:`kit.net.test_scales.at_scale`'s,
            for frames resized); None: ``info``'s.

    Returns:
        poses: (N, rows, K, 3) float64, x, y in the network's input pixels, likelihood;
            rows: 1 for one animal; for several the assemblies, best first, then
            ``single`` (unique body parts) if the model has them, NaN where empty.
        identity: (N, rows, I) identity scores of each row, or None without that head.
    """
    pose = pose or live_pose(info)
    activations = info.get("activations") or OLD_EXPORT_ACTIVATIONS
    maps = {name: ACTIVATIONS[activations.get(name)](np.asarray(out, np.float32))
            for name, out in outputs.items()}
    decoded = get_decoder(pose.decoder)(maps, pose, assembly)
    return decoded.poses, decoded.identity


def keras_net(model_dir: str | Path) -> tuple[Net, dict[str, Any]]:
    """The trained model of ``model_dir`` loaded as :class:`Predictor` loads it (BatchNorm
    folded), called through Keras's compiled predict function; and its info.

    (``jit_compile=True`` was measured slower on a CPU, 685 vs 609 ms at 320x240, and
    recompiles for every crop size, so it is not used.)
    """
    from kit.net.predict import Predictor  # imports Keras: only this runtime needs it

    from kit.net.heads import get_head

    predictor = Predictor(model_dir)
    pose = predictor.pose.to_dict()
    info = {**pose, "activations": {name: get_head(name).activation for name in pose["heads"]}}
    model = predictor.model
    heads = info["heads"]

    def run(images: np.ndarray) -> dict[str, np.ndarray]:
        return named_outputs(model.predict_on_batch(images), heads)

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
    heads = list(info["heads"])
    names = [out.name for out in session.get_outputs()]
    # Outputs named after the heads are taken by name; otherwise in the heads' order.
    order = [names.index(h) for h in heads] if set(heads) <= set(names) else range(len(names))

    def run(images: np.ndarray) -> dict[str, np.ndarray]:
        outputs = session.run(None, {input_name: images})
        return named_outputs([outputs[i] for i in order], heads)

    return run, info


def load_live_config(folder: str | Path) -> dict[str, Any]:
    """The ``live_config.json`` of an exported folder, completed (:func:`complete_info`)
    where an export written before some keys lacks them."""
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
    return complete_info(config)


def exported_folder(path: str | Path) -> Path:
    """``path`` itself if it holds model.onnx, else a model folder's export folder."""
    path = Path(path)
    return path if (path / ONNX_FILE).is_file() else ModelFolder(path).exported_dir


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
