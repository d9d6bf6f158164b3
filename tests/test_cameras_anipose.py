"""Anipose's own library reads our calibration.toml and triangulates like we do.

aniposelib 0.8.0 (and its dependencies: OpenCV contrib, numba, jax) lives in a venv of its
own, built once from the package index and cached in ``~/.cache/kit/venv-aniposelib``
(about a minute); the tests skip, saying why, when it cannot be built.
"""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_dataset

from kit.cameras.calibration_file import read_calibration, save_calibration
from kit.cameras.triangulate import TriangulateConfig, load_views, reprojection_errors, triangulate
from kit.project.venvs import own_venv

VENV = Path.home() / ".cache" / "kit" / "venv-aniposelib"
ANIPOSE = """
import json, sys
import numpy as np
from aniposelib.cameras import CameraGroup
calibration, points, out = sys.argv[1:]
group = CameraGroup.load(calibration)
np.save(out, group.triangulate(np.load(points), undistort=True, progress=False))
print(json.dumps(group.get_names()))
"""


@pytest.fixture(scope="module")
def anipose_python() -> Path:
    try:
        python = own_venv(VENV, ["aniposelib==0.8.0"])
    except (subprocess.SubprocessError, OSError) as e:
        pytest.skip(f"cannot build a venv with aniposelib==0.8.0 at {VENV}: {e} "
                    f"{str(getattr(e, 'stderr', '') or '')[-300:]}")
    check = subprocess.run([str(python), "-c", "import aniposelib"], capture_output=True)
    if check.returncode:
        pytest.skip(f"aniposelib does not import in {VENV}: {check.stderr.decode()[-300:]}")
    return python


def _anipose_triangulate(python, calibration_path, points_2d, tmp_path):
    """aniposelib's 3D of points (C, M, 2) with the calibration file; and its camera names."""
    np.save(tmp_path / "points.npy", points_2d)
    done = subprocess.run([str(python), "-c", ANIPOSE, str(calibration_path),
                           str(tmp_path / "points.npy"), str(tmp_path / "out.npy")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return np.load(tmp_path / "out.npy"), json.loads(done.stdout.strip().splitlines()[-1])


def _scene_scale(points: np.ndarray) -> float:
    """The scene's scale: the largest spread (max - min) of the points (M, 3) along an axis."""
    return float(np.nanmax(np.nanmax(points, axis=0) - np.nanmin(points, axis=0)))


def test_anipose_reads_our_calibration_and_agrees(anipose_python, rig_folder, tmp_path):
    truth = read_calibration(rig_folder.calibration)
    ours_path = save_calibration(tmp_path / "calibration.toml", truth)  # through our writer
    points_2d, _, _ = load_views(truth, [[rig_folder.analysis(n)] for n in truth.names])
    calibration = read_calibration(ours_path)
    ours = triangulate(calibration, points_2d, TriangulateConfig())
    xy = points_2d[..., :2].reshape(len(truth.cameras), -1, 2)
    theirs, names = _anipose_triangulate(anipose_python, ours_path, xy, tmp_path)
    assert names == truth.names
    difference = np.abs(theirs - ours[..., :3].reshape(-1, 3)).max()
    assert difference < 0.01, difference  # mm (cameras 600 mm away; OpenCV's 5-step undistort)
    same = triangulate(calibration, points_2d, TriangulateConfig(method="anipose"))
    same = same[..., :3].reshape(-1, 3)
    assert np.isfinite(same).all()
    assert np.abs(theirs - same).max() < 1e-6 * _scene_scale(theirs)  # the scene: ~100 mm


@pytest.mark.slow  # 15 s: Anipose's triangulation of the real fly data
def test_anipose_and_kit_agree_on_the_shared_fly(anipose_python, tmp_path):
    folder = shared_dataset("eks-fly-3cam")
    calibration = read_calibration(folder / "calibration.toml")
    files = [sorted(folder.glob(f"*_{name}_*.rng=0.csv")) for name in calibration.names]
    points_2d, _, _ = load_views(calibration, files)  # (3 cameras, 500 frames, 1, 12 points, 3)
    pcutoff = 0.995  # leaves out ~5% of the views (likelihoods here are 0.80-1.00)
    low = points_2d[..., 2] < pcutoff
    assert 0.01 < low.mean() < 0.2
    points_2d = points_2d.copy()
    points_2d[low, :2] = np.nan  # as Anipose's pipeline does with its score threshold
    ours = triangulate(calibration, points_2d, TriangulateConfig(pcutoff, method="anipose"))
    xy = points_2d[..., :2].reshape(len(calibration.cameras), -1, 2)
    theirs, _ = _anipose_triangulate(anipose_python, folder / "calibration.toml", xy, tmp_path)
    points, error = ours[..., :3].reshape(-1, 3), ours[..., 3].ravel()
    missing = (ours[..., 4] < 2).ravel()
    assert 0 < missing.mean() < 0.05
    assert (np.isnan(theirs).any(axis=1) == missing).all()  # both need two views
    scale = _scene_scale(points)  # 0.23 units (the legs' spread; cameras 54-272 units away)
    difference = np.linalg.norm(theirs - points, axis=1)[~missing]
    assert difference.max() < 1e-6 * scale, difference.max()  # measured ~1e-14
    their_error = np.nanmean(reprojection_errors(calibration.cameras, theirs[~missing],
                                                 xy[:, ~missing]), axis=0)
    assert error[~missing] == pytest.approx(their_error, abs=1e-6)  # pixels
    print(f"kit vs aniposelib: max {difference.max():.1e}, median {np.median(difference):.1e} "
          f"(scene {scale:.3f}); reprojection error median {np.median(error[~missing]):.2f} px, "
          f"mean {error[~missing].mean():.2f} px, max {error[~missing].max():.2f} px")
    assert 0.5 < np.median(error[~missing]) < 3  # pixels (Anipose's calibration: 2.1 px)
    weighted = triangulate(calibration, points_2d, TriangulateConfig(pcutoff))[..., :3]
    assert np.nanmax(np.abs(weighted.reshape(-1, 3) - theirs)) > 1e3 * difference.max()
