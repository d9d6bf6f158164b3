"""The paper's several-animal readout: scoring peaks against a group's truth."""

import numpy as np
import pytest

from kit.experiments import several_animals
from kit.experiments.synthetic_group import GroupConfig, group_trajectories


def _truth():
    return group_trajectories(GroupConfig(num_animals=3, num_frames=5, image_size=(128, 128)))


def _peaks_at(poses: np.ndarray, visible: np.ndarray, shift: float = 0.0) -> list:
    """Peaks exactly at the visible true parts (plus ``shift`` px in x), score 0.9."""
    out = []
    for f in range(len(poses)):
        frame = []
        for k in range(poses.shape[2]):
            xy = poses[f, visible[f, :, k], k] + [shift, 0]
            frame.append(np.column_stack([xy, np.full(len(xy), 0.9)]))
        out.append(frame)
    return out


def test_perfect_peaks_find_every_visible_part():
    truth = _truth()
    table = several_animals.score_peaks(_peaks_at(truth.poses, truth.visible, 2.0), truth,
                                        several_animals.ReadoutConfig(tolerance_px=3))
    assert list(table.index) == truth.bodyparts
    assert (table.found == 1).all() and np.allclose(table.error_px, 2.0)
    assert (table.extra_per_frame == 0).all()
    assert table.visible.sum() == truth.visible.sum()


def test_far_and_extra_peaks_are_not_found_but_counted():
    truth = _truth()
    far = _peaks_at(truth.poses, truth.visible, 500.0)  # outside the frame
    table = several_animals.score_peaks(far, truth, several_animals.ReadoutConfig(tolerance_px=8))
    assert (table.found == 0).all()
    per_frame = truth.visible.sum(axis=(0, 1)) / len(truth.poses)
    assert np.allclose(table.extra_per_frame, per_frame)


def test_one_peak_cannot_count_for_two_animals():
    truth = _truth()
    peaks = _peaks_at(truth.poses, truth.visible)
    one = [[part[:1] for part in frame] for frame in peaks]  # only the first animal's peak
    table = several_animals.score_peaks(one, truth, several_animals.ReadoutConfig())
    assert (table.found < 0.5).all() and (table.found > 0).all()


def test_group_frames_are_the_truths_frames(tmp_path):
    config = GroupConfig(num_animals=2, num_frames=12, image_size=(96, 96))
    frames, truth = several_animals.group_frames(config, 4, tmp_path)
    assert frames.shape == (4, 96, 96, 3) and frames.dtype == np.uint8
    assert truth.poses.shape == (4, 2, 4, 2)
    full = group_trajectories(config)
    assert np.array_equal(truth.poses, full.poses[[0, 4, 7, 11]])
    with pytest.raises(ValueError, match="num_frames"):
        several_animals.group_frames(config, 13)


def test_group_like_draws_the_training_video_s_animal(tmp_path):
    """The paper's setting: the same animal, several at once (its colour in the group)."""
    from kit.experiments.synthetic import SyntheticConfig, make_synthetic_project
    from kit.experiments.synthetic_animal import random_animal
    from kit.experiments.synthetic_group import _looks

    project = make_synthetic_project(tmp_path / "one", SyntheticConfig(
        seed=4, num_frames=20, num_labeled=2, image_size=(96, 96)))
    config = several_animals.group_like(project, GroupConfig(seed=4, image_size=(160, 160)))
    assert config.like_single == (0, 96, 96)
    animals, _ = _looks(config)
    rng = np.random.default_rng([4, 0, 0])  # synthetic_animal.render_video's draws
    from kit.experiments.synthetic_animal import background
    floor = background(rng, 96, 96)[2]
    assert animals[0].body_rgb == random_animal(rng, 96, 96, floor).body_rgb
    length = several_animals.animal_length(project)
    snout_tail = np.linalg.norm(np.diff(group_trajectories(config).poses[:, :, [0, 3]], axis=2),
                                axis=-1)
    assert abs(np.mean(snout_tail) / length - 1) < 0.25  # the training animals' size


def test_group_like_is_set_in_the_training_video_s_arena(tmp_path):
    """The paper's mice were filmed in the arena the network trained in: the group's
    floor, away from the animals, is the training video's (and a group of its own looks
    is set in another arena)."""
    from kit.experiments.synthetic import (SyntheticConfig, load_ground_truth,
                                           make_synthetic_project)
    from kit.project.video import read_frames

    project = make_synthetic_project(tmp_path / "one", SyntheticConfig(
        seed=4, num_frames=20, num_labeled=2, image_size=(96, 96)))
    single = read_frames(project.videos_dir / "animal0.mp4", [0])[0].astype(float)
    single_truth = load_ground_truth(project, "animal0", include_occluded=True)

    def far_from_animals(frames, truth):
        ys, xs = np.mgrid[0:96, 0:96]
        far = np.ones((96, 96), bool)
        for xy in np.concatenate([truth.poses[0].reshape(-1, 2), single_truth[0, :, :2]]):
            far &= np.hypot(xs - xy[0], ys - xy[1]) > 0.5 * several_animals.animal_length(project)
        return np.median(np.abs(frames[0].astype(float) - single)[far])

    like = several_animals.group_like(project, GroupConfig(seed=4, image_size=(96, 96),
                                                           num_frames=2))
    own = GroupConfig(seed=4, image_size=(96, 96), num_frames=2)
    same = far_from_animals(*several_animals.group_frames(like, 1))
    other = far_from_animals(*several_animals.group_frames(own, 1))
    assert same < 8 < other, (same, other)  # pixel noise and compression only
