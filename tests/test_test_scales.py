"""kit.net.test_scales: each image predicted at several scales, the median taken."""

import dataclasses
import shutil

import numpy as np
import pandas as pd
import pytest

from kit.net.data import AugmentConfig
from kit.net.model_folder import ModelFolder, PoseConfig
from kit.net.predict import Predictor
from kit.net.test_scales import (at_scale, decode_at_scales, median_of_passes, turned_back,
                                  use_test_scales)
from kit.net.decoders import Decoded
from kit.net.train import TrainConfig, train
from kit.project.video import iter_frames
from kit.results.analyze import AnalyzeConfig, analyze_videos

SCALES = (0.85, 1.0, 1.15)


def test_a_pose_config_keeps_its_scales_and_refuses_bad_ones():
    pose = PoseConfig(bodyparts=("a", "b"), test_scales=SCALES)
    assert PoseConfig.from_dict(pose.to_dict()) == pose
    assert PoseConfig.from_dict({"bodyparts": ["a"]}).test_scales == ()  # older configs
    with pytest.raises(ValueError, match="positive"):
        PoseConfig(bodyparts=("a",), test_scales=(1.0, 0.0))
    several = PoseConfig(bodyparts=("a",), multianimal=True, individuals=("m1", "m2"),
                         test_scales=SCALES, test_rotations=(0, 180))
    assert several.test_rotations == (0, 180)


def test_a_point_found_in_a_turned_image_is_turned_back_exactly():
    """A marked pixel (x 5, y 2) of a 7 x 10 image, found in the image turned by 0, 90, 180
    and 270 degrees (np.rot90), comes back to (5, 2); turns must be multiples of 90, and
    only for a model whose decoder is not two_views."""
    image = np.zeros((7, 10))
    image[2, 5] = 1
    for degrees in (0, 90, 180, 270):
        row, col = np.unravel_index(np.rot90(image, degrees // 90).argmax(), (10, 7)
                                    if degrees % 180 else (7, 10))
        np.testing.assert_allclose(turned_back(np.array([col, row, 0.9]), degrees, 7, 10),
                                   [5, 2, 0.9])
    with pytest.raises(ValueError, match="multiples of 90"):
        PoseConfig(bodyparts=("a",), test_rotations=(45,))
    with pytest.raises(ValueError, match="two_views"):
        PoseConfig(bodyparts=("t", "b"), decoder="two_views", view_pairs=(("t", "b"),),
                   view_mean=(0.0,) * 4, view_components=((1.0, 0, 0, 0),) * 3,
                   test_rotations=(0, 180))
    with pytest.raises(ValueError, match="rotation_deg=180"):
        TrainConfig(test_rotations=(0, 90))  # trained to 25 degrees
    assert TrainConfig(test_rotations=(0, 90), augment=AugmentConfig(rotation_deg=180.0)
                       ).test_rotations == (0, 90)


def test_the_two_views_subspace_follows_the_scale():
    """At a scale 1.15 times the model's, the pair's subspace mean and tolerance (map
    pixels) are 1.15 times theirs (each pair's tolerance too, and the views' boundary's
    offset), its directions the same."""
    pose = PoseConfig(bodyparts=("t", "b"), global_scale=0.8, decoder="two_views",
                      view_pairs=(("t", "b"),), view_mean=(10.0, 20.0, 10.0, 60.0),
                      view_components=((1.0, 0, 0, 0), (0, 1.0, 0, 0), (0, 0, 0, 1.0)),
                      view_tolerance_px=2.0, view_tolerances_px=(3.0,),
                      view_boundary=(0.0, 1.0, 40.0))
    scaled = at_scale(pose, 1.15)
    assert scaled.view_boundary == pytest.approx((0.0, 1.0, 46.0))  # the line between views
    np.testing.assert_allclose(scaled.view_mean, [11.5, 23.0, 11.5, 69.0])
    assert scaled.view_tolerance_px == pytest.approx(2.3)
    assert scaled.view_tolerances_px == pytest.approx((3.45,))
    assert scaled.global_scale == pytest.approx(0.92)
    assert scaled.view_components == pose.view_components


def test_a_model_at_several_scales_predicts_the_median_of_each_scale(trained_synthetic,
                                                                       tmp_path):
    """use_test_scales: predictions are the median over the scales of the model's own
    prediction at each (global_scale times the factor); (1.0,) and () predict as before; an
    analysis records the scales, and one made at one scale is not reused for them."""
    project, predictor, video = trained_synthetic
    original = ModelFolder(predictor.model_dir)
    copy = ModelFolder(original.path.with_name(original.path.name + "-scales"))
    shutil.copytree(original.path, copy.path)
    frames = np.stack([frame for _, frame in iter_frames(video, 0, 3)])
    settings = AnalyzeConfig(shuffle=1, train_fraction=0.75, variant=copy.variant,
                             output_dir=str(tmp_path), max_frames=4, progress=False)
    try:
        once = Predictor(copy.path)
        assert once.decoding is None and once.input_scale == once.global_scale
        first = analyze_videos(project, [video], settings)[0]
        per_scale = []
        for factor in SCALES:
            use_test_scales(copy, (factor,))
            per_scale.append(Predictor(copy.path).predict_batch(frames))
        assert not np.allclose(per_scale[0][..., :2], per_scale[2][..., :2])
        pose = use_test_scales(copy, SCALES)
        assert copy.load_pose_config() == pose and pose.test_scales == SCALES
        several = Predictor(copy.path)
        assert several.input_scale == 1.0
        assert several.decoding == "single_animal at scales 0.85/1/1.15"
        np.testing.assert_allclose(several.predict_batch(frames),
                                   np.median(np.stack(per_scale), axis=0))
        np.testing.assert_allclose(per_scale[1], once.predict_batch(frames))
        with pytest.raises(ValueError, match="decoder"):  # the analysis at one scale
            analyze_videos(project, [video], settings)
        again = analyze_videos(project, [video], dataclasses.replace(settings, overwrite=True))
        assert again[0].metadata["decoder"] == several.decoding
        table = pd.read_hdf(again[0].h5)
        assert len(table) == len(pd.read_hdf(first.h5))
        np.testing.assert_allclose(table.to_numpy()[:3].reshape(3, -1, 3),
                                   several.predict_batch(frames)[:, 0], atol=1e-3)
    finally:
        shutil.rmtree(copy.path)


def test_a_model_predicting_turned_images_takes_the_median_of_each_turn(trained_synthetic):
    """test_rotations (a model trained to the full circle): the median over the turns of the
    model's own prediction of each turned image, mapped back; use_test_scales refuses turns
    for a model trained to 25 degrees."""
    project, predictor, video = trained_synthetic
    original = ModelFolder(predictor.model_dir)
    copy = ModelFolder(original.path.with_name(original.path.name + "-turns"))
    shutil.copytree(original.path, copy.path)
    frames = np.stack([frame for _, frame in iter_frames(video, 0, 2)])
    try:
        with pytest.raises(ValueError, match="rotation_deg=180"):
            use_test_scales(copy, (1.0,), (0, 180))
        pose = copy.load_pose_config()
        per_turn = []
        for degrees in (0, 90, 180, 270):
            copy.save_pose_config(dataclasses.replace(pose, test_rotations=(degrees,)))
            per_turn.append(Predictor(copy.path).predict_batch(frames))
        copy.save_pose_config(dataclasses.replace(pose, test_rotations=(0, 90, 180, 270)))
        turns = Predictor(copy.path)
        assert turns.decoding == "single_animal at scales 1, turns 0/90/180/270"
        np.testing.assert_allclose(turns.predict_batch(frames),
                                   np.median(np.stack(per_turn), axis=0))
        np.testing.assert_allclose(per_turn[0], predictor.predict_batch(frames))
    finally:
        shutil.rmtree(copy.path)


def test_training_with_test_scales_saves_them(two_videos):
    """``test_scales`` of 03_train ("0.85,1,1.15") lands in the model's pose config."""
    config = TrainConfig.from_parameters(
        train_steps=1, batch_size=2, train_fraction=0.9, weights="",
        net_type="mobilenet_v2_0.35", batchnorm_batches=1, num_workers=1, crop_size=64,
        test_scales="0.85,1,1.15", rotation_deg=180.0, test_rotations="0,180",
        settings="mirror=True test_mirror=True")
    assert config.test_scales == SCALES and config.test_rotations == (0, 180)
    assert config.test_mirror
    with pytest.raises(ValueError, match="test_scales"):
        TrainConfig(test_scales=(-1.0,))
    predictor = Predictor(train(two_videos, config, verbose=0))
    assert predictor.pose.test_scales == SCALES and predictor.pose.test_rotations == (0, 180)
    assert predictor.pose.test_mirror and predictor.decoding.endswith("0/180, mirrored")
    poses = predictor.predict_images([np.zeros((64, 64, 3), np.uint8)] * 2)
    assert poses.shape == (2, 1, len(two_videos.bodyparts), 3) and np.isfinite(poses).all()
    assert AugmentConfig().scale_range[0] <= min(SCALES) <= max(SCALES) <= 1.25


def test_the_median_of_passes_keeps_a_body_part_half_the_passes_found():
    """One animal found in every pass: the plain median of x, y and score. A body part found
    by one pass of three is dropped (NaN); by two, x and y are their median and the score
    the median of all three (0 for the pass that missed it)."""
    rng = np.random.default_rng(0)
    passes = rng.uniform(0, 50, (3, 4, 1, 2, 3))
    poses, identity = median_of_passes(passes)
    np.testing.assert_allclose(poses, np.median(passes, axis=0))
    assert identity is None
    passes[:2, 0, 0, 0, :2] = np.nan  # part 0 of frame 0: found once
    passes[0, 1, 0, 1, :2] = np.nan  # part 1 of frame 1: found twice
    poses, _ = median_of_passes(passes)
    assert np.isnan(poses[0, 0, 0]).all()
    np.testing.assert_allclose(poses[1, 0, 1], [*passes[1:, 1, 0, 1, :2].mean(0),
                                                np.median([0, *passes[1:, 1, 0, 1, 2]])])


class CoordinatePredictor:
    """What decode_at_scales uses of a Predictor, for three rows of animals: its "maps" are
    the images, whose channels 0 and 1 hold each pixel's x and y before any turn or scaling,
    and its decoder finds each animal's keypoints by them (to the nearest pixel), its rows
    shuffled in every pass, a stray animal added in the first pass and the identity scores
    following the rows."""

    assembly = None
    pose = PoseConfig(bodyparts=("head", "tail"), multianimal=True, global_scale=1.0,
                      individuals=("m1", "m2", "m3"), test_scales=SCALES,
                      test_rotations=(0, 90, 180, 270))
    truth = np.array([[[20.0, 12.0], [30.0, 14.0]], [[40.0, 30.0], [36.0, 20.0]]])
    scores = (0.6, 0.9)  # the second animal first, best first

    def __init__(self):
        self.calls = 0

    def maps_scaled(self, scaled):
        return {"coords": scaled}

    def decoder(self, maps, pose, assembly):
        images, rng = maps["coords"], np.random.default_rng(self.calls)
        animals = [*zip(self.truth, self.scores)]
        if self.calls == 0:
            animals.append((np.array([[5.0, 40.0], [9.0, 44.0]]), 0.95))
        self.calls += 1
        poses = np.full((len(images), 3, 2, 3), np.nan)
        identity = np.full((len(images), 3, 3), np.nan)
        for row, a in zip(rng.permutation(3), range(len(animals))):
            points, score = animals[a]
            for k, (x, y) in enumerate(points):
                miss = np.abs(images[..., 0] - x) + np.abs(images[..., 1] - y)
                for n, image_miss in enumerate(miss):
                    r, c = np.unravel_index(image_miss.argmin(), image_miss.shape)
                    poses[n, row, k] = [c, r, score]
            identity[:, row] = np.eye(3)[a]
        return Decoded(poses, identity, np.zeros(len(images), np.int64))


def test_several_animals_are_matched_across_scales_and_turns():
    """Twelve passes (three scales, four turns) of two animals, each pass's rows shuffled,
    a stray animal in one: every animal's median lands on it (within a pixel) in one row,
    best first, its identity scores with it; the stray, found once, is dropped."""
    ys, xs = np.mgrid[0:48, 0:56].astype(np.float32)
    images = np.stack([np.dstack([xs, ys, np.zeros_like(xs)])] * 2)
    predictor = CoordinatePredictor()
    decoded = decode_at_scales(predictor, images)
    assert predictor.calls == 12 and decoded.poses.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(decoded.poses[:, 0, :, :2], [predictor.truth[1]] * 2, atol=1.0)
    np.testing.assert_allclose(decoded.poses[:, 1, :, :2], [predictor.truth[0]] * 2, atol=1.0)
    np.testing.assert_allclose(decoded.poses[:, :2, :, 2], [[[0.9] * 2, [0.6] * 2]] * 2)
    assert np.isnan(decoded.poses[:, 2]).all()
    np.testing.assert_allclose(decoded.identity[:, :2], [np.eye(3)[[1, 0]]] * 2)


def centre(weights: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The centre of ``points`` (M, 2) weighted by ``weights`` (M,)."""
    return (weights[:, None] * points).sum(0) / weights.sum()


class MousePredictor:
    """What decode_at_scales uses of a Predictor, for a mouse filmed from above whose ears
    its "network" tells apart as a trained one must: the snout a red dot, the tail base a
    blue one, the two ears green, the left ear the green dot on the mouse's left (seen from
    above, left of the line from its tail base to its snout)."""

    assembly = None
    truth = np.array([[25.0, 8.0], [20.0, 14.0], [30.0, 14.0], [25.0, 35.0]])

    def __init__(self, **passes):
        self.pose = PoseConfig(bodyparts=("snout", "leftear", "rightear", "tailbase"),
                               global_scale=1.0, **passes)
        self.calls = 0

    def image(self) -> np.ndarray:
        image = np.zeros((48, 50, 3), np.float32)
        for (x, y), channel in zip(self.truth.astype(int), (0, 1, 1, 2)):
            image[y, x, channel] = 1.0
        return image

    def maps_scaled(self, scaled):
        return {"image": scaled}

    def decoder(self, maps, pose, assembly):
        self.calls += 1
        poses = np.zeros((len(maps["image"]), 1, 4, 3))
        for n, image in enumerate(maps["image"]):
            dots = []  # each colour's pixels: (weights, x and y)
            for c in range(3):
                at = np.argwhere(image[..., c] > 0.01)
                dots.append((image[at[:, 0], at[:, 1], c], at[:, ::-1].astype(float)))
            snout, tail = centre(*dots[0]), centre(*dots[2])
            weights, points = dots[1]
            axis, off = snout - tail, points - tail
            left = axis[0] * off[:, 1] - axis[1] * off[:, 0] < 0  # on the mouse's left
            ears = [centre(weights[side], points[side]) for side in (left, ~left)]
            poses[n, 0, :, :2], poses[n, 0, :, 2] = [snout, *ears, tail], 0.9
        return Decoded(poses, None, np.zeros(len(poses), np.int64))


def test_a_flipped_pass_swaps_left_and_right_back():
    """test_mirror: each pass also on the image flipped left to right; the mouse it finds
    there, flipped back with its ears swapped, is the mouse of the upright pass (to the
    pixel: two passes, so an ear put on the wrong side would land between the ears). Only
    for a model trained on mirrored crops; a two_views model refuses flips (its views would
    trade places)."""
    predictor = MousePredictor(test_mirror=True)
    images = np.stack([predictor.image()] * 2)
    decoded = decode_at_scales(predictor, images)
    assert predictor.calls == 2
    np.testing.assert_allclose(decoded.poses[..., :2], [[predictor.truth]] * 2)
    flipped = MousePredictor()
    np.testing.assert_allclose(  # the flipped image's own mouse: mirrored, ears traded
        flipped.decoder({"image": images[:, :, ::-1]}, flipped.pose, None).poses[0, 0, :, 0],
        [24.0, 19.0, 29.0, 24.0])
    predictor = MousePredictor(test_mirror=True, test_scales=SCALES)
    decoded = decode_at_scales(predictor, images)
    assert predictor.calls == 6
    np.testing.assert_allclose(decoded.poses[..., :2], [[predictor.truth]] * 2, atol=1.0)
    with pytest.raises(ValueError, match="mirror=True"):  # never saw a mirrored animal
        TrainConfig(test_mirror=True)
    assert TrainConfig(test_mirror=True, augment=AugmentConfig(mirror=True)).test_mirror
    with pytest.raises(ValueError, match="flips"):
        PoseConfig(bodyparts=("t", "b"), decoder="two_views", view_pairs=(("t", "b"),),
                   view_mean=(0.0,) * 4, view_components=((1.0, 0, 0, 0),) * 3,
                   test_mirror=True)
