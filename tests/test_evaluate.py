import numpy as np
import pandas as pd
import pytest
from conftest import make_blob_project

from kit.net.data import AugmentConfig
from kit.net.predict import Predictor, scale_image, sigmoid
from kit.net.train import TrainConfig, train
from kit.plots import evaluation_figure
from kit.project.video import load_image
from kit.project.analysis_file import select_individuals
from kit.results.evaluate import error_table, evaluate


def test_error_table_by_hand():
    labels = np.array([[[0.0, 0.0], [10.0, 10.0]],
                       [[5.0, 5.0], [np.nan, np.nan]]])
    preds = np.array([[[3.0, 4.0, 0.9], [10.0, 10.0, 0.2]],
                      [[5.0, 6.0, 0.8], [1.0, 1.0, 0.99]]])
    labels, preds = labels[:, None], preds[:, None]  # one individual
    table = error_table(labels, preds, ["a", "b"], pcutoff=0.5).set_index("bodypart")
    # a: errors 5 and 1 -> 3; b: error 0 (the NaN label does not count); all: (5+0+1)/3 = 2
    assert table.loc["a", "rmse_px"] == pytest.approx(3.0)
    assert table.loc["b", "rmse_px"] == pytest.approx(0.0)
    assert table.loc["all", "rmse_px"] == pytest.approx(2.0)
    assert table.loc["all", "num_labels"] == 3
    # with pcutoff 0.5 only a's two predictions count; b's one is below
    assert table.loc["all", "rmse_px_pcutoff"] == pytest.approx(3.0)
    assert np.isnan(table.loc["b", "rmse_px_pcutoff"])
    with pytest.raises(ValueError, match="pcutoff"):
        error_table(labels, preds, ["a", "b"], pcutoff=1.2)


def test_error_table_matches_individuals_by_name():
    # two animals, one body part; the predictions list them in the other order
    labels = np.array([[[[0.0, 0.0]], [[10.0, 10.0]]]])  # (1 frame, 2 individuals, 1 part, 2)
    preds = np.array([[[[10.0, 13.0, 0.9]], [[3.0, 4.0, 0.9]]]])
    matched = select_individuals(preds, ["mouse2", "mouse1"], ["mouse1", "mouse2", "mouse3"])
    assert matched.shape == (1, 3, 1, 3) and np.isnan(matched[0, 2]).all()
    table = error_table(np.concatenate([labels, np.full((1, 1, 1, 2), np.nan)], 1), matched,
                        ["a"], pcutoff=0.5).set_index("bodypart")
    assert table.loc["a", "rmse_px"] == pytest.approx(4.0)  # errors 5 and 3
    assert table.loc["a", "num_labels"] == 2
    np.testing.assert_array_equal(select_individuals(preds[:, :1], None, None), preds[:, :1])
    with pytest.raises(ValueError, match="single-animal"):
        select_individuals(preds, None, ["mouse1"])


def test_scale_image_convention():
    img = np.zeros((20, 30, 3), np.uint8)
    img[10, 20] = 255
    out = scale_image(img, 0.5)
    assert out.shape == (10, 15, 3)
    assert np.unravel_index(out[:, :, 0].argmax(), out.shape[:2]) == (5, 10)
    assert sigmoid(np.array([-1000.0, 0.0, 1000.0])).tolist() == [0.0, 0.5, 1.0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    project = make_blob_project(tmp_path_factory.mktemp("ev") / "p", num_frames=10)
    config = TrainConfig(train_steps=4, batch_size=2, train_fraction=0.8, batchnorm_batches=2, weights=None,
                         augment=AugmentConfig(crop_size=(64, 64)))
    return project, train(project, config, verbose=0)


def test_predict_shapes_and_likelihoods(trained):
    project, model_dir = trained
    predictor = Predictor(model_dir)
    images = [load_image(p) for p in sorted(project.labeled_data_dir("v").glob("*.png"))[:3]]
    images.append(np.zeros((50, 70, 3), np.uint8))  # another size in the same call
    out = predictor.predict_images(images, batch_size=2)
    assert out.shape == (4, 1, 2, 3)  # (images, individuals, body parts, x/y/likelihood)
    assert np.all((out[..., 2] >= 0) & (out[..., 2] <= 1))
    stream = np.array(list(predictor.predict_stream(images[:3], batch_size=2)))
    assert np.allclose(stream, out[:3])


def test_evaluate_writes_table_predictions_and_figure(trained):
    project, _ = trained
    evaluation = evaluate(project, shuffle=1, train_fraction=0.8, pcutoff=0.1)
    table = pd.read_csv(evaluation.folder / "evaluation.csv")
    assert {"split", "bodypart", "rmse_px", "rmse_px_pcutoff", "num_labels"} <= set(table.columns)
    assert sorted(table.split.unique()) == ["test", "train"]
    assert len(table) == 2 * 3  # two parts + "all", per split
    assert table.query("split == 'test' and bodypart == 'all'").num_labels.item() == 4
    saved = pd.read_hdf(evaluation.folder / "predictions.h5")
    assert len(saved) == 10 and list(saved.columns.levels[2]) == ["likelihood", "x", "y"]
    # the table agrees with the saved predictions
    test = list(evaluation.test_images)
    pred = saved.loc[test].to_numpy().reshape(2, 2, 3)
    lab = evaluation.labels.loc[test].to_numpy().reshape(2, 2, 2)
    expected = np.nanmean(np.linalg.norm(pred[..., :2] - lab, axis=-1))
    assert evaluation.test_rmse == pytest.approx(expected)
    assert evaluation_figure(project, evaluation, 2).is_file()


def test_evaluate_without_model_says_what_to_do(blob_project):
    with pytest.raises(FileNotFoundError, match="Train it first"):
        evaluate(blob_project, shuffle=3)


def test_variants_one_part_nested_size_and_novel_video(tmp_path):
    project = make_blob_project(tmp_path / "p", num_frames=10)
    make_blob_project(tmp_path / "p2", num_frames=4, video="w")  # another "animal"
    import shutil

    shutil.copytree(tmp_path / "p2/labeled-data/w", project.labeled_data_dir("w"))
    config = TrainConfig(train_steps=2, batch_size=2, train_fraction=0.8, train_size=4, batchnorm_batches=2,
                         bodyparts=("b",), test_videos=("w",), weights=None,
                         augment=AugmentConfig(enabled=False, crop_size=(64, 64)))
    assert config.variant == "-n4-parts-b-novel-w-noaug"
    model_dir = train(project, config, verbose=0)
    assert model_dir.name.endswith("shuffle1-n4-parts-b-novel-w-noaug")
    evaluation = evaluate(project, 1, 0.8, 0.1, variant=config.variant)
    table = evaluation.table.set_index(["split", "bodypart"])
    assert set(table.index) == {(s, p) for s in ("train", "test", "novel") for p in ("b", "all")}
    assert table.loc[("train", "b"), "num_labels"] == 4
    assert table.loc[("test", "b"), "num_labels"] == 2
    assert table.loc[("novel", "b"), "num_labels"] == 4
    assert evaluation_figure(project, evaluation, 2).is_file()
