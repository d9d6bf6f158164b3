import math

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL_SYNTHETIC

from kit.experiments.synthetic import SyntheticConfig, load_ground_truth, make_synthetic_project
from kit.experiments.synthetic_animal import BODYPARTS
from kit.project.labels import load_labels
from kit.project.video import video_info


def _frame_numbers(index: pd.Index) -> np.ndarray:
    return np.array([int(name.rsplit("/img", 1)[1][:-4]) for name in index])


def test_project_layout(small_synthetic):
    assert small_synthetic.bodyparts == list(BODYPARTS)
    assert ("snout", "tailbase") in small_synthetic.skeleton
    assert len(small_synthetic.config["video_sets"]) == 2
    for video in ("animal0", "animal1"):
        info = video_info(small_synthetic.videos_dir / f"{video}.mp4")
        assert (info.num_frames, info.width, info.height) == (30, 64, 48)
        assert len(list(small_synthetic.labeled_data_dir(video).glob("img*.png"))) == 10
    labels = load_labels(small_synthetic)
    assert labels.shape == (20, 2 * len(BODYPARTS))
    assert labels.index[0] == "labeled-data/animal0/img01.png"  # frame 1 of 30: 2 digits


def test_ground_truth_file_layout(small_synthetic):
    df = pd.read_hdf(small_synthetic.ground_truth_file("animal0"), key="df_with_missing")
    assert list(df.columns.names) == ["scorer", "bodyparts", "coords"]
    assert set(df.columns.get_level_values("coords")) == {"x", "y", "likelihood"}
    assert list(df.index) == list(range(30))
    truth = load_ground_truth(small_synthetic, "animal0", include_occluded=True)
    assert truth.shape == (30, len(BODYPARTS), 2)
    assert np.all((truth >= 0) & (truth <= [64, 48]))


def test_labels_equal_ground_truth_without_noise(small_synthetic):
    labels = load_labels(small_synthetic)
    for video in ("animal0", "animal1"):
        rows = labels[labels.index.str.startswith(f"labeled-data/{video}/")]
        truth = load_ground_truth(small_synthetic, video)[_frame_numbers(rows.index)]
        np.testing.assert_array_equal(rows.to_numpy().reshape(truth.shape), truth)


def test_occluded_parts_are_nan(small_synthetic):
    df = pd.read_hdf(small_synthetic.ground_truth_file("animal0"), key="df_with_missing")
    hidden = df.xs("likelihood", axis=1, level="coords").to_numpy() == 0
    assert 0 < hidden.sum() < hidden.size * 0.2
    assert (hidden.sum(1) <= 1).all()  # one part at most per frame
    truth = load_ground_truth(small_synthetic, "animal0")
    np.testing.assert_array_equal(np.isnan(truth).any(2), hidden)
    assert not np.isnan(load_ground_truth(small_synthetic, "animal0", include_occluded=True)).any()


def test_same_seed_same_labels_other_seed_different(small_synthetic, tmp_path):
    again = make_synthetic_project(tmp_path / "again", SyntheticConfig(seed=0, **SMALL_SYNTHETIC))
    pd.testing.assert_frame_equal(load_labels(again), load_labels(small_synthetic))
    other = make_synthetic_project(tmp_path / "other", SyntheticConfig(seed=1, **SMALL_SYNTHETIC))
    assert not np.allclose(
        load_labels(other).to_numpy(), load_labels(small_synthetic).to_numpy(), equal_nan=True
    )
    with pytest.raises(FileExistsError):
        make_synthetic_project(tmp_path / "other", SyntheticConfig(seed=2, **SMALL_SYNTHETIC))


def test_label_noise_has_the_documented_mean_error(tmp_path):
    sigma = 2.0
    project = make_synthetic_project(tmp_path / "p",
        SyntheticConfig(seed=3, num_frames=60, num_labeled=60, image_size=(64, 48), label_noise_px=sigma))
    labels = load_labels(project)
    truth = load_ground_truth(project, "animal0")[_frame_numbers(labels.index)]
    error = np.linalg.norm(labels.to_numpy().reshape(truth.shape) - truth, axis=2)
    assert np.isnan(error).sum() == np.isnan(truth[..., 0]).sum()
    assert np.nanmean(error) == pytest.approx(sigma * math.sqrt(math.pi / 2), rel=0.15)
