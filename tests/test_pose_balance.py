"""Rare poses drawn more often (kit.net.pose_balance, TrainConfig.pose_balance)."""

import numpy as np
import pytest

from kit.net.data import PoseDataset
from kit.net.pose_balance import pose_draw_p, pose_rarity
from kit.net.train import TrainConfig
from kit.project.labels import labels_to_array, load_labels

# A four-part animal (snout, two ears, tail base) with its head straight, and one with its
# head turned on its side (the snout beside one ear, the other ear far out).
STRAIGHT = np.array([[0.0, 10], [-3, 4], [3, 4], [0, -20]])
TURNED = np.array([[6.0, 8], [4, 5], [-4, 0], [0, -20]])


def moved(pose, angle, scale, shift, flip=False):
    """``pose`` turned by ``angle`` radians, scaled, shifted and (``flip``) mirrored."""
    c, s = np.cos(angle), np.sin(angle)
    out = scale * pose @ np.array([[c, s], [-s, c]]) + shift
    return out * [-1, 1] if flip else out


def herd(rng, n_straight=30, n_turned=2):
    """Straight poses (with 0.3-unit jitter) anywhere, turned, scaled; then a few turned heads."""
    poses = [moved(STRAIGHT + rng.normal(0, 0.3, STRAIGHT.shape), rng.uniform(0, 6.3),
                   rng.uniform(0.8, 1.3), rng.uniform(0, 300, 2), rng.random() < 0.5)
             for _ in range(n_straight)]
    poses += [moved(TURNED, rng.uniform(0, 6.3), 1.0, rng.uniform(0, 300, 2))
              for _ in range(n_turned)]
    return np.array(poses)


def test_rare_poses_are_drawn_most_and_the_animals_place_turn_and_size_do_not_count():
    rng = np.random.default_rng(0)
    poses = herd(rng)
    p = pose_draw_p(poses, 1.0)
    assert p.sum() == pytest.approx(1)
    assert set(np.argsort(p)[-2:]) == {30, 31}  # the two turned heads
    assert p[30:].min() > 3 * np.median(p[:30])
    # the same poses elsewhere, turned, mirrored and larger: the same rarity
    again = np.array([moved(pose, 1.0, 2.0, [50, -20], flip=True) for pose in poses])
    assert np.allclose(pose_rarity(again), pose_rarity(poses))
    # power: 0 draws all alike; 2 favours the rare poses more than 1
    assert np.allclose(pose_draw_p(poses, 0), 1 / 32)
    assert pose_draw_p(poses, 2)[30] > p[30]
    with pytest.raises(ValueError, match="pose_balance must be >= 0"):
        pose_draw_p(poses, -1)


def test_missing_parts_and_several_animals():
    rng = np.random.default_rng(1)
    poses = herd(rng)
    poses[3, 0] = np.nan  # a snout out of view: compared on the other parts
    poses[4, :3] = np.nan  # one part only: no shape, the median rarity
    p = pose_draw_p(poses, 1.0)
    assert np.isfinite(p).all() and p.sum() == pytest.approx(1)
    assert p[4] == pytest.approx(np.median(p))
    assert set(np.argsort(p)[-2:]) == {30, 31}
    # several animals: (N, M, K, 2), a frame as rare as its rarest animal; an absent animal
    # (all NaN) does not count
    frames = np.stack([poses[:16], poses[16:]], axis=1)  # frame 14 and 15 hold the turned heads
    frames[0, 1] = np.nan
    q = pose_draw_p(frames, 1.0)
    assert np.isfinite(q).all() and set(np.argsort(q)[-2:]) == {14, 15}


def test_dataset_draws_rare_frames_more_and_stays_seeded(blob_project):
    labels = load_labels(blob_project)
    paths = [blob_project.image_path(i) for i in labels.index]
    points = labels_to_array(labels, blob_project.bodyparts)
    plain = PoseDataset(paths, points, TrainConfig(batch_size=4, train_steps=3, weights=None))
    assert plain.draw_p is None  # off by default: the draws of every earlier run
    config = TrainConfig(batch_size=4, train_steps=3, weights=None, pose_balance=1.0)
    balanced = PoseDataset(paths, points, config)
    assert balanced.draw_p == pytest.approx(pose_draw_p(balanced.points, 1.0))
    assert np.array_equal(balanced[1][0], PoseDataset(paths, points, config)[1][0])
    # self-training's frames keep their share; the labeled frames keep their balance
    before = balanced.draw_p.copy()
    balanced.add_images(paths[:2], points[:2], share=0.25)
    assert balanced.draw_p[:len(before)] == pytest.approx(0.75 * before)
    assert balanced.draw_p.sum() == pytest.approx(1)


def test_train_config_pose_balance():
    config = TrainConfig.from_parameters(settings="pose_balance=1")
    assert config.pose_balance == 1.0 and config.variant.endswith("-balance1")
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert "balance" not in TrainConfig().variant
    with pytest.raises(ValueError, match="pose_balance=-0.5"):
        TrainConfig(pose_balance=-0.5)
