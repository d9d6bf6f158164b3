"""Beyond the labeled frames, measured: supervised training against the ways kit has to
generalize further (full-circle rotation, losses on unlabeled frames, pretraining on the
project's frames, an ensemble smoothed by eks), on the blocks split, where test frames lie
far from every training frame (``15_beyond_labels``).

Every method trains the same backbone from random weights on the same blocks split
(:mod:`kit.project.splits`, ``split_method="blocks"``), on the first ``n`` training frames
for each ``n`` of ``train_sizes``, with the same number of optimizer steps in all, or, with
``time_budget_s``, as many as fit in the same training time on this machine (each method's
seconds per step measured first, :func:`kit.net.train.seconds_per_step`): an ensemble's
members share them, pretraining takes ``pretrain_share`` of them (its steps cost about what
a pose step costs); ``ensemble_3x`` gets three times the budget. Each row records the
wall-clock seconds the method took, so the comparison can be read against time too. ``supervised`` also trains on the random split
(DeepLabCut's), the number ``04_evaluate`` would show. A method is one entry of
:data:`METHODS`.

Errors are every labeled point's distance to its prediction on the test frames (mean,
median, 90th percentile, pixels); jitter is the median frame-to-frame move of the body
parts above ``pcutoff`` on the first ``video_frames`` frames of the project's first video
(the ensemble's: of its eks-smoothed analysis), and ``roughness_px`` the median distance of
a part from the midpoint of its places in the frames before and after (the jitter with
steady motion taken out: of an animal that moves, the jitter is mostly its motion, the
roughness the network's noise); ``below_pcutoff`` is the share of the points predicted
there below ``pcutoff``: frames no one labeled, where the model is unsure.

Several animals (a multi-animal project): each labeled animal's error is to the predicted
animal matched to it (:func:`kit.results.generalization.point_errors`; a missed animal's
points, and parts its match lacks, have no error: ``num_predicted`` of the ``num_points``
do, so a method that predicts fewer parts is not better for it), ``mAP`` is the test frames' OKS
mAP (percent, :func:`kit.results.evaluate_ma.oks_map`; NaN for one animal), jitter is of
the tracked analysis. An ensemble is scored by its members' median of the matched animals
(no extra animal counts against its mAP) and has no video figures (NaN): each member tracks the
animals under identities of its own, which eks would smooth together. The losses on
unlabeled frames (``unlabeled_losses``) are on the assembled animals
(:mod:`kit.net.unlabeled_animals`); ``self_training`` (:mod:`kit.net.pseudo_labels`) is for
one animal.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kit.experiments.beyond_labels_tables import POINTS_FILE, figures
from kit.net.ensemble_train import train_ensemble
from kit.net.model_folder import ModelFolder
from kit.net.pretrain import (PretrainConfig, is_pretrained_file, pretrain, pretrained_with,
                              pretrained_weights_file, pretraining_seconds)
from kit.net.pseudo_labels import labeling_seconds
from kit.net.train import TrainConfig, draw_split, seconds_per_step, training_seconds
from kit.net.train_config import DLC_ROTATION_DEG
from kit.plots import frame_jumps, frame_roughness
from kit.project import Project, atomic_write_text
from kit.project.analysis_file import load_poses
from kit.project.drawing import confident_mask
from kit.project.labels import load_labels
from kit.results import analyze
from kit.results.ensemble_analysis import analyze_ensemble
from kit.results.evaluate import evaluate_model
from kit.results.evaluate_ma import oks_map
from kit.results.generalization import animal_poses, matched_animals, point_errors
from kit.results.tracklets import quiet_nan


@dataclass(frozen=True)
class Method:
    """One way to train: TrainConfig fields beyond the shared ones, whether it rotates images
    by the project's range (``BeyondConfig.rotation_deg``) rather than DeepLabCut's 25
    degrees, whether the backbone is pretrained first (:mod:`kit.net.pretrain`), how many
    networks it trains from which seed on (after ``BeyondConfig.seed``: folders of their own),
    and how many times the shared steps (or time) it gets."""

    train: dict = field(default_factory=dict)
    rotate: bool = True
    pretrain: bool = False
    members: int = 1
    seed_offset: int = 0
    budget: float = 1.0


METHODS: dict[str, Method] = {
    "supervised": Method(rotate=False),  # DeepLabCut's augmentation (rotations up to 25 degrees)
    "full_rotation": Method(),
    "mirrored": Method({"mirror": True}),  # and mirrored crops, left and right parts swapped
    "unlabeled_losses": Method({"unlabeled_pairs": 2}),
    "pretrained": Method(pretrain=True),
    "ensemble": Method(members=3, seed_offset=1),
    "ensemble_3x": Method(members=3, seed_offset=4, budget=3.0),  # members as long as one model
    "self_training": Method({"pseudo_label_frames": 200}),  # labels video frames half-way
}
COLUMNS = ["method", "split", "train_size", "mean_px", "median_px", "p90_px", "num_points",
           "num_predicted", "mAP", "jitter_px", "roughness_px", "below_pcutoff", "wall_s",
           "train_s", "steps", "val_mean_px", "val_median_px", "val_p90_px", "val_mAP",
           "rotation_deg"]


@dataclass(frozen=True)
class BeyondConfig:
    """Settings of :func:`compare_methods`.

    Attributes:
        methods: names of :data:`METHODS`.
        train_sizes: training frames per run (the first n of the blocks split's training
            set; 0: all of it).
        train_steps: optimizer steps of every method (shared by an ensemble's members).
        time_budget_s: > 0: instead of ``train_steps``, each method gets the steps that fit in
            this many seconds of training (:func:`method_steps`); 0: ``train_steps``.
        net_type, batch_size, crop_size, learning_rate: the training's (Adam).
        global_scale: every image is first scaled by this (DeepLabCut's 0.8): with a frame
            whose body parts span more than the crop (a mirror's two views), scale it to
            fit, or the losses on unlabeled frames read body parts that are out of view.
        train_fraction: the share of each video's labeled frames before the test block.
        validation_fraction: > 0: the share of each video's labeled frames just before its
            test block kept out of training as a validation block (``TrainConfig``'s), each
            run scored there too (the ``val_`` columns): the frames to choose a method on
            (:func:`chosen_methods`), not the test block.
        pretrain_share: the share of ``train_steps`` a pretrained method spends pretraining.
        rotation_deg: the rotation range of every method but ``supervised`` (DeepLabCut's
            25 degrees): the full circle (180) for an animal filmed from above, which turns
            every way; a rig whose views do not turn (a mirror's two views side by side)
            keeps 25, and ``full_rotation`` is then ``supervised`` again.
        view_pairs: such a rig's body parts seen in both views (``TrainConfig.view_pairs``):
            ``unlabeled_losses`` adds the loss on their disagreement.
        pca_bodyparts: the body parts of its pose-subspace loss (``TrainConfig``'s; (): all).
        video_frames: frames of the project's first video analysed for the jitter and
            ``below_pcutoff`` (0: none).
        pcutoff: likelihood threshold of both.
        seed: seeds every run.
        batchnorm_batches: augmented batches BatchNorm's statistics are set from after each
            run (``TrainConfig``'s).
        train_settings: further ``TrainConfig`` settings of every method, as ``03_train``'s
            ``train_settings`` ("temporal_min_confidence=0.05 num_workers=1"); those this
            config or a method sets are refused there.
    """

    methods: tuple[str, ...] = tuple(METHODS)
    train_sizes: tuple[int, ...] = (20, 50)
    train_steps: int = 600
    time_budget_s: float = 0.0
    net_type: str = "mobilenet_v2_1.0"
    batch_size: int = 8
    crop_size: int = 192
    learning_rate: float = 1e-3
    global_scale: float = 0.8
    train_fraction: float = 0.8
    validation_fraction: float = 0.0
    pretrain_share: float = 0.3
    rotation_deg: float = 180.0
    view_pairs: tuple[tuple[str, str], ...] = ()
    pca_bodyparts: tuple[str, ...] = ()
    video_frames: int = 200
    pcutoff: float = 0.6
    seed: int = 0
    batchnorm_batches: int = 20
    train_settings: str = ""

    def __post_init__(self):
        unknown = [m for m in self.methods if m not in METHODS]
        if (unknown or not 0 <= self.pretrain_share < 1 or self.train_steps < 1
                or self.time_budget_s < 0):
            raise ValueError(f"Need methods from {sorted(METHODS)}, 0 <= pretrain_share < 1, "
                             f"train_steps >= 1 and time_budget_s >= 0. Received: methods="
                             f"{self.methods}, pretrain_share={self.pretrain_share}, train_steps="
                             f"{self.train_steps}, time_budget_s={self.time_budget_s}.")


def train_config(config: BeyondConfig, method: Method, train_size: int, steps: int,
                 split_method: str = "blocks") -> TrainConfig:
    """The TrainConfig of one run of ``method`` (``config.train_settings`` added)."""
    return TrainConfig.from_parameters(
        train_fraction=config.train_fraction, train_steps=steps, batch_size=config.batch_size,
        net_type=config.net_type, weights="", optimizer="adam",
        learning_rate=config.learning_rate, seed=config.seed, train_size=train_size,
        split_method=split_method, validation_fraction=config.validation_fraction,
        view_pairs=config.view_pairs,
        pca_bodyparts=config.pca_bodyparts, batchnorm_batches=config.batchnorm_batches,
        crop_size=config.crop_size, global_scale=config.global_scale,
        rotation_deg=run_rotation(config, method),
        settings=config.train_settings, **method.train)


def run_rotation(config: BeyondConfig, method: Method) -> float:
    """The rotation range (degrees) ``method`` trains with."""
    return config.rotation_deg if method.rotate else DLC_ROTATION_DEG


def method_steps(project: Project, config: BeyondConfig, name: str, train_size: int,
                 split_method: str = "blocks") -> int:
    """The optimizer steps ``name`` gets in all (its members' and pretraining's included):
    ``train_steps``, or with ``time_budget_s`` the steps of its network that fit in that
    time (:func:`kit.net.train.seconds_per_step`), times the method's ``budget``."""
    method = METHODS[name]
    if not config.time_budget_s:
        return max(1, round(method.budget * config.train_steps))
    # its network's step (an ensemble member's or the pretrained run's costs the same; the
    # probe saves the split this configuration draws, as training it would)
    run = train_config(config, method, train_size, config.train_steps, split_method)
    return max(1, round(method.budget * config.time_budget_s / seconds_per_step(project, run)))


def run_method(project: Project, config: BeyondConfig, name: str, train_size: int,
               split_method: str = "blocks", steps: int | None = None,
               ) -> tuple[list[ModelFolder], int]:
    """Train ``name`` (its pretraining and members included) with ``steps`` optimizer steps
    in all (default: :func:`method_steps`'s); its models and total steps."""
    method = METHODS[name]
    steps = steps or method_steps(project, config, name, train_size, split_method)
    total = steps
    run = train_config(config, method, train_size, steps, split_method)
    if method.pretrain:
        pretrain_steps = max(1, int(config.pretrain_share * steps))
        settings = PretrainConfig(
            net_type=config.net_type, train_steps=pretrain_steps, batch_size=config.batch_size,
            crop_size=config.crop_size, span=(0.0, config.train_fraction), seed=config.seed)
        steps -= pretrain_steps
        run = dataclasses.replace(run, weights=str(pretrained_weights_file(project, settings)),
                                  train_steps=steps)
        if not (ModelFolder(run.model_dir(project)).is_trained()  # evaluated again
                or pretrained_with(run.weights, settings)):  # another size's, the same
            pretrain(project, settings, verbose=0)
    split = None
    if method.members > 1:  # seeds after the others' (own folders), on the frames they train on
        split = draw_split(project, run, load_labels(project))
        run = dataclasses.replace(run, train_steps=max(1, steps // method.members),
                                  seed=config.seed + method.seed_offset)
    models = [ModelFolder(p) for p in train_ensemble(project, run, method.members, split=split)]
    return models, total


def blocks_scores(project: Project, models: list[ModelFolder]) -> tuple[pd.DataFrame, dict]:
    """Every labeled point's error on the test frames and, with a validation block, on
    those (:func:`kit.results.generalization.point_errors`'s table: image, individual,
    bodypart, error_px, and ``frames``: "test" or "validation"), and for several animals
    each frame set's OKS mAP ({frames: percent}; NaN for one animal). An ensemble's
    prediction is its members' median (of the animals matched to labeled ones, for several
    animals)."""
    evaluations = [evaluate_model(project, model, pcutoff=0.0) for model in models]
    points, average_precision = [], {}
    for frames, images in (("test", list(evaluations[0].test_images)),
                           ("validation", list(evaluations[0].split.validation))):
        if not images:
            continue
        labels = evaluations[0].labels.loc[images]
        tables = [e.predictions.loc[images] for e in evaluations]
        if len(tables) > 1:  # the members' animals in the same columns: the labeled animals'
            tables = [matched_animals(table, labels) for table in tables]
        predictions = tables[0].copy()
        with quiet_nan():  # an animal no member found stays NaN
            predictions[:] = np.nanmedian(np.stack([t.to_numpy() for t in tables]), axis=0)
        points.append(point_errors(predictions, labels).assign(frames=frames))
        average_precision[frames] = (float("nan") if project.layout is None else
                                     oks_map(*animal_poses(predictions, labels))["mAP"])
    return pd.concat(points, ignore_index=True), average_precision


def train_seconds(models: list[ModelFolder]) -> float:
    """Seconds of optimizer steps the models' training took (their logs), the pretraining of
    the backbone they started from and self-training's labeling included: a run evaluated
    again, not trained, still reports what training it cost (NaN where a log does not say)."""
    weights = models[0].load_train_config().weights
    pretrained = pretraining_seconds(weights) if is_pretrained_file(weights) else 0.0
    return sum(training_seconds(model.path) + labeling_seconds(model.path)
               for model in models) + pretrained


def video_figures(project: Project, models: list[ModelFolder], config: BeyondConfig,
                  out: Path) -> dict[str, float]:
    """Figures of the models' analysis of the first ``video_frames`` frames of the project's
    first video, which no one labeled: ``jitter_px``, the median frame-to-frame move (pixels)
    of the body parts above ``pcutoff`` (several animals: of each tracked animal),
    ``roughness_px``, the median distance from the midpoint of the frames before and after
    (:func:`kit.plots.frame_roughness`: the move's noise, steady motion taken out), and
    ``below_pcutoff``, the share of the predicted points below it (where the model is unsure).
    NaN without a video, and for an ensemble of several animals (its members' tracks do not
    share identities)."""
    videos = analyze.find_videos(project) if config.video_frames else []
    if not videos or (len(models) > 1 and project.layout is not None):
        return {"jitter_px": np.nan, "roughness_px": np.nan, "below_pcutoff": np.nan}
    settings = analyze.AnalyzeConfig(
        shuffle=1, train_fraction=config.train_fraction, variant=models[0].variant,
        output_dir=str(out), progress=False, max_frames=config.video_frames)
    if len(models) > 1:
        h5 = analyze_ensemble(project, models, videos[:1], settings).smoothed[0].h5
    else:
        h5 = analyze.analyze_videos(project, videos[:1], settings)[0].h5
    poses = load_poses(h5)[0]
    moves = frame_jumps(poses, config.pcutoff)
    unsure = ~confident_mask(poses, config.pcutoff)[np.isfinite(poses[..., 2])]  # those found
    rough = frame_roughness(poses, config.pcutoff)
    return {"jitter_px": _finite_median(moves), "roughness_px": _finite_median(rough),
            "below_pcutoff": float(np.mean(unsure)) if unsure.size else np.nan}


def _finite_median(values: np.ndarray) -> float:
    """The median of the finite values; NaN where there are none."""
    return float(np.nanmedian(values)) if np.isfinite(values).any() else np.nan


def planned_steps(project: Project, config: BeyondConfig, out: Path,
                  methods: list[str] | None = None) -> dict[str, int]:
    """{"method/train size": its steps} (:func:`method_steps`) of ``methods`` (default:
    the config's), every method's timed one
    after the other before any training (under the same load; a method's random-split run
    gets its blocks run's steps), and kept in ``out/planned_steps_<budget>s.json``: a
    comparison started again trains the same runs, so finished ones are not trained anew."""
    path = out / f"planned_steps_{config.time_budget_s:g}s.json"
    planned = json.loads(path.read_text()) if path.is_file() else {}
    missing = [(m, n) for n in config.train_sizes for m in (methods or config.methods)
               if f"{m}/{n}" not in planned]
    for name, size in missing:
        planned[f"{name}/{size}"] = method_steps(project, config, name, size)
    if missing and config.time_budget_s:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(planned, indent=1))
    return planned


def compare_methods(project: Project, config: BeyondConfig, out: str | Path,
                    progress=print) -> pd.DataFrame:
    """Every method at every training size on the blocks split (and supervised on the random
    split): one row each (:data:`COLUMNS`), also written to ``out/beyond_labels.csv`` as
    each run ends. ``wall_s``: the run's wall time, training and evaluation; ``train_s``: the
    seconds of its optimizer steps (pretraining's included), from its logs. A run whose
    model folders are finished is not trained again (its ``wall_s`` is then that of the
    evaluation only, its ``train_s`` still its training's); with ``time_budget_s`` the steps are
    planned first (:func:`planned_steps`)."""
    out = Path(out)
    rows, points = [], []
    methods = list(config.methods)
    runs = [(m, "blocks", n) for n in config.train_sizes for m in methods]
    if "supervised" in methods:
        runs += [("supervised", "random", n) for n in config.train_sizes]
    planned = planned_steps(project, config, out, methods)
    for name, split, size in runs:
        start = time.perf_counter()
        models, steps = run_method(project, config, name, size, split,
                                   planned[f"{name}/{size}"])
        wall = time.perf_counter() - start
        scored, average_precision = blocks_scores(project, models)
        errors = scored.loc[scored.frames == "test", "error_px"].to_numpy()
        points.append(scored.assign(method=name, split=split, train_size=size))
        video = video_figures(project, models, config,  # a folder per model: settings differ
                              out / "videos" / f"{name}-{split}-{size}" / models[0].path.name)
        rows.append({"method": name, "split": split, "train_size": size,
                     **figures(errors), "num_points": len(errors),
                     "num_predicted": int(np.isfinite(errors).sum()),
                     "mAP": average_precision["test"], **video, "wall_s": wall,
                     "train_s": train_seconds(models), "steps": steps,
                     **figures(scored[scored.frames == "validation"].error_px, "val_"),
                     "val_mAP": average_precision.get("validation", np.nan),
                     "rotation_deg": run_rotation(config, METHODS[name])})
        progress(f"{name} ({split}, {size} frames): median {rows[-1]['median_px']:.1f} px, "
                 f"jitter {video['jitter_px']:.2f} px (roughness {video['roughness_px']:.2f}), "
                 f"{wall:.0f} s")
        table = pd.DataFrame(rows, columns=COLUMNS)  # written row by row: hours of training
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "beyond_labels.csv", table.to_csv(index=False))
        atomic_write_text(out / POINTS_FILE, pd.concat(points).to_csv(index=False))
    return pd.DataFrame(rows, columns=COLUMNS)
