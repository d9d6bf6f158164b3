"""Pretraining a backbone on the project's own frames, without labels: masked reconstruction.

Most of a project's video is never labeled. Before a pose network is trained on the labeled
frames, its backbone can learn what the lab's own frames look like: crops of frames sampled
from the project's videos have a random share of their patches (one patch per backbone
feature cell, ``output_stride`` pixels square) greyed out, and the backbone plus a one-layer
decoder learns to paint the missing patches back (the loss counts the masked patches only).
This is masked image modelling as MAE (He et al., CVPR 2022) does it for vision transformers
and SparK (Tian et al., ICLR 2023) for convolutional networks, reduced to what trains in
minutes on a CPU: the masked patches are filled with grey rather than dropped, and the decoder
is one 3x3 convolution and one transposed convolution per feature cell. Reconstruction needs
no large batches (contrastive methods do), which suits a CPU.

The backbone's weights are saved as ``<net_type>-...weights.h5`` (Keras's weights file of the
backbone alone, by layer names); ``03_train -p weights <that file>`` (``TrainConfig(weights=)``)
starts a pose network from it, the same way as from ImageNet weights.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import keras
import numpy as np
import pandas as pd
from keras import layers, ops
from tqdm.auto import tqdm

from kit.net.backbones import get_backbone, is_pretrained_file
from kit.net.train_config import EAGER_STEPS
from kit.project import Project, atomic_path, atomic_write_text
from kit.project.video import read_frames, video_info

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".mpg", ".mpeg")
LOG_COLUMNS = ["step", "loss", "seconds"]


@dataclass(frozen=True)
class PretrainConfig:
    """Settings of one pretraining run (saved beside its weights file as ``.json``).

    Attributes:
        net_type: the backbone (``kit.net.backbones.BACKBONES``).
        train_steps: optimizer steps (Adam, cosine decay to 1% of ``learning_rate``).
        batch_size: crops per step.
        crop_size: side of the square crops, pixels; a multiple of the backbone's stride.
        mask_ratio: share of each crop's patches greyed out, in (0, 1).
        learning_rate: Adam's initial rate.
        num_frames: frames sampled from the videos, evenly spread over ``span``.
        span: (start, end) fractions of each video's length to sample from: (0, 0.7) keeps
            the last 30% of every video unseen, e.g. when that stretch is a test set.
        scale: frames are resized by this before cropping; use the pose network's
            ``global_scale`` (0.8 by default), so the backbone sees animals at the size it
            will see them when it learns poses.
        seed: seeds the frames' order, crops, masks and the initial weights.
    """

    net_type: str = "mobilenet_v2_1.0"
    train_steps: int = 500
    batch_size: int = 8
    crop_size: int = 128
    mask_ratio: float = 0.6
    learning_rate: float = 1e-3
    num_frames: int = 300
    span: tuple[float, float] = (0.0, 1.0)
    scale: float = 0.8
    seed: int = 0

    def __post_init__(self):
        stride = get_backbone(self.net_type).output_stride  # raises, listing valid names
        if self.crop_size < stride or self.crop_size % stride:
            raise ValueError(f"crop_size must be a multiple of {self.net_type}'s stride {stride}. "
                             f"Received: crop_size={self.crop_size}.")
        if not 0 < self.mask_ratio < 1 or not 0 <= self.span[0] < self.span[1] <= 1:
            raise ValueError(f"Need 0 < mask_ratio < 1 and 0 <= span[0] < span[1] <= 1. "
                             f"Received: mask_ratio={self.mask_ratio}, span={self.span}.")
        if min(self.train_steps, self.batch_size, self.num_frames) < 1 or self.scale <= 0:
            raise ValueError(
                "train_steps, batch_size and num_frames must be >= 1 and scale > 0. Received: "
                f"{self.train_steps}, {self.batch_size}, {self.num_frames}, {self.scale}.")

    @property
    def patch_size(self) -> int:
        """Pixels per side of a masked patch: one backbone feature cell."""
        return get_backbone(self.net_type).output_stride


def project_videos(project: Project) -> list[Path]:
    """The video files in the project's ``videos/`` folder, sorted."""
    folder = project.videos_dir
    videos = sorted(p for p in folder.glob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise FileNotFoundError(
            f"No videos in {folder} to pretrain on (looked for {', '.join(VIDEO_SUFFIXES)}). "
            "Add the project's videos there (01_create_project copies them).")
    return videos


def sample_frames(videos: Sequence[str | Path], num_frames: int,
                  span: tuple[float, float] = (0.0, 1.0), scale: float = 1.0) -> list[np.ndarray]:
    """``num_frames`` frames spread evenly over ``span`` of each video (shared equally among
    the videos), resized by ``scale``: RGB uint8 (H, W, 3) each."""
    frames = []
    for k, path in enumerate(videos):
        count = num_frames // len(videos) + (k < num_frames % len(videos))
        total = video_info(path).num_frames
        start, stop = int(span[0] * total), max(int(span[0] * total) + 1, int(span[1] * total))
        indices = np.unique(np.linspace(start, stop - 1, max(count, 1)).round().astype(int))
        for frame in read_frames(path, indices).values():
            frames.append(frame if scale == 1 else cv2.resize(
                frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    return frames


def random_crop(frame: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A ``size`` x ``size`` crop at a random place (frames smaller than that are padded with
    grey), flipped left-right half of the time."""
    height, width = frame.shape[:2]
    padded = frame
    if height < size or width < size:
        padded = np.full((max(height, size), max(width, size), 3), 127, np.uint8)
        padded[:height, :width] = frame
    y = rng.integers(0, padded.shape[0] - size + 1)
    x = rng.integers(0, padded.shape[1] - size + 1)
    crop = padded[y:y + size, x:x + size]
    return crop[:, ::-1] if rng.random() < 0.5 else crop


def patch_mask(size: int, patch: int, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """(size, size) float32, 1 on the ``round(ratio * num_patches)`` masked patches."""
    cells = size // patch
    chosen = rng.permutation(cells * cells)[:round(ratio * cells * cells)]
    grid = np.zeros(cells * cells, np.float32)
    grid[chosen] = 1
    return np.kron(grid.reshape(cells, cells), np.ones((patch, patch), np.float32))


def make_batch(frames: Sequence[np.ndarray], config: PretrainConfig, step: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Batch ``step``: masked crops (N, S, S, 3) float32 0-255, and targets (N, S, S, 4): the
    crops scaled to -1..1, then the mask. Depends only on ``config.seed`` and ``step``."""
    rng = np.random.default_rng([config.seed, step])
    crops = np.stack([random_crop(frames[i], config.crop_size, rng)
                      for i in rng.integers(0, len(frames), config.batch_size)]).astype(np.float32)
    masks = np.stack([patch_mask(config.crop_size, config.patch_size, config.mask_ratio, rng)
                      for _ in crops])[..., None]
    masked = crops * (1 - masks) + 127.5 * masks
    return masked, np.concatenate([crops / 127.5 - 1, masks], axis=-1)


def masked_mse(y_true, y_pred):
    """Mean squared error over the masked pixels only (y_true's last channel is the mask)."""
    target, mask = y_true[..., :3], y_true[..., 3:]
    squared = ops.sum(ops.square(y_pred - target) * mask, axis=(1, 2, 3))
    return squared / ops.maximum(3.0 * ops.sum(mask, axis=(1, 2, 3)), 1.0)


def feature_model(net_type: str) -> keras.Model:
    """The backbone alone: RGB images 0-255 (N, H, W, 3) -> features, with the layer names of
    :func:`kit.net.model.build_model`'s backbone (its weights copy over by name)."""
    backbone = get_backbone(net_type)
    inputs = keras.Input(shape=(None, None, 3), name="image")
    features = backbone.build(backbone.preprocess()(inputs))
    return keras.Model(inputs, features, name=f"features_{net_type}")


def reconstruction_model(features: keras.Model, patch: int) -> keras.Model:
    """The backbone plus its decoder: images 0-255 -> reconstructions, -1..1 (N, H, W, 3)."""
    x = layers.Conv2D(256, 3, padding="same", activation="relu", name="decoder_conv")(
        features.output)
    # Zero weights: the first reconstructions are grey (0), the loss starts at grey fill's.
    x = layers.Conv2DTranspose(3, patch, strides=patch, name="decoder_patches",
                               kernel_initializer="zeros")(x)
    return keras.Model(features.input, x, name="masked_reconstruction")


@dataclass(frozen=True)
class PretrainResult:
    """What :func:`pretrain` made: the weights file, the loss log and the wall time."""

    weights_file: Path
    log: pd.DataFrame
    seconds: float
    model: keras.Model  # backbone + decoder, for drawing reconstructions


def pretrained_weights_file(project: Project, config: PretrainConfig) -> Path:
    """Where :func:`pretrain` saves the backbone of ``config`` in ``project``."""
    return project.pretrained_weights_file(config.net_type, f"mask{config.train_steps}")


def pretrain(project: Project, config: PretrainConfig, verbose: int = 1) -> PretrainResult:
    """Pretrain ``config.net_type`` on frames of the project's videos; save its weights.

    Returns:
        The :class:`PretrainResult`; ``weights_file`` is what ``03_train -p weights`` takes.
    """
    frames = sample_frames(project_videos(project), config.num_frames, config.span, config.scale)
    return pretrain_on_frames(frames, config, pretrained_weights_file(project, config), verbose)


def pretrain_on_frames(frames: Sequence[np.ndarray], config: PretrainConfig,
                       weights_file: str | Path, verbose: int = 1) -> PretrainResult:
    """:func:`pretrain` on frames given as RGB uint8 arrays; weights saved to ``weights_file``
    (which must end in ``.weights.h5``) and the settings beside it (``.json``)."""
    weights_file = Path(weights_file)
    if not weights_file.name.endswith(".weights.h5"):
        raise ValueError(f"weights_file must end in .weights.h5 (Keras's weights format). "
                         f"Received: {weights_file}.")
    keras.utils.set_random_seed(config.seed)
    features = feature_model(config.net_type)
    model = reconstruction_model(features, config.patch_size)
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, config.train_steps,
                                                      alpha=0.01)
    # Short runs on TensorFlow skip tracing, as training does (kit.net.train_config.EAGER_STEPS).
    eager = keras.backend.backend() == "tensorflow" and config.train_steps <= EAGER_STEPS
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=masked_mse, run_eagerly=eager)
    rows, start, every = [], time.perf_counter(), max(1, config.train_steps // 20)
    losses = []
    for step in tqdm(range(config.train_steps), disable=not verbose, desc="pretraining"):
        losses.append(float(model.train_on_batch(*make_batch(frames, config, step))))
        if (step + 1) % every == 0 or step + 1 == config.train_steps:
            rows.append({"step": step + 1, "loss": float(np.mean(losses)),
                         "seconds": time.perf_counter() - start})
            losses = []
    weights_file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(weights_file) as tmp:
        features.save_weights(tmp)
    settings = {**config.__dict__, "span": list(config.span), "num_sampled": len(frames),
                "seconds": time.perf_counter() - start}  # what it cost, for comparisons
    atomic_write_text(settings_file(weights_file), pd.Series(settings).to_json(indent=1))
    log = pd.DataFrame(rows, columns=LOG_COLUMNS)
    return PretrainResult(weights_file, log, time.perf_counter() - start, model)


def pretrained_with(weights_file: str | Path, config: PretrainConfig) -> bool:
    """Whether ``weights_file`` holds a finished pretraining of exactly ``config`` (its
    settings file says so): another run with these settings need not pretrain again."""
    settings = settings_file(weights_file)
    if not Path(weights_file).is_file() or not settings.is_file():
        return False
    saved = json.loads(settings.read_text())
    wanted = {**config.__dict__, "span": list(config.span)}
    return all(saved.get(key) == value for key, value in wanted.items())


def settings_file(weights_file: str | Path) -> Path:
    """The settings :func:`pretrain_on_frames` saves beside ``<name>.weights.h5``:
    ``<name>.json``."""
    weights_file = Path(weights_file)
    return weights_file.with_name(weights_file.name.removesuffix(".weights.h5") + ".json")


def pretraining_seconds(weights_file: str | Path) -> float:
    """Seconds :func:`pretrain` took to make ``weights_file`` (from the settings saved beside
    it); NaN where no settings say (other weights, files pretrained before it was recorded)."""
    settings = settings_file(weights_file)
    if not is_pretrained_file(weights_file) or not settings.is_file():
        return float("nan")
    return float(json.loads(settings.read_text()).get("seconds", float("nan")))


def reconstruct(model: keras.Model, frames: Sequence[np.ndarray], config: PretrainConfig,
                step: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(originals, masked, reconstructed), each (N, S, S, 3) uint8, for a batch drawn as in
    training at ``step``: the masked patches painted by the model, the others kept."""
    masked, targets = make_batch(frames, config, step)
    originals = (targets[..., :3] + 1) * 127.5
    painted = (np.asarray(model.predict_on_batch(masked)) + 1) * 127.5
    mask = targets[..., 3:]
    filled = masked * (1 - mask) + painted * mask
    return tuple(np.clip(a, 0, 255).round().astype(np.uint8) for a in (originals, masked, filled))


def pretrained_source(path: str | Path, net_type: str) -> keras.Model:
    """The backbone of ``net_type`` holding the weights of ``path`` (written by
    :func:`pretrain`), for :func:`kit.net.model.load_backbone_weights` to copy by name."""
    source = feature_model(net_type)
    fix = (f"Pretrain with net_type={net_type!r} (07_pretrain), or train with the net_type "
           "it was pretrained with.")
    # Keras warns once per layer it cannot fill (and keeps that layer's fresh weights); a
    # file of another backbone then raises: one clear error in place of a page of warnings.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            source.load_weights(path)
        except ValueError as e:
            raise ValueError(f"{path} holds no {net_type} backbone weights ({e}). {fix}") from e
    skipped = [str(w.message) for w in caught if "Skipping" in str(w.message)]
    if skipped:
        raise ValueError(f"{path} fills only part of a {net_type} backbone ({len(skipped)} of its "
                         f"layers would keep fresh weights, e.g. {skipped[0]}). {fix}")
    for w in caught:  # the others, as they were
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return source
