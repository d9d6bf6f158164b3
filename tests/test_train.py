"""Training (kit.net.train): loss goes down, interrupted runs resume, odd labels and image sizes
train. The settings alone are tested in tests/test_train_config.py."""

import dataclasses
import json
import time

import keras
import numpy as np
import pytest
from conftest import make_blob_project, train_interrupted

import kit.net.train
from kit.net.data import AugmentConfig
from kit.net.train import (TrainConfig, list_checkpoints, read_train_log, train,
                           training_seconds)
from kit.project.labels import load_labels
from kit.results.evaluate import evaluate

SMALL = dict(batch_size=4, train_fraction=0.75, optimizer="adam", learning_rate=1e-3, weights=None,
             batchnorm_batches=2, augment=AugmentConfig(crop_size=(64, 64)))
LIGHT = {**SMALL, "net_type": "mobilenet_v2_0.35"}  # mechanics only: a 0.4M-weight backbone


def test_short_training_lowers_the_loss(tmp_path):
    """24 steps: compiled (run_eagerly="auto"). A second call with other settings is refused."""
    project = make_blob_project(tmp_path / "p", num_frames=12)
    model_dir = train(project, TrainConfig(train_steps=24, save_every=6, **SMALL), verbose=0)
    log = read_train_log(model_dir)
    assert log["step"].tolist() == [6, 12, 18, 24]
    assert log["learning_rate"].tolist() == pytest.approx([1e-3] * 3 + [1e-5])  # rate of the next step
    assert log["loss"].iloc[-1] < 0.5 * log["loss"].iloc[0]
    assert log["data_wait_fraction"].between(0, 1).all()  # of each interval's step time
    assert (log["seconds_per_step"] > 0).all()
    assert training_seconds(model_dir) == pytest.approx(6 * log["seconds_per_step"].sum())
    for name in ("model.keras", "pose_config.json", "split.json", "train_config.json"):
        assert (model_dir / name).is_file()
    assert not (model_dir / "checkpoints").exists()  # deleted once model.keras is written
    split = json.loads((model_dir / "split.json").read_text())
    assert len(split["train"]) == 9 and len(split["test"]) == 3
    with pytest.raises(ValueError, match="other settings.*train_steps"):
        train(project, TrainConfig(train_steps=12, save_every=6, **SMALL), verbose=0)
    # Settings of the losses on unlabeled frames are moot without unlabeled pairs: a new
    # default of theirs leaves a finished run finished.
    moot = TrainConfig(train_steps=24, save_every=6, pca_loss_weight=0.5, **SMALL)
    assert train(project, moot, verbose=0) == model_dir


def test_interrupted_run_resumes_from_last_checkpoint(tmp_path, monkeypatch):
    project = make_blob_project(tmp_path / "p", num_frames=8)
    config = TrainConfig(train_steps=6, save_every=2, keep_checkpoints=True, **LIGHT)
    train_interrupted(project, config, 4, monkeypatch)
    model_dir = config.model_dir(project)
    assert not (model_dir / "model.keras").exists()
    assert [p.name for p in list_checkpoints(model_dir / "checkpoints")] == ["ckpt-00000004.keras"]
    assert read_train_log(model_dir)["step"].tolist() == [2, 4]
    made = []
    make_batch = kit.net.train.PoseDataset.__getitem__

    def recorded(dataset, index):
        made.append(index)
        return make_batch(dataset, index)

    monkeypatch.setattr(kit.net.train.PoseDataset, "__getitem__", recorded)
    # run_eagerly and num_workers may differ: they change how steps run, not what they compute
    train(project, dataclasses.replace(config, run_eagerly=False, num_workers=2), verbose=0)
    monkeypatch.undo()
    assert sorted(made) == [4, 5, 6, 7]  # the sequence goes on; then 2 batchnorm batches
    last = keras.saving.load_model(list_checkpoints(model_dir / "checkpoints")[-1])
    assert int(last.optimizer.iterations) == 6
    final = keras.saving.load_model(model_dir / "model.keras")  # weights only, no optimizer
    assert np.array_equal(final.get_layer("part_pred").get_weights()[0],
                          last.get_layer("part_pred").get_weights()[0])
    assert read_train_log(model_dir)["step"].tolist() == [2, 4, 6]
    assert [p.name for p in list_checkpoints(model_dir / "checkpoints")] == ["ckpt-00000006.keras"]


def test_five_bodyparts_occluded_and_odd_size(tmp_path):
    """Missing labels and 832x747 frames train, keep their NaNs out of the loss and
    are evaluated per body part."""
    project = make_blob_project(tmp_path / "p", bodyparts=list("abcde"), size=(832, 747),
                                num_frames=6, missing_rate=0.3)
    config = TrainConfig(train_steps=2, batch_size=2, train_fraction=0.5, batchnorm_batches=2, weights=None,
                         augment=AugmentConfig(crop_size=(96, 128)))
    model_dir = train(project, config, verbose=0)
    assert np.isfinite(read_train_log(model_dir)["loss"]).all()
    table = evaluate(project, train_fraction=0.5).table
    assert set(table.bodypart) == {"a", "b", "c", "d", "e", "all"}
    labels = load_labels(project)
    assert table.query("bodypart == 'all'").num_labels.sum() == labels.notna().sum().sum() // 2


def test_unavailable_imagenet_weights_stop_before_any_work(tmp_path, monkeypatch):
    """weights="imagenet" (the default) without the file nor a network: no folder, no data."""
    project = make_blob_project(tmp_path / "p", num_frames=4)

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: no network")

    def no_data(*args, **kwargs):
        raise AssertionError("the training data were built before the weights were checked")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(kit.net.model.keras.utils, "get_file", offline)
    monkeypatch.setattr(kit.net.train, "PoseDataset", no_data)
    config = TrainConfig(train_steps=2, batch_size=2)
    with pytest.raises(RuntimeError, match=r"resnet50_weights_tf_dim_ordering_tf_kernels_notop\.h5"
                                           r".*keras/models/.*weights=\"\""):
        train(project, config, verbose=0)
    assert not config.model_dir(project).exists()


def test_seconds_per_step_times_the_step_and_trains_nothing(tmp_path, monkeypatch):
    """The probe runs warm-up plus timed optimizer steps of the configured batch and reports
    a timed step's seconds (each step here made to take at least 0.2 s: no comparison of two
    timings, which another job's load can turn round); it leaves the split (what training
    would draw) and no model, checkpoint or log."""
    project = make_blob_project(tmp_path / "p", num_frames=12)
    config = TrainConfig(train_steps=10, run_eagerly=True, **{**LIGHT, "batch_size": 3})
    real, batches = keras.Model.train_on_batch, []

    def slow_step(model, x, y=None, **kwargs):
        batches.append(len(x))
        time.sleep(0.2)
        return real(model, x, y, **kwargs)

    monkeypatch.setattr(keras.Model, "train_on_batch", slow_step)
    cost = kit.net.train.seconds_per_step(project, config, steps=3, warmup=1)
    assert batches == [3] * 4 and cost >= 0.2
    folder = config.model_dir(project)
    assert sorted(p.name for p in folder.iterdir()) == ["split.json"]


def test_training_seconds_add_up_the_logged_intervals(tmp_path):
    """Each interval's seconds per step times its steps (a resumed run's first interval
    too); NaN where the log cannot say, never a made-up 0."""
    assert np.isnan(training_seconds(tmp_path))  # no log
    log = tmp_path / "train_log.csv"
    log.write_text("step,loss\n10,1.0\n20,0.5\n")  # a log of before the column
    assert np.isnan(training_seconds(tmp_path))
    log.write_text("step,loss,seconds_per_step\n10,1.0,0.5\n30,0.5,1.0\n")
    assert training_seconds(tmp_path) == pytest.approx(10 * 0.5 + 20 * 1.0)
    log.write_text("step,loss,seconds_per_step\n10,1.0,0.5\n30,0.5,\n")  # one interval lost
    assert np.isnan(training_seconds(tmp_path))


def test_a_run_that_intervals_do_not_divide_logs_and_ends_on_its_last_step(tmp_path):
    """5 steps, a checkpoint every 2: logged at 2, 4 and 5, the last interval's means over
    its one step; the last checkpoint is the last step's."""
    project = make_blob_project(tmp_path / "p", num_frames=8)
    config = TrainConfig(train_steps=5, save_every=2, keep_checkpoints=True, **LIGHT)
    model_dir = train(project, config, verbose=0)
    log = read_train_log(model_dir)
    assert log["step"].tolist() == [2, 4, 5]
    assert (log["seconds_per_step"] > 0).all() and np.isfinite(log["loss"]).all()
    steps = [int(p.stem.split("-")[1]) for p in list_checkpoints(model_dir / "checkpoints")]
    assert steps[-1] == 5


def test_moving_average_of_the_weights_is_saved_and_survives_a_resume(tmp_path, monkeypatch):
    """ema_span: the final model holds the optimizer's moving average of the weights, not
    the last step's; an interrupted run's average goes on from its checkpoint, so the resumed
    run ends where an uninterrupted one does."""
    config = TrainConfig(train_steps=6, save_every=2, keep_checkpoints=True, ema_span=0.5,
                         **LIGHT)
    whole = train(make_blob_project(tmp_path / "whole", num_frames=8), config, verbose=0)
    last = keras.saving.load_model(list_checkpoints(whole / "checkpoints")[-1])
    final = keras.saving.load_model(whole / "model.keras")
    raw = last.get_layer("part_pred").kernel
    average = last.optimizer._model_variables_moving_average[
        last.optimizer._get_variable_index(raw)]
    kernel = final.get_layer("part_pred").get_weights()[0]
    assert np.allclose(kernel, keras.ops.convert_to_numpy(average))
    assert not np.allclose(kernel, keras.ops.convert_to_numpy(raw), atol=1e-4)

    project = make_blob_project(tmp_path / "cut", num_frames=8)
    train_interrupted(project, config, 4, monkeypatch)
    resumed = keras.saving.load_model(train(project, config, verbose=0) / "model.keras")
    assert np.allclose(resumed.get_layer("part_pred").get_weights()[0], kernel, atol=1e-5)
