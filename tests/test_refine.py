"""The refinement loop: outliers -> machine labels -> confirmed labels -> next iteration.

Also covers kit/outliers.py (the two modules are one stage of the loop).
"""

import json
import shutil

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from kit.experiments import synthetic
from kit.experiments.runner import run_notebook
from kit.experiments.synthetic import SyntheticConfig, make_synthetic_project
from kit.net.data import AugmentConfig
from kit.net.train import TrainConfig, train
from kit.project import load_project
from kit.project.frame_picking import extracted_frame_indices
from kit.project.labels import load_labels, save_labels
from kit.project.splits import load_split
from kit.results import outliers, refine

TINY = {"shuffle": 1, "train_fraction": 0.5, "batch_size": 2, "optimizer": "adam", "weights": None,
        "learning_rate": 1e-5, "batchnorm_batches": 2,
        "augment": AugmentConfig(crop_size=(64, 64))}


def test_outlier_scores_by_hand():
    # 6 frames, 2 parts; part 0 walks 1 px/frame, part 1 stands still.
    points = np.zeros((6, 2, 3))
    points[:, 0, 0] = np.arange(6.0)
    points[:, 1, :2] = 10.0
    points[..., 2] = 0.9
    points[2, 1, 2] = 0.1  # frame 2: part 1 unsure
    points[4, 0, :2] = [4.0, 30.0]  # frame 4: part 0 jumps 30 px away (and back at 5)
    points = points[:, None]  # one individual
    config = outliers.OutlierConfig(pcutoff=0.5, jump_px=20, filter_px=20, filter_window=3)
    table = outliers.outlier_scores(points, config)
    assert table.likelihood.tolist() == [False, False, True, False, False, False]
    assert table.jump.tolist() == [False, False, False, False, True, True]
    assert table.max_jump_px[1] == pytest.approx(1.0) and np.isnan(table.max_jump_px[0])
    assert table["filter"].tolist() == [False, False, False, False, True, False]
    assert table.max_filter_px[4] == pytest.approx(30.0)
    assert table.outlier.tolist() == [False, False, True, False, True, True]
    only_low = outliers.OutlierConfig(pcutoff=0.5, criteria=("likelihood",))
    assert outliers.outlier_scores(points, only_low).outlier.sum() == 1
    with pytest.raises(ValueError, match="criteria"):
        outliers.OutlierConfig(criteria=("jumps",))


def test_rank_frames_keeps_suggestions_apart():
    config = outliers.SuggestConfig(num_frames=2, novelty_weight=0.5, min_gap=3)
    table = outliers.rank_frames(np.array([0.9, 0.8, 0.1, 0.0]), np.array([2.0, 2.0, 0.0, 1.0]),
                                 [10, 11, 12, 20], config)
    assert table.frame.tolist() == [10, 11, 20, 12]
    assert table.score.tolist() == pytest.approx([0.95, 0.9, 0.25, 0.05])
    assert table.frame[table.suggested].tolist() == [10, 20]  # 11 is too close to 10


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory):
    """A 64x64 synthetic project (40 frames, 8 labeled), a 2-step model of iteration 0 and
    its analysis of the video."""
    root = tmp_path_factory.mktemp("refine") / "project"
    project = make_synthetic_project(root,
        SyntheticConfig(num_frames=40, num_labeled=8, image_size=(64, 64)))
    model_dir = train(project, TrainConfig(train_steps=2, **TINY), verbose=0)
    refine.analyze_with_model(project, model_dir, project.videos_dir / "animal0.mp4")
    return project.root


@pytest.fixture
def trained(trained_once, tmp_path):
    """A copy of ``trained_once`` for one test to change: (project, model_dir, video)."""
    project = load_project(shutil.copytree(trained_once, tmp_path / "project"))
    return project, project.model_dir(1, 0.5), project.videos_dir / "animal0.mp4"


def test_one_round_mechanics(trained, tmp_path):
    project, model_dir, video = trained
    before = load_labels(project)
    h5 = refine.analyze_with_model(project, model_dir, video)
    assert h5.parent == project.refine_analysis_dir(1, 0.5, 0)

    # Outliers: an untrained network is unsure everywhere; pcutoff 1 makes every frame one.
    config = outliers.OutlierConfig(num_frames=4, pcutoff=1.0)
    found = outliers.extract_outliers(project, video, h5, config)
    assert len(found.frames) == 4 and found.summary()["extracted"] == 4
    assert not set(found.images) & set(before.index)  # labeled frames are never picked
    assert all(project.image_path(i).is_file() for i in found.images)
    machine = pd.read_hdf(project.machine_labels_file("animal0"))
    assert machine.index.tolist() == found.images
    assert set(machine.columns.get_level_values("coords")) == {"x", "y", "likelihood"}
    assert found.machine_labels.name == "machinelabels-iter0.h5"

    # Machine labels never train: the labels and the would-be split hold none of them.
    assert load_labels(project).index.equals(before.index)
    with pytest.raises(ValueError, match="No frame was confirmed"):
        refine.start_iteration(project, model_dir, refine.next_train_config(model_dir, 2))
    assert refine.load_suggestions(project, "animal0").index.tolist() == found.images

    # The user confirms two of the four frames (the ground truth stands in for them).
    corrections = synthetic.save_ground_truth_corrections(
        project, "animal0", tmp_path / "corrections.h5", found.frames[:2])
    merged = refine.merge_corrections(project, "animal0", corrections)
    assert merged == found.images[:2]
    after = load_labels(project)
    assert set(after.index) - set(before.index) == set(found.images[:2])
    assert refine.pending_images(project, "animal0") == found.images[2:]
    assert project.labels_file("animal0").with_name(
        project.labels_file("animal0").name + ".bak").is_file()

    # Next iteration: bumped once, old test frames stay in test, warm start.
    train_config = refine.next_train_config(model_dir, train_steps=2)
    assert train_config.weights == str(model_dir / "model.keras")
    project = refine.start_iteration(project, model_dir, train_config)
    assert project.iteration == 1
    assert refine.start_iteration(project, model_dir, train_config).iteration == 1  # re-run
    old = load_split(model_dir / "split.json")
    new_dir = train(project, train_config, verbose=0)
    new_split = load_split(new_dir / "split.json")
    assert new_dir.parent.name == "iteration-1"
    assert new_split.test == old.test
    assert set(new_split.train) == set(old.train) | set(found.images[:2])
    assert json.loads((new_dir / "pose_config.json").read_text())["iteration"] == 1
    _assert_warm_started(model_dir, new_dir)

    table = refine.compare_iterations(project, [model_dir, new_dir], old.test)
    assert table.iteration.unique().tolist() == [0, 1]
    assert table.columns.tolist() == ["iteration", "bodypart", "num_labels", "rmse_px",
                                      "rmse_px_pcutoff"]
    assert table.query("bodypart == 'all'").num_labels.nunique() == 1
    assert len(refine.plot_iterations(table).axes[0].patches) == 2 * 5

    h5_new = refine.analyze_with_model(project, new_dir, video)
    suggested = outliers.suggest_frames(project, video, h5_new, new_split.train,
                                        outliers.SuggestConfig(num_frames=3, min_gap=2))
    assert len(suggested.frames) == 3 and len(suggested.figure.axes) == 3
    assert not set(suggested.frames) & set(extracted_frame_indices(project, "animal0"))
    assert np.all(np.diff(sorted(suggested.frames)) >= 2)


def _assert_warm_started(previous_dir, new_dir):
    """After 2 steps at learning rate 1e-5 the weights are the previous ones (a fresh
    initialisation would differ by about their spread)."""
    previous = keras.saving.load_model(previous_dir / "model.keras", compile=False)
    new = keras.saving.load_model(new_dir / "model.keras", compile=False)
    kernel = previous.get_layer("conv1_conv").get_weights()[0]
    assert np.abs(new.get_layer("conv1_conv").get_weights()[0] - kernel).max() < 1e-3
    assert kernel.std() > 0.01


def test_merge_only_pending_and_errors(trained, tmp_path):
    project, model_dir, video = trained
    h5 = refine.analyze_with_model(project, model_dir, video)  # done by the fixture: reused
    found = outliers.extract_outliers(project, video, h5, outliers.OutlierConfig(
        num_frames=3, pcutoff=1.0, seed=1))
    again = outliers.extract_outliers(project, video, h5, outliers.OutlierConfig(
        num_frames=2, pcutoff=1.0, seed=1))
    assert not set(again.images) & set(found.images)  # nothing extracted twice
    assert len(pd.read_hdf(project.machine_labels_file("animal0"))) == 5
    every_frame = synthetic.save_ground_truth_corrections(project, "animal0", tmp_path / "gt.h5")
    with pytest.raises(ValueError, match="never extracted"):
        refine.merge_corrections(project, "animal0", every_frame)
    before = load_labels(project)
    merged = refine.merge_corrections(project, "animal0", every_frame, only_pending=True)
    assert sorted(merged) == sorted(found.images + again.images)
    assert len(load_labels(project)) == len(before) + 5
    assert refine.pending_images(project, "animal0") == []
    assert len(pd.read_hdf(project.machine_labels_file("animal0"))) == 0
    # The labeler path: a frame written to CollectedData by hand leaves the machine labels.
    extra = outliers.extract_outliers(project, video, h5, outliers.OutlierConfig(
        num_frames=1, pcutoff=1.0))
    labels = load_labels(project)
    truth = pd.read_hdf(every_frame).loc[extra.images].set_axis(labels.columns, axis=1)
    save_labels(project, "animal0", pd.concat([labels, truth]))
    assert refine.confirm_labeled_frames(project, "animal0") == extra.images
    wrong = pd.read_hdf(every_frame).drop(columns="tailbase", level="bodyparts")
    wrong.to_hdf(tmp_path / "wrong.h5", key="df_with_missing")
    with pytest.raises(ValueError, match="body parts"):
        refine.merge_corrections(project, "animal0", tmp_path / "wrong.h5")


@pytest.mark.slow
def test_one_round_lowers_the_test_error(tmp_path):
    """The loop through notebooks/06_refine.ipynb, the ground truth standing in for the user:
    8 training frames, then 16 corrected outlier frames; the same 8 test frames."""
    project = make_synthetic_project(tmp_path / "p",
        SyntheticConfig(num_frames=200, num_labeled=16, image_size=(128, 128)))
    train(project, TrainConfig(train_fraction=0.5, train_steps=120, batch_size=4, weights=None,
                               optimizer="adam", augment=AugmentConfig(crop_size=(96, 96))),
          verbose=0)
    truth = synthetic.save_ground_truth_corrections(project, "animal0", tmp_path / "truth.h5")
    run_notebook(REPO / "notebooks" / "06_refine.ipynb", {
        "project_dir": str(project.root), "train_fraction": 0.5, "num_frames": 16,
        "corrections_file": str(truth), "train_steps": 120}, runs_dir=tmp_path / "runs",
        log_to_console=False)
    table = pd.read_csv(load_project(project.root).evaluation_dir(1, 0.5) / "iterations.csv")
    errors = table.query("bodypart == 'all'").set_index("iteration").rmse_px
    print(f"\ntest RMSE, same 8 frames: iteration 0 {errors[0]:.2f} px, 1 {errors[1]:.2f} px")
    assert errors[1] < errors[0]


def test_outlier_jumps_follow_each_individual():
    # two animals standing 100 px apart: no jump, though their points are far from each other
    points = np.zeros((4, 2, 1, 3))
    points[:, 1, 0, :2] = 100.0
    points[..., 2] = 0.9
    config = outliers.OutlierConfig(pcutoff=0.5, jump_px=20, filter_px=20, filter_window=3)
    assert not outliers.outlier_scores(points, config).outlier.any()
    points[2, 1, 0, :2] = 150.0  # the second animal's point jumps at frame 2
    table = outliers.outlier_scores(points, config)
    assert table.jump.tolist() == [False, False, True, True]
    assert table.max_jump_px[2] == pytest.approx(np.hypot(50, 50))
