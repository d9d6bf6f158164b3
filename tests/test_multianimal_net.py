"""The multi-animal (bottom-up) network: its targets (disks around every animal, nearest
locref, part-affinity fields, identity maps), its graph, and a tiny project that trains from
scratch, resumes and predicts maps."""

import dataclasses
import json

import cv2
import keras
import numpy as np
import pytest
from conftest import train_interrupted
from keras import layers

import kit.net.train
from kit.net.backbones import BACKBONES, Backbone, register_backbone
from kit.net.data import AugmentConfig, MultiAnimalDataset, augment
from kit.net.sides import mirror_permutation
from kit.net.heads import head_names
from kit.net.ma_targets import (
    MultiAnimalSpec,
    make_multianimal_targets,
    mean_part_distances,
    minimum_spanning_graph,
    skeleton_graph,
)
from kit.net.model import build_model, identity_loss, locref_loss, paf_loss, scoremap_loss
from kit.net.predict import Predictor
from kit.net.targets import TargetConfig, map_shape
from kit.net.train import TrainConfig, list_checkpoints, read_train_log, train
from kit.project import create_project
from kit.project.labels import make_labels_frame, save_labels
from test_backbones import tiny_backbone

NAN = np.nan
CONFIG = TargetConfig()  # stride 8, disk radius 17, paf_width 20


def centre(i, j, s=8):
    """Input pixel (x, y) of cell (row i, col j)."""
    return np.array([j * s + s / 2, i * s + s / 2])


# --- targets -------------------------------------------------------------------------


def test_score_maps_have_a_disk_around_every_individual_and_missing_parts_weigh_nothing():
    points = np.full((3, 2, 2), NAN)  # 3 rows (2 animals + single), parts a, b
    points[0, 0] = centre(2, 2)
    points[1, 0] = centre(8, 9)
    points[1, 1] = centre(8, 2)  # part b only on animal 2
    maps = make_multianimal_targets(points, (12, 12), [(0, 1)], 0, CONFIG)
    scmap, weights = maps["part_pred"]
    assert scmap.shape == weights.shape == (12, 12, 2)
    assert scmap[2, 2, 0] == scmap[8, 9, 0] == 1 and scmap[5, 5, 0] == 0
    assert scmap[2, 1, 0] == 1 and scmap[2, 5, 0] == 0  # 8 px inside, 24 px outside 17
    assert scmap[8, 2, 1] == 1 and scmap[2, 2, 1] == 0
    assert weights.min() == 1.0
    points[1, 1] = NAN  # no label of b at all: its score map gives no loss
    assert make_multianimal_targets(points, (12, 12), [(0, 1)], 0, CONFIG)["part_pred"][1][..., 1].max() == 0
    assert set(maps) == {"part_pred", "locref", "paf"}  # no identity head asked for


def test_locref_points_to_the_nearest_label_where_disks_overlap():
    points = np.full((2, 1, 2), NAN)
    points[0, 0] = centre(4, 3) + (1.0, 0.0)
    points[1, 0] = centre(4, 5) + (0.0, 2.0)  # disks overlap on columns 3-5
    locref, weights = make_multianimal_targets(points, (10, 10), [], 0, CONFIG)["locref"]
    assert locref.shape == weights.shape == (10, 10, 2)
    s = CONFIG.locref_stdev
    np.testing.assert_allclose(locref[4, 3], [1.0 / s, 0.0], rtol=1e-6)  # own label
    np.testing.assert_allclose(locref[4, 2], [9.0 / s, 0.0], rtol=1e-6)  # nearer animal 1
    np.testing.assert_allclose(locref[4, 5], [0.0, 2.0 / s], rtol=1e-6)
    np.testing.assert_allclose(locref[4, 6], [-8.0 / s, 2.0 / s], rtol=1e-6)  # nearer animal 2
    assert weights[4, 4].tolist() == [1, 1] and weights[0, 9].tolist() == [0, 0]
    assert locref[0, 9].tolist() == [0, 0]


def test_pafs_are_unit_vectors_from_a_to_b_channel_2e_x_2e1_y_and_mean_where_limbs_overlap():
    points = np.full((2, 3, 2), NAN)  # parts 0, 1, 2; graph (0, 1), (2, 1)
    points[0, 0], points[0, 1] = centre(2, 1), centre(2, 14)  # animal 1: a -> b to the right
    points[1, 0], points[1, 1] = centre(2, 5), centre(13, 5)  # animal 2: a -> b downwards
    points[1, 2] = centre(13, 12)  # animal 2's part 2, from which edge 1 goes left to part 1
    graph = [(0, 1), (2, 1)]
    paf, weights = make_multianimal_targets(points, (16, 16), graph, 0, CONFIG)["paf"]
    assert paf.shape == weights.shape == (16, 16, 4)
    assert paf[2, 10, :2].tolist() == [1, 0]  # animal 1's limb only: (x, y) = (1, 0)
    assert paf[8, 5, :2].tolist() == [0, 1]  # animal 2's: pointing down
    np.testing.assert_allclose(paf[2, 5, :2], [0.5, 0.5])  # both: the mean
    assert paf[4, 10, :2].tolist() == [1, 0]  # 16 px off the segment: within paf_width 20
    assert paf[5, 10, :2].tolist() == [0, 0]  # 24 px off: outside
    assert paf[2, 15, :2].tolist() == [0, 0]  # beyond the end b
    assert paf[13, 9, 2:].tolist() == [-1, 0]  # edge 1 = channels 2, 3: from part 2 to part 1
    assert paf[2, 10, 2:].tolist() == [0, 0]
    np.testing.assert_allclose(np.linalg.norm(paf[..., :2], axis=-1)[paf[..., 0] == 1], 1)
    assert weights.min() == 1.0  # both edges labeled in this image
    points[1, 2] = NAN
    assert make_multianimal_targets(points, (16, 16), graph, 0, CONFIG)["paf"][1][..., 2:].max() == 0


def test_identity_channels_are_one_on_that_individuals_disks_only():
    points = np.full((3, 2, 2), NAN)  # 2 animals and `single` (a unique part, index 1)
    points[0, 0] = centre(2, 2)
    points[1, 0] = centre(8, 8)
    points[2, 1] = centre(2, 9)  # the unique part: no identity
    ids, weights = make_multianimal_targets(points, (12, 12), [(0, 0)], 2, CONFIG)["identity"]
    assert ids.shape == weights.shape == (12, 12, 2)
    assert ids[2, 2].tolist() == [1, 0] and ids[8, 8].tolist() == [0, 1]
    assert ids[2, 9].tolist() == [0, 0]
    assert weights.min() == 1
    points[1] = NAN  # animal 2 unlabeled in this frame: its channel gives no loss
    _, weights = make_multianimal_targets(points, (12, 12), [(0, 0)], 2, CONFIG)["identity"]
    assert weights[..., 0].min() == 1 and weights[..., 1].max() == 0


def test_graph_from_the_skeleton_or_the_minimum_spanning_tree_of_mean_distances():
    parts = ["snout", "leftear", "rightear", "tail", "feeder"]
    multi = parts[:4]
    assert skeleton_graph([["snout", "tail"], ["tail", "snout"], ["snout", "feeder"]],
                          parts, multi) == [(0, 3)]
    with pytest.raises(ValueError, match="'nose'"):
        skeleton_graph([["nose", "tail"]], parts, multi)
    body = np.array([[0, 0], [-3, 4], [3, 4], [0, 30], [NAN, NAN]], float)  # snout at the origin
    points = np.stack([np.stack([body + (10, 10), body + (60, 5)])] * 2)  # (N=2, I=2, K=5, 2)
    dist = mean_part_distances(points)
    assert dist[0, 3] == pytest.approx(30) and np.isnan(dist[0, 4])
    # ears join the snout (5 px), the tail joins the nearest ear
    assert minimum_spanning_graph(points, 4) == [(0, 1), (0, 2), (1, 3)]


def test_augment_moves_every_individual_and_mirrors_within_each():
    rng = np.random.default_rng(0)
    image = np.zeros((64, 64, 3), np.uint8)
    points = np.array([[[10, 20], [14, 20], [NAN, NAN]], [[40, 40], [44, 41], [30, 50]]], float)
    config = AugmentConfig(global_scale=1.0, scale_range=(1, 1), rotation_deg=0, mirror=True,
                           contrast_range=(1, 1), brightness=0, keypoint_crop_probability=0.0)
    perm = mirror_permutation(["leftear", "rightear", "tail"])
    flips = set()
    for _ in range(8):  # a 128-px crop of a 64-px image: every point stays inside
        _, out = augment(image, points, (128, 128), config, rng, perm)
        assert out.shape == (2, 3, 2) and np.isnan(out[0, 2]).all()
        flipped = bool(out[1, 2, 0] > out[1, 0, 0])  # the tail is left of both ears
        flips.add(flipped)
        if flipped:  # x -> tx - x, and the ears trade names in each animal
            tx, ty = out[1, 2, 0] + points[1, 2, 0], out[1, 2, 1] - points[1, 2, 1]
            expected = np.stack([tx - points[..., 0], points[..., 1] + ty], -1)[:, perm]
        else:
            expected = points + (out[1, 2] - points[1, 2])
        np.testing.assert_allclose(out, expected, atol=1e-9)
    assert flips == {True, False}


# --- the network ---------------------------------------------------------------------


TINY = Backbone(name="tiny_ma_test", build=tiny_backbone,  # test_backbones' stand-in
                output_stride=8,
                preprocess=lambda: layers.Rescaling(1 / 255, name="preprocess"))


@pytest.fixture(scope="module")
def tiny():
    register_backbone(TINY)
    yield TINY
    BACKBONES.pop(TINY.name)


def test_model_outputs_and_losses_in_the_interface_order(tiny):
    model = build_model(3, net_type="tiny_ma_test", num_limbs=2, num_identities=2)
    assert list(model.output_names) == head_names(2, 2) == ["part_pred", "locref", "paf", "identity"]
    shapes = [tuple(o.shape) for o in model(np.zeros((1, 64, 48, 3), np.float32))]
    h, w = map_shape(64, 48, backbone_stride=8)
    assert shapes == [(1, h, w, 3), (1, h, w, 6), (1, h, w, 4), (1, h, w, 2)]
    assert head_names() == ["part_pred", "locref"]
    # the losses: weighted Huber on PAFs, weighted sigmoid cross-entropy on identities
    target = np.concatenate([np.full((1, 2, 2, 2), 0.5), np.ones((1, 2, 2, 2))], -1)
    pred = np.full((1, 2, 2, 2), 3.0, np.float32)
    assert float(paf_loss(target, pred)) == pytest.approx(2.5 - 0.5)  # |d| - 0.5 past delta 1
    assert float(paf_loss(target, pred)) == float(locref_loss(target, pred))
    assert float(identity_loss(target, pred)) == pytest.approx(float(scoremap_loss(target, pred)))


def make_group_project(root, num_frames=8, size=64, identity=True, skeleton=()):
    """Two animals (3 parts each) and a unique part, drawn as disks; animal 2 is unlabeled
    in frame 0 and its tail is missing in frame 1."""
    parts = ["snout", "leftear", "rightear"]
    project = create_project(root, "group", "tester", parts, individuals=["m1", "m2"],
                             uniquebodyparts=["feeder"], identity=identity,
                             skeleton=[list(e) for e in skeleton])
    layout = project.layout
    rng = np.random.default_rng(1)
    body = np.array([[0, 0], [-5, 7], [5, 7]], float)
    colors = [(250, 60, 60), (60, 250, 60), (60, 60, 250), (230, 230, 60)]
    points = np.full((num_frames, 3, 4, 2), NAN)  # rows m1, m2, single
    folder = project.labeled_data_dir("v")
    folder.mkdir(parents=True)
    names = []
    for f in range(num_frames):
        image = np.full((size, size, 3), 20, np.uint8)
        for row, x0 in enumerate((rng.uniform(10, 22), rng.uniform(38, 52))):
            points[f, row, :3] = body + (x0, rng.uniform(10, size - 20))
        points[f, 2, 3] = (size / 2, size - 6)
        for row, part in np.argwhere(np.isfinite(points[f, :, :, 0])):
            x, y = points[f, row, part]
            cv2.circle(image, (round(x), round(y)), 3, colors[part], -1)
        names.append(f"labeled-data/v/img{f:03d}.png")
        cv2.imwrite(str(project.root / names[-1]), image[:, :, ::-1])
    points[0, 1] = NAN  # drawn, not labeled
    points[1, 1, 2] = NAN
    save_labels(project, "v", make_labels_frame(points, names, project.scorer,
                                                project.bodyparts, layout))
    return project


SMALL = dict(net_type="tiny_ma_test", weights=None, batch_size=2, train_fraction=0.75,
             optimizer="adam", learning_rate=1e-3, batchnorm_batches=1, num_workers=1,
             augment=AugmentConfig(crop_size=(64, 64), mirror=True))


def test_tiny_group_trains_resumes_and_predicts_maps(tiny, tmp_path, monkeypatch):
    project = make_group_project(tmp_path / "p")
    config = TrainConfig(train_steps=4, save_every=2, keep_checkpoints=True, **SMALL)
    train_interrupted(project, config, 2, monkeypatch)
    model_dir = config.model_dir(project)
    assert [p.name for p in list_checkpoints(model_dir / "checkpoints")] == ["ckpt-00000002.keras"]
    train(project, config, verbose=0)  # resumes at step 2
    log = read_train_log(model_dir)
    assert log["step"].tolist() == [2, 4]
    assert {"part_pred_loss", "locref_loss", "paf_loss", "identity_loss"} <= set(log.columns)
    assert np.isfinite(log["loss"]).all()
    assert int(keras.saving.load_model(list_checkpoints(model_dir / "checkpoints")[-1])
               .optimizer.iterations) == 4

    pose = json.loads((model_dir / "pose_config.json").read_text())
    assert pose["multianimal"] is True and pose["identity"] is True
    assert pose["bodyparts"] == ["snout", "leftear", "rightear", "feeder"]
    assert pose["individuals"] == ["m1", "m2"] and pose["unique_bodyparts"] == ["feeder"]
    assert pose["paf_graph"] == [[0, 1], [0, 2]]  # no skeleton: the tree (ears to snout)
    assert pose["heads"] == ["part_pred", "locref", "paf", "identity"]

    predictor = Predictor(model_dir)
    assert predictor.multianimal
    images = np.zeros((2, 64, 80, 3), np.uint8)
    maps = predictor.predict_maps(images)
    h, w = map_shape(round(64 * 0.8), round(80 * 0.8), backbone_stride=8)  # global_scale 0.8
    assert {k: v.shape for k, v in maps.items()} == {
        "part_pred": (2, h, w, 4), "locref": (2, h, w, 8), "paf": (2, h, w, 4),
        "identity": (2, h, w, 2)}
    assert all(v.dtype == np.float32 for v in maps.values())
    assert 0 <= maps["part_pred"].min() and maps["identity"].max() <= 1  # after a sigmoid
    poses = predictor.predict_batch(images)  # assembled: the animals, then `single`
    assert poses.shape == (2, 3, 4, 3) and predictor.num_rows == 3
    assert np.isnan(poses[:, 2, :3]).all()  # `single` holds only the unique part (feeder)
    again, identity, dropped = predictor.predict_assemblies(images)
    np.testing.assert_array_equal(again, poses)
    assert identity.shape == (2, 3, 2) and dropped.shape == (2,)


def test_skeleton_graph_and_every_loss_falls_on_a_fixed_batch(tiny, tmp_path):
    project = make_group_project(tmp_path / "p",
                                 skeleton=[("snout", "leftear"), ("leftear", "rightear")])
    config = TrainConfig(train_steps=1, **{**SMALL, "learning_rate": 0.1})
    dataset = kit.net.train._training_data(project, config, config.model_dir(project),
                                           project.bodyparts)
    assert isinstance(dataset, MultiAnimalDataset)
    assert dataset.spec == MultiAnimalSpec(("m1", "m2"), ("feeder",), ((0, 1), (1, 2)), True)
    images, targets = dataset[0]
    h, w = dataset.map_hw
    assert images.shape == (2, 64, 64, 3)
    assert [t.shape for t in targets.values()] == [(2, h, w, 8), (2, h, w, 16), (2, h, w, 8), (2, h, w, 4)]
    model = kit.net.train._compiled_model(4, config, dataset.spec)
    assert list(model.output_names) == ["part_pred", "locref", "paf", "identity"]
    model.run_eagerly = True  # a tiny network: tracing would take longer than the steps
    losses = [model.train_on_batch(images, targets, return_dict=True) for _ in range(20)]
    for name in ("loss", "part_pred_loss", "locref_loss", "paf_loss", "identity_loss"):
        assert float(losses[-1][name]) < 0.7 * float(losses[0][name]), name
    no_identity = dataclasses.replace(dataset.spec, identity=False)
    assert list(kit.net.train._compiled_model(4, config, no_identity).output_names) == [
        "part_pred", "locref", "paf"]


def test_multianimal_training_refuses_a_bodyparts_subset(tmp_path):
    project = make_group_project(tmp_path / "p", num_frames=4)
    with pytest.raises(ValueError, match="all its body parts"):
        train(project, TrainConfig(bodyparts=("snout",), weights=None), verbose=0)
