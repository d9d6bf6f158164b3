"""kit.experiments.time_to_accuracy: checkpoints kept while a run trains, and their errors."""

import math

import numpy as np
import pandas as pd
import pytest

from kit.experiments.synthetic import SyntheticConfig, load_ground_truth, make_synthetic_project
from kit.experiments.time_to_accuracy import (
    CheckpointKeeper,
    load_test_images,
    mean_error_px,
    plot_error_against_time,
    predict_checkpoint,
    true_positions,
    time_to_reach,
)
from kit.project.labels import labels_to_array, load_labels


def test_mean_error_is_the_mean_distance_over_the_parts_the_truth_has():
    truth = np.array([[[0.0, 0.0], [np.nan, np.nan]], [[10.0, 10.0], [5.0, 5.0]]])
    points = np.array([[[3.0, 4.0, 0.9], [1.0, 1.0, 0.1]], [[10.0, 10.0, 1.0], [5.0, 7.0, 1.0]]])
    assert mean_error_px(points, truth) == pytest.approx((5 + 0 + 2) / 3)
    assert mean_error_px(points[:, None], truth) == pytest.approx(7 / 3)  # (N, 1, K, 3)
    with pytest.raises(ValueError, match="differ"):
        mean_error_px(points[:1], truth)


def test_time_to_reach_is_the_first_time_at_or_under_the_target():
    table = pd.DataFrame({"wall_s": [30.0, 10.0, 20.0, 40.0], "error_px": [2.0, 9.0, 3.0, 1.0],
                          "cpu_s": [15.0, 5.0, 10.0, 20.0]})
    assert time_to_reach(table, 3.0) == 20.0
    assert time_to_reach(table, 3.0, x="cpu_s") == 10.0
    assert time_to_reach(table, 2.5) == 30.0
    assert math.isnan(time_to_reach(table, 0.5))


def test_keeper_keeps_each_checkpoint_although_the_run_deletes_older_ones(tmp_path):
    run, keep = tmp_path / "checkpoints", tmp_path / "kept"
    keeper = CheckpointKeeper(run, keep)
    keeper.poll()  # no folder yet: nothing
    run.mkdir()
    for step in (10, 20, 30):
        (run / f"ckpt-{step:08d}.keras").write_bytes(bytes([step]) * 100)
        (run / ".tmp123-x").write_bytes(b"partial")  # a save in progress: not a checkpoint
        for old in run.glob("ckpt-*.keras"):
            if old.name != f"ckpt-{step:08d}.keras":
                old.unlink()
        keeper.poll()
    assert sorted(keeper.kept) == [10, 20, 30]
    for step, (path, mtime) in keeper.kept.items():
        assert path.parent == keep and path.read_bytes() == bytes([step]) * 100
        assert mtime > 0
    assert len(list(run.glob("ckpt-*"))) == 1


@pytest.fixture(scope="module")
def noisy_synthetic(tmp_path_factory):
    return make_synthetic_project(tmp_path_factory.mktemp("tta") / "p", SyntheticConfig(
        image_size=(64, 64), num_frames=16, num_labeled=8, label_noise_px=2.0))


def test_truth_of_a_synthetic_project_is_its_ground_truth_not_its_noisy_labels(noisy_synthetic):
    names = list(load_labels(noisy_synthetic).index)[:3]
    truth = true_positions(noisy_synthetic, names)
    frames = [int(n.rsplit("img", 1)[1].split(".")[0]) for n in names]
    expected = load_ground_truth(noisy_synthetic, "animal0")[frames]
    np.testing.assert_array_equal(truth, expected)
    labels = labels_to_array(load_labels(noisy_synthetic).loc[names], noisy_synthetic.bodyparts)
    assert 0.5 < mean_error_px(labels, truth) < 6  # the label noise, sd 2 px


def test_a_kept_checkpoint_predicts_as_the_final_model(noisy_synthetic, tmp_path):
    """The last checkpoint holds the final weights before train() recalibrates BatchNorm;
    recalibrated with the same batches (calibration_batches), it must predict exactly what
    the run's Predictor does; left as it is, it does not."""
    from kit.net.data import AugmentConfig
    from kit.net.predict import Predictor
    from kit.net.train import TrainConfig, calibration_batches, train

    config = TrainConfig(net_type="mobilenet_v2_0.35", train_steps=2, save_every=1,
                         batch_size=2, weights=None, optimizer="adam", batchnorm_batches=3,
                         keep_checkpoints=True, train_fraction=0.75, num_workers=0,
                         augment=AugmentConfig(crop_size=(64, 64)))
    model_dir = train(noisy_synthetic, config, verbose=0)
    keeper = CheckpointKeeper(model_dir / "checkpoints", tmp_path / "kept")
    keeper.poll()
    assert list(keeper.kept) == [2]  # the run kept its last checkpoint only
    names = list(load_labels(noisy_synthetic).index)[:4]
    images = load_test_images(noisy_synthetic, names)
    calibration = calibration_batches(noisy_synthetic, config)
    assert len(calibration) == 3 and calibration[0].shape == (2, 64, 64, 3)
    points = predict_checkpoint(keeper.kept[2][0], config, noisy_synthetic.bodyparts, images, 2,
                                calibration)
    expected = Predictor(model_dir).predict_images(images)
    assert points.shape == (4, 1, len(noisy_synthetic.bodyparts), 3)
    np.testing.assert_allclose(points, expected, atol=1e-3)
    stale = predict_checkpoint(keeper.kept[2][0], config, noisy_synthetic.bodyparts, images, 2)
    assert not np.allclose(stale, expected, atol=1e-3)  # the moving averages lag


def test_figure_has_a_line_per_configuration_and_the_target():
    table = pd.DataFrame({"config": ["a", "a", "b"], "wall_s": [1, 2, 3], "cpu_s": [1, 1, 2],
                          "error_px": [9.0, 4.0, 2.0]})
    ax = plot_error_against_time(table, 3.0, "t", x="cpu_s").axes[0]
    assert len(ax.lines) == 3  # 2 runs + the target
    assert list(ax.lines[0].get_xdata()) == [1, 1] and ax.get_xlabel().startswith("CPU")
    with pytest.raises(ValueError, match="cpu_s"):
        plot_error_against_time(table, x="steps")
