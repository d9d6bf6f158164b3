"""A trained model's folder, owned here: what the network is (:class:`PoseConfig`) and the
names of the folder's files (:class:`ModelFolder`). No other module names them.

A folder written by :func:`kit.net.train.train` holds::

    train_config.json   the settings (TrainConfig), written first
    split.json          the train/test images
    checkpoints/        model + optimizer while the run lasts
    train_log.csv       losses between checkpoints
    model.keras         the final network (written last, with pose_config.json)
    pose_config.json    what the network is and what prediction needs (PoseConfig)
    exported/           the ONNX export of kit.live.export, when made

Plain Python only (no Keras): the live rig reads a folder without the training code.
Which folder a user means is found by what it was trained with:
:func:`kit.net.model_query.find_model`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.net.images import check_passes
from kit.net.targets import TargetConfig
from kit.project import Project, atomic_write_text
from kit.project.splits import Split, load_split, save_split

MODEL_FILE = "model.keras"
POSE_CONFIG_FILE = "pose_config.json"
TRAIN_CONFIG_FILE = "train_config.json"
SPLIT_FILE = "split.json"
TRAIN_LOG_FILE = "train_log.csv"
CHECKPOINTS_DIR = "checkpoints"
EXPORTED_DIR = "exported"

# The decoders a pose config may name (kit.net.decoders holds their code).
SINGLE_ANIMAL_DECODER, BOTTOM_UP_DECODER = "single_animal", "bottom_up"
TWO_VIEWS_DECODER = "two_views"  # one animal filmed in two views (kit.net.two_views)
# What folders written before these keys existed hold: a ResNet-50, one animal, the
# targets' and augmentation's defaults of that time.
_TARGETS = TargetConfig()
OLD_DEFAULTS: dict[str, Any] = {
    "net_type": "resnet_50", "backbone_stride": 16, "stride": 8,
    "heads": ["part_pred", "locref"], "locref_stdev": _TARGETS.locref_stdev,
    "global_scale": 0.8, "train_steps": 0, "crop_hw": None, "iteration": 0,
    "keras_backend": "", "paf_width": _TARGETS.paf_width,
}
# What a single-animal folder (which does not write these keys) stands for.
SINGLE_ANIMAL = {"multianimal": False, "individuals": [], "unique_bodyparts": [],
                 "paf_graph": [], "identity": False}


@dataclass(frozen=True)
class PoseConfig:
    """What a model folder's network is and what prediction needs (``pose_config.json``).

    Attributes:
        bodyparts: the score maps' body parts, in order (multi-animal: the animals' parts,
            then the unique ones).
        net_type: the backbone (:mod:`kit.net.backbones`), e.g. "resnet_50".
        backbone_stride: input pixels per backbone feature cell (16 for resnet_50).
        stride: input pixels per map cell (the heads' output stride, 8).
        heads: the model's outputs, names of :data:`kit.net.heads.HEADS_BY_NAME`:
            ("part_pred", "locref"), multi-animal then "paf" and, with identities,
            "identity". A model saved with list outputs has them in this order.
        locref_stdev: location-refinement maps hold offset / locref_stdev.
        global_scale: images are resized by this before the network.
        train_steps, crop_hw, iteration, keras_backend: how it was trained.
        multianimal: a bottom-up multi-animal network.
        individuals: the animals' names (the identity channels' order).
        unique_bodyparts: the body parts found once per frame (the last of bodyparts).
        paf_graph: ((a, b), ...) edges, indices into bodyparts; PAF channels 2e, 2e + 1
            hold x, y of the unit vector from part a to part b.
        identity: whether the model has the identity head.
        paf_width: PAF half-width, input pixels.
        decoder: how maps become poses, a name of :data:`kit.net.decoders.DECODERS`:
            "single_animal", "bottom_up" (default: from ``multianimal``) or "two_views".
        view_pairs, view_mean, view_components, view_tolerance_px: the ``two_views``
            decoder's pairs of body parts (one point seen in two views) and the subspace of
            their four coordinates (map pixels: mean (4,), components (4, 3), the labels'
            own residual) (:mod:`kit.net.two_views`).
        view_tolerances_px: each pair's tolerance (in ``view_pairs``' order; never below
            ``view_tolerance_px``); empty (a model of before): ``view_tolerance_px`` for all.
        view_boundary: (nx, ny, c), map pixels: the first view of each pair lies at
            nx * x + ny * y < c, the second beyond (the labels' views apart); empty: the
            views overlap, or a model of before.
        test_scales, test_rotations: factors of ``global_scale`` to predict at, and turns of
            the image (degrees, multiples of 90), the median taken over every pass
            (:mod:`kit.net.test_scales`); empty: once, at ``global_scale``, upright.
        test_mirror: every pass also on the image flipped left to right (its left and right
            parts swapped back).
    """

    bodyparts: tuple[str, ...]
    net_type: str = OLD_DEFAULTS["net_type"]
    backbone_stride: int = OLD_DEFAULTS["backbone_stride"]
    stride: int = OLD_DEFAULTS["stride"]
    heads: tuple[str, ...] = tuple(OLD_DEFAULTS["heads"])
    locref_stdev: float = OLD_DEFAULTS["locref_stdev"]
    global_scale: float = OLD_DEFAULTS["global_scale"]
    train_steps: int = OLD_DEFAULTS["train_steps"]
    crop_hw: tuple[int, int] | None = None
    iteration: int = OLD_DEFAULTS["iteration"]
    keras_backend: str = OLD_DEFAULTS["keras_backend"]
    multianimal: bool = False
    individuals: tuple[str, ...] = ()
    unique_bodyparts: tuple[str, ...] = ()
    paf_graph: tuple[tuple[int, int], ...] = ()
    identity: bool = False
    paf_width: float = OLD_DEFAULTS["paf_width"]
    decoder: str = ""
    view_pairs: tuple[tuple[str, str], ...] = ()
    view_mean: tuple[float, ...] = ()
    view_components: tuple[tuple[float, ...], ...] = ()
    view_tolerance_px: float = 0.0
    view_tolerances_px: tuple[float, ...] = ()
    view_boundary: tuple[float, ...] = ()
    test_scales: tuple[float, ...] = ()
    test_rotations: tuple[int, ...] = ()
    test_mirror: bool = False

    def __post_init__(self):
        if not self.bodyparts:
            raise ValueError(f"A pose config needs bodyparts. Received: {self.bodyparts!r}.")
        if self.multianimal and not self.individuals:
            raise ValueError("A multi-animal pose config needs individuals. Received: "
                             f"individuals={self.individuals!r}.")
        if not self.decoder:  # derived once here, so readers never branch on multianimal
            default = BOTTOM_UP_DECODER if self.multianimal else SINGLE_ANIMAL_DECODER
            object.__setattr__(self, "decoder", default)
        named = {part for pair in self.view_pairs for part in pair}
        if self.decoder == TWO_VIEWS_DECODER and (
                not self.view_pairs or len(self.view_mean) != 4 or named - set(self.bodyparts)):
            raise ValueError("The two_views decoder needs view_pairs of body parts and their "
                             "subspace (kit.net.two_views.use_two_views writes them). Received: "
                             f"view_pairs={self.view_pairs!r}, view_mean={self.view_mean!r}.")
        if self.view_tolerances_px and len(self.view_tolerances_px) != len(self.view_pairs):
            raise ValueError("view_tolerances_px needs one tolerance per view pair. Received: "
                             f"{self.view_tolerances_px!r} for {len(self.view_pairs)} pairs.")
        if self.view_boundary and len(self.view_boundary) != 3:
            raise ValueError("view_boundary is a line (nx, ny, c) between the views, or empty. "
                             f"Received: {self.view_boundary!r}.")
        check_passes(self.test_scales, self.test_rotations,
                     two_views=self.decoder == TWO_VIEWS_DECODER, mirror=self.test_mirror)

    @property
    def num_rows(self) -> int:
        """Rows of a pose array: the animals, then ``single`` if there are unique body
        parts (multi-animal); 1 for one animal."""
        if not self.multianimal:
            return 1
        return len(self.individuals) + bool(self.unique_bodyparts)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict (lists for tuples)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, pose: dict[str, Any]) -> PoseConfig:
        """From a ``pose_config.json`` of any kit version: keys it lacks take
        :data:`OLD_DEFAULTS` and :data:`SINGLE_ANIMAL`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(pose) - known)
        if unknown:
            raise ValueError(f"Unknown pose config keys {unknown}. Valid: {sorted(known)}.")
        merged = {**OLD_DEFAULTS, **SINGLE_ANIMAL, **pose}
        for key in ("bodyparts", "heads", "individuals", "unique_bodyparts"):
            merged[key] = tuple(merged[key])
        merged["paf_graph"] = tuple(tuple(int(i) for i in edge) for edge in merged["paf_graph"])
        for key in ("view_pairs", "view_mean", "view_components", "view_tolerances_px",
                    "view_boundary", "test_scales", "test_rotations"):
            merged[key] = tuple(tuple(v) if isinstance(v, list) else v
                                for v in merged.get(key, ()))
        if merged["crop_hw"] is not None:
            merged["crop_hw"] = tuple(merged["crop_hw"])
        return cls(**merged)


@dataclass(frozen=True)
class ModelFolder:
    """One trained model's folder (``project.model_dir(...)``) and its files.

    Args:
        path: the folder (it need not exist yet: training creates it).
    """

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    def __fspath__(self) -> str:  # a ModelFolder passes wherever a folder path does
        return str(self.path)

    # The folder's files: the final network (present once training has finished), the pose
    # config, the settings, the split, the log, the checkpoints and the ONNX export
    # (kit.live.export writes it).
    model_file = property(lambda self: self.path / MODEL_FILE)
    pose_config_file = property(lambda self: self.path / POSE_CONFIG_FILE)
    train_config_file = property(lambda self: self.path / TRAIN_CONFIG_FILE)
    split_file = property(lambda self: self.path / SPLIT_FILE)
    train_log_file = property(lambda self: self.path / TRAIN_LOG_FILE)
    checkpoints_dir = property(lambda self: self.path / CHECKPOINTS_DIR)
    exported_dir = property(lambda self: self.path / EXPORTED_DIR)

    @property
    def variant(self) -> str:
        """The name's suffix after ``shuffle<k>`` (``TrainConfig.variant``, e.g.
        "-n12-mobilenet_v2_0.35"); "" for a plain shuffle."""
        return name_parts(self.path.name)[2]

    def evaluation_dir(self, project: Project) -> Path:
        """The project's folder for this model's evaluation (``project.evaluation_dir``, of
        the iteration the model folder lies in)."""
        shuffle, train_fraction, variant = name_parts(self.path.name)
        found = re.fullmatch(r"iteration-(\d+)", self.path.parent.name)
        iteration = int(found.group(1)) if found else project.iteration
        return project.evaluation_dir(shuffle, train_fraction, iteration, variant)

    def is_trained(self) -> bool:
        """Whether the final network has been written."""
        return self.model_file.is_file()

    def check_trained(self) -> None:
        """Raise FileNotFoundError naming the folder and the fix if it has no final model."""
        if not self.is_trained() or not self.pose_config_file.is_file():
            raise FileNotFoundError(
                f"No trained model in {self.path} (no {MODEL_FILE} and {POSE_CONFIG_FILE}). "
                "Train it first (notebooks/03_train.ipynb or kit.net.train.train), or check "
                "the shuffle, train_fraction and what it was trained with."
            )

    def load_pose_config(self) -> PoseConfig:
        """The folder's :class:`PoseConfig` (folders of older kit versions included)."""
        if not self.pose_config_file.is_file():
            raise FileNotFoundError(
                f"No {POSE_CONFIG_FILE} in {self.path}: not a finished kit model folder. "
                "Train it first (notebooks/03_train.ipynb or kit.net.train.train)."
            )
        return PoseConfig.from_dict(json.loads(self.pose_config_file.read_text()))

    def save_pose_config(self, pose: PoseConfig) -> Path:
        """Write ``pose`` atomically; return the file."""
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.pose_config_file, json.dumps(pose.to_dict(), indent=1))
        return self.pose_config_file

    def has_train_config(self) -> bool:
        """Whether a run was started here (its settings are saved)."""
        return self.train_config_file.is_file()

    def load_train_config_dict(self) -> dict[str, Any]:
        """The saved settings as written (``TrainConfig.to_dict``; older runs lack newer
        keys). :meth:`load_train_config` gives them as a TrainConfig."""
        if not self.train_config_file.is_file():
            raise FileNotFoundError(
                f"No {TRAIN_CONFIG_FILE} in {self.path}: no run was started here. Train it "
                "first, or name the shuffle and iteration whose model you trained."
            )
        return json.loads(self.train_config_file.read_text())

    def load_train_config(self):
        """The saved settings as a :class:`kit.net.train_config.TrainConfig`."""
        from kit.net.train_config import TrainConfig  # Keras: only where it is asked for

        return TrainConfig.from_dict(self.load_train_config_dict())

    def save_train_config_dict(self, settings: dict[str, Any]) -> Path:
        """Write the settings (``TrainConfig.to_dict()``) atomically; return the file."""
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.train_config_file, json.dumps(settings, indent=1))
        return self.train_config_file

    def has_split(self) -> bool:
        """Whether the run's train/test split is saved here."""
        return self.split_file.is_file()

    def load_split(self) -> Split:
        """The train/test (and novel) images of the run."""
        return load_split(self.split_file)

    def save_split(self, split: Split) -> Path:
        """Write ``split`` atomically as the run's split; return the file."""
        self.path.mkdir(parents=True, exist_ok=True)
        save_split(split, self.split_file)
        return self.split_file


def name_parts(name: str) -> tuple[int, float, str]:
    """shuffle, train_fraction and variant of a model folder's name (Project.model_name)."""
    found = re.search(r"-trainset(\d+)shuffle(\d+)((?:-.+)?)$", name)
    if found is None:
        raise ValueError(f"{name!r} is not a kit model folder's name (<Task><date>-trainset"
                         "<pct>shuffle<k>[variant]). Pass a folder made by kit.net.train.")
    return int(found.group(2)), int(found.group(1)) / 100, found.group(3)
