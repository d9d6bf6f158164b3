import dataclasses

import cv2
import numpy as np
import pytest

import threading
import time
import warnings

from kit.net.data import (
    AugmentConfig,
    PoseDataset,
    augment,
    crop_shape,
    prefetch,
)
from kit.net.sides import mirror_permutation
from kit.net.targets import decode
from kit.net.train_config import TrainConfig
from kit.project.labels import labels_to_array, load_labels
from kit.project.video import load_image


def test_load_image_gray_rgba_16bit_and_odd_paths(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    folder = tmp_path / "with space é"
    folder.mkdir()
    cv2.imwrite(str(folder / "c.png"), rgb[:, :, ::-1])
    assert np.array_equal(load_image(folder / "c.png"), rgb)
    cv2.imwrite(str(tmp_path / "g.png"), rgb[:, :, 0])
    assert np.array_equal(load_image(tmp_path / "g.png"), np.repeat(rgb[:, :, :1], 3, 2))
    rgba = np.dstack([rgb[:, :, ::-1], np.full((10, 12), 7, np.uint8)])
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    assert np.array_equal(load_image(tmp_path / "a.png"), rgb)
    cv2.imwrite(str(tmp_path / "d.png"), rgb[:, :, ::-1].astype(np.uint16) * 257)
    assert np.array_equal(load_image(tmp_path / "d.png"), rgb)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="bad.png"):
        load_image(tmp_path / "bad.png")


def _dot_image(x, y, size=(120, 160)):
    img = np.zeros((*size, 3), np.uint8)
    cv2.circle(img, (round(x * 16), round(y * 16)), 3 * 16, (255, 255, 255), -1, cv2.LINE_AA, 4)
    return img


@pytest.mark.parametrize("seed", range(6))
def test_augmented_points_follow_the_pixels(seed):
    """The warped label must sit on the warped dot (centroid within 1 px)."""
    img = _dot_image(70.3, 50.7)
    pts = np.array([[70.3, 50.7], [np.nan, np.nan]])
    config = AugmentConfig(contrast_range=(1, 1), brightness=0.0, keypoint_crop_probability=1.0)
    out, new = augment(img, pts, (96, 96), config, np.random.default_rng(seed))
    assert out.shape == (96, 96, 3) and np.isnan(new[1]).all()
    if np.isnan(new[0]).any():
        return
    mask = out[:, :, 0]
    ys, xs = np.mgrid[: mask.shape[0], : mask.shape[1]]
    centroid = np.array([(xs * mask).sum(), (ys * mask).sum()]) / mask.sum()
    assert np.linalg.norm(centroid - new[0]) < 1.0


@pytest.mark.parametrize("seed", range(4))
def test_full_circle_rotation_and_crop_jitter(seed):
    """rotation_deg=180 turns the image every way and the label still sits on the dot;
    crop_jitter=0 puts the chosen body part at the crop's centre."""
    img = _dot_image(70.3, 50.7)
    pts = np.array([[70.3, 50.7], [np.nan, np.nan]])
    config = AugmentConfig(contrast_range=(1, 1), brightness=0.0, rotation_deg=180.0,
                           keypoint_crop_probability=1.0, crop_jitter=0.0)
    out, new = augment(img, pts, (96, 96), config, np.random.default_rng(seed))
    assert new[0] == pytest.approx([48, 48])
    mask = out[:, :, 0]
    ys, xs = np.mgrid[: mask.shape[0], : mask.shape[1]]
    centroid = np.array([(xs * mask).sum(), (ys * mask).sum()]) / mask.sum()
    assert np.linalg.norm(centroid - new[0]) < 1.0
    with pytest.raises(ValueError, match=r"rotation_deg must be in \[0, 180\]"):
        AugmentConfig(rotation_deg=-5.0)


@pytest.mark.parametrize("seed", range(6))
def test_elastic_deformation_moves_the_labels_with_their_pixels(seed):
    """elastic=4 bends each crop by up to several pixels, and the label follows its dot to
    within a quarter pixel (the map never folds, so each point has one place to go); the
    warp before it is the same draw as without the deformation."""
    img = _dot_image(70.3, 50.7)
    pts = np.array([[70.3, 50.7], [np.nan, np.nan]])
    plain = AugmentConfig(contrast_range=(1, 1), brightness=0.0, keypoint_crop_probability=1.0,
                          crop_jitter=0.1)
    bent = dataclasses.replace(plain, elastic=4.0)
    _, before = augment(img, pts, (96, 96), plain, np.random.default_rng(seed))
    out, new = augment(img, pts, (96, 96), bent, np.random.default_rng(seed))
    assert np.isnan(new[1]).all() and np.linalg.norm(new[0] - before[0]) < 15
    mask = out[:, :, 0]
    ys, xs = np.mgrid[: mask.shape[0], : mask.shape[1]]
    centroid = np.array([(xs * mask).sum(), (ys * mask).sum()]) / mask.sum()
    assert np.linalg.norm(centroid - new[0]) < 0.25
    moves = [np.linalg.norm(augment(img, pts, (96, 96), bent, np.random.default_rng(s))[1][0]
                            - augment(img, pts, (96, 96), plain, np.random.default_rng(s))[1][0])
             for s in range(20)]
    assert max(moves) > 2.0  # the deformation is real, not a no-op
    with pytest.raises(ValueError, match="elastic >= 0"):
        AugmentConfig(elastic=-1.0)


def test_points_outside_the_crop_become_missing():
    img = _dot_image(150, 110)
    config = AugmentConfig(enabled=False, global_scale=1.0)
    _, new = augment(img, np.array([[150.0, 110.0], [80.0, 60.0]]), (32, 32), config,
                     np.random.default_rng(0))
    assert np.isnan(new[0]).all() and new[1] == pytest.approx([16, 16])


def test_mirror_swaps_left_and_right():
    assert mirror_permutation(["snout", "leftear", "rightear", "tail"]) == [0, 2, 1, 3]
    # SLEAP's flies write the side as a capital letter of its own; a side with no twin, or a
    # letter inside a word (the mirror mouse's paw1LH, whose twin would be paw4RH), stays
    flies = ["thorax", "wingL", "wingR", "forelegL1", "forelegR1", "eyeL", "Left_ear",
             "Right_ear", "paw1LH_top", "paw4RH_top", "elbow_r", "elbow_l", "earR"]
    assert mirror_permutation(flies) == [0, 2, 1, 4, 3, 5, 7, 6, 8, 9, 11, 10, 12]
    # mirrored training where no two names pair (the mirror mouse's paws) is warned of
    with pytest.warns(UserWarning, match="no two of the body parts .* pair as left and right"):
        assert mirror_permutation(["paw1LH_top", "paw4RH_top"], warn=True) == [0, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mirror_permutation(flies, warn=True)
        mirror_permutation(["paw1LH_top", "paw4RH_top"])  # not asked: not mirrored training
    img = _dot_image(40, 60)
    pts = np.array([[40.0, 60.0], [30.0, 60.0], [50.0, 60.0]])
    config = AugmentConfig(global_scale=1, scale_range=(1, 1), rotation_deg=0, mirror=True,
                           keypoint_crop_probability=0, crop_size=(120, 160))
    for seed in range(20):  # some seeds mirror
        _, new = augment(img, pts, (120, 160), config, np.random.default_rng(seed), [0, 2, 1])
        left_x, right_x = new[1, 0], new[2, 0]
        assert left_x < right_x or np.isnan([left_x, right_x]).any()


def test_crop_shape():
    config = AugmentConfig(crop_size=(448, 448))
    assert crop_shape([(480, 640)], config) == (448, 448)
    assert crop_shape([(64, 64)], config) == (64, 64)
    assert crop_shape([(64, 64)], AugmentConfig(enabled=False)) == (64, 64)
    # stride-32 backbones (MobileNetV2, EfficientNet): multiples of 32, the cap rounded down
    assert crop_shape([(100, 120)], AugmentConfig(crop_size=(200, 100)), 32) == (128, 96)
    assert crop_shape([(100, 120)], AugmentConfig(crop_size=(200, 100))) == (112, 100)


def test_dataset_batches_are_seeded_and_decode_to_labels(blob_project):
    labels = load_labels(blob_project)
    paths = [blob_project.image_path(i) for i in labels.index]
    pts = labels_to_array(labels, blob_project.bodyparts)
    config = TrainConfig(batch_size=4, train_steps=3, seed=3, weights=None)
    make = lambda: PoseDataset(paths, pts, config)  # noqa: E731
    a, b = make(), make()
    x1, t1 = a[1]
    x2, t2 = b[1]
    assert list(t1) == ["part_pred", "locref"]  # targets by head name
    (s1, l1), s2 = t1.values(), t2["part_pred"]
    assert np.array_equal(x1, x2) and np.array_equal(s1, s2)
    assert x1.shape == (4, *a.crop_hw, 3) and s1.shape == (4, *a.map_hw, 4)
    assert not np.array_equal(b[2][0], x1)
    # targets decode to a blob in the crop: the decoded point's pixel is bright
    k = 2  # two parts: scores then weights
    decoded = decode(s1[..., :k], l1[..., : 2 * k])
    for img, det, weights in zip(x1, decoded, s1[:, 0, 0, k:]):
        for (x, y, p), w in zip(det, weights):
            if w and p == 1:
                assert img[int(y), int(x)].max() > 60


def test_prefetched_batches_are_the_same_for_any_number_of_workers(blob_project):
    """Same seed -> the same batch sequence with 0 (training thread), 1 and 2 workers; a run
    resumed at step 3 continues it."""
    labels = load_labels(blob_project)
    dataset = PoseDataset([blob_project.image_path(i) for i in labels.index],
                          labels_to_array(labels, blob_project.bodyparts),
                          TrainConfig(batch_size=4, train_steps=6, seed=5, weights=None))
    runs = {n: list(prefetch(dataset.__getitem__, range(6), n)) for n in (0, 1, 2)}
    resumed = list(prefetch(dataset.__getitem__, range(3, 6), 2))
    for batches, reference in ((runs[1], runs[0]), (runs[2], runs[0]), (resumed, runs[0][3:])):
        assert len(batches) == len(reference)
        for (x, targets), (x0, targets0) in zip(batches, reference):
            (scores, locref), (scores0, locref0) = targets.values(), targets0.values()
            assert np.array_equal(x, x0) and np.array_equal(scores, scores0)
            assert np.array_equal(locref, locref0)
    assert not np.array_equal(runs[0][0][0], runs[0][1][0])


def test_prefetch_works_ahead_in_order_and_stops():
    """Slow batches finish out of order on 3 threads but come back in order; at most
    2 x workers are made ahead; an error in a worker is raised to the caller."""
    started = []

    def make(i):
        started.append(i)
        time.sleep(0.02 * (5 - i % 5))  # later indices finish first
        if i == 7:
            raise RuntimeError("bad image 7")
        return i, threading.current_thread().name

    batches = prefetch(make, range(10), 3)
    first = [next(batches) for _ in range(4)]
    assert [i for i, _ in first] == [0, 1, 2, 3]
    assert all(name.startswith("kit-batches") for _, name in first)
    assert len(started) <= 4 + 6
    with pytest.raises(RuntimeError, match="bad image 7"):
        list(batches)
    with pytest.raises(ValueError, match="num_workers must be >= 0"):
        next(prefetch(make, range(3), -1))
