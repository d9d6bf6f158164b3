"""Ensembles smoothed by eks (kit.results.ensemble): identical members smooth to themselves,
noisy ones move closer to the truth, the smoothed file reads everywhere analyses are read
(kit's readers, filters and outliers; pandas 2), and disagreement ranks frames to label.

Tests that run eks use its own venv (made once, ``~/.cache/kit/venv-eks``) and skip where it
cannot be made, except on CI. Each eks run starts a fresh interpreter that imports JAX: about 20-40 s here."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from conftest import run_dlc_check
from test_hdf import _assert_same_frame, _read_elsewhere, other_pandas_python  # noqa: F401

from kit.experiments.synthetic import SyntheticConfig, load_ground_truth, make_synthetic_project
from kit.project.analysis_file import (
    load_poses,
    predictions_frame,
    read_table_csv,
    save_analysis,
)
from kit.project.frame_picking import extracted_frame_indices
from kit.results import ensemble
from kit.results.ensemble import EnsembleConfig, SmoothedPoses
from kit.results.ensemble_analysis import extract_disagreements
from kit.results.filters import FilterConfig, filter_analysis
from kit.results.outliers import OutlierConfig, outlier_scores

needs_eks = pytest.mark.usefixtures("eks_available")  # conftest.py


def _trajectory(num_frames: int, num_individuals: int = 1, num_parts: int = 2) -> np.ndarray:
    """(F, I, K, 2) smooth paths (slow sines, amplitude 40-50 px around (300, 200))."""
    t = np.arange(num_frames)[:, None, None]
    phase = np.arange(num_individuals)[:, None] + 0.7 * np.arange(num_parts)[None]
    return np.stack([300 + 50 * np.sin(t / 20 + phase), 200 + 40 * np.cos(t / 25 + phase)], -1)


def _with_likelihood(xy: np.ndarray, likelihood: float = 0.9) -> np.ndarray:
    return np.concatenate([xy, np.full((*xy.shape[:-1], 1), likelihood)], axis=-1)


@needs_eks
def test_identical_members_smooth_to_themselves():
    """eks takes the members' variance, here 0, as the observation noise (clipped at 1e-12
    px^2) and runs in float64: the posterior mean can differ from the observation by about
    1e-12 / s of it (s ~ 1-100 px^2 per frame), so 1e-6 px is generous, and 1e-3 px^2 of
    posterior variance gives a likelihood of 1 - exp(-25 / 1e-3) = 1. Frames where no member
    has a point, and body parts an individual lacks, come back NaN."""
    member = _with_likelihood(_trajectory(60, num_individuals=2))
    member[20:23, 0, 1] = np.nan  # no member sees it: NaN out
    member[:, 1, 0] = np.nan  # individual 1 lacks body part 0 (multi-animal padding)
    smoothed = ensemble.smooth_ensemble([member] * 3)
    seen = np.isfinite(member[..., 0])
    np.testing.assert_allclose(smoothed.poses[..., :2][seen], member[..., :2][seen], atol=1e-6)
    assert np.isnan(smoothed.poses[~seen]).all() and np.isnan(smoothed.posterior_var[~seen]).all()
    assert (smoothed.posterior_var[seen] < 1e-3).all()
    np.testing.assert_allclose(smoothed.poses[..., 2][seen], 1.0)
    np.testing.assert_allclose(smoothed.ensemble_var[seen], 0.0, atol=1e-12)
    assert np.isfinite(smoothed.smooth_params[[0, 0, 1], [0, 1, 1]]).all()


@needs_eks
def test_a_noisy_ensemble_smooths_closer_to_the_truth_than_its_mean():
    """5 members, each the truth plus 3 px of independent noise: their mean is off by about
    3 / sqrt(5) = 1.3 px; eks, using 200 frames of a smooth path, by clearly less."""
    rng = np.random.default_rng(0)
    truth = _trajectory(200)
    members = [_with_likelihood(truth + rng.normal(0, 3, truth.shape)) for _ in range(5)]
    smoothed = ensemble.smooth_ensemble(members)
    rmse_mean = np.sqrt(np.mean((np.mean(members, axis=0)[..., :2] - truth) ** 2))
    rmse_eks = np.sqrt(np.mean((smoothed.poses[..., :2] - truth) ** 2))
    print(f"RMSE of the members' mean {rmse_mean:.2f} px, of eks {rmse_eks:.2f} px")
    assert rmse_eks < 0.8 * rmse_mean
    assert ((smoothed.poses[..., 2] >= 0) & (smoothed.poses[..., 2] <= 1)).all()
    assert (smoothed.posterior_var < smoothed.ensemble_var.mean()).all()


def test_likelihood_from_variance():
    """1 - exp(-r^2 / (var_x + var_y)): 0.6 at a posterior SD of r / sqrt(2 ln 2.5)."""
    sd = 5.0 / np.sqrt(2 * np.log(2.5))
    got = ensemble.likelihood_from_variance(np.array([[0.0, 0.0], [sd**2, sd**2],
                                                      [np.inf, 1.0], [np.nan, 1.0]]), 5.0)
    np.testing.assert_allclose(got[:3], [1.0, 0.6, 0.0])
    assert np.isnan(got[3])


def test_disagreement_is_zero_for_identical_members_and_grows_with_spread():
    member = _with_likelihood(_trajectory(30))
    assert (ensemble.ensemble_disagreement([member] * 4) == 0).all()
    offsets = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])  # RMS 1.58 px
    spread = np.ones(30)
    spread[[5, 6, 20]] = [4.0, 3.0, 2.0]  # frames 5, 6, 20 disagree most

    def members(scale: float) -> list[np.ndarray]:
        return [member + np.append(o, 0) * scale * spread[:, None, None, None] for o in offsets]

    expected = np.sqrt(np.mean((offsets**2).sum(1))) * spread
    np.testing.assert_allclose(ensemble.ensemble_disagreement(members(1.0)), expected)
    np.testing.assert_allclose(ensemble.ensemble_disagreement(members(3.0)), 3 * expected)
    table = ensemble.rank_by_disagreement(members(1.0), num_frames=2, min_gap=2, exclude=[20])
    assert table.frame[table.suggested].tolist() == [5, 0]  # 6 is too close to 5; 20 excluded
    assert 20 not in table.frame.tolist()
    assert table.disagreement_px.iloc[0] == pytest.approx(expected[5])


def _smoothed(num_frames: int, num_individuals: int, num_parts: int) -> SmoothedPoses:
    rng = np.random.default_rng(1)
    shape = (num_frames, num_individuals, num_parts, 2)
    posterior_var = rng.uniform(0.5, 20, shape)
    poses = np.concatenate([_trajectory(num_frames, num_individuals, num_parts),
                            ensemble.likelihood_from_variance(posterior_var, 5.0)[..., None]], -1)
    poses[3, 0, 0] = np.nan
    return SmoothedPoses(poses, poses[..., :2] + 0.5, rng.uniform(1, 9, shape), posterior_var,
                         np.full(shape[1:3], np.nan))


@pytest.mark.parametrize("individuals", [None, ["mouse1", "mouse2"]])
def test_the_smoothed_analysis_reads_as_an_analysis(tmp_path, individuals):
    """kit's reader sees x, y, likelihood; every coord survives .h5 and .csv; kit's filter
    and outlier scores run on it (the filtered file has DeepLabCut's three coords only)."""
    smoothed = _smoothed(12, len(individuals or [None]), 2)
    table = ensemble.smoothed_table(smoothed, range(12), "DLC_x_eks", ["nose", "tail"],
                                    individuals)
    assert list(table.columns.get_level_values(-1)[:9]) == list(ensemble.EKS_COORDS)
    path = ensemble.save_smoothed_analysis(tmp_path / "videoDLC_x_eks.h5", table)
    for read in (path, path.with_suffix(".csv")):
        poses, bodyparts, found = load_poses(read)
        np.testing.assert_array_equal(poses, smoothed.poses)
        assert bodyparts == ["nose", "tail"] and found == individuals
    back = ensemble.load_smoothed_analysis(path)
    np.testing.assert_array_equal(back.extra_coords(), smoothed.extra_coords())
    pd.testing.assert_frame_equal(read_table_csv(path.with_suffix(".csv")), table,
                                  check_index_type=False)
    filtered = filter_analysis(path, FilterConfig(method="median", pcutoff=0.1))
    assert set(pd.read_hdf(filtered).columns.get_level_values(-1)) == {"x", "y", "likelihood"}
    assert len(outlier_scores(load_poses(path)[0], OutlierConfig())) == 12


def test_the_smoothed_h5_opens_in_the_other_pandas(other_pandas_python, tmp_path):  # noqa: F811
    """DeepLabCut's environment (pandas 2) reads the smoothed analysis, extra coords included,
    exactly as kit wrote it."""
    paths = []
    for individuals in (None, ["mouse1", "mouse2"]):
        smoothed = _smoothed(8, len(individuals or [None]), 3)
        table = ensemble.smoothed_table(smoothed, range(8), "DLC_x", ["a", "b", "c"],
                                        individuals)
        paths.append(ensemble.save_smoothed_analysis(
            tmp_path / f"v{len(paths)}DLC_x_eks.h5", table, save_csv=False))
    report = _read_elsewhere(other_pandas_python, paths)
    assert report["pandas"].split(".")[0] != pd.__version__.split(".")[0]
    for path in paths:
        _assert_same_frame(path, report["tables"][str(path)])


@needs_eks
def test_an_ensemble_of_analysis_files_smooths_and_ranks_frames_to_label(tmp_path):
    """05_analyze_videos and 06_refine on an ensemble: three members' analysis files of a
    synthetic video (truth plus noise, one member far off on frames 10-12) are smoothed into
    ``<name>_eks.h5``; the frames the members disagree on are extracted with the smoothed
    positions as machine labels."""
    project = make_synthetic_project(tmp_path / "p", SyntheticConfig(
        num_frames=40, num_labeled=4, image_size=(64, 64)))
    truth = load_ground_truth(project, "animal0", include_occluded=True)[:, None]
    rng = np.random.default_rng(2)
    member_h5s = []
    for m in range(3):
        xy = truth + rng.normal(0, 1.0, truth.shape)
        if m == 2:
            xy[10:13] += 15.0
        table = predictions_frame(_with_likelihood(xy), range(40), "DLC_resnet50_tShuffle1_5",
                                  project.bodyparts)
        member_h5s.append(tmp_path / f"m{m}" / "animal0DLC_resnet50_tShuffle1_5.h5")
        save_analysis(member_h5s[-1], table)
    path = ensemble.smooth_analyses(member_h5s, EnsembleConfig(smooth_param=1.0))
    assert path == tmp_path / "m0" / "animal0DLC_resnet50_tShuffle1_5_eks.h5"
    assert path.with_suffix(".csv").is_file()
    poses, bodyparts, individuals = load_poses(path)
    assert bodyparts == project.bodyparts and individuals is None and poses.shape[0] == 40
    before = set(extracted_frame_indices(project, "animal0"))
    table = extract_disagreements(project, project.videos_dir / "animal0.mp4", member_h5s,
                                  num_frames=3)
    chosen = sorted(table.frame[table.suggested])
    assert chosen == [10, 11, 12] and table.image[table.suggested].notna().all()
    assert set(extracted_frame_indices(project, "animal0")) == before | {10, 11, 12}


@needs_eks
def test_deeplabcut_finds_reads_and_plots_the_smoothed_analysis(dlc_python, tmp_path):
    """In DeepLabCut's own environment (pandas 2): in the ensemble folder as 05 leaves it
    (members in folders of their own, the smoothed file beside them), DeepLabCut's analysis
    finder (what its plot_trajectories and create_labeled_video use with that destfolder)
    takes the smoothed file as the video's analysis, reads it as pandas does, eks's extra
    columns included, and its trajectory plots draw it; the same for the filtered file."""
    project = make_synthetic_project(tmp_path / "p", SyntheticConfig(
        num_frames=30, num_labeled=4, image_size=(64, 64)))
    truth = load_ground_truth(project, "animal0", include_occluded=True)[:, None]
    rng = np.random.default_rng(3)
    scorer, folder = "DLC_resnet50_tShuffle1_5", tmp_path / "ensemble"
    members = []
    for m in range(3):
        members.append(folder / f"member{m}" / f"animal0{scorer}.h5")
        save_analysis(members[-1], predictions_frame(
            _with_likelihood(truth + rng.normal(0, 1.0, truth.shape)), range(30), scorer,
            project.bodyparts))
    smoothed = ensemble.smooth_analyses(members, EnsembleConfig(smooth_param=1.0),
                                        path=folder / f"animal0{scorer}_eks.h5")
    filtered = filter_analysis(smoothed, FilterConfig(method="median", pcutoff=0.1))
    report = run_dlc_check(dlc_python, project.root, smoothed, filtered)
    read = report["analyses"]
    assert read[smoothed.name]["found"] == smoothed.name
    assert read[filtered.name]["found"] == filtered.name
    assert read[smoothed.name]["columns"] == len(pd.read_hdf(smoothed).columns)  # eks's too
    assert all(a["equal_to_read_hdf"] and a["rows"] == 30 and a["plots"] > 0
               for a in read.values())
