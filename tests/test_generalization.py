"""Error against distance to training (kit.results.generalization): distances and rows by
hand, errors of a hand-made evaluation, OKS per row for two animals, and the figure."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from kit.plots import plot_generalization
from kit.project.analysis_file import predictions_frame
from kit.project.splits import Split, make_split
from kit.results.evaluate import Evaluation
from kit.results.generalization import (
    NOVEL,
    TRAINING,
    UNREAD,
    distance_rows,
    frames_to_training,
    generalization,
    generalization_table,
    matched_animals,
    oks_by_distance,
    point_errors,
)


def _name(video: str, frame: int) -> str:
    return f"labeled-data/{video}/img{frame:04d}.png"


# video v trains on frames 10 and 20; w has no training frame; u trains on 500
SPLIT = Split(train=(_name("v", 20), _name("v", 10), _name("u", 500)),
              test=(_name("u", 350), _name("v", 12), _name("v", 16), _name("v", 26),
                    _name("v", 60)),
              train_fraction=0.5, shuffle=1, seed=0, novel=(_name("w", 3),))


def test_frames_to_training_by_hand():
    d = frames_to_training(SPLIT)
    assert d[_name("v", 10)] == 0 and d[_name("u", 500)] == 0
    assert d[_name("v", 12)] == 2 and d[_name("v", 16)] == 4 and d[_name("v", 26)] == 6
    assert d[_name("v", 60)] == 40 and d[_name("u", 350)] == 150
    assert np.isnan(d[_name("w", 3)])
    rows = distance_rows(SPLIT, list(d.index))
    assert rows[_name("v", 20)] == TRAINING and rows[_name("v", 12)] == "1-2"
    assert rows[_name("v", 16)] == "3-5" and rows[_name("v", 26)] == "6-10"
    assert rows[_name("v", 60)] == "31-100" and rows[_name("u", 350)] == ">100"
    assert rows[_name("w", 3)] == NOVEL
    # a name without a number is a row of its own (the blocks split refuses it: test_splits)
    assert np.isnan(frames_to_training(SPLIT, ["labeled-data/v/last.png"]).iloc[0])
    assert distance_rows(SPLIT, ["labeled-data/v/last.png"]).iloc[0] == UNREAD


def test_blocks_split_test_frames_lie_beyond_the_training_frames():
    names = [_name("v", i) for i in range(0, 100, 2)]
    blocks = make_split(names, 0.8, method="blocks")
    distance = frames_to_training(blocks, blocks.test)
    assert sorted(distance) == list(range(2, 21, 2))  # frames 80..98, training ends at 78
    random = frames_to_training(make_split(names, 0.8), make_split(names, 0.8).test)
    assert random.max() <= 4  # random test frames sit between training frames


def test_generalization_table_by_hand():
    errors = pd.DataFrame({
        "image": [_name("v", 10), _name("v", 12), _name("v", 12), _name("v", 16),
                  _name("v", 60), _name("w", 3), _name("w", 3)],
        "error_px": [1.0, 2.0, 4.0, 3.0, 10.0, 20.0, np.nan],  # NaN: not predicted
    })
    table = generalization_table(errors, SPLIT)
    assert list(table.index) == [TRAINING, "1-2", "3-5", "31-100", NOVEL]
    assert table.loc["1-2"].tolist() == pytest.approx([1, 2, 3.0, 3.0, 3.8])
    assert table.loc[NOVEL, "num_labels"] == 1 and table.loc[NOVEL, "median_px"] == 20


def _labels(truth, images, individuals=None) -> pd.DataFrame:
    """A label table (x, y only) of truth (N, I, K, 2)."""
    padded = np.concatenate([truth, np.ones((*truth.shape[:-1], 1))], -1)
    table = predictions_frame(padded, images, "me", ["a", "b"], individuals)
    return table.drop(columns="likelihood", level=-1)


def _evaluation(tmp_path: Path, predictions, labels, oks=None) -> Evaluation:
    return Evaluation(pd.DataFrame(), predictions, labels, SPLIT.test, 0.5, tmp_path, ["a", "b"],
                      oks=oks, split=SPLIT)


def test_generalization_of_a_single_animal_evaluation(tmp_path):
    images = [_name("v", 10), _name("v", 12), _name("w", 3)]
    truth = np.array([[[0, 0], [10, 10]], [[5, 5], [np.nan, np.nan]], [[0, 0], [0, 0]]], float)
    pred = np.concatenate([truth + [[3, 4]], np.ones((3, 2, 1))], -1)  # all 5 px off
    pred[2, 1] = [0, 10, 0.9]  # 10 px
    labels = _labels(truth[:, None], images)
    predictions = predictions_frame(pred[:, None], images, "kit", ["a", "b"])
    errors = point_errors(predictions, labels)
    assert len(errors) == 5 and set(errors.bodypart) == {"a", "b"}  # b of frame 2 unlabeled
    table = generalization(_evaluation(tmp_path, predictions, labels))
    assert table.loc[TRAINING, "mean_px"] == pytest.approx(5.0)
    assert table.loc["1-2", "num_labels"] == 1
    assert table.loc[NOVEL, "mean_px"] == pytest.approx(7.5)
    assert (tmp_path / "generalization.csv").is_file()
    fig = plot_generalization(table)
    assert len(fig.axes) == 1
    plt.close(fig)


def test_point_errors_of_several_animals_are_to_the_matched_animals():
    """An animal predicted in another animal's columns is matched back; an extra animal
    that evaluate saved in a missed animal's columns is no prediction of that animal."""
    images = [_name("v", 10), _name("v", 12)]
    individuals = ["m1", "m2", "single"]
    truth = np.full((2, 3, 2, 2), np.nan)
    truth[:, 0] = [[0, 0], [20, 20]]
    truth[:, 1] = [[50, 50], [80, 60]]
    pred = np.concatenate([truth[:, [1, 0, 2]] + [3, 4], np.full((2, 3, 2, 1), 0.9)], -1)
    pred[1, 0, :, :2] = [[300, 300], [320, 320]]  # frame 12: m2 missed, an extra animal
    labels = _labels(truth, images, individuals)
    predictions = predictions_frame(pred, images, "kit", ["a", "b"], individuals)
    matched = matched_animals(predictions, labels)
    assert matched.columns.equals(predictions.columns)
    assert matched.loc[images[1], ("kit", "m2")].isna().all()
    errors = point_errors(predictions, labels).set_index(["image", "individual", "bodypart"])
    assert len(errors) == 8 and errors.error_px.max() == pytest.approx(5.0)
    assert errors.loc[(images[1], "m2"), "error_px"].isna().all()  # labeled, not predicted
    single = predictions_frame(pred[:, :1], images, "kit", ["a", "b"])
    assert matched_animals(single, labels) is single


def test_oks_map_per_row_for_two_animals(tmp_path):
    images = [_name("v", 10), _name("v", 12), _name("w", 3)]
    individuals = ["m1", "m2", "single"]
    truth = np.full((3, 3, 2, 2), np.nan)
    truth[:, 0] = [[0, 0], [20, 20]]
    truth[:, 1] = [[50, 50], [80, 60]]
    pred = np.concatenate([truth[:, [1, 0, 2]], np.full((3, 3, 2, 1), 0.9)], -1)  # m1 <-> m2
    pred[2, :, :, :2] += 15  # the novel video: far off
    labels = _labels(truth, images, individuals)
    predictions = predictions_frame(pred, images, "kit", ["a", "b"], individuals)
    oks = oks_by_distance(predictions, labels, SPLIT)
    assert oks.loc[TRAINING, "mAP"] == pytest.approx(100) and oks.loc["1-2", "mAP"] == 100
    assert oks.loc[NOVEL, "mAP"] == 0
    table = generalization(_evaluation(tmp_path, predictions, labels, oks=pd.DataFrame()))
    assert {"mAP", "mAR", "median_px"} <= set(table.columns)
    fig = plot_generalization(table)
    assert len(fig.axes) == 2
    plt.close(fig)


def test_a_validation_set_is_evaluated_as_its_own_split(trained_synthetic):
    """A model whose split keeps a validation set: evaluation reports it as the split
    "validation" (its own rows, its frames' distance to training), beside train and test."""
    import dataclasses
    import shutil

    from kit.net.model_folder import ModelFolder
    from kit.results.evaluate import evaluate_model

    project, predictor, _ = trained_synthetic
    original = ModelFolder(predictor.model_dir)
    copy = ModelFolder(original.path.with_name(original.path.name + "-val"))
    shutil.copytree(original.path, copy.path)
    try:
        split = copy.load_split()
        copy.save_split(dataclasses.replace(split, train=split.train[:-2],
                                            validation=split.train[-2:]))
        evaluation = evaluate_model(project, copy, pcutoff=0.1)
        table = evaluation.table.set_index(["split", "bodypart"])
        assert table.loc[("validation", "all"), "num_labels"] > 0
        assert {"train", "validation", "test"} <= set(evaluation.table["split"])
        distances = frames_to_training(copy.load_split())
        assert (distances[list(split.train[-2:])] > 0).all()
    finally:
        shutil.rmtree(copy.path)
        shutil.rmtree(copy.evaluation_dir(project), ignore_errors=True)
