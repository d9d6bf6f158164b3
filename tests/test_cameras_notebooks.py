"""The 3D notebooks run headless (kit's runner) on a tiny synthetic rig, and on the shared data."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, shared_dataset

from kit.cameras.calibration_file import read_calibration
from kit.cameras.pose_tables import read_poses_3d
from kit.experiments.runner import run_notebook

NOTEBOOKS = REPO / "notebooks"


def _run(name, parameters, tmp_path):
    return run_notebook(NOTEBOOKS / name, parameters, runs_dir=tmp_path / "runs",
                        log_to_console=False)


def test_notebooks_are_clean():
    for name in ("13_calibrate_cameras.ipynb", "14_triangulate.ipynb"):
        cells = json.loads((NOTEBOOKS / name).read_text())["cells"]
        assert "parameters" in cells[1]["metadata"]["tags"]
        assert not any(c.get("outputs") for c in cells if c["cell_type"] == "code")


def test_calibrate_then_triangulate_a_synthetic_rig(rig_folder, tmp_path):
    _run("13_calibrate_cameras.ipynb", {
        "workdir": str(tmp_path / "cal"), "views": str(rig_folder.root),
        "pattern": rig_folder.board_pattern, "cameras": "cam0,cam1,cam2", "square_size": 20.0,
        "every": 2}, tmp_path)
    calibration = read_calibration(tmp_path / "cal" / "calibration.toml")
    truth = read_calibration(rig_folder.calibration)
    assert calibration.error < 0.5
    assert np.allclose([c.matrix[0, 0] for c in calibration.cameras],
                       [c.matrix[0, 0] for c in truth.cameras], rtol=0.02)
    assert (tmp_path / "cal" / "calibration_errors.png").is_file()
    _run("14_triangulate.ipynb", {
        "workdir": str(tmp_path / "tri"), "calibration": str(rig_folder.calibration),
        "analyses": rig_folder.analysis_pattern, "videos": str(rig_folder.video("{camera}")),
        "pcutoff": 0.5, "skeleton": "snout-leftear,neck-spine",
        "video_frames": 5}, tmp_path)
    points, bodyparts, individuals = read_poses_3d(tmp_path / "tri" / "poses_3d.h5")
    truth_3d, _, _ = read_poses_3d(rig_folder.ground_truth)
    assert points.shape == truth_3d.shape and bodyparts[0] == "snout" and individuals is None
    assert list(pd.read_hdf(tmp_path / "tri" / "poses_3d.h5").columns.names) == [
        "scorer", "bodyparts", "coords"]  # one animal: DeepLabCut's single-animal layout
    assert np.abs(points[..., :3] - truth_3d[..., :3]).max() < 1e-6  # mm: exact 2D, rigid limbs
    for name in ("poses_3d.csv", "reprojection_errors.png", "trajectories_3d.png", "poses_3d.mp4"):
        assert (tmp_path / "tri" / name).is_file(), name


def test_triangulate_two_animals(rig_folder_two_animals, tmp_path):
    """Multi-animal analyses in, a 3D table per individual out, each animal exact."""
    folder = rig_folder_two_animals
    _run("14_triangulate.ipynb", {
        "workdir": str(tmp_path / "tri"), "calibration": str(folder.calibration),
        "analyses": folder.analysis_pattern, "pcutoff": 0.5, "consensus": False,
        "skeleton": "snout-leftear,neck-spine", "video_frames": 3}, tmp_path)
    for name in ("poses_3d.h5", "poses_3d.csv"):
        points, bodyparts, individuals = read_poses_3d(tmp_path / "tri" / name)
        assert individuals == ["individual1", "individual2"] and bodyparts[0] == "snout"
        assert list(pd.read_hdf(tmp_path / "tri" / "poses_3d.h5").columns.names) == [
            "scorer", "individuals", "bodyparts", "coords"]
        assert list(pd.read_hdf(tmp_path / "tri" / "poses_3d.h5").columns.levels[3]) == sorted(
            ["x", "y", "z", "error", "views"])
        truth, _, _ = read_poses_3d(folder.ground_truth)
        error = np.linalg.norm(points[..., :3] - truth[..., :3], axis=-1)  # (N, I, K) mm
        assert points.shape == truth.shape == (40, 2, 7, 5)
        assert (error.max(axis=(0, 2)) < 1e-6).all()  # each animal: as the one-animal test
    for name in ("reprojection_errors.png", "trajectories_3d.png", "poses_3d.mp4"):
        assert (tmp_path / "tri" / name).is_file(), name


@pytest.mark.slow  # 40 s: both notebooks on the shared chessboard and fly data
def test_defaults_on_the_shared_data(tmp_path):
    shared_dataset("stereo-checkerboard")
    shared_dataset("eks-fly-3cam")
    _run("13_calibrate_cameras.ipynb", {"workdir": str(tmp_path / "cal")}, tmp_path)
    assert read_calibration(tmp_path / "cal" / "calibration.toml").error < 0.3
    _run("14_triangulate.ipynb", {"workdir": str(tmp_path / "tri"), "video_frames": 3}, tmp_path)
    points, bodyparts, _ = read_poses_3d(tmp_path / "tri" / "poses_3d.h5")
    assert points.shape == (500, 1, 12, 5) and (points[..., 4] >= 2).mean() > 0.9
