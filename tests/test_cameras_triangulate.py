"""Triangulation: exact 3D from exact 2D, consensus against a corrupted camera, smoothing,
limb lengths, the 3D table, and the shared three-camera fly data."""

import numpy as np
import pytest
from conftest import shared_dataset

from kit.cameras.calibration_file import read_calibration
from kit.cameras.pose_tables import COORDS_3D, read_poses_3d, read_table, save_poses_3d
from kit.cameras.synthetic import SKELETON
from kit.cameras.triangulate import (
    TriangulateConfig,
    constrain_lengths,
    limb_lengths,
    load_views,
    smooth_3d,
    triangulate,
)
from kit.results.filters import FilterConfig


@pytest.fixture(scope="module")
def rig(rig_folder):
    calibration = read_calibration(rig_folder.calibration)
    points_2d, bodyparts = load_views(calibration, [[rig_folder.analysis(n)]
                                                    for n in calibration.names])
    truth, truth_parts = read_poses_3d(rig_folder.ground_truth)
    assert truth_parts == bodyparts
    return calibration, points_2d, bodyparts, truth


def test_exact_points_give_the_true_3d(rig):
    calibration, points_2d, _, truth = rig
    for consensus, method in [(False, "weighted"), (True, "weighted"), (False, "anipose"),
                              (True, "anipose")]:
        points = triangulate(calibration, points_2d, TriangulateConfig(consensus=consensus,
                                                                       method=method))
        # "anipose" undistorts as OpenCV does (5 iterations): ~1e-5 mm off the exact points
        assert np.abs(points[..., :3] - truth[..., :3]).max() < (1e-6 if method == "weighted"
                                                                 else 1e-3)  # mm
        assert points[..., 3].max() < 1e-3 and (points[..., 4] == 3).all()


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match=r"one of \['anipose', 'weighted'\].*'dlt'"):
        TriangulateConfig(method="dlt")


def test_low_likelihood_views_are_skipped(rig):
    calibration, points_2d, _, truth = rig
    points_2d = points_2d.copy()
    points_2d[0, :, :, 2] = 0.1  # camera 0 unsure everywhere
    points_2d[0, :, :, :2] += 50  # and wrong
    points_2d[1, 0, 0] = np.nan  # camera 1 lost one point: under two views there
    points = triangulate(calibration, points_2d, TriangulateConfig(pcutoff=0.5))
    assert (points[..., 4][1:] == 2).all() and points[0, 0, 4] == 0
    assert np.isnan(points[0, 0, :4]).all()
    assert np.abs(points[1:, :, :3] - truth[1:, :, :3]).max() < 1e-6


def test_consensus_rejects_a_corrupted_camera(rig):
    calibration, points_2d, _, truth = rig
    rng = np.random.default_rng(0)
    noisy = points_2d.copy()
    noisy[..., :2] += rng.normal(0, 0.5, noisy[..., :2].shape)
    noisy[1, :, :, :2] += rng.uniform(-40, 40, noisy[1, :, :, :2].shape)
    plain = triangulate(calibration, noisy, TriangulateConfig())
    robust = triangulate(calibration, noisy, TriangulateConfig(consensus=True, threshold_px=5))
    error_plain = np.linalg.norm(plain[..., :3] - truth[..., :3], axis=-1).mean()
    error_robust = np.linalg.norm(robust[..., :3] - truth[..., :3], axis=-1).mean()
    assert error_robust < 3 and error_plain > 10 * error_robust  # mm
    assert (robust[..., 4] == 2).mean() > 0.9 and np.nanmean(robust[..., 3]) < 1.5


def test_smoothing_and_limb_lengths_reduce_noise(rig):
    calibration, points_2d, bodyparts, truth = rig
    noisy = points_2d.copy()
    noisy[..., :2] += np.random.default_rng(1).normal(0, 1.0, noisy[..., :2].shape)
    points = triangulate(calibration, noisy, TriangulateConfig())
    before = np.linalg.norm(points[..., :3] - truth[..., :3], axis=-1).mean()
    lengths = limb_lengths(truth, bodyparts, SKELETON)
    constrained = constrain_lengths(points, bodyparts, SKELETON, lengths)
    assert np.abs(limb_lengths(constrained, bodyparts, SKELETON) - lengths).max() < 1e-3
    assert np.linalg.norm(constrained[..., :3] - truth[..., :3], axis=-1).mean() < before
    smooth = smooth_3d(points, FilterConfig("savgol", window=7, order=2))
    assert np.linalg.norm(smooth[..., :3] - truth[..., :3], axis=-1).mean() < before
    assert np.array_equal(smooth[..., 3:], points[..., 3:])


def test_3d_table_round_trips_in_both_formats(rig, tmp_path):
    calibration, points_2d, bodyparts, _ = rig
    points = triangulate(calibration, points_2d, TriangulateConfig())
    for suffix in (".h5", ".csv"):
        path = save_poses_3d(tmp_path / f"poses_3d{suffix}", points, bodyparts)
        again, parts, scorer = read_table(path, COORDS_3D)
        assert parts == bodyparts and scorer == "kit-3d"
        assert np.allclose(again, points, rtol=1e-12, atol=0)


def test_shared_fly_data_triangulates_with_its_anipose_calibration():
    folder = shared_dataset("eks-fly-3cam")
    calibration = read_calibration(folder / "calibration.toml")
    files = [sorted(folder.glob(f"*_{name}_*.rng=*.csv")) for name in calibration.names]
    assert [len(f) for f in files] == [3, 3, 3]
    points_2d, bodyparts = load_views(calibration, files)  # median of the three networks
    assert points_2d.shape == (3, 500, 12, 3) and bodyparts[0] == "L1A"  # 12 in the files
    points = triangulate(calibration, points_2d, TriangulateConfig(pcutoff=0.9))
    good = points[..., 4] >= 2
    assert good.mean() > 0.9
    assert np.median(points[..., 3][good]) < 2.5  # pixels (1.6 measured); calibration error 2.1
