"""Self-training (kit.net.pseudo_labels): the network labels video frames half-way, never a
test frame, keeps the body parts it is sure of, trains on them beside the labeled frames,
and a run resumed after that point trains on the same frames."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import kit.net.pseudo_labels
import kit.net.train
from kit.net.data import AugmentConfig, PoseDataset
from kit.net.model_query import _query_from_name, find_model
from kit.net.predict import Predictor
from kit.net.pseudo_labels import (
    LABELED_SHARE,
    label_frames,
    labeling_seconds,
    load_pseudo_labels,
    pseudo_label_sources,
    pseudo_label_step,
)
from kit.net.train import TrainConfig, read_train_log, train
from kit.project.splits import frame_number, video_of
from kit.project.video import load_image, read_frames

def tiny_config(**kwargs):
    return TrainConfig(
        train_steps=6, save_every=2, batch_size=2, train_fraction=0.75, optimizer="adam",
        weights=None, net_type="mobilenet_v2_0.35", batchnorm_batches=1, num_workers=1,
        split_method="blocks", augment=AugmentConfig(crop_size=(64, 64)),
        pseudo_label_frames=12, pseudo_label_min_likelihood=0.0, **kwargs)


def test_the_frames_to_label_are_never_test_frames(two_videos):
    config = tiny_config(unlabeled_margin_frames=3)
    split = kit.net.train.draw_split(two_videos, config, kit.net.train.load_labels(two_videos))
    sources = pseudo_label_sources(two_videos, split, config)
    assert len(sources) == 12 and len(set(sources)) == 12
    for video in {path for path, _ in sources}:
        first_test = min(frame_number(n) for n in split.test if video_of(n) == video.stem)
        assert max(t for path, t in sources if path == video) < first_test - 3
    assert sources == pseudo_label_sources(two_videos, split, config)  # the seed's, again


def test_only_the_sure_body_parts_are_kept():
    class Sure:
        def predict_images(self, images):
            return np.array([[[[1.0, 2.0, 0.9], [3.0, 4.0, 0.2]]]] * len(images))

    points, likelihood = label_frames(Sure(), [np.zeros((4, 4, 3))] * 2, 0.6)
    assert points.shape == (2, 2, 2) and likelihood.tolist() == [[0.9, 0.2]] * 2
    assert points[:, 0].tolist() == [[1.0, 2.0]] * 2 and np.isnan(points[:, 1]).all()


def test_added_images_take_their_share_of_the_draws(tmp_path):
    paths = []
    for i in range(6):
        path = tmp_path / f"img{i}.png"
        kit.net.pseudo_labels.save_image(path, np.full((64, 64, 3), 40 * i, np.uint8))
        paths.append(path)
    config = TrainConfig(train_steps=400, batch_size=4, augment=AugmentConfig(
        crop_size=(64, 64), enabled=False))
    points = np.full((6, 1, 2), 32.0)
    dataset = PoseDataset(paths[:2], points[:2], config)
    before = dataset[5][0]
    dataset.add_images(paths[2:], points[2:], 1.0 - LABELED_SHARE)
    assert dataset.draw_p.sum() == pytest.approx(1.0) and len(dataset.image_paths) == 6
    added = sum(int((dataset[i][0][:, 32, 32, 0] >= 80).sum()) for i in range(100))
    assert 0.4 < added / 400 < 0.6  # half the draws, though 4 of the 6 images
    assert PoseDataset(paths[:2], points[:2], config)[5][0].tolist() == before.tolist()


def test_self_training_labels_frames_half_way_and_trains_on_them(two_videos, monkeypatch):
    config = tiny_config()
    assert pseudo_label_step(two_videos, config) == 3
    assert config.variant.endswith("-pseudo12-mobilenet_v2_0.35")
    labeled = []
    original = kit.net.pseudo_labels.label_frames

    def recording(predictor, images, min_likelihood):
        labeled.append(predictor.train_steps)
        return original(predictor, images, min_likelihood)

    def stop(*args):  # the run killed right after labeling
        raise KeyboardInterrupt

    monkeypatch.setattr(kit.net.pseudo_labels, "label_frames", recording)
    with monkeypatch.context() as patch:
        patch.setattr(kit.net.train, "_fit", _fit_then(stop))
        with pytest.raises(KeyboardInterrupt):
            train(two_videos, config, verbose=0)
    model_dir = config.model_dir(two_videos)
    paths, points = load_pseudo_labels(model_dir, two_videos.bodyparts)
    assert len(paths) == 12 and np.isfinite(points).all()  # min likelihood 0: every part
    table = pd.read_csv(model_dir / "pseudo-labels" / "pseudo_labels.csv")
    video, frame = paths[0].stem.rsplit("-", 1)
    on_disk = read_frames(two_videos.videos_dir / f"{video}.mp4", [int(frame)])[int(frame)]
    assert load_image(paths[0]).tolist() == on_disk.tolist()
    train(two_videos, config, verbose=0)  # resumed at step 3: the same frames, not labeled again
    assert labeled == [6]
    assert pd.read_csv(model_dir / "pseudo-labels" / "pseudo_labels.csv").equals(table)
    assert read_train_log(model_dir)["step"].tolist() == [2, 3, 4, 6]
    assert 0 < labeling_seconds(model_dir) < 600
    assert labeling_seconds(two_videos.root) == 0  # a folder without pseudo-labels
    assert find_model(two_videos, pseudo_label_frames=12).path == model_dir
    assert _query_from_name(model_dir.name, 0).pseudo_label_frames == 12
    assert _query_from_name(model_dir.name, 0).net_type == "mobilenet_v2_0.35"
    poses = Predictor(model_dir).predict_images([load_image(paths[0])])
    assert poses.shape == (1, 1, len(two_videos.bodyparts), 3)


def _fit_then(after):
    """``_fit`` that calls ``after`` once the run has trained past the pseudo-labels' step."""
    original = kit.net.train._fit

    def fit(model, dataset, config, model_dir, steps, verbose):
        if steps.start >= pseudo_label_step(SimpleNamespace(layout=None), config):
            after()
        original(model, dataset, config, model_dir, steps, verbose)
    return fit


def test_settings_are_checked_and_several_animals_refused():
    with pytest.raises(ValueError, match="pseudo_label_at=1"):
        TrainConfig(pseudo_label_frames=5, pseudo_label_at=1.0)
    assert TrainConfig.from_parameters(settings="pseudo_label_frames=50").pseudo_label_frames == 50
    several = SimpleNamespace(layout=object(), config_path="config.yaml")
    with pytest.raises(ValueError, match="multi-animal project"):
        pseudo_label_step(several, TrainConfig(pseudo_label_frames=5))
    assert pseudo_label_step(several, TrainConfig(train_steps=9)) == 9  # off: nothing asked
