"""Training settings: ``TrainConfig`` (saved in the model folder: :mod:`kit.net.model_folder`);
the optimizer they stand for is :mod:`kit.net.optimizer`'s.

Nothing here trains or touches disk; :mod:`kit.net.train` runs the training these settings
describe, and is where users import ``TrainConfig`` from (``from kit.net.train import TrainConfig``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kit.net.backbones import get_backbone, is_pretrained_file
from kit.net.data import AugmentConfig, default_num_workers
from kit.net.images import check_passes
from kit.net.targets import TargetConfig
from kit.project import Project
from kit.project.settings_text import parse_settings
from kit.project.splits import SPLIT_METHODS

OPTIMIZERS = ("sgd", "adam")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")  # Keras dtype policies
DLC_ROTATION_DEG = AugmentConfig().rotation_deg  # DeepLabCut's 25: keeps its folder names
EAGER_STEPS = 10  # run_eagerly="auto": runs with at most this many steps left skip tracing
# Settings a resumed run may change: how steps run, not what they compute.
EXECUTION_ONLY = ("run_eagerly", "keep_checkpoints", "num_workers")
# What the losses on unlabeled frames are set to; moot where unlabeled_pairs is 0.
UNLABELED_SETTINGS = ("unlabeled_margin_frames", "temporal_loss_weight", "temporal_epsilon_px",
                      "temporal_min_confidence", "pca_loss_weight", "pca_explained_variance",
                      "unlabeled_rampup", "view_pairs", "views_loss_weight", "pca_bodyparts")


def computing_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` (:meth:`TrainConfig.to_dict`'s) less what does not change what a run
    computes: :data:`EXECUTION_ONLY`, and without unlabeled pairs :data:`UNLABELED_SETTINGS`
    (so a new default of those leaves finished runs as they were)."""
    moot = EXECUTION_ONLY + (UNLABELED_SETTINGS if not settings.get("unlabeled_pairs") else ())
    return {key: value for key, value in settings.items() if key not in moot}


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (saved in the model folder, ``ModelFolder.train_config_file``).

    Attributes:
        shuffle, train_fraction: which split (and model folder) this is.
        train_steps: optimizer steps in all.
        batch_size: images per step (crops of equal size).
        net_type: the backbone, a name of ``kit.net.backbones.BACKBONES`` (DeepLabCut's
            ``net_type``: "resnet_50").
        weights: initial weights: "imagenet" (as DeepLabCut: Keras's cache, downloaded there
            if missing; training stops before any work if it cannot be had), None or ""
            (from scratch), a weights file of the backbone (.h5), or a kit model (.keras)
            to continue from.
        optimizer: "sgd" (DeepLabCut's multi-step schedule, momentum 0.9, scaled to
            train_steps) or "adam" (learning_rate, divided by 10 at 80% and 95%).
        learning_rate: Adam's initial rate; for SGD, the schedule's peak (0.02).
        save_every: steps between checkpoints (0: a tenth of the run); the last step is saved too.
        seed: seeds weights, splits and batches.
        locref_loss_weight: weight of the location-refinement loss.
        pairwise_loss_weight: multi-animal projects: weight of the part-affinity-field loss
            (DeepLabCut's ``pairwise_loss_weight``); the PAFs' half-width is
            ``targets.paf_width``.
        train_size: if > 0, train on the first ``train_size`` frames of the shuffle's
            training set only (nested: smaller sets lie inside larger ones), testing
            on the same test set: the points of a learning curve.
        bodyparts: if given, train on these body parts only (the others are ignored).
        test_videos: labeled-data folders kept out of training (novel animals); their
            frames are evaluated as the split "novel".
        split_method: how test frames are chosen (``kit.project.splits.SPLIT_METHODS``):
            "random" (DeepLabCut's: each test frame near training frames, so its error is
            an interpolation error) or "blocks" (each video's last ``1 - train_fraction``
            of labeled frames by frame number: the error on a stretch never seen).
        validation_fraction: the share of each video's labeled frames before the test set
            kept out of training to choose settings on (split "validation"); 0: none.
        precision: "float32", or a Keras mixed-precision policy ("mixed_float16",
            "mixed_bfloat16": faster on recent GPUs; on a CPU see docs/how-to; heads float32).
        jit_compile: XLA-compile the train step: True, False, or "auto" (Keras's choice:
            XLA on JAX and on TensorFlow with a GPU).
        run_eagerly: run the train step op by op instead of tracing it into a graph:
            True, False, or "auto" (on TensorFlow, eagerly when at most ``EAGER_STEPS``
            steps are left: tracing a ResNet-50 train step takes as long as ten to twenty
            steps on a CPU, so smoke runs and short resumes finish sooner; JAX's eager
            steps are too slow for that). Numbers are the same.
        batchnorm_batches: augmented batches that BatchNorm's moving statistics are
            recomputed on after training (``kit.net.model.recalibrate_batchnorm``); 0 keeps
            the moving averages of the run.
        num_workers: threads that prepare the next batches while the network trains
            (``kit.net.data.prefetch``): one per CPU core, at most 8; 0: between steps, on
            the training thread. The batches are the same for any number.
        keep_checkpoints: keep the last checkpoint (model + optimizer, about 290 MB for
            ResNet-50 with Adam) once the final model is written (by default deleted; training
            on takes ``weights=str(ModelFolder(model_dir).model_file)``).
        unlabeled_pairs: pairs of consecutive unlabeled video frames added to each batch
            (``batch_size`` labeled crops + 2 * unlabeled_pairs) for the losses on unlabeled
            frames (:mod:`kit.net.unlabeled_losses`; several animals: on the assembled animals,
            :mod:`kit.net.unlabeled_animals`); 0: off.
        unlabeled_margin_frames: pairs lie further than this from every test frame
            (:func:`kit.net.unlabeled.unlabeled_pair_starts`).
        temporal_loss_weight, temporal_epsilon_px: weight of the temporal loss (keypoint
            jumps between the frames of a pair beyond epsilon pixels of the crop); 0: off.
        temporal_min_confidence: a body part counts in the temporal loss where the
            sigmoid of its highest score-map logit is at least this in both frames
            (Lightning Pose's ``prob_threshold``, 0.05 there): a part out of view or
            occluded has no position to keep still; 0: every part (what the benchmarks
            measured).
        pca_loss_weight, pca_explained_variance: weight of the pose-subspace loss (distance
            from the PCA of the labeled poses, with the components that explain this share
            of their variance, beyond the labels' own); 0: off.
        pca_bodyparts: the body parts that loss reads (Lightning Pose's
            ``columns_for_singleview_pca``): leave out what is not the animal's pose (an
            obstacle) or is often out of view; (): all.
        unlabeled_rampup: share of ``train_steps`` over which the unlabeled losses' weights
            grow from 0 to theirs (as in semi-supervised learning, e.g. Laine and Aila 2017:
            they would pull an untrained network to a constant pose); 0: from the first step.
        view_pairs, views_loss_weight: for a rig that films two views in one frame (a
            mirror): pairs of body parts that are one point seen in both views, e.g.
            ``(("nose_top", "nose_bot"), ...)``, and the weight of the loss on their
            disagreement (distance from the 3-dimensional subspace their labels span, beyond
            the labels' own; :class:`kit.net.unlabeled_losses.ViewsLoss`); no pairs or 0: off.
            With pairs, the model also predicts with the ``two_views`` decoder (each pair's
            weaker view found again where it agrees with the other: :mod:`kit.net.two_views`).
        pseudo_label_frames, pseudo_label_at, pseudo_label_min_likelihood: self-training
            (:mod:`kit.net.pseudo_labels`): at ``pseudo_label_at`` of the run the network
            labels this many frames of the project's videos (away from the test frames, as
            the unlabeled pairs) and trains on them as well, each body part where its
            likelihood reaches ``pseudo_label_min_likelihood``; 0 frames: off.
        pose_balance: each labeled frame drawn in proportion to its pose's rarity among the
            labeled frames raised to this power (:mod:`kit.net.pose_balance`); 0: all alike.
        ema_span: the model saved holds the exponential moving average of the weights over
            the steps (Keras's ``use_ema``, :mod:`kit.net.optimizer`), its time constant
            this share of ``train_steps``; 0: the last step's weights.
        test_scales, test_rotations, test_mirror: the model predicts each image at these
            factors of its global_scale, turned by these degrees (multiples of 90, for
            rotation_deg 180) and, with test_mirror, flipped left to right too, and takes the
            median (:mod:`kit.net.test_scales`; several animals matched across the passes).
    """

    shuffle: int = 1
    train_fraction: float = 0.95
    train_steps: int = 1000
    batch_size: int = 8
    net_type: str = "resnet_50"
    weights: str | None = "imagenet"
    optimizer: str = "sgd"
    learning_rate: float | None = None
    save_every: int = 0
    seed: int = 0
    locref_loss_weight: float = 0.05
    pairwise_loss_weight: float = 0.1
    train_size: int = 0
    bodyparts: tuple[str, ...] = ()
    test_videos: tuple[str, ...] = ()
    split_method: str = "random"
    validation_fraction: float = 0.0
    precision: str = "float32"
    jit_compile: bool | str = "auto"
    run_eagerly: bool | str = "auto"
    batchnorm_batches: int = 20
    keep_checkpoints: bool = False
    num_workers: int = field(default_factory=default_num_workers)
    unlabeled_pairs: int = 0
    unlabeled_margin_frames: int = 10
    temporal_loss_weight: float = 0.001
    temporal_epsilon_px: float = 10.0
    temporal_min_confidence: float = 0.0
    pca_loss_weight: float = 0.001
    pca_explained_variance: float = 0.99
    pca_bodyparts: tuple[str, ...] = ()
    unlabeled_rampup: float = 0.5
    view_pairs: tuple[tuple[str, str], ...] = ()
    views_loss_weight: float = 0.001
    pseudo_label_frames: int = 0
    pseudo_label_at: float = 0.5
    pseudo_label_min_likelihood: float = 0.6
    pose_balance: float = 0.0
    ema_span: float = 0.0
    test_scales: tuple[float, ...] = ()
    test_rotations: tuple[int, ...] = ()
    test_mirror: bool = False
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    targets: TargetConfig = field(default_factory=TargetConfig)

    def __post_init__(self):
        get_backbone(self.net_type)  # raises, listing the valid names
        if self.precision not in PRECISIONS or self.jit_compile not in (True, False, "auto"):
            raise ValueError(
                f"precision must be one of {PRECISIONS} and jit_compile True, False or 'auto'. "
                f"Received: precision={self.precision!r}, jit_compile={self.jit_compile!r}.")
        if self.run_eagerly not in (True, False, "auto"):
            raise ValueError(f"run_eagerly must be True, False or 'auto'. Received: "
                             f"{self.run_eagerly!r}.")
        if self.split_method not in SPLIT_METHODS:
            raise ValueError(f"split_method must be one of {sorted(SPLIT_METHODS)}. "
                             f"Received: {self.split_method!r}.")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}. Received: {self.optimizer!r}.")
        if (self.train_steps < 1 or self.batch_size < 1 or self.batchnorm_batches < 0
                or self.num_workers < 0):
            raise ValueError(
                f"train_steps and batch_size must be >= 1, batchnorm_batches and num_workers "
                f">= 0. Received: train_steps={self.train_steps}, batch_size={self.batch_size}, "
                f"batchnorm_batches={self.batchnorm_batches}, num_workers={self.num_workers}.")
        if (min(self.unlabeled_pairs, self.unlabeled_margin_frames, self.temporal_loss_weight,
                self.temporal_epsilon_px, self.pca_loss_weight, self.views_loss_weight) < 0
                or any(len(pair) != 2 for pair in self.view_pairs)
                or not 0 < self.pca_explained_variance <= 1
                or not 0 <= self.temporal_min_confidence < 1
                or not 0 <= self.unlabeled_rampup <= 1):
            raise ValueError(
                "unlabeled_pairs, unlabeled_margin_frames and the temporal and pca settings must "
                "be >= 0, pca_explained_variance in (0, 1], unlabeled_rampup in [0, 1], "
                "temporal_min_confidence in [0, 1), view_pairs pairs of body parts. "
                f"Received: unlabeled_rampup={self.unlabeled_rampup}, unlabeled_pairs="
                f"{self.unlabeled_pairs}, unlabeled_margin_frames={self.unlabeled_margin_frames}, "
                f"temporal_loss_weight={self.temporal_loss_weight}, temporal_epsilon_px="
                f"{self.temporal_epsilon_px}, pca_loss_weight={self.pca_loss_weight}, "
                f"pca_explained_variance={self.pca_explained_variance}, views_loss_weight="
                f"{self.views_loss_weight}, view_pairs={self.view_pairs}, "
                f"temporal_min_confidence={self.temporal_min_confidence}.")
        _check_self_training(self)
        check_passes(self.test_scales, self.test_rotations, self.augment.rotation_deg,
                     bool(self.view_pairs), self.test_mirror, self.augment.mirror)
        if self.save_every < 0 or self.pose_balance < 0 or not 0 <= self.ema_span <= 1:
            raise ValueError(f"save_every (steps between checkpoints; 0: a tenth of the run) and "
                             f"pose_balance must be >= 0, ema_span in [0, 1]. Received: "
                             f"save_every={self.save_every}, pose_balance={self.pose_balance}, "
                             f"ema_span={self.ema_span}.")

    @property
    def variant(self) -> str:
        """Model-folder suffix naming what differs from a plain shuffle ("" if nothing), e.g.
        ``-n12-mobilenet_v2_0.35``: backbones of one shuffle share its split, not a folder."""
        parts = []
        if self.train_size:
            parts.append(f"n{self.train_size}")
        if self.bodyparts:
            parts.append("parts-" + "+".join(self.bodyparts))
        if self.test_videos:
            parts.append("novel-" + "+".join(self.test_videos))
        if self.split_method != "random":  # another test set: another model
            parts.append(self.split_method)
        if self.validation_fraction:  # other training frames
            parts.append(f"val{self.validation_fraction:g}")
        if self.seed:  # the members of an ensemble differ by their seed only
            parts.append(f"seed{self.seed}")
        if not self.augment.enabled:
            parts.append("noaug")
        elif self.augment.rotation_deg != DLC_ROTATION_DEG:  # another augmentation
            parts.append(f"rot{self.augment.rotation_deg:g}")
        if self.augment.enabled and self.augment.mirror:  # mirrored crops
            parts.append("mirror")
        if self.augment.enabled and self.augment.elastic:  # bent crops
            parts.append(f"elastic{self.augment.elastic:g}")
        if self.pose_balance:  # rare poses drawn more often
            parts.append(f"balance{self.pose_balance:g}")
        if self.ema_span:  # the weights' moving average saved
            parts.append(f"ema{self.ema_span:g}")
        if self.weights and is_pretrained_file(self.weights):  # pretrained on the project
            parts.append("pretrained")
        if self.unlabeled_pairs:  # trained with losses on unlabeled frames
            views = "views" if self.view_pairs and self.views_loss_weight else ""
            parts.append(f"unlabeled{self.unlabeled_pairs}{views}")
        if self.pseudo_label_frames:  # self-training on the project's videos
            parts.append(f"pseudo{self.pseudo_label_frames}")
        if self.net_type != "resnet_50":  # DeepLabCut's default keeps its folder names
            parts.append(self.net_type)
        return "".join("-" + p for p in parts)

    def model_dir(self, project: Project) -> Path:
        """The folder of the model this configuration trains in ``project``."""
        return project.model_dir(self.shuffle, self.train_fraction, variant=self.variant)

    @property
    def steps_per_checkpoint(self) -> int:
        """``save_every``, else a tenth of the run (the last step is saved and logged as
        well, whether or not it ends an interval: a prime number of steps once saved the
        model after every step)."""
        return self.save_every or max(1, self.train_steps // 10)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON values (what a model folder saves as its settings: ``ModelFolder.train_config_file``)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_parameters(cls, **parameters: Any) -> TrainConfig:
        """The settings from a notebook's flat parameters (those of ``03_train``).

        Conversions: ``weights`` "" -> None (from scratch); ``learning_rate`` 0 -> None (the
        optimizer's default); ``crop_size`` n -> (n, n); ``augment``, ``mirror``, ``elastic``,
        ``rotation_deg``, ``crop_jitter``, ``global_scale`` and ``scale_min``, ``scale_max`` ->
        ``AugmentConfig(enabled=, mirror=, elastic=, rotation_deg=, crop_jitter=,
        global_scale=, scale_range=(scale_min, scale_max))``; ``bodyparts``, ``test_videos`` and
        ``pca_bodyparts``, comma-separated, -> tuples; ``view_pairs``
        "a_top:a_bot,b_top:b_bot" -> pairs; ``test_scales`` "0.85,1,1.15" and
        ``test_rotations`` "0,90,180,270" (or lists) -> tuples of numbers; ``num_workers`` -1 -> one per core (the default).
        The others are TrainConfig's fields as they are. ``settings`` "name=value ..."
        (:mod:`kit.project.settings_text`) holds any of these not given on their own (the
        notebook's further settings: ``-p train_settings "unlabeled_pairs=4 num_workers=0"``).
        """
        flat = dict(parameters)
        unknown = sorted(set(flat) - FLAT_PARAMETERS - {"settings"})
        if unknown:
            raise ValueError(f"Unknown training parameters {unknown}. Valid: "
                             f"{sorted(FLAT_PARAMETERS)}.")
        flat.update(parse_settings(flat.pop("settings", ""), flat_defaults(),
                                   "03_train's train_settings", own=flat))
        augment = {"enabled": flat.pop("augment", True), "mirror": flat.pop("mirror", False)}
        augment.update({key: flat.pop(key) for key in AUGMENT_PARAMETERS if key in flat})
        if "scale_min" in flat or "scale_max" in flat:
            low, high = AugmentConfig().scale_range
            augment["scale_range"] = (flat.pop("scale_min", low), flat.pop("scale_max", high))
        if "crop_size" in flat:
            crop = flat.pop("crop_size")
            augment["crop_size"] = (crop, crop) if isinstance(crop, int) else tuple(crop)
        for key in ("bodyparts", "test_videos", "pca_bodyparts"):
            if isinstance(flat.get(key), str):
                flat[key] = tuple(v for v in flat[key].split(",") if v)
        if isinstance(flat.get("view_pairs"), str):  # "a_top:a_bot,b_top:b_bot"
            flat["view_pairs"] = tuple(tuple(p.split(":")) for p in flat["view_pairs"].split(",")
                                       if p)
        for key, kind in (("test_scales", float), ("test_rotations", int)):
            if key in flat:
                values = flat[key].split(",") if isinstance(flat[key], str) else flat[key]
                flat[key] = tuple(kind(float(v)) for v in values if str(v).strip())
        if "weights" in flat:
            flat["weights"] = flat["weights"] or None
        if "learning_rate" in flat:
            flat["learning_rate"] = flat["learning_rate"] or None
        if flat.get("num_workers") == -1:
            flat["num_workers"] = default_num_workers()
        return cls(augment=AugmentConfig(**augment), **flat)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """The configuration saved by :meth:`to_dict` (tuples and nested configs restored)."""
        d = dict(d)
        for key in ("bodyparts", "test_videos", "pca_bodyparts", "test_scales", "test_rotations"):
            d[key] = tuple(d.get(key, ()))
        d["view_pairs"] = tuple(tuple(pair) for pair in d.get("view_pairs", ()))
        aug = dict(d.pop("augment", {}))
        for key in ("scale_range", "contrast_range", "crop_size"):
            if key in aug:
                aug[key] = tuple(aug[key])
        return cls(augment=AugmentConfig(**aug), targets=TargetConfig(**d.pop("targets", {})), **d)


def _check_self_training(config: TrainConfig) -> None:
    """Raise unless the pseudo-label settings (:mod:`kit.net.pseudo_labels`) are in range."""
    if (config.pseudo_label_frames < 0 or not 0 < config.pseudo_label_at < 1
            or not 0 <= config.pseudo_label_min_likelihood <= 1):
        raise ValueError(
            "pseudo_label_frames must be >= 0, pseudo_label_at in (0, 1) and "
            "pseudo_label_min_likelihood in [0, 1]. Received: pseudo_label_frames="
            f"{config.pseudo_label_frames}, pseudo_label_at={config.pseudo_label_at}, "
            f"pseudo_label_min_likelihood={config.pseudo_label_min_likelihood}.")


# AugmentConfig fields that are flat parameters of their own name.
AUGMENT_PARAMETERS = frozenset({"rotation_deg", "crop_jitter", "global_scale", "elastic"})
# The flat parameters of notebooks/03_train.ipynb that TrainConfig.from_parameters reads.
FLAT_PARAMETERS = frozenset(
    {f.name for f in dataclasses.fields(TrainConfig)} - {"augment", "targets"}
    | {"crop_size", "augment", "mirror", "scale_min", "scale_max"} | AUGMENT_PARAMETERS
)


def flat_defaults() -> dict[str, Any]:
    """Each flat parameter's default as ``03_train`` writes it (what a value in ``settings``
    is converted to): tuples as "", no learning rate as 0.0, the augmentation's fields."""
    config = TrainConfig()
    values = {name: getattr(config, name) for name in FLAT_PARAMETERS if hasattr(config, name)}
    aug = config.augment
    values.update(augment=aug.enabled, mirror=aug.mirror, crop_size=aug.crop_size[0],
                  scale_min=aug.scale_range[0], scale_max=aug.scale_range[1],
                  **{name: getattr(aug, name) for name in AUGMENT_PARAMETERS})
    return {name: "" if isinstance(value, tuple) else 0.0 if value is None else value
            for name, value in values.items()}
