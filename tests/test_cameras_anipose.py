"""Anipose's own library reads our calibration.toml and triangulates like we do.

aniposelib 0.8.0 (and its dependencies: OpenCV contrib, numba, jax) lives in a venv of its
own, built once from the package index and cached in ``~/.cache/kit/venv-aniposelib``
(about a minute); the tests skip, saying why, when it cannot be built.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_dataset

from kit.cameras.calibration_file import read_calibration, save_calibration
from kit.cameras.triangulate import TriangulateConfig, load_views, reprojection_errors, triangulate

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
    python = VENV / "bin" / "python"
    if not python.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True,
                           capture_output=True, timeout=120)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "aniposelib==0.8.0"],
                           check=True, capture_output=True, timeout=900)
        except (subprocess.SubprocessError, OSError) as e:
            detail = getattr(e, "stderr", b"") or b""
            pytest.skip(f"cannot build a venv with aniposelib==0.8.0 at {VENV}: {e} "
                        f"{detail.decode(errors='replace')[-300:]}")
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


def test_anipose_reads_our_calibration_and_agrees(anipose_python, rig_folder, tmp_path):
    truth = read_calibration(rig_folder.calibration)
    ours_path = save_calibration(tmp_path / "calibration.toml", truth)  # through our writer
    points_2d, _ = load_views(truth, [[rig_folder.analysis(n)] for n in truth.names])
    ours = triangulate(read_calibration(ours_path), points_2d, TriangulateConfig())
    xy = points_2d[..., :2].reshape(len(truth.cameras), -1, 2)
    theirs, names = _anipose_triangulate(anipose_python, ours_path, xy, tmp_path)
    assert names == truth.names
    difference = np.abs(theirs - ours[..., :3].reshape(-1, 3)).max()
    assert difference < 0.01, difference  # mm (cameras 600 mm away; OpenCV's 5-step undistort)


@pytest.mark.slow  # 15 s: Anipose's triangulation of the real fly data
def test_anipose_and_kit_agree_on_the_shared_fly(anipose_python, tmp_path):
    folder = shared_dataset("eks-fly-3cam")
    calibration = read_calibration(folder / "calibration.toml")
    files = [sorted(folder.glob(f"*_{name}_*.rng=0.csv")) for name in calibration.names]
    points_2d, _ = load_views(calibration, files)
    points_2d = points_2d[:, :100]
    ours = triangulate(calibration, np.concatenate([points_2d[..., :2],
                                                    np.ones_like(points_2d[..., :1])], -1),
                       TriangulateConfig())  # unweighted, as aniposelib's triangulate
    xy = points_2d[..., :2].reshape(len(calibration.cameras), -1, 2)
    theirs, _ = _anipose_triangulate(anipose_python, folder / "calibration.toml", xy, tmp_path)
    # Noisy network outputs: the two DLTs weigh their equations differently (ours measure
    # pixels), so the points differ slightly; ours must fit the 2D at least as well.
    ours = ours[..., :3].reshape(-1, 3)
    distance = min(np.linalg.norm(c.center) for c in calibration.cameras)  # 54 units
    assert np.abs(theirs - ours).max() < 1e-3 * distance
    errors = [reprojection_errors(calibration.cameras, p, xy).mean() for p in (ours, theirs)]
    assert errors[0] <= errors[1], errors  # pixels
