"""The losses on unlabeled frames for several animals (kit.net.unlabeled_animals): each
assembled animal's keypoints read at its own peaks, its animals kept in order across a pair,
each loss zero where it holds and positive where it does not; a tiny two-animal training
with them logs both and saves a model that predicts as before."""

import keras
import numpy as np
import pytest
from keras import ops

from kit.experiments.synthetic_group import GroupConfig, make_synthetic_group_project
from kit.net.data import AugmentConfig
from kit.net.ma_targets import make_multianimal_targets
from kit.net.model import BatchStatisticsReader, build_model
from kit.net.model_folder import ModelFolder
from kit.net.predict import Predictor
from kit.net.soft_argmax import soft_argmax, soft_argmax_at
from kit.net.targets import TargetConfig
from kit.net.train import TrainConfig, list_checkpoints, read_train_log, train
from kit.net.unlabeled_animals import (
    MISSING,
    AnimalAnchors,
    AnimalSubspaceLoss,
    AnimalTemporalLoss,
    anchors_of,
    match_animals,
)
from kit.net.subspaces import fit_pose_subspace

STRIDE, MAP_HW = 8, (12, 12)
GRAPH = ((0, 1), (1, 2))
POSE = {"bodyparts": ["a", "b", "c"], "individuals": ["m1", "m2"], "unique_bodyparts": [],
        "paf_graph": GRAPH, "stride": STRIDE, "locref_stdev": TargetConfig().locref_stdev}
# Two animals, three body parts each, in 96 x 96 pixels.
ANIMALS = np.array([[[20.0, 20.0], [28.0, 28.0], [36.0, 20.0]],
                    [[60.0, 68.0], [68.0, 76.0], [76.0, 68.0]]])


def _maps(points):
    """Logits, locref and PAFs of a network that sees ``points`` (A, K, 2) exactly."""
    targets = make_multianimal_targets(points, MAP_HW, GRAPH, 0, TargetConfig(stride=STRIDE))
    logits = np.where(targets["part_pred"][0] > 0, 6.0, -6.0)[None].astype(np.float32)
    return logits, targets["locref"][0][None], targets["paf"][0][None]


class _Network:
    """What AnimalAnchors asks of a model: output_names, layers and a call."""

    output_names, layers = ["part_pred", "locref", "paf", "temporal"], []

    def __init__(self, frames):
        self.frames = frames  # per image: (A, K, 2)

    def __call__(self, images, training):
        maps = [_maps(self.frames[int(image[0, 0, 0])]) for image in images]
        logits, locref, paf = (np.concatenate(m) for m in zip(*maps))
        return [logits, locref, paf, np.zeros((len(images), 1))]


def test_soft_argmax_at_reads_each_animal_at_its_own_peak():
    logits, locref, _ = _maps(ANIMALS)
    cells = anchors_of(np.concatenate([ANIMALS, np.ones((2, 3, 1))], -1)[None], STRIDE, MAP_HW)
    points = ops.convert_to_numpy(soft_argmax_at(logits, cells[..., :2], locref, STRIDE,
                                                 TargetConfig().locref_stdev, beta=20.0))
    np.testing.assert_allclose(points[0], ANIMALS, atol=1.0)
    # One animal: the same reading as the soft-argmax around each part's arg-max.
    one, one_locref, _ = _maps(ANIMALS[:1])
    alone = ops.convert_to_numpy(soft_argmax(one, one_locref, STRIDE,
                                             TargetConfig().locref_stdev, beta=20.0))
    at = ops.convert_to_numpy(soft_argmax_at(one, cells[:, :1, :, :2], one_locref, STRIDE,
                                             TargetConfig().locref_stdev, beta=20.0))
    np.testing.assert_allclose(at[:, 0], alone, atol=1e-4)


def test_animals_are_matched_across_the_pair_and_anchored_at_their_cells():
    moved = ANIMALS + [[2.0, 1.0]]
    swapped = moved[::-1].copy()
    assert match_animals(np.dstack([ANIMALS, np.ones((2, 3))]),
                         np.dstack([swapped, np.ones((2, 3))])).tolist() == [1, 0]
    anchors = AnimalAnchors(POSE, ("temporal",))
    anchors.read = lambda model, images: model(images, training=True)  # no Keras model
    flags = np.array([[0.0], [0.5], [0.0]])  # a labeled row, then one pair
    targets = {"temporal": anchors.placeholder(flags)}
    images = np.zeros((3, 96, 96, 3), np.float32)
    images[2] = 1  # image i shows the network frame i - 1: ANIMALS, then swapped and moved
    filled = anchors.fill(_Network([ANIMALS, swapped]), images, targets, first=1)["temporal"]
    assert (filled[0, ..., 2] == MISSING).all() and filled[:, 0, 0, 3].tolist() == [0, 0.5, 0]
    assert (filled[1:, ..., 2] > 0.5).all()  # every keypoint found
    cells = np.round((ANIMALS - STRIDE / 2) / STRIDE)[..., ::-1]  # (row, col)
    np.testing.assert_array_equal(filled[1, ..., :2], cells)
    np.testing.assert_array_equal(filled[2, ..., :2], np.round((moved - 4) / 8)[..., ::-1])


def _loss(loss, anchors, points):
    logits, locref, _ = zip(*[_maps(p) for p in points])
    maps = np.concatenate([np.concatenate(logits), np.concatenate(locref)], -1)
    return float(ops.convert_to_numpy(loss(anchors.astype(np.float32), maps)))


def _anchors(points, flags, found=None):
    poses = np.concatenate([points, np.ones((*points.shape[:-1], 1))], -1)
    if found is not None:
        poses[~found] = np.nan
    anchors = np.concatenate([anchors_of(poses, STRIDE, MAP_HW),
                              np.zeros((*points.shape[:-1], 1))], -1)
    anchors[..., 3] = np.reshape(flags, (-1, 1, 1))
    return anchors


def test_the_temporal_loss_is_zero_on_still_animals_and_counts_each_animals_jump():
    loss = AnimalTemporalLoss(epsilon_px=2.0, stride=STRIDE)
    still = np.stack([ANIMALS, ANIMALS])
    assert _loss(loss, _anchors(still, [1, 0]), still) == pytest.approx(0, abs=1e-3)
    moved = np.stack([ANIMALS, ANIMALS + [[[0.0, 0.0]], [[16.0, 0.0]]]])  # animal 2 jumps 16
    # 2 animals x 3 parts, 3 of them jump 16 - 2 px: the mean is 7
    assert _loss(loss, _anchors(moved, [1, 0]), moved) == pytest.approx(7.0, abs=0.5)
    assert _loss(loss, _anchors(moved, [0, 0]), moved) == 0  # not a pair's first row
    found = np.ones((2, 2, 3), bool)
    found[1, 1] = False  # the assembly missed the jumping animal in the second frame
    assert _loss(loss, _anchors(moved, [1, 0], found), moved) == pytest.approx(0, abs=1e-3)


def test_the_subspace_loss_is_zero_on_the_labels_poses_and_counts_complete_animals_only():
    rng = np.random.default_rng(0)
    labels = []  # the animals turned, scaled and moved: a 2-dimensional subspace of shapes
    for angle, scale in zip(rng.uniform(-np.pi, np.pi, 20), rng.uniform(0.8, 1.2, 20)):
        turn = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        labels.extend(ANIMALS @ turn.T + rng.uniform(-20, 20, (2, 1, 2)))
    subspace = fit_pose_subspace(labels, 0.99, (0, 1, 2))
    loss = AnimalSubspaceLoss(subspace.mean, subspace.components, subspace.tolerance_px,
                              subspace.columns, stride=STRIDE)
    frame = ANIMALS[None]
    assert _loss(loss, _anchors(frame, [1]), frame) == pytest.approx(0, abs=1e-3)
    bent = ANIMALS.copy()
    bent[1, 1] += [0.0, -24.0]  # animal 2's middle part far from its line of the labels
    assert _loss(loss, _anchors(bent[None], [1]), bent[None]) > 1.0
    found = np.ones((1, 2, 3), bool)
    found[0, 1, 0] = False  # animal 2 incomplete: left out
    assert _loss(loss, _anchors(bent[None], [1], found), bent[None]) == pytest.approx(0, abs=1e-3)


def test_training_several_animals_with_unlabeled_losses_logs_them_and_predicts_as_before(
        tmp_path, monkeypatch):
    """Four steps from random weights assemble no animal (every loss 0); here the assembly
    finds two animals everywhere in each unlabeled frame, so both losses count."""
    project = make_synthetic_group_project(tmp_path / "group", GroupConfig(
        num_animals=2, num_frames=30, image_size=(64, 64)), num_labeled=10)
    asked = []

    def assemble(self, model, images, first):
        asked.append((len(images), first))
        rng = np.random.default_rng(len(asked))
        poses = rng.uniform(8, 56, (len(images) - first, 2, len(project.layout.bodyparts), 3))
        poses[..., 2] = 0.9
        return poses, (8, 8)

    monkeypatch.setattr(AnimalAnchors, "assemble", assemble)
    config = TrainConfig(
        train_steps=4, save_every=2, batch_size=2, optimizer="adam", weights=None,
        net_type="mobilenet_v2_0.35", batchnorm_batches=1, num_workers=1,
        split_method="blocks", train_fraction=0.7, augment=AugmentConfig(crop_size=(64, 64)),
        unlabeled_pairs=2,
        unlabeled_rampup=0.0, temporal_epsilon_px=0.0, keep_checkpoints=True)
    model_dir = train(project, config, verbose=0)
    log = read_train_log(model_dir)
    assert {"temporal_loss", "pca_loss", "paf_loss", "part_pred_loss"} <= set(log.columns)
    assert np.isfinite(log[["temporal_loss", "pca_loss"]]).all(axis=None)
    assert (log[["temporal_loss", "pca_loss"]] > 0).all(axis=None)
    assert asked == [(6, 2)] * 4  # before each step: the batch, its pairs from row 2 on
    predictor = Predictor(model_dir)
    assert list(predictor.pose.heads) == ["part_pred", "locref", "paf"]
    poses = predictor.predict_batch(np.zeros((2, 64, 64, 3), np.uint8))
    assert poses.shape == (2, 2, len(project.layout.bodyparts), 3)
    with pytest.raises(ValueError, match="views loss is for one animal"):
        train(project, TrainConfig(**{**config.__dict__, "view_pairs": (("snout", "tailbase"),),
                                      "train_steps": 2}), verbose=0)
    assert ModelFolder(model_dir).load_train_config().unlabeled_pairs == 2
    # A checkpoint (the losses' outputs and their settings with it) loads to resume from.
    checkpoint = keras.saving.load_model(
        list_checkpoints(ModelFolder(model_dir).checkpoints_dir)[-1])
    assert checkpoint.loss["temporal"].stride == 8 and checkpoint.output_names[-2:] == [
        "temporal", "pca"]


def test_the_anchors_read_the_maps_as_the_step_does_and_leave_batchnorm_as_it_was():
    """In training mode (the batch's statistics, as the step), compiled, moving statistics
    unchanged (twice: the compiled call keeps the momentum it was traced with)."""
    model = build_model(3, None, net_type="mobilenet_v2_0.35")
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms
    before = [ops.convert_to_numpy(layer.moving_mean).copy() for layer in norms]
    momenta = [layer.momentum for layer in norms]
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    reader = BatchStatisticsReader(model)
    outputs = reader(images)
    assert len(reader(images)) == len(model.outputs) == 2
    after = [ops.convert_to_numpy(layer.moving_mean) for layer in norms]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert [layer.momentum for layer in norms] == momenta  # as they were
    stepped = model(images, training=True)
    np.testing.assert_allclose(outputs[0], ops.convert_to_numpy(stepped[0]), atol=1e-4)
    assert not np.allclose(ops.convert_to_numpy(model(images, training=False)[0]), outputs[0],
                           atol=1e-3)
