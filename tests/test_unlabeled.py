"""Unlabeled frame pairs (kit.net.unlabeled): never a test frame, nor one of test_videos; and
a tiny training with the losses on logs them and saves a model that predicts as before."""

import numpy as np
import pytest

import kit.net.unlabeled
from kit.net.data import AugmentConfig
from kit.net.model_folder import ModelFolder
from kit.net.model_query import _query_from_name, find_model
from kit.net.predict import Predictor
from kit.experiments.time_to_accuracy import predict_checkpoint
from kit.net.train import TrainConfig, list_checkpoints, read_train_log, train
from kit.net.unlabeled import (
    UnlabeledPairs,
    WithUnlabeled,
    animal_centre,
    pair_starts,
    unlabeled_pair_starts,
    video_background,
)
from kit.project.labels import load_labels
from kit.project.splits import frame_number, make_split
from kit.project.video import write_video

def test_pair_starts_keep_away_from_test_frames():
    assert pair_starts(12, [5], 2, blocks=False).tolist() == [0, 1, 8, 9, 10]
    assert pair_starts(12, [8, 10], 1, blocks=True).tolist() == [0, 1, 2, 3, 4, 5]
    assert pair_starts(12, [], 3, blocks=False).tolist() == list(range(11))


@pytest.mark.parametrize("method", ["random", "blocks"])
def test_the_reader_never_returns_a_test_frame(two_videos, monkeypatch, method):
    split = make_split(list(load_labels(two_videos).index), 0.75, method=method,
                       test_videos=("animal1",), validation_fraction=0.25)
    assert split.validation  # kept away from as the test frames are
    margin = 2
    starts = unlabeled_pair_starts(two_videos, split, ("animal1",), margin)
    assert [p.stem for p in starts] == ["animal0"]  # test_videos: never
    tests = [frame_number(n) for n in split.test + split.validation]
    read = []

    def recording(path, indices):
        read.extend((path.stem, i) for i in indices)
        return {i: np.zeros((64, 64, 3), np.uint8) for i in indices}

    monkeypatch.setattr(kit.net.unlabeled, "read_frames", recording)
    pairs = UnlabeledPairs(starts, (64, 64), AugmentConfig(), seed=0, num_pairs=3)
    for index in range(60):
        assert pairs(index).shape == (6, 64, 64, 3)
    assert {video for video, _ in read} == {"animal0"}
    frames = np.array([i for _, i in read])
    assert np.abs(frames[:, None] - np.array(tests)[None]).min() > margin
    if method == "blocks":
        assert frames.max() < min(tests) - margin
    assert len(set(frames.tolist())) > 10  # drawn all over the usable frames


def test_unlabeled_crops_are_centred_on_the_animal(tmp_path):
    """A bright square crossing a grey arena: the background leaves it out, the centre is
    the square's, and a crop of a pair has the square in its middle."""
    def frame(t):
        image = np.full((120, 160, 3), 90, np.uint8)
        image[40:60, 10 + 4 * t:30 + 4 * t] = 250  # 20 x 20, centre (19.5 + 4 t, 49.5)
        return image

    path = write_video(tmp_path / "arena.mp4", [frame(t) for t in range(30)], fps=30)
    background = video_background(path, np.arange(29))
    assert np.abs(background.astype(int) - 90).max() < 10
    for t in (3, 17):
        decoded = kit.net.unlabeled.read_frames(path, [t])[t]
        np.testing.assert_allclose(animal_centre(decoded, background), [19.5 + 4 * t, 49.5],
                                   atol=2)
    still = AugmentConfig(crop_size=(32, 32), rotation_deg=0, scale_range=(1, 1), crop_jitter=0)
    crops = UnlabeledPairs({path: np.arange(29)}, (32, 32), still, seed=0, num_pairs=3)(0)
    assert crops.shape == (6, 32, 32, 3) and (crops[:, 14:18, 14:18].mean(-1) > 200).all()


class _Labeled:
    crop_hw = (8, 8)

    def __getitem__(self, index):
        return np.ones((2, 8, 8, 3), np.float32), {"part_pred": np.ones((2, 1, 1, 2), np.float32)}


def test_a_batch_with_pairs_keeps_its_labeled_rows_and_flags_the_pairs():
    batches = WithUnlabeled(_Labeled(), lambda index: np.zeros((4, 8, 8, 3), np.float32),
                            ("temporal", "pca"), {})
    images, targets = batches[0]
    assert images.shape == (6, 8, 8, 3) and batches.crop_hw == (8, 8)
    assert targets["part_pred"][:2].all() and not targets["part_pred"][2:].any()  # weights 0
    assert targets["temporal"][:, 0].tolist() == [0, 0, 1, 0, 1, 0]  # each pair's first row
    assert targets["pca"][:, 0].tolist() == [0, 0, 1, 1, 1, 1]


def test_the_unlabeled_losses_ramp_up_from_zero():
    """With a ramp-up over 4 steps the pairs' flags (the losses' share of their weight) are
    0 at step 0, 0.5 at step 2 and 1 from step 4 on; TrainConfig ramps over half its steps."""
    batches = WithUnlabeled(_Labeled(), lambda index: np.zeros((2, 8, 8, 3), np.float32),
                            ("temporal", "pca"), {}, rampup_steps=4)
    assert [batches[step][1]["pca"][2:, 0].tolist() for step in (0, 2, 4, 9)] == [
        [0, 0], [0.5, 0.5], [1, 1], [1, 1]]
    assert batches[2][1]["temporal"][:, 0].tolist() == [0, 0, 0.5, 0]
    assert TrainConfig().unlabeled_rampup == 0.5
    with pytest.raises(ValueError, match="unlabeled_rampup=2"):
        TrainConfig(unlabeled_rampup=2)


def test_training_with_unlabeled_losses_logs_them_and_predicts_as_before(two_videos):
    config = TrainConfig(
        train_steps=4, save_every=2, batch_size=2, train_fraction=0.75, optimizer="adam",
        weights=None, net_type="mobilenet_v2_0.35", batchnorm_batches=1, num_workers=1,
        augment=AugmentConfig(crop_size=(64, 64)), unlabeled_pairs=2, test_videos=("animal1",),
        temporal_epsilon_px=0.0, keep_checkpoints=True,  # every jump counts: the loss is > 0
        view_pairs=(("leftear", "rightear"),),  # as if one point in two views: the views loss
        pca_bodyparts=("snout", "leftear", "rightear"))
    model_dir = train(two_videos, config, verbose=0)
    assert model_dir.name.endswith("-unlabeled2views-mobilenet_v2_0.35")
    log = read_train_log(model_dir)
    assert {"temporal_loss", "pca_loss", "views_loss", "part_pred_loss",
            "locref_loss"} <= set(log.columns)
    assert ModelFolder(model_dir).load_train_config().view_pairs == (("leftear", "rightear"),)
    assert (log["temporal_loss"] > 0).all() and (log["pca_loss"] >= 0).all()
    assert ModelFolder(model_dir).load_train_config().unlabeled_pairs == 2
    assert find_model(two_videos, unlabeled_pairs=2).path == model_dir  # told apart from others
    assert _query_from_name(model_dir.name, 0).unlabeled_pairs == 2
    assert _query_from_name(model_dir.name, 0).net_type == "mobilenet_v2_0.35"
    predictor = Predictor(model_dir)
    assert list(predictor.pose.heads) == ["part_pred", "locref"]
    poses = predictor.predict_images([np.zeros((64, 64, 3), np.uint8)] * 2)
    assert poses.shape == (2, 1, len(two_videos.bodyparts), 3)
    # A checkpoint (its outputs: the heads and the two losses') predicts as the final model.
    checkpoint = list_checkpoints(ModelFolder(model_dir).checkpoints_dir)[-1]
    again = predict_checkpoint(checkpoint, config, two_videos.bodyparts,
                               [np.zeros((64, 64, 3), np.uint8)], step=4)
    assert again.shape == (1, 1, len(two_videos.bodyparts), 3)


def test_the_settings_are_flat_parameters_and_checked():
    config = TrainConfig.from_parameters(unlabeled_pairs=3, temporal_epsilon_px=4.0,
                                         pca_loss_weight=0.0)
    assert (config.unlabeled_pairs, config.temporal_epsilon_px) == (3, 4.0)
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert TrainConfig().unlabeled_pairs == 0 and "unlabeled" not in TrainConfig().variant
    with pytest.raises(ValueError, match="unlabeled_pairs=-1"):
        TrainConfig(unlabeled_pairs=-1)
    with pytest.raises(ValueError, match="pca_explained_variance=1.5"):
        TrainConfig(pca_explained_variance=1.5)
