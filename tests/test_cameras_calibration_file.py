"""calibration.toml: the camera model against OpenCV, round trips, Anipose's own file."""

import math
import tomllib

import cv2
import numpy as np
import pytest
from conftest import shared_dataset

from kit.cameras.calibration_file import (
    Calibration,
    Camera,
    calibration_text,
    read_calibration,
    save_calibration,
)


def _camera(name="a"):
    return Camera(name, (640, 480), [[500, 0, 320], [0, 510, 240], [0, 0, 1]],
                  [-0.2, 0.05, 0.001, -0.002, 0.01], [0.1, 0.2, 0.3], [10, 20, 500])


def test_projection_matches_opencv_and_undistort_inverts_it():
    camera = _camera()
    points = np.random.default_rng(0).normal(size=(200, 3)) * 100
    ours = camera.project(points)
    opencv = cv2.projectPoints(points, camera.rotation, camera.translation, camera.matrix,
                               camera.distortions)[0][:, 0]
    assert np.abs(ours - opencv).max() < 1e-9
    assert np.abs(camera.distort(camera.undistort(ours)) - ours).max() < 1e-9
    cam = points @ camera.rotation_matrix.T + camera.translation
    assert np.allclose(camera.undistort(ours), cam[:, :2] / cam[:, 2:], atol=1e-12)
    assert np.allclose(camera.rotation_matrix.T @ -camera.translation, camera.center)


def test_round_trip_is_exact(tmp_path):
    calibration = Calibration((_camera("left"), _camera("right")), error=0.25, adjusted=True)
    path = save_calibration(tmp_path / "calibration.toml", calibration)
    again = read_calibration(path)
    assert again.names == ["left", "right"] and again.error == 0.25 and again.adjusted
    for a, b in zip(again.cameras, calibration.cameras):
        for name in ("matrix", "distortions", "rotation", "translation"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert a.size == (640, 480)
    table = tomllib.loads(path.read_text())  # Anipose's layout: keys and lengths
    assert set(table) == {"cam_0", "cam_1", "metadata"}
    assert len(table["cam_0"]["distortions"]) == 5 and len(table["cam_0"]["matrix"]) == 3
    assert "nan" in calibration_text(Calibration((_camera(),), error=math.nan))


def test_reads_anipose_file_from_the_shared_fly_data():
    path = shared_dataset("eks-fly-3cam") / "calibration.toml"
    calibration = read_calibration(path)
    assert calibration.names == ["Cam-A", "Cam-B", "Cam-C"]
    assert calibration.adjusted and calibration.error == pytest.approx(2.105956142962366)
    assert calibration.camera("Cam-B").matrix[0, 0] == pytest.approx(37108.38819953355)


def test_bad_files_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="Calibrate the cameras"):
        read_calibration(tmp_path / "none.toml")
    (tmp_path / "x.toml").write_text("[metadata]\nerror = 1.0\n")
    with pytest.raises(ValueError, match="cam_0"):
        read_calibration(tmp_path / "x.toml")
    (tmp_path / "y.toml").write_text('[cam_0]\nname = "a"\nsize = [1, 2]\n')
    with pytest.raises(ValueError, match="lacks"):
        read_calibration(tmp_path / "y.toml")
    with pytest.raises(ValueError, match="shape"):
        Camera("a", (1, 1), np.eye(2))
