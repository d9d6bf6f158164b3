"""Synthetic groups with exact truth: 2-4 animals that walk, cross, touch and cover each other.

The animals are :mod:`kit.experiments.synthetic_animal`'s (same drawing, body parts and
skeleton, exact to 1/32 pixel), several in one frame over one cluttered background. Each
walks (:mod:`kit.experiments.group_motion`) to a random place or (``approach_rate`` of the
goals) up to another animal until they touch, then leaves: animals meet, pass within a body
length of each other, cross and overlap; their body parts never leave the frame.
Animals are drawn in a depth order that changes slowly (one climbs over another); a body
part under an animal drawn later, or under an occluder disk, is not visible: NaN in the
labels, as DeepLabCut's labelers leave it, while the truth keeps its exact position.

``look_alike=True`` gives every animal the same size and colour (identity only from
motion); ``False`` gives each its own colour and size (from 0.85 to 1.15 times), fixed for
the seed in every video of a project, so a network can learn who is who.

Streams of random numbers (all from ``seed``): looks ``[seed, 0]`` (the same in every
video), motion ``[seed, video, 1]``, scene and pixel noise ``[seed, video, 2]``, label
noise ``[seed, video, 3]``. :func:`group_trajectories` computes the motion and the truth
without drawing anything.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from kit.experiments.group_motion import body_motion, walk
from kit.experiments.synthetic import GROUND_TRUTH_SCORER, labeled_frame_indices
from kit.experiments.synthetic_animal import (
    BODYPARTS,
    SKELETON,
    Animal,
    Pose,
    background,
    covers,
    draw_animal,
    draw_occluder,
    finish_frame,
    keypoints,
    occluder,
    random_animal,
)
from kit.project import Project, create_project, load_project
from kit.project.analysis_file import (
    poses_from_table,
    predictions_frame,
    read_analysis,
    select_individuals,
)
from kit.project.frame_picking import frame_image_name
from kit.project.hdf import write_h5
from kit.project.labels import make_labels_frame, save_labels
from kit.project.video import save_image, write_video

TASK, SCORER = "syntheticgroup", "synthetic"
# Distinct body colours (RGB) for look_alike=False: dark and bright ones of different hues,
# all far from the floor's brightness (110-150), so every animal stands out.
_PALETTE = np.array([(38, 34, 32), (96, 58, 30), (46, 60, 110), (242, 238, 228),
                     (236, 196, 110), (240, 178, 196)], np.float64)
_EAR_PINK = np.array([235.0, 150.0, 165.0])


@dataclass(frozen=True)
class GroupConfig:
    """One synthetic group video (see the module docstring).

    Attributes:
        num_animals: 2 to 4, named ``animal1``... in the project.
        num_frames: frames of the video.
        image_size: (width, height) in pixels.
        look_alike: True: all animals the same size and colour; False: each its own.
        seed: the same seed (and video) gives the same video and truth.
        fps: frames per second.
        video: which video of the seed (a project's videos are ``video``, ``video + 1``...):
            another walk and background, the same animals.
        animal_size: snout-to-tailbase length (head straight, mean size) over
            min(width, height).
        approach_rate: fraction of the goals that are another animal (0: random places only).
        occlusion_rate: per animal and frame, the chance that one of its body parts is hidden
            under an occluder disk (which may hide other animals' parts too).
        size_change: each animal's scale varies within 1 +- size_change (rearing).
        like_single: ``(video, width, height)`` of a single-animal synthetic project of the
            same seed: every animal looks like that video's animal, in that video's arena
            (its scene and lighting, scaled to ``image_size``), as a network trained on it
            saw them (the paper's setting); ``()``: the group's own looks and arena.
    """

    num_animals: int = 3
    num_frames: int = 300
    image_size: tuple[int, int] = (256, 256)
    look_alike: bool = True
    seed: int = 0
    fps: float = 30
    video: int = 0
    animal_size: float = 0.2
    approach_rate: float = 0.4
    occlusion_rate: float = 0.02
    size_change: float = 0.1
    like_single: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not 2 <= self.num_animals <= 4 or self.num_frames < 1 or self.video < 0:
            raise ValueError(f"Need 2 <= num_animals <= 4, num_frames >= 1 and video >= 0. "
                             f"Received: num_animals={self.num_animals}, num_frames="
                             f"{self.num_frames}, video={self.video}.")
        if len(self.image_size) != 2 or min(self.image_size) < 64 or self.fps <= 0:
            raise ValueError(f"Need image_size (width, height) of at least (64, 64) and fps > 0. "
                             f"Received: image_size={self.image_size}, fps={self.fps}.")
        ranges = {"animal_size": (0.05, 0.35), "approach_rate": (0, 1),
                  "occlusion_rate": (0, 0.5), "size_change": (0, 0.3)}
        for name, (low, high) in ranges.items():
            if not low <= getattr(self, name) <= high:
                raise ValueError(f"{name} must be in [{low}, {high}]. Received: "
                                 f"{name}={getattr(self, name)!r}.")

    @property
    def individuals(self) -> list[str]:
        return [f"animal{i + 1}" for i in range(self.num_animals)]

    @property
    def video_name(self) -> str:
        """The video's name in a project: ``group<video>``."""
        return f"group{self.video}"


@dataclass(frozen=True)
class GroupTruth:
    """The exact truth of a group video.

    Attributes:
        poses: (num_frames, num_animals, num_bodyparts, 2) float64, x then y, image pixels
            (exact, also where hidden).
        visible: (num_frames, num_animals, num_bodyparts) bool; False where covered by an
            animal drawn later or by an occluder, or outside the frame.
        bodyparts, skeleton: the single synthetic animal's.
        individuals: ``animal1``... in the order of the animals axis.
    """

    poses: np.ndarray
    visible: np.ndarray
    bodyparts: list[str]
    skeleton: list[list[str]]
    individuals: list[str]


@dataclass(frozen=True)
class _Plan:
    """Everything a video shows. poses[t][n]; order (T, N) animals bottom to top;
    occluders[t]: (centre (2,), radius, rgb) disks drawn over all animals."""

    animals: list[Animal]
    floor: float
    poses: list[list[Pose]]
    order: np.ndarray
    occluders: list[list[tuple]]
    truth: GroupTruth


def _reach(animal: Animal) -> float:
    """Snout-to-tailbase distance of ``animal`` at scale 1 with the head straight, pixels."""
    points = keypoints(Pose(0, 0, 0, 0, 1, 0), replace(animal, length=1000.0))
    return float(np.linalg.norm(points[0] - points[3])) / 1000 * animal.length


def _looks(config: GroupConfig) -> tuple[list[Animal], float]:
    """The animals (the same in every video of a seed) and the floor's brightness."""
    width, height = config.image_size
    if config.like_single:  # the draws of synthetic_animal.render_video for that video
        video, *size = config.like_single
        rng = np.random.default_rng([config.seed, video, 0])
        floor = background(rng, *size)[2]
        base = random_animal(rng, *size, floor)
    else:
        rng = np.random.default_rng([config.seed, 0])
        floor = float(rng.uniform(110, 150))
        base = random_animal(rng, width, height, floor)
    length = config.animal_size * min(width, height) * base.length / _reach(base)
    if config.look_alike:
        return [replace(base, length=length)] * config.num_animals, floor
    factors = rng.permutation(np.linspace(0.85, 1.15, config.num_animals))
    colours = rng.choice(len(_PALETTE), config.num_animals, replace=False)
    animals = []
    for factor, colour in zip(factors, colours):
        body = np.clip(_PALETTE[colour] + rng.normal(0, 6, 3), 0, 255)
        animals.append(replace(random_animal(rng, width, height, floor),
                               length=float(length * factor), body_rgb=tuple(body.tolist()),
                               ear_rgb=tuple((0.5 * body + 0.5 * _EAR_PINK).tolist())))
    return animals, floor


def _poses(rng: np.random.Generator, config: GroupConfig,
           animals: list[Animal]) -> tuple[list[list[Pose]], np.ndarray]:
    """Every animal's pose in every frame (poses[t][n]), and the drawing order (T, N):
    animal indices from bottom to top, following slowly changing depths."""
    lengths = np.array([a.length for a in animals])
    margin = np.repeat(0.9 * lengths[:, None] * (1 + config.size_change) + 1, 2, axis=1)
    arena = (margin, np.array(config.image_size, np.float64) - margin)  # parts stay in frame
    centres, headings = walk(rng, config.num_frames, arena, lengths,
                             np.array([_reach(a) for a in animals]), config.approach_rate)
    scales, yaws, tails, order = body_motion(rng, config.num_frames, config.num_animals,
                                             config.size_change)
    poses = [[Pose(float(centres[t, n, 0]), float(centres[t, n, 1]), float(headings[t, n]),
                   float(yaws[t, n]), float(scales[t, n]), float(tails[t, n]))
              for n in range(config.num_animals)] for t in range(config.num_frames)]
    return poses, order


def _occluders(rng: np.random.Generator, config: GroupConfig, animals: list[Animal],
               poses: list[list[Pose]], points: np.ndarray) -> list[list[tuple]]:
    """Per frame, the occluder disks: each animal has one body part hidden with
    probability ``occlusion_rate``. points: (T, N, K, 2)."""
    shape = (config.num_frames, config.num_animals)
    hidden = np.where(rng.random(shape) < config.occlusion_rate,
                      rng.integers(len(BODYPARTS), size=shape), -1)
    offsets = rng.uniform(-0.7, 0.7, (*shape, 2)) / math.sqrt(2)
    return [[occluder(points[t, n, hidden[t, n]], offsets[t, n], poses[t][n], animals[n])
             for n in np.flatnonzero(hidden[t] >= 0)] for t in range(config.num_frames)]


def _visibility(plan_poses: list[list[Pose]], animals: list[Animal], order: np.ndarray,
                occluders: list[list[tuple]], points: np.ndarray,
                image_size: tuple[int, int]) -> np.ndarray:
    """(T, N, K) bool: inside the frame, not under an animal drawn later nor an occluder."""
    visible = ((points >= 0) & (points <= np.array(image_size) - 1)).all(-1)
    for t, frame_order in enumerate(order):
        for rank, below in enumerate(frame_order):
            for above in frame_order[rank + 1:]:
                visible[t, below] &= ~covers(plan_poses[t][above], animals[above],
                                             points[t, below])
        for centre, radius, _ in occluders[t]:
            visible[t] &= np.linalg.norm(points[t] - centre, axis=-1) > radius
    return visible


def _plan(config: GroupConfig) -> _Plan:
    if not isinstance(config, GroupConfig):
        raise TypeError(f"config must be a GroupConfig. Received: {config!r}. "
                        "Write GroupConfig(num_animals=3, num_frames=300, ...).")
    animals, floor = _looks(config)
    rng = np.random.default_rng([config.seed, config.video, 1])
    poses, order = _poses(rng, config, animals)
    points = np.stack([np.stack([keypoints(p, a) for p, a in zip(frame, animals)])
                       for frame in poses])
    occluders = _occluders(rng, config, animals, poses, points)
    visible = _visibility(poses, animals, order, occluders, points, config.image_size)
    truth = GroupTruth(points, visible, list(BODYPARTS), [list(e) for e in SKELETON],
                       config.individuals)
    return _Plan(animals, floor, poses, order, occluders, truth)


def group_trajectories(config: GroupConfig) -> GroupTruth:
    """The motion and exact truth of the video ``config`` describes, without drawing it
    (milliseconds per frame); :func:`render_group_video` draws the same truth."""
    return _plan(config).truth


def _draw_scene(scene: np.ndarray, plan: _Plan, t: int) -> np.ndarray:
    """Frame ``t`` drawn over ``scene`` (H, W, 3) before lighting and noise: the animals
    bottom to top, then the occluders. Returns a new image like ``scene``."""
    img = scene.copy()
    for n in plan.order[t]:
        draw_animal(img, plan.poses[t][n], plan.animals[n])
    for centre, radius, colour in plan.occluders[t]:
        draw_occluder(img, centre, radius, colour)
    return img


def _single_arena(config: GroupConfig) -> tuple[np.ndarray, np.ndarray]:
    """The scene and lighting of the single-animal video ``config.like_single`` names (the
    draws of ``synthetic_animal.render_video``), scaled to ``config.image_size``."""
    video, *size = config.like_single
    scene, light, _ = background(np.random.default_rng([config.seed, video, 0]), *size)
    return tuple(cv2.resize(a, config.image_size, interpolation=cv2.INTER_LINEAR)
                 for a in (scene, light))


def _render(path: Path, config: GroupConfig, plan: _Plan, keep: set[int]) -> dict[int, np.ndarray]:
    """Write the mp4 ``path``; return the frames ``keep`` as drawn (RGB uint8, lossless)."""
    rng = np.random.default_rng([config.seed, config.video, 2])
    if config.like_single:
        scene, light = _single_arena(config)
    else:
        scene, light, _ = background(rng, *config.image_size, floor=plan.floor)
    noise_sigma = rng.uniform(3, 7)
    kept: dict[int, np.ndarray] = {}

    def frames() -> Iterator[np.ndarray]:
        for t in range(config.num_frames):
            frame = finish_frame(_draw_scene(scene, plan, t), light, rng, noise_sigma)
            if t in keep:
                kept[t] = frame
            yield frame

    write_video(path, frames(), config.fps)
    return kept


def render_group_video(path: str | os.PathLike, config: GroupConfig) -> GroupTruth:
    """Draw the video ``config`` describes into the mp4 ``path``; return its exact truth
    (the same as :func:`group_trajectories`)."""
    plan = _plan(config)
    _render(Path(path), config, plan, set())
    return plan.truth


def _save_video_files(project: Project, config: GroupConfig, truth: GroupTruth,
                      kept: dict[int, np.ndarray], label_noise_px: float) -> None:
    """The labeled frames, their labels (visible parts, plus noise) and the ground truth."""
    name, num_frames = config.video_name, config.num_frames
    if kept:
        folder = project.labeled_data_dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        frames = sorted(kept)
        images = [save_image(folder / frame_image_name(t, num_frames), kept[t])
                  .relative_to(project.root).as_posix() for t in frames]
        points = np.where(truth.visible[frames][..., None], truth.poses[frames], np.nan)
        rng = np.random.default_rng([config.seed, config.video, 3])
        points = points + rng.normal(0, label_noise_px, points.shape) if label_noise_px else points
        save_labels(project, name, make_labels_frame(points, images, project.scorer,
                                                     project.bodyparts, project.layout))
    values = np.concatenate([truth.poses, truth.visible[..., None].astype(np.float64)], -1)
    write_h5(predictions_frame(values, range(num_frames), GROUND_TRUTH_SCORER, truth.bodyparts,
                               truth.individuals), project.ground_truth_file(name))


def make_synthetic_group_project(
    project_dir: str | os.PathLike, config: GroupConfig = GroupConfig(), *,
    num_videos: int = 1, num_labeled: int = 20, label_noise_px: float = 0.0,
    exist_ok: bool = False,
) -> Project:
    """A complete multi-animal DeepLabCut project of synthetic groups; return it opened.

    Args:
        project_dir: a new folder (must not hold a config.yaml yet).
        config: the first video; video i is ``replace(config, video=config.video + i)``
            (same animals, another walk and background), named ``group<video>``.
        num_videos: videos in the project.
        num_labeled: labeled frames per video, spread evenly (frame
            ``int((k + 0.5) * num_frames / num_labeled)``), saved as rendered (lossless png).
        label_noise_px: sd in pixels of Gaussian noise added to x and to y of the labels
            (not of the ground truth): a stand-in for human labeling error.
        exist_ok: if the folder already holds a project, open it instead of raising.

    The config lists ``individuals`` (``animal1``...), ``multianimalbodyparts`` (the synthetic
    animal's), ``bodyparts: MULTI!`` and the skeleton; ``identity`` is ``not look_alike``.
    Labels have 4 column levels (scorer, individuals, bodyparts, coords), NaN where a part is
    hidden. ``videos/<name>_groundtruth.h5`` holds every frame's truth in DeepLabCut's
    multi-animal analysis layout (scorer ``groundtruth``; likelihood 1 visible, 0 hidden):
    read it with :func:`load_group_ground_truth`.
    """
    if not isinstance(config, GroupConfig):
        raise TypeError(f"config must be a GroupConfig. Received: {config!r}.")
    if num_videos < 1 or not 0 <= num_labeled <= config.num_frames or label_noise_px < 0:
        raise ValueError(f"Need num_videos >= 1, 0 <= num_labeled <= num_frames "
                         f"({config.num_frames}) and label_noise_px >= 0. Received: num_videos="
                         f"{num_videos}, num_labeled={num_labeled}, label_noise_px={label_noise_px}.")
    if exist_ok and (Path(project_dir) / "config.yaml").is_file():
        return load_project(project_dir)
    configs = [replace(config, video=config.video + i) for i in range(num_videos)]
    keep = labeled_frame_indices(config.num_frames, num_labeled) if num_labeled else set()
    with tempfile.TemporaryDirectory(prefix="kit-synthetic-group-") as tmp:
        rendered = []
        for video_config in configs:
            plan, path = _plan(video_config), Path(tmp) / f"{video_config.video_name}.mp4"
            rendered.append((video_config, plan.truth, _render(path, video_config, plan, keep)))
        project = create_project(
            project_dir, TASK, SCORER, BODYPARTS, videos=sorted(Path(tmp).glob("*.mp4")),
            skeleton=[list(e) for e in SKELETON], individuals=config.individuals,
            identity=not config.look_alike)
    for video_config, truth, kept in rendered:
        _save_video_files(project, video_config, truth, kept, label_noise_px)
    return project


def load_group_ground_truth(project: Project, video: str) -> tuple[np.ndarray, np.ndarray]:
    """The truth of every frame of a synthetic group video ``video`` (its name, e.g. group0).

    Returns:
        poses (num_frames, num_animals, num_bodyparts, 2) float64, x then y, image pixels,
        exact also where hidden; visible (num_frames, num_animals, num_bodyparts) bool.
        Animals in the project's ``individuals`` order, body parts in its order.
    """
    path, layout = project.ground_truth_file(video), project.layout
    if not path.is_file() or layout is None:
        raise FileNotFoundError(
            f"No group ground truth at {path} (or {project.config_path} is not multi-animal). "
            "Only projects made by make_synthetic_group_project have one; check the video "
            f"name (this project has {project.labeled_videos()}).")
    poses, _, individuals = poses_from_table(read_analysis(path), layout.multianimal_bodyparts,
                                             source=path)
    poses = select_individuals(poses, individuals, layout.individuals)
    return poses[..., :2], poses[..., 2] > 0.5
