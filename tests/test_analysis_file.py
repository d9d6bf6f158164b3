"""Analysis files <-> pose arrays: both DeepLabCut layouts, round trips, DeepLabCut's own samples."""

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from kit.project.analysis_file import (
    COLUMN_NAMES,
    MULTI_COLUMN_NAMES,
    load_partial_poses,
    load_poses,
    poses_from_table,
    predictions_frame,
    read_analysis,
    read_table_csv,
    save_analysis,
)
from kit.results.filters import FilterConfig, filter_analysis, filter_points

SAMPLES = REPO.parent / "shared" / "datasets" / "dlc-format-samples" / "labeled-data" / "video"
SCORER = "DLC_resnet50_testMar1shuffle1_1000"


def _poses(num_frames, num_individuals, num_bodyparts, seed=0):
    poses = np.random.default_rng(seed).random((num_frames, num_individuals, num_bodyparts, 3))
    poses[..., :2] *= 100
    poses[1, 0, 1] = np.nan  # a missing point survives the trip
    return poses


def test_single_animal_round_trip_keeps_deeplabcuts_layout(tmp_path):
    poses = _poses(5, 1, 3)
    df = predictions_frame(poses, range(5), SCORER, ["snout", "ear", "tail"])
    assert df.columns.nlevels == 3 and list(df.columns.names) == COLUMN_NAMES
    assert list(df.columns[:3]) == [(SCORER, "snout", c) for c in ("x", "y", "likelihood")]
    save_analysis(tmp_path / "a.h5", df)
    df.to_csv(tmp_path / "a.csv")
    for path in (tmp_path / "a.h5", tmp_path / "a.csv"):
        back, bodyparts, individuals = load_poses(path)
        assert bodyparts == ["snout", "ear", "tail"] and individuals is None
        np.testing.assert_array_equal(back, poses)
        assert back.shape == (5, 1, 3, 3)
        again = predictions_frame(back, range(5), SCORER, bodyparts, individuals)
        pd.testing.assert_frame_equal(again, df, check_index_type=False)
    # body parts chosen and reordered by name
    np.testing.assert_array_equal(load_poses(tmp_path / "a.h5", ["tail", "snout"])[0],
                                  poses[:, :, [2, 0]])


def test_multi_animal_round_trip_writes_four_levels(tmp_path):
    poses = _poses(4, 2, 3)
    individuals = ["mouse1", "mouse2"]
    df = predictions_frame(poses, range(4), SCORER, ["a", "b", "c"], individuals)
    assert list(df.columns.names) == MULTI_COLUMN_NAMES
    assert df.columns[3 * 3] == (SCORER, "mouse2", "a", "x")  # individual, then body part
    save_analysis(tmp_path / "m.h5", df)
    df.to_csv(tmp_path / "m.csv")
    for path in (tmp_path / "m.h5", tmp_path / "m.csv"):
        back, bodyparts, found = load_poses(path)
        assert found == individuals and bodyparts == ["a", "b", "c"]
        np.testing.assert_array_equal(back, poses)
        pd.testing.assert_frame_equal(read_analysis(path), df, check_index_type=False,
                                      check_column_type=False)


def test_partial_analysis_round_trip(tmp_path):
    poses = _poses(3, 1, 2)
    save_analysis(tmp_path / "p.h5", predictions_frame(poses, range(3), SCORER, ["a", "b"]),
                  {"model": "m"})
    np.testing.assert_array_equal(load_partial_poses(tmp_path / "p.h5", {"model": "m"}), poses)
    with pytest.warns(UserWarning, match="other settings"):
        assert load_partial_poses(tmp_path / "p.h5", {"model": "other"}) is None


def test_wrong_shapes_and_tables_say_what_to_do(tmp_path):
    with pytest.raises(ValueError, match=r"individuals axis: points\[:, None\]"):
        predictions_frame(np.zeros((2, 3, 3)), range(2), SCORER, ["a", "b", "c"])
    with pytest.raises(ValueError, match="individuals=None"):
        predictions_frame(np.zeros((2, 2, 3, 3)), range(2), SCORER, ["a", "b", "c"])
    labels = pd.DataFrame(np.zeros((1, 2)), columns=pd.MultiIndex.from_product(
        [["me"], ["a"], ["x", "y"]], names=COLUMN_NAMES))
    labels.to_hdf(tmp_path / "labels.h5", key="df_with_missing")
    with pytest.raises(ValueError, match="no likelihood column"):
        load_poses(tmp_path / "labels.h5")
    with pytest.raises(ValueError, match="has no body parts"):
        poses_from_table(labels, ["b"])
    with pytest.raises(ValueError, match="not a pose table"):
        poses_from_table(pd.DataFrame({"x": [1.0]}))
    no_likelihood = pd.DataFrame(np.zeros((1, 3)), columns=pd.MultiIndex.from_product(
        [["me"], ["a"], ["x", "y", "x_var"]], names=COLUMN_NAMES))
    with pytest.raises(ValueError, match="not a pose table"):
        poses_from_table(no_likelihood)


def test_coords_after_x_y_likelihood_are_left_out():
    """An ensemble's smoothed analysis (kit.results.ensemble) adds eks's variances per part."""
    coords = ["x", "y", "likelihood", "x_posterior_var", "y_posterior_var"]
    df = pd.DataFrame(np.arange(20.0).reshape(2, 10), columns=pd.MultiIndex.from_product(
        [["me"], ["a", "b"], coords], names=COLUMN_NAMES))
    poses, bodyparts, individuals = poses_from_table(df)
    assert bodyparts == ["a", "b"] and individuals is None
    np.testing.assert_array_equal(poses[:, 0], [[[0, 1, 2], [5, 6, 7]], [[10, 11, 12],
                                                                       [15, 16, 17]]])


def test_filter_keeps_a_multi_animal_layout_and_each_individual_apart(tmp_path):
    t = np.arange(12, dtype=np.float64)
    poses = np.zeros((12, 3, 2, 3))
    poses[..., 0], poses[..., 1], poses[..., 2] = t[:, None, None], 5.0, 1.0
    poses[4, 0, 0] = [99, 99, 0.01]  # only mouse1's part "a" drops out at frame 4
    df = predictions_frame(poses, range(12), SCORER, ["a", "b"], ["mouse1", "mouse2", "single"])
    df = df.drop(columns=[(SCORER, "single", "a", c) for c in ("x", "y", "likelihood")])
    df.to_hdf(tmp_path / "m.h5", key="df_with_missing", format="table")
    out = pd.read_hdf(filter_analysis(tmp_path / "m.h5", FilterConfig(pcutoff=0.5)))
    assert out.columns.equals(df.columns)  # "single" still has only "b"
    assert out.loc[4, (SCORER, "mouse1", "a", "x")] == pytest.approx(4.0)  # gap filled
    alone = filter_points(poses[:, 1:2], FilterConfig(pcutoff=0.5))  # mouse2 by itself
    np.testing.assert_array_equal(out[(SCORER, "mouse2", "a", "x")], alone[:, 0, 0, 0])


def _sample(name):
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"DeepLabCut's format samples are not at {SAMPLES} (../shared absent)")
    return path


@pytest.mark.parametrize("name", ["madlc_testdata.csv", "madlc_testdata_v2.csv"])
def test_reads_deeplabcuts_multi_animal_label_files(name):
    df = read_table_csv(_sample(name))
    points, bodyparts, individuals = poses_from_table(df, source=name)
    assert points.shape == (4, 2, 3, 2)  # frames, individuals, body parts, x/y (labels)
    assert bodyparts == ["A", "B", "C"] and individuals == ["Animal1", "Animal2"]
    assert list(df.index[:2]) == ["labeled-data/video/img000.png", "labeled-data/video/img001.png"]
    np.testing.assert_array_equal(points[0].ravel(), np.arange(12.0))
    assert np.isnan(points[1, :, 1]).all() and np.isnan(points[2]).all()
    np.testing.assert_array_equal(points[3, 0], [[22, 23], [24, 25], [26, 27]])
    assert np.isnan(points[3, 1]).all()


def test_reads_unique_bodyparts_as_an_individual_with_nan_elsewhere():
    points, bodyparts, individuals = poses_from_table(
        read_table_csv(_sample("maudlc_testdata_v2.csv")))
    assert individuals == ["Animal1", "Animal2", "single"] and bodyparts == list("ABCDE")
    assert np.isnan(points[:, :2, 3:]).all() and np.isnan(points[:, 2, :3]).all()
    np.testing.assert_array_equal(points[1, 2, 3:], [[22, 23], [24, 25]])
