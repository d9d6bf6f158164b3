"""Calibration recovers a synthetic rig's true cameras; the shared stereo pair matches MATLAB."""

import zipfile

import cv2
import numpy as np
import pytest
from conftest import shared_dataset

from kit.cameras.board import Board, detect_views
from kit.cameras.calibrate import CalibrationConfig, calibrate_cameras, error_summary, rodrigues
from kit.cameras.calibration_file import read_calibration
from kit.cameras.synthetic import make_rig_project


@pytest.fixture(scope="module")
def rig_corners(rig_folder):
    truth = read_calibration(rig_folder.calibration)
    views, corners, size = detect_views(rig_folder.board_pattern, truth.names, Board(9, 6, 20.0))
    return truth, views, corners, size


@pytest.fixture(scope="module")
def sharp_rig_corners(tmp_path_factory):
    """A rig like ``rig_folder``'s (same seed), its board views rendered at 640 x 480: ~12 s."""
    folder = make_rig_project(tmp_path_factory.mktemp("sharp") / "rig", num_cameras=3,
                              num_views=25, num_frames=2, image_size=(640, 480), seed=0)
    truth = read_calibration(folder.calibration)
    views, corners, size = detect_views(folder.board_pattern, truth.names, Board(9, 6, 20.0))
    return truth, views, corners, size


def _pose_errors(ours, true, r0, t0):
    """Camera centre error (mm) and rotation error (degrees) of ``ours`` against ``true``
    moved into our world (camera 0's frame: x -> r0 x + t0; scale is the board's)."""
    centre = np.linalg.norm(ours.center - (r0 @ true.center + t0))
    cosine = (np.trace(ours.rotation_matrix.T @ true.rotation_matrix @ r0.T) - 1) / 2
    return centre, np.degrees(np.arccos(np.clip(cosine, -1, 1)))


def test_recovers_the_true_rig(sharp_rig_corners):
    truth, views, corners, size = sharp_rig_corners
    result = calibrate_cameras(corners, truth.names, views, size,
                               CalibrationConfig(Board(9, 6, 20.0)))
    calibration = result.calibration
    assert calibration.adjusted and calibration.error < 0.1  # pixels (measured 0.055)
    assert (error_summary(result.errors).max_error < 0.5).all()
    r0, t0 = truth.cameras[0].rotation_matrix, truth.cameras[0].translation
    scene = np.linalg.norm(truth.cameras[0].center)  # cameras to the board: 600 mm
    for ours, true in zip(calibration.cameras, truth.cameras):
        assert ours.matrix[[0, 1], [0, 1]] == pytest.approx(true.matrix[[0, 1], [0, 1]], rel=0.002)
        assert np.abs(ours.matrix[:2, 2] - true.matrix[:2, 2]).max() < 2  # pixels
        centre, angle = _pose_errors(ours, true, r0, t0)
        # measured: 0.48 mm (0.079%) and 0.058 degrees at worst (cam1)
        assert centre < 1e-3 * scene and angle < 0.1, (ours.name, centre, angle)


def test_recovers_the_rig_roughly_at_320x240(rig_corners):
    truth, views, corners, size = rig_corners
    result = calibrate_cameras(corners, truth.names, views, size,
                               CalibrationConfig(Board(9, 6, 20.0)))
    r0, t0 = truth.cameras[0].rotation_matrix, truth.cameras[0].translation
    for ours, true in zip(result.calibration.cameras, truth.cameras):
        assert ours.matrix[0, 0] == pytest.approx(true.matrix[0, 0], rel=0.01)
        centre, angle = _pose_errors(ours, true, r0, t0)
        assert centre < 5 and angle < 0.5  # mm (cameras 600 mm away), degrees


def test_views_without_the_board_are_rejected(rig_corners):
    truth, views, corners, size = rig_corners
    corners = corners.copy()
    usable = np.flatnonzero(np.isfinite(corners[1]).all(axis=(1, 2)))
    corners[1, usable[0]] = np.nan  # camera 1 missed the board in that view
    corners[2, usable[-1]] += np.random.default_rng(0).normal(0, 20, corners[2, 0].shape)  # junk
    result = calibrate_cameras(corners, truth.names, views, size,
                               CalibrationConfig(Board(9, 6, 20.0), bundle_adjust=False))
    errors = result.errors.set_index(["camera", "view"])
    assert not errors.loc[("cam1", views[usable[0]]), "detected"]
    assert not errors.loc[("cam1", views[usable[0]]), "used"]
    assert errors.loc[("cam2", views[usable[-1]]), "detected"]
    assert not errors.loc[("cam2", views[usable[-1]]), "used"]  # over max_view_error
    assert result.calibration.error < 0.5


def test_too_few_views_raise_naming_the_camera(rig_corners):
    truth, views, corners, size = rig_corners
    corners = corners.copy()
    corners[2, 2:] = np.nan
    with pytest.raises(ValueError, match="'cam2'.*usable views"):
        calibrate_cameras(corners, truth.names, views, size, CalibrationConfig(Board(9, 6, 20.0)))


def test_batched_rodrigues_matches_opencv():
    vectors = np.random.default_rng(0).normal(size=(5, 3))
    assert np.allclose(rodrigues(vectors), [cv2.Rodrigues(v)[0] for v in vectors], atol=1e-12)
    assert np.allclose(rodrigues(np.zeros((1, 3))), np.eye(3))


def test_stereo_example_matches_matlab(tmp_path):
    folder = shared_dataset("stereo-checkerboard")
    with zipfile.ZipFile(folder / "stereo_example.zip") as archive:
        archive.extractall(tmp_path)
    views, corners, size = detect_views(str(tmp_path / "{camera}*.jpg"), ["left", "right"],
                                        Board(9, 6, 1.0))
    result = calibrate_cameras(corners, ["left", "right"], views, size,
                               CalibrationConfig(Board(9, 6, 1.0)))
    assert size == (640, 480) and result.errors.used.all() and views[0] == "01"
    assert result.calibration.error < 0.3
    scipy_io = pytest.importorskip("scipy.io")
    for camera in result.calibration.cameras:
        matlab = scipy_io.loadmat(tmp_path / f"Calib_Results_{camera.name}.mat")
        assert camera.matrix[[0, 1], [0, 1]] == pytest.approx(matlab["fc"].ravel(), rel=0.01)
        assert camera.matrix[:2, 2] == pytest.approx(matlab["cc"].ravel(), abs=3)
    baseline = np.linalg.norm(result.calibration.cameras[1].center)
    assert 3.0 < baseline < 3.6  # squares: the classic OpenCV pair is ~3.3 squares apart
