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
    points_2d, bodyparts, individuals = load_views(calibration, [[rig_folder.analysis(n)]
                                                                 for n in calibration.names])
    truth, truth_parts, truth_individuals = read_poses_3d(rig_folder.ground_truth)
    assert truth_parts == bodyparts and individuals is truth_individuals is None
    assert points_2d.shape == (3, 40, 1, 7, 3) and truth.shape == (40, 1, 7, 5)
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
    points_2d[0, ..., 2] = 0.1  # camera 0 unsure everywhere
    points_2d[0, ..., :2] += 50  # and wrong
    points_2d[1, 0, 0, 0] = np.nan  # camera 1 lost one point: under two views there
    points = triangulate(calibration, points_2d, TriangulateConfig(pcutoff=0.5))
    assert (points[..., 4][1:] == 2).all() and points[0, 0, 0, 4] == 0
    assert np.isnan(points[0, 0, 0, :4]).all()
    assert np.abs(points[1:, ..., :3] - truth[1:, ..., :3]).max() < 1e-6


def test_consensus_rejects_a_corrupted_camera(rig):
    calibration, points_2d, _, truth = rig
    rng = np.random.default_rng(0)
    noisy = points_2d.copy()
    noisy[..., :2] += rng.normal(0, 0.5, noisy[..., :2].shape)
    noisy[1, ..., :2] += rng.uniform(-40, 40, noisy[1, ..., :2].shape)
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
        again, parts, individuals, scorer = read_table(path, COORDS_3D)
        assert parts == bodyparts and individuals is None and scorer == "kit-3d"
        assert np.allclose(again, points, rtol=1e-12, atol=0)


def test_shared_fly_data_triangulates_with_its_anipose_calibration():
    folder = shared_dataset("eks-fly-3cam")
    calibration = read_calibration(folder / "calibration.toml")
    files = [sorted(folder.glob(f"*_{name}_*.rng=*.csv")) for name in calibration.names]
    assert [len(f) for f in files] == [3, 3, 3]
    points_2d, bodyparts, individuals = load_views(calibration, files)  # three networks' median
    assert points_2d.shape == (3, 500, 1, 12, 3) and bodyparts[0] == "L1A"  # 12 in the files
    assert individuals is None
    points = triangulate(calibration, points_2d, TriangulateConfig(pcutoff=0.9))
    good = points[..., 4] >= 2
    assert good.mean() > 0.9
    assert np.median(points[..., 3][good]) < 2.5  # pixels (1.6 measured); calibration error 2.1


def _errors_per_animal(points, truth):
    """(num_individuals,) largest 3D distance (mm) to the truth over frames and body parts."""
    return np.linalg.norm(points[..., :3] - truth[..., :3], axis=-1).max(axis=(0, 2))


def test_two_animals_are_triangulated_apart(rig_folder_two_animals):
    folder = rig_folder_two_animals
    calibration = read_calibration(folder.calibration)
    points_2d, bodyparts, individuals = load_views(calibration, [[folder.analysis(n)]
                                                                 for n in calibration.names])
    truth, _, truth_individuals = read_poses_3d(folder.ground_truth)
    assert individuals == truth_individuals == ["individual1", "individual2"]
    assert points_2d.shape == (3, 40, 2, 7, 3) and truth.shape == (40, 2, 7, 5)
    apart = np.linalg.norm(truth[:, 0, :, None, :3] - truth[:, 1, None, :, :3], axis=-1)
    assert apart.min() > 50  # mm: the animals never touch
    for consensus in (False, True):
        points = triangulate(calibration, points_2d, TriangulateConfig(consensus=consensus))
        assert (_errors_per_animal(points, truth) < 1e-6).all()  # mm, as one animal
    lengths = limb_lengths(truth, bodyparts, SKELETON)
    assert lengths.shape == (2, len(SKELETON))
    assert np.allclose(limb_lengths(constrain_lengths(points, bodyparts, SKELETON), bodyparts,
                                    SKELETON), lengths)
    smooth = smooth_3d(points, FilterConfig("median", window=3))
    assert smooth.shape == points.shape and np.isfinite(smooth).all()


def _relabeled(path, out, order, feeder=None):
    """``path``'s multi-animal table with its individuals in ``order`` (names), plus a
    unique body part ``feeder`` (x, y) under ``single`` if given, written to ``out``."""
    from kit.project.dlc_tables import make_table, read_table, table_points, write_table

    points, bodyparts, individuals = table_points(read_table(path), ["x", "y", "likelihood"])
    points = points[:, [individuals.index(i) for i in order]]
    if feeder is not None:
        points = np.concatenate([points, np.full((*points.shape[:2], 1, 3), np.nan)], axis=2)
        single = np.full((len(points), 1, points.shape[2], 3), np.nan)
        single[:, 0, -1] = [*feeder, 1.0]
        points, bodyparts, order = (np.concatenate([points, single], axis=1),
                                    [*bodyparts, "feeder"], [*order, "single"])
    df = make_table(points, range(len(points)), "other", bodyparts, order,
                    ["x", "y", "likelihood"])
    df = df.loc[:, ~df.isna().all()]  # as DeepLabCut: no columns for absent (individual, part)
    return write_table(df, out)


def test_individuals_are_matched_by_name_and_single_is_one_more(rig_folder_two_animals,
                                                                 tmp_path):
    folder = rig_folder_two_animals
    calibration = read_calibration(folder.calibration)
    feeder = np.array([[10.0, -20.0, 5.0]])  # mm, a fixed unique body part
    paths = []
    for c, (camera, name) in enumerate(zip(calibration.cameras, calibration.names)):
        order = ["individual2", "individual1"] if c == 1 else ["individual1", "individual2"]
        paths.append([_relabeled(folder.analysis(name), tmp_path / f"{name}.csv", order,
                                 camera.project(feeder)[0])])
    points_2d, bodyparts, individuals = load_views(calibration, paths)
    assert individuals == ["individual1", "individual2", "single"] and bodyparts[-1] == "feeder"
    points = triangulate(calibration, points_2d, TriangulateConfig())
    truth, _, _ = read_poses_3d(folder.ground_truth)
    assert (_errors_per_animal(points[:, :2, :-1], truth) < 1e-6).all()
    assert np.abs(points[:, 2, -1, :3] - feeder).max() < 1e-6
    assert np.isnan(points[:, 2, :-1, :3]).all() and np.isnan(points[:, :2, -1, :3]).all()
    paths[2] = [_relabeled(folder.analysis("cam2"), tmp_path / "x.h5", ["individual1"],
                           [0.0, 0.0])]
    with pytest.raises(ValueError,
                       match=r"x.h5 has individuals \['individual1', 'single'\].*by name"):
        load_views(calibration, paths)


def test_single_and_multi_animal_analyses_are_not_mixed(rig_folder, rig_folder_two_animals):
    calibration = read_calibration(rig_folder.calibration)
    paths = [[rig_folder.analysis("cam0")], [rig_folder_two_animals.analysis("cam1")],
             [rig_folder_two_animals.analysis("cam2")]]
    with pytest.raises(ValueError, match=r"cam1.*animal_2d.h5 is multi-animal.*of one kind"):
        load_views(calibration, paths)
