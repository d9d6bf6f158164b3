"""Unlabeled frame pairs for the losses of :mod:`kit.net.unlabeled_losses`: where they may be
drawn from, how they are read, and the training batches that carry them.

Pairs are consecutive frames ``(t, t + 1)`` of the project's videos (``videos/``), never a
test frame nor near one (:func:`unlabeled_pair_starts`): not the videos of ``test_videos``,
not within ``margin`` frames of a test image of the video (its frame number,
:func:`kit.project.splits.frame_number`), and with the blocks split nothing from ``margin``
frames before the video's first test frame on (the test stretch). A video with a test image
whose name holds no frame number is left out whole.

Both frames of a pair get the same augmentation (one warp, one contrast), so their
keypoints are comparable. The crop is centred (with the labeled crops' jitter) where the
first frame differs most from its video's background (:func:`video_background`, the
per-pixel median of usable frames spread over the video; :func:`animal_centre`): a crop of an
empty stretch of arena has no pose, and losses on the keypoints read from it teach the
network to see one there. :class:`WithUnlabeled`
appends ``unlabeled_pairs`` pairs to each labeled batch: batch ``i`` still depends only on
``(seed, i)``, and the pairs are read on the same worker threads
(:func:`kit.net.data.prefetch`) as the labeled crops, ahead of the step.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np

from kit.net.data import AugmentConfig, PoseDataset, _draw_warp, augment
from kit.net.pretrain import VIDEO_SUFFIXES
from kit.net.unlabeled_animals import AnimalAnchors
from kit.net.subspaces import PoseSubspace, fit_pose_subspace, fit_view_subspace
from kit.net.unlabeled_losses import unlabeled_outputs
from kit.project import Project
from kit.project.splits import Split, frame_number, video_of
from kit.project.video import read_frames, video_info

NUM_SUBSPACE_POSES = 2000  # augmented labeled poses the pose and view subspaces are fitted on
BACKGROUND_FRAMES = 25  # frames spread over a video whose per-pixel median is its background


def pair_starts(num_frames: int, test_frames: list[int], margin: int, blocks: bool) -> np.ndarray:
    """Frames ``t`` of a video whose pair ``(t, t + 1)`` lies further than ``margin`` frames
    from every test frame (``blocks``: before ``first test frame - margin``)."""
    usable = np.ones(num_frames, dtype=bool)
    for frame in sorted(test_frames)[:1] if blocks else test_frames:
        usable[max(0, frame - margin):(None if blocks else frame + margin + 1)] = False
    return np.flatnonzero(usable[:-1] & usable[1:])


def unlabeled_pair_starts(project: Project, split: Split, test_videos: tuple[str, ...],
                          margin: int) -> dict[Path, np.ndarray]:
    """{video path: the first frames of its usable pairs} (:func:`pair_starts`) for the videos
    in the project's ``videos/`` folder that are not ``test_videos`` nor hold the split's
    novel frames, away from its test and validation frames; raises if no pair is left."""
    kept_out = set(test_videos) | {video_of(name) for name in split.novel}
    starts = {}
    for path in sorted(p for p in project.videos_dir.glob("*")
                       if p.suffix.lower() in VIDEO_SUFFIXES and p.stem not in kept_out):
        numbers = [frame_number(n) for n in split.test + split.validation
                   if video_of(n) == path.stem]
        if None in numbers:
            continue  # test frames it cannot place: the whole video is left out
        found = pair_starts(video_info(path).num_frames, numbers, margin, split.method == "blocks")
        if len(found):
            starts[path] = found
    if not starts:
        raise ValueError(
            f"No unlabeled frame pairs in {project.videos_dir} away from the test frames "
            f"(margin {margin} frames; test_videos {sorted(kept_out)}). Add the project's "
            "videos there, lower unlabeled_margin_frames, or set unlabeled_pairs=0.")
    return starts


def video_background(path: Path, frames: np.ndarray,
                     num_frames: int = BACKGROUND_FRAMES) -> np.ndarray:
    """The per-pixel median (H, W, 3) uint8 of ``num_frames`` of the video's ``frames`` (the
    usable ones: never a test frame), spread evenly: the arena without an animal that moves
    about it."""
    indices = np.unique(frames[np.linspace(0, len(frames) - 1, num_frames).astype(int)])
    return np.median(np.stack(list(read_frames(path, indices).values())), axis=0).astype(np.uint8)


def animal_centre(frame: np.ndarray, background: np.ndarray) -> np.ndarray:
    """(x, y) where ``frame`` differs most from ``background``, after a blur of a 50th of
    the frame's size (one animal's worth of pixels, not one noisy pixel)."""
    difference = np.abs(frame.astype(np.int16) - background.astype(np.int16)).sum(axis=-1)
    sigma = max(frame.shape[:2]) / 50
    blurred = cv2.GaussianBlur(difference.astype(np.float32), (0, 0), sigma)
    y, x = np.unravel_index(int(np.argmax(blurred)), blurred.shape)
    return np.array([x, y], dtype=np.float64)


class UnlabeledPairs:
    """``pairs(index)``: ``num_pairs`` augmented frame pairs (2 * num_pairs, H, W, 3) float32,
    rows ``t_0, t_0 + 1, t_1, t_1 + 1, ...``, drawn from ``starts`` by ``(seed, index)``."""

    def __init__(self, starts: dict[Path, np.ndarray], crop_hw: tuple[int, int],
                 config: AugmentConfig, seed: int, num_pairs: int):
        self.paths = list(starts)
        self.starts = [starts[p] for p in self.paths]
        self.offsets = np.cumsum([0] + [len(s) for s in self.starts])
        self.crop_hw, self.seed, self.num_pairs = crop_hw, seed, num_pairs
        # crops centred on the animal (jittered as the labeled ones), see animal_centre
        self.config = dataclasses.replace(config, keypoint_crop_probability=1.0)
        self.backgrounds = {path: video_background(path, starts[path]) for path in self.paths}

    def pair(self, number: int) -> tuple[Path, int]:
        """The video and first frame of pair ``number`` (0 to the number of pairs - 1)."""
        video = int(np.searchsorted(self.offsets, number, side="right") - 1)
        return self.paths[video], int(self.starts[video][number - self.offsets[video]])

    def __call__(self, index: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, index, 1])  # labeled batches: [seed, index]
        crops = []
        for number in rng.integers(self.offsets[-1], size=self.num_pairs):
            path, t = self.pair(int(number))
            frames = read_frames(path, (t, t + 1))
            warp_seed = int(rng.integers(2**63))
            centre = animal_centre(frames[t], self.backgrounds[path])[None]
            for frame in (frames[t], frames[t + 1]):  # the same draws: the same warp
                crop, _ = augment(frame, centre, self.crop_hw, self.config,
                                  np.random.default_rng(warp_seed))
                crops.append(crop)
        return np.stack(crops)


def augmented_poses(dataset: PoseDataset, num_poses: int, seed: int) -> np.ndarray:
    """(num_poses, K, 2): labeled poses of ``dataset`` warped as its augmentation warps them
    (crop pixels; mirrored ones with their parts swapped), the pose subspace's sample; for
    several animals (num_poses, rows, K, 2), every row of each drawn image."""
    rng = np.random.default_rng([seed, 2])
    chosen = rng.integers(len(dataset.image_paths), size=num_poses)
    poses = []
    for i in chosen:
        points = dataset.points[i]
        matrix, flip = _draw_warp(dataset._image(int(i)).shape[:2], points, dataset.crop_hw,
                                  dataset.augment_config, rng)
        warped = points @ matrix[:, :2].T + matrix[:, 2]
        if flip and dataset.mirror_perm is not None:
            warped = warped[..., list(dataset.mirror_perm), :]
        poses.append(warped)
    return np.stack(poses)


class WithUnlabeled:
    """The labeled batches of ``labeled`` (a :class:`kit.net.data.PoseDataset`), each followed
    by ``pairs(index)``: images (B + 2U, H, W, 3); the heads' targets padded with rows of zero
    weight (their losses ignore the pairs), and per unlabeled output (B + 2U, 1) flags:
    ``temporal`` on each pair's first row, ``pca`` and ``views`` on every unlabeled row, the
    weight of the losses at that step (:meth:`ramp`, 0 elsewhere). Everything else
    (``crop_hw``, ``spec``, ...) is the labeled dataset's; ``subspaces`` the pose and view
    subspaces by loss name, ``view_pairs`` the views loss's body-part indices (first views,
    second views). Several animals: ``anchors`` (:class:`kit.net.unlabeled_animals.
    AnimalAnchors`) makes each unlabeled output's targets (B + 2U, A, K, 4), the flags in
    the last channel, and :meth:`complete_targets` fills them before each step."""

    def __init__(self, labeled: PoseDataset, pairs: UnlabeledPairs,  # size: the pieces
                 outputs: tuple[str, ...],  # with_unlabeled makes, each needed per batch
                 subspaces: dict[str, PoseSubspace], rampup_steps: int = 0,
                 view_pairs: tuple[list[int], list[int]] = ([], []),
                 anchors: AnimalAnchors | None = None):
        self.labeled, self.pairs, self.outputs, self.subspaces = labeled, pairs, outputs, subspaces
        self.rampup_steps, self.view_pairs, self.anchors = rampup_steps, view_pairs, anchors

    def ramp(self, step: int) -> float:
        """The unlabeled losses' share of their weight at ``step``: from 0 at step 0 up to 1
        at ``rampup_steps``, linearly (1 throughout without a ramp)."""
        return min(1.0, step / self.rampup_steps) if self.rampup_steps else 1.0

    def __getattr__(self, name: str):
        return getattr(self.labeled, name)

    def __len__(self) -> int:
        return len(self.labeled)

    def __getitem__(self, index: int):
        images, targets = self.labeled[index]
        extra = self.pairs(index)
        size, count = len(images), len(extra)
        targets = {name: np.concatenate([t, np.zeros((count, *t.shape[1:]), t.dtype)])
                   for name, t in targets.items()}
        flags = {name: np.zeros((size + count, 1), np.float32) for name in self.outputs}
        for name, rows in flags.items():  # temporal: each pair's first row; the others: all
            rows[size::2 if name == "temporal" else 1] = self.ramp(index)
        if self.anchors is not None:
            flags = {name: self.anchors.placeholder(rows) for name, rows in flags.items()}
        return (np.concatenate([images, extra.astype(images.dtype)]),
                {**targets, **{name: flags[name] for name in self.outputs}})

    def complete_targets(self, model, images: np.ndarray, targets: dict[str, np.ndarray]
                         ) -> dict[str, np.ndarray]:
        """A batch's targets as the step needs them: for several animals, with the anchors of
        the animals ``model`` (as it stands) assembles in the unlabeled rows."""
        if self.anchors is None:
            return targets
        return self.anchors.fill(model, images, targets, self.labeled.batch_size)


def _indices(names, bodyparts: list[str], setting: str) -> list[int]:
    """The indices in ``bodyparts`` of ``names``; raises naming the setting and the unknown."""
    unknown = [name for name in names if name not in bodyparts]
    if unknown:
        raise ValueError(f"{setting} names body parts the model does not train: {unknown} "
                         f"(it trains {bodyparts}). Pass some of those.")
    return [bodyparts.index(name) for name in names]


def view_indices(view_pairs, bodyparts: list[str]) -> tuple[list[int], list[int]]:
    """The indices in ``bodyparts`` of each pair's first and second body part; raises naming
    the pairs' parts that are not trained."""
    return (_indices([first for first, _ in view_pairs], bodyparts, "view_pairs"),
            _indices([second for _, second in view_pairs], bodyparts, "view_pairs"))


def with_unlabeled(project: Project, config, split: Split, labeled: PoseDataset,
                   bodyparts: list[str]) -> WithUnlabeled:
    """``labeled``'s batches with ``config.unlabeled_pairs`` pairs each (a ``TrainConfig``;
    its ``unlabeled_margin_frames``, ``test_videos``, ``augment``, ``seed``, and with
    ``pca_loss_weight`` > 0 the pose subspace of :data:`NUM_SUBSPACE_POSES` augmented labels
    at ``pca_explained_variance`` (of ``pca_bodyparts``), with ``view_pairs`` (names among
    ``bodyparts``, the model's) their view subspace; ``unlabeled_rampup``). Several animals
    (``labeled.spec``): the pose subspace of the labeled animals (their
    multianimalbodyparts), and the losses on the assembled animals
    (:mod:`kit.net.unlabeled_animals`)."""
    starts = unlabeled_pair_starts(project, split, config.test_videos,
                                   config.unlabeled_margin_frames)
    outputs = unlabeled_outputs(config)
    views = view_indices(config.view_pairs, bodyparts)
    spec, subspaces = labeled.spec, {}
    if spec is not None and "views" in outputs:
        raise ValueError(f"view_pairs={config.view_pairs}: the views loss is for one animal "
                         "filmed in two views; a multi-animal project has no such pairs. Leave "
                         "view_pairs empty, or set views_loss_weight=0.")
    if {"pca", "views"} & set(outputs):
        poses = augmented_poses(labeled, NUM_SUBSPACE_POSES, config.seed)
        columns = tuple(_indices(config.pca_bodyparts, bodyparts, "pca_bodyparts"))
        if spec is not None:  # every labeled animal a pose, of the parts each animal has
            num_multi = len(bodyparts) - len(spec.unique_bodyparts)
            poses = poses[:, :len(spec.individuals), :num_multi].reshape(-1, num_multi, 2)
            if any(c >= num_multi for c in columns):
                raise ValueError(f"pca_bodyparts={config.pca_bodyparts}: the pose subspace of "
                                 f"several animals reads the body parts every animal has, "
                                 f"{bodyparts[:num_multi]}. Choose among those.")
            columns = columns or tuple(range(num_multi))
        if "pca" in outputs:
            subspaces["pca"] = fit_pose_subspace(poses, config.pca_explained_variance, columns)
        if "views" in outputs:
            subspaces["views"] = fit_view_subspace(poses, *views)
    anchors = None if spec is None else AnimalAnchors(
        {"bodyparts": bodyparts, "individuals": spec.individuals, "paf_graph": spec.paf_graph,
         "unique_bodyparts": spec.unique_bodyparts, "stride": config.targets.stride,
         "locref_stdev": config.targets.locref_stdev}, outputs)
    pairs = UnlabeledPairs(starts, labeled.crop_hw, config.augment, config.seed,
                           config.unlabeled_pairs)
    return WithUnlabeled(labeled, pairs, outputs, subspaces,
                         int(round(config.unlabeled_rampup * config.train_steps)), views, anchors)
