"""Images, augmentation (DeepLabCut's), and the training batches.

Augmentation is one affine warp per image (scale, rotation, mirror and crop
together, so pixels are interpolated once), where asked an elastic deformation of the crop
(imgaug's ``ElasticTransformation``, in DeepLabCut's and Lightning Pose's pipelines), then
contrast and brightness.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import cv2
import keras
import numpy as np

from kit.net.images import scale_image as scale_image  # re-exported: callers import it here
from kit.net.ma_targets import MultiAnimalSpec, make_multianimal_targets
from kit.net.pose_balance import pose_draw_p
from kit.net.targets import TargetConfig, make_targets, map_shape
from kit.project.video import load_image
from kit.project.video_workers import map_ahead, usable_cores


@dataclass(frozen=True)
class AugmentConfig:
    """DeepLabCut's augmentation. ``enabled=False`` keeps only the global scale and crop.

    ``rotation_deg``: images turn by a uniform angle in +-rotation_deg (DeepLabCut's 25;
    up to 180, the full circle, for animals filmed from above that face every way).
    Translation is the crop's placement: with ``keypoint_crop_probability`` the crop is
    centred on a random labeled point shifted by up to ``crop_jitter`` of the crop size
    each way (DeepLabCut's 0.25), otherwise anywhere in the image. ``elastic``: each crop
    deformed by a smooth random field of displacements, their standard deviation drawn from
    0 to ``elastic`` crop pixels, the labels moved with their pixels; 0: none. DeepLabCut's
    and Lightning Pose's imgaug pipelines move pixels by up to about 1.3 and 0.3 px, smooth
    over 5 px (their ``sigma``); larger moves are smoothed over proportionally more
    (:func:`_elastic`), so that the crop is bent, never folded.
    """

    enabled: bool = True
    global_scale: float = 0.8
    scale_range: tuple[float, float] = (0.5, 1.25)
    rotation_deg: float = 25.0
    mirror: bool = False
    contrast_range: tuple[float, float] = (0.75, 1.25)
    brightness: float = 25.0  # +- pixel values
    crop_size: tuple[int, int] = (448, 448)  # (height, width), upper bound
    keypoint_crop_probability: float = 0.5  # crops centred near a body part
    crop_jitter: float = 0.25  # those crops' centre: +- this fraction of the crop from the part
    elastic: float = 0.0  # px, the deformation's largest standard deviation (0: off)

    def __post_init__(self):
        if self.global_scale <= 0 or not 0 < self.scale_range[0] <= self.scale_range[1]:
            raise ValueError(f"Scales must be positive and ordered. Received: {self}.")
        if not (0 <= self.rotation_deg <= 180 and 0 <= self.keypoint_crop_probability <= 1
                and self.crop_jitter >= 0 <= self.elastic):
            raise ValueError(
                f"rotation_deg must be in [0, 180] (180: the full circle), "
                f"keypoint_crop_probability in [0, 1], crop_jitter and elastic >= 0. "
                f"Received: rotation_deg={self.rotation_deg}, keypoint_crop_probability="
                f"{self.keypoint_crop_probability}, crop_jitter={self.crop_jitter}, "
                f"elastic={self.elastic}.")


def labels_outside(points: np.ndarray, image_shapes: Sequence[tuple[int, int]]) -> np.ndarray:
    """(N, K) bool: labels that lie outside their image (usually a labeling mistake).

    Args:
        points: (N, K, 2) x then y, image pixels, NaN = missing (never outside); or
            (N, num_individuals, K, 2), giving (N, num_individuals, K).
        image_shapes: (height, width) of each of the N images.

    A point counts as inside from -0.5 (the outer edge of the first pixel when pixel
    centres are integers, as a Matplotlib labeler reports) to the width or height.
    """
    points = np.asarray(points, dtype=np.float64)
    size = np.array([(w, h) for h, w in image_shapes], dtype=np.float64)
    size = size.reshape(-1, *[1] * (points.ndim - 2), 2)
    with np.errstate(invalid="ignore"):
        return ((points < -0.5) | (points > size)).any(axis=-1)


def crop_shape(image_shapes: Sequence[tuple[int, int]], config: AugmentConfig,
               multiple: int = 16) -> tuple[int, int]:
    """Crop (height, width): the largest scaled image, capped by crop_size, each a multiple
    of ``multiple`` (at least 16; a backbone of output stride 32 whose padding rounds down,
    as Keras's MobileNetV2 and EfficientNet, needs 32 for its maps to match the targets)."""
    multiple = max(16, multiple)
    top = config.global_scale * (config.scale_range[1] if config.enabled else 1.0)
    sizes = (max(s[0] for s in image_shapes) * top, max(s[1] for s in image_shapes) * top)
    crop = [min(cap, multiple * math.ceil(size / multiple))
            for size, cap in zip(sizes, config.crop_size)]
    if multiple > 16:  # a cap that is no multiple rounds down (stride 16 keeps any cap)
        crop = [max(multiple, c // multiple * multiple) for c in crop]
    return crop[0], crop[1]


def augment(
    image: np.ndarray,
    points: np.ndarray,
    crop_hw: tuple[int, int],
    config: AugmentConfig,
    rng: np.random.Generator,
    mirror_perm: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Warp one image and its points into a ``crop_hw`` training crop.

    Args:
        image: (H, W, 3) uint8 RGB.
        points: (K, 2) x then y, image pixels, NaN = missing; or (num_individuals, K, 2)
            (several animals: one warp for all, parts mirrored within each animal).
        mirror_perm: each part's mirror image (:func:`kit.net.sides.mirror_permutation`), for
            mirrored crops.

    Returns:
        The crop (crop_h, crop_w, 3) float32 in 0-255, and its points (shaped as given);
        points that fall outside the crop become NaN.
    """
    ch, cw = crop_hw
    matrix, flip = _draw_warp(image.shape[:2], points, crop_hw, config, rng)
    out = cv2.warpAffine(image, matrix, (cw, ch), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    new_points = points @ matrix[:, :2].T + matrix[:, 2]
    if flip and mirror_perm is not None:
        new_points = new_points[..., list(mirror_perm), :]
    if config.enabled and config.elastic > 0:
        out, new_points = _elastic(out, new_points, rng.uniform(0, config.elastic), rng)
    inside = (new_points[..., 0] >= 0) & (new_points[..., 0] < cw) & (
        new_points[..., 1] >= 0) & (new_points[..., 1] < ch)
    new_points[~inside] = np.nan
    out = out.astype(np.float32)
    if config.enabled:
        contrast = rng.uniform(*config.contrast_range)
        mean = out.mean()
        out = (out - mean) * contrast + mean + rng.uniform(-config.brightness, config.brightness)
        np.clip(out, 0, 255, out=out)
    return out, new_points


def _draw_warp(image_hw: tuple[int, int], points: np.ndarray, crop_hw: tuple[int, int],
               config: AugmentConfig, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """A random affine map image -> crop, (2, 3) ``[R S F | shift]``, and whether it mirrors.

    p' = R S F (p - centre) + crop centre; the centre is near a visible point
    (``keypoint_crop_probability``) or anywhere in the image.
    """
    (h, w), (ch, cw) = image_hw, crop_hw
    scale, angle, flip = config.global_scale, 0.0, False
    if config.enabled:
        scale *= rng.uniform(*config.scale_range)
        angle = rng.uniform(-config.rotation_deg, config.rotation_deg)
        flip = bool(config.mirror and rng.random() < 0.5)
    flat = points.reshape(-1, 2)  # every individual's points
    visible = flat[np.isfinite(flat).all(axis=1)]
    if config.enabled and len(visible) and rng.random() < config.keypoint_crop_probability:
        part = visible[rng.integers(len(visible))]  # drawn before the jitter, as before
        centre = part + rng.uniform(-config.crop_jitter, config.crop_jitter, 2) * (cw, ch) / scale
    elif config.enabled:
        centre = rng.uniform((0, 0), (w, h))
    else:
        centre = np.array([w / 2, h / 2])
    a = math.radians(angle)
    rot = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    if flip:
        rot = rot @ np.diag([-1.0, 1.0])
    shift = np.array([cw / 2, ch / 2]) - rot @ centre
    return np.hstack([rot, shift[:, None]]), flip


ELASTIC_SIGMA = 5.0  # px per px of displacement, at least 5 px (imgaug's sigma in DeepLabCut)


def _elastic(crop: np.ndarray, points: np.ndarray, std: float, rng: np.random.Generator
             ) -> tuple[np.ndarray, np.ndarray]:
    """The crop deformed by a smooth random field ``d`` (each axis white noise blurred over
    ``ELASTIC_SIGMA * max(1, std)`` px, scaled to standard deviation ``std``): pixel ``q`` of
    the result is pixel ``q + d(q)`` of ``crop``, so a point ``p`` moves to the ``q`` with
    ``q + d(q) = p``, found by fixed-point steps. Blurred over at least 5 px per px of
    displacement, ``d`` changes by under 1 px per px (about 0.65 at most): the map never
    folds, and each step shrinks the miss."""
    h, w = crop.shape[:2]
    sigma = ELASTIC_SIGMA * max(1.0, std)
    field = np.stack([cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0),
                                       sigma) for _ in range(2)], axis=-1)
    field *= std / max(float(field.std()), 1e-6)
    grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)),
                    axis=-1) + field
    out = cv2.remap(crop, grid[..., 0], grid[..., 1], cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    flat = points.reshape(1, -1, 2).astype(np.float32)  # NaN stays NaN: p - d(q)
    moved = flat.copy()
    for _ in range(8):  # d at the points, read as the image is, edges repeated
        moved = flat - cv2.remap(field, moved[..., 0], moved[..., 1], cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE)
    return out, moved.reshape(points.shape).astype(points.dtype)


def pack_targets(
    points: np.ndarray, map_hw: tuple[int, int], config: TargetConfig
) -> dict[str, np.ndarray]:
    """Targets of one crop by head name, packed as the losses expect: ``part_pred``
    (scores|weights) (h, w, 2K), ``locref`` (locref|weights) (h, w, 4K)."""
    scmap, scmap_w, locref, locref_w = make_targets(points, map_hw, config)
    return {"part_pred": np.concatenate([scmap, scmap_w], -1),
            "locref": np.concatenate([locref, locref_w], -1)}


class BatchSettings(Protocol):
    """What :class:`PoseDataset` reads of a run's settings (``TrainConfig`` has them all)."""

    batch_size: int
    train_steps: int
    seed: int
    pose_balance: float
    augment: AugmentConfig
    targets: TargetConfig


class PoseDataset(keras.utils.PyDataset):
    """Batches of augmented crops and their packed targets, drawn at random.

    Batch ``index`` (the training step) depends only on ``(seed, index)``, so a
    resumed run sees exactly the batches an uninterrupted one would. Its length
    is the number of steps; it also feeds ``model.fit`` directly.

    Args:
        image_paths: the N training images.
        points: (N, K, 2) their labels, x then y, image pixels, NaN = missing.
        config: the run's settings (a :class:`kit.net.train_config.TrainConfig`): its
            ``batch_size``, ``train_steps``, ``augment``, ``targets``, ``seed`` and
            ``pose_balance`` (rare poses drawn more often: :mod:`kit.net.pose_balance`).
        mirror_perm: each part's mirror image (:func:`kit.net.sides.mirror_permutation`).
        backbone_stride: the backbone's output stride (map sizes round up at it).
    """

    spec: MultiAnimalSpec | None = None  # one animal: no PAF or identity heads
    draw_p: np.ndarray | None = None  # each image's chance per draw (None: all alike)

    def __init__(self, image_paths: Sequence[str | os.PathLike], points: np.ndarray,
                 config: BatchSettings, mirror_perm: Sequence[int] | None = None,
                 backbone_stride: int = 16):
        super().__init__(workers=1, use_multiprocessing=False)
        if len(image_paths) == 0:
            raise ValueError("No training images: label some frames first.")
        self.image_paths = [Path(p) for p in image_paths]
        self.points = np.array(points, dtype=np.float64)  # a copy: outside labels -> NaN
        self.batch_size = config.batch_size
        self.num_steps = config.train_steps
        self.augment_config = config.augment
        self.target_config = config.targets
        self.mirror_perm = mirror_perm
        self.seed = config.seed
        shapes = [self._image(i).shape[:2] for i in range(len(self.image_paths))]
        self.outside = labels_outside(self.points, shapes)  # left out of the targets
        self.points[self.outside] = np.nan
        if config.pose_balance:  # rare poses drawn more often
            self.draw_p = pose_draw_p(self.points, config.pose_balance)
        self.crop_hw = crop_shape(shapes, config.augment, backbone_stride)
        self.map_hw = map_shape(*self.crop_hw, backbone_stride, config.targets.stride)
    @functools.lru_cache(maxsize=512)  # noqa: B019 (one dataset per training run)
    def _image(self, i: int) -> np.ndarray:
        return load_image(self.image_paths[i])

    def __len__(self) -> int:
        return self.num_steps

    def __getitem__(self, index: int):
        rng = np.random.default_rng([self.seed, index])
        chosen = rng.choice(len(self.image_paths), self.batch_size,
                            replace=len(self.image_paths) < self.batch_size, p=self.draw_p)
        images, targets = [], []
        for i in chosen:
            crop, pts = augment(self._image(int(i)), self.points[i], self.crop_hw,
                                self.augment_config, rng, self.mirror_perm)
            images.append(crop)
            targets.append(self.pack(pts))
        return np.stack(images), {name: np.stack([t[name] for t in targets])
                                  for name in targets[0]}

    def add_images(self, image_paths: Sequence[str | os.PathLike], points: np.ndarray,
                   share: float) -> None:
        """Add images and their (M, K, 2) points (self-training's frames,
        :mod:`kit.net.pseudo_labels`), drawn ``share`` of the time, the images before them
        the rest; the crop size stays."""
        first = len(self.image_paths)
        self.image_paths += [Path(p) for p in image_paths]
        added = np.array(points, dtype=np.float64)
        shapes = [self._image(i).shape[:2] for i in range(first, len(self.image_paths))]
        outside = labels_outside(added, shapes)
        added[outside] = np.nan
        self.points = np.concatenate([self.points, added])
        self.outside = np.concatenate([self.outside, outside])
        before = np.full(first, 1 / first) if self.draw_p is None else self.draw_p
        self.draw_p = np.concatenate([before * (1 - share), np.full(len(added), share / len(added))])

    def pack(self, points: np.ndarray) -> dict[str, np.ndarray]:
        """The packed targets of one crop's points by head name (one per model output)."""
        return pack_targets(points, self.map_hw, self.target_config)

    def complete_targets(self, model, images: np.ndarray, targets: dict[str, np.ndarray]
                         ) -> dict[str, np.ndarray]:
        """A batch's targets as the step of ``model`` needs them: as made (a batch with
        unlabeled frames of several animals also needs the network's reading of them,
        :meth:`kit.net.unlabeled.WithUnlabeled.complete_targets`)."""
        return targets


class MultiAnimalDataset(PoseDataset):
    """:class:`PoseDataset` of a multi-animal project: each image's points are
    (num_rows, K, 2), the table individuals' (animals, then ``single``), NaN = missing
    (unlabeled animals too); the warp, crop and mirror move all of them together, and the
    targets are :func:`kit.net.ma_targets.make_multianimal_targets`'s.

    The arguments not listed are :class:`PoseDataset`'s.

    Args:
        points: (N, num_rows, K, 2).
        spec: the graph and identity head (its ``num_identities`` first rows are animals).

    Batches: images (B, H, W, 3) and the packed (targets | weights) by head name:
    ``part_pred``, ``locref``, ``paf`` and (with identities) ``identity``, each (B, h, w, 2C).
    """

    def __init__(self, image_paths: Sequence[str | os.PathLike], points: np.ndarray,
                 config: BatchSettings, spec: MultiAnimalSpec,
                 mirror_perm: Sequence[int] | None = None, backbone_stride: int = 16):
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 4:
            raise ValueError(f"points must be (num_images, num_rows, K, 2). Received: {points.shape}.")
        super().__init__(image_paths, points, config, mirror_perm, backbone_stride)
        self.spec = spec

    def pack(self, points: np.ndarray) -> dict[str, np.ndarray]:
        """The multi-animal targets of one image's ``points`` by head name."""
        maps = make_multianimal_targets(points, self.map_hw, self.spec.paf_graph,
                                        self.spec.num_identities, self.target_config)
        return {name: np.concatenate(pair, -1) for name, pair in maps.items()}


Batch = TypeVar("Batch")


def default_num_workers() -> int:
    """Threads that prepare training batches: one per CPU core this process may use, at
    most 8."""
    return min(usable_cores(), 8)


def prefetch(make_batch: Callable[[int], Batch], indices: Iterable[int],
             num_workers: int) -> Iterator[Batch]:
    """``make_batch(i)`` for each of ``indices``, in that order, made ahead on worker threads
    (:func:`kit.project.video_workers.map_ahead`).

    Image decoding, augmentation and targets (OpenCV and NumPy, which release the GIL)
    overlap the network's step. A batch depends only on its index (:class:`PoseDataset`),
    so the sequence is the same for any number of workers, and a resumed run that starts
    at its next step continues it. ``num_workers=0`` makes each batch on the calling
    thread when it is asked for (no overlap).
    """
    return map_ahead(make_batch, indices, num_workers, "kit-batches")
