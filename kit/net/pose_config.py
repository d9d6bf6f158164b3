"""``pose_config.json``: what a model folder's network is and what prediction needs.

Written by :func:`kit.net.train.train` next to ``model.keras``; read by prediction (and
so evaluation and video analysis), which take the network's kind from here rather than
from its layer names. Keys::

    bodyparts        the score maps' body parts, in order
    net_type         the backbone (kit.net.backbones), e.g. "resnet_50"
    backbone_stride  input pixels per backbone feature cell (16 for resnet_50)
    stride           input pixels per score-map cell (the heads' output stride, 8)
    heads            the model's outputs, in order: ["part_pred", "locref"] (multi-animal:
                     then "paf", and "identity" with identities)
    locref_stdev     location-refinement maps hold offset / locref_stdev
    global_scale     images are resized by this before the network
    train_steps, crop_hw, iteration, keras_backend   how it was trained

A multi-animal network's folder also has (a single-animal one reads as the defaults of
:data:`SINGLE_ANIMAL`)::

    multianimal       true
    individuals       the animals' names (the identity channels' order)
    unique_bodyparts  the body parts found once per frame (the last of bodyparts)
    paf_graph         [[a, b], ...] edges, indices into bodyparts; PAF channels 2e, 2e + 1
                      hold the x, y of the unit vector from part a to part b
    identity          whether the model has the identity head
    paf_width         PAF half-width, input pixels

A folder trained before ``net_type`` was recorded is a ResNet-50 with the defaults below.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kit.project import atomic_write_text

FILE_NAME = "pose_config.json"
# What folders written before these keys existed hold.
OLD_DEFAULTS = {"net_type": "resnet_50", "backbone_stride": 16, "stride": 8,
                "heads": ["part_pred", "locref"]}
# What a single-animal folder (which does not write these keys) stands for.
SINGLE_ANIMAL = {"multianimal": False, "individuals": [], "unique_bodyparts": [],
                 "paf_graph": [], "identity": False}


def save_pose_config(model_dir: str | Path, pose: dict[str, Any]) -> Path:
    """Write ``pose`` (atomically) as the folder's pose_config.json; return its path."""
    missing = [key for key in ("bodyparts", *OLD_DEFAULTS) if key not in pose]
    if missing:
        raise ValueError(f"pose_config lacks {missing}. Received keys: {sorted(pose)}.")
    missing = [key for key in SINGLE_ANIMAL if pose.get("multianimal") and key not in pose]
    if missing:
        raise ValueError(f"A multi-animal pose_config lacks {missing}. Received keys: "
                         f"{sorted(pose)}.")
    path = Path(model_dir) / FILE_NAME
    atomic_write_text(path, json.dumps(pose, indent=1))
    return path


def load_pose_config(model_dir: str | Path) -> dict[str, Any]:
    """The folder's pose_config.json, with :data:`OLD_DEFAULTS` and :data:`SINGLE_ANIMAL`
    for keys it lacks."""
    path = Path(model_dir) / FILE_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"No {FILE_NAME} in {model_dir}: not a finished kit model folder. Train it first "
            "(notebooks/03_train.ipynb or kit.net.train.train)."
        )
    return {**OLD_DEFAULTS, **SINGLE_ANIMAL, **json.loads(path.read_text())}
