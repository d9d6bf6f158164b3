"""Shared fixtures: tiny projects whose answers are known, and the shared openfield data."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import tables

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kit.experiments.synthetic import SyntheticConfig, make_synthetic_project  # noqa: E402
from kit.project import Project, create_project  # noqa: E402
from kit.project.labels import make_labels_frame, save_labels  # noqa: E402
from kit.project.video import write_video  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OPENFIELD = REPO.parent / "shared" / "datasets" / "openfield-Pranav-2018-10-30"


def make_blob_project(
    root: Path,
    bodyparts=("a", "b"),
    size=(64, 64),
    num_frames: int = 12,
    missing_rate: float = 0.0,
    seed: int = 0,
    video: str = "v",
) -> Project:
    """A project whose body parts are coloured disks on a dark background.

    Args:
        size: (width, height) of the frames.
        missing_rate: fraction of (frame, part) labels set to NaN (the disk is not drawn).
    """
    rng = np.random.default_rng(seed)
    project = create_project(root, "blobs", "tester", list(bodyparts))
    folder = project.labeled_data_dir(video)
    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    margin = 8
    points = rng.uniform((margin, margin), (w - margin, h - margin), (num_frames, len(bodyparts), 2))
    points[rng.random(points.shape[:2]) < missing_rate] = np.nan
    colors = [tuple(int(c) for c in rng.integers(80, 256, 3)) for _ in bodyparts]
    names = []
    for i in range(num_frames):
        img = np.full((h, w, 3), 30, np.uint8)
        for k, (x, y) in enumerate(points[i]):
            if np.isfinite(x):
                cv2.circle(img, (round(x * 16), round(y * 16)), 4 * 16, colors[k], -1,
                           cv2.LINE_AA, shift=4)
        name = f"labeled-data/{video}/img{i:04d}.png"
        cv2.imwrite(str(project.root / name), img[:, :, ::-1])
        names.append(name)
    save_labels(project, video, make_labels_frame(points, names, project.scorer, bodyparts))
    return project


def train_interrupted(project: Project, config, step: int, monkeypatch) -> None:
    """Run ``kit.net.train.train`` until its checkpoint of ``step`` is written, then stop it
    as Ctrl-C (or a lost kernel) would."""
    import kit.net.train

    save = kit.net.train.save_checkpoint

    def save_then_interrupt(model, folder, saved_step, **kwargs):
        save(model, folder, saved_step, **kwargs)
        if saved_step == step:
            raise KeyboardInterrupt

    monkeypatch.setattr(kit.net.train, "save_checkpoint", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        kit.net.train.train(project, config, verbose=0)
    monkeypatch.undo()


@pytest.fixture
def blob_project(tmp_path) -> Project:
    return make_blob_project(tmp_path / "blobs")


@pytest.fixture
def openfield() -> Path:
    if not OPENFIELD.is_dir():
        pytest.skip(f"the shared openfield dataset is not at {OPENFIELD} (../shared absent)")
    return OPENFIELD


CLIP_WIDTH, CLIP_HEIGHT = 64, 48
SMALL_SYNTHETIC = {"num_videos": 2, "num_frames": 30, "num_labeled": 10, "image_size": (64, 48)}


def coloured_frames(num_frames: int) -> list[np.ndarray]:
    """Flat frames whose colour encodes the index, so a decoded frame tells which it is."""
    return [
        np.full((CLIP_HEIGHT, CLIP_WIDTH, 3), (8 * i % 256, 255 - 8 * i % 256, 100), np.uint8)
        for i in range(num_frames)
    ]


@pytest.fixture(scope="session")
def coloured_clip(tmp_path_factory) -> Path:
    """A 30-frame 64x48 mp4 of :func:`coloured_frames` at 25 fps (read only)."""
    return write_video(tmp_path_factory.mktemp("v") / "clip.mp4", coloured_frames(30), fps=25)


@pytest.fixture(scope="session")
def small_synthetic(tmp_path_factory) -> Project:
    """A seeded synthetic project of two 30-frame 64x48 videos, 10 labeled each (read only)."""
    return make_synthetic_project(tmp_path_factory.mktemp("s") / "p",
        SyntheticConfig(seed=0, **SMALL_SYNTHETIC))


@pytest.fixture(scope="module")
def two_videos(tmp_path_factory) -> Project:
    """A synthetic project of two 40-frame 64x64 videos, 8 labeled frames each, for the tests
    of unlabeled video frames (module-scoped: a module's runs train in it)."""
    return make_synthetic_project(tmp_path_factory.mktemp("videos") / "p", SyntheticConfig(
        num_videos=2, num_frames=40, num_labeled=8, image_size=(64, 64)))


TRAINED_NUM_FRAMES = 20


@pytest.fixture(scope="session")
def trained_synthetic(tmp_path_factory):
    """(project, predictor, video path): a 64x64 synthetic project trained for 2 steps.

    Tests may add analyses, evaluations and machine labels to the project, not change its
    labels or model."""
    from kit.net.data import AugmentConfig
    from kit.net.predict import Predictor
    from kit.net.train import TrainConfig, train

    root = tmp_path_factory.mktemp("analyze") / "project"
    project = make_synthetic_project(root,
        SyntheticConfig(image_size=(64, 64), num_frames=TRAINED_NUM_FRAMES, num_labeled=8))
    config = TrainConfig(train_steps=2, batch_size=2, train_fraction=0.75, batchnorm_batches=2,
                         weights=None, augment=AugmentConfig(crop_size=(64, 64)))
    model_dir = train(project, config, verbose=0)
    return project, Predictor(model_dir), project.videos_dir / "animal0.mp4"


def write_unstamped_h5(path: Path) -> Path:
    """A label table as kit wrote it before kit.project.hdf (and as pandas 3's to_hdf writes it):
    a table without the layout version, which pandas 2 cannot read."""
    df = make_labels_frame([[[1.0, 2.0]], [[np.nan, 4.5]]],
                           ["labeled-data/v/a.png", "labeled-data/v/b.png"], "s", ["p"])
    df.to_hdf(path, key="df_with_missing", mode="w", format="table")
    with tables.open_file(path, mode="a") as h5:
        if "pandas_version" in h5.root.df_with_missing._v_attrs:  # pandas 2 stamps it itself
            del h5.root.df_with_missing._v_attrs.pandas_version
    return path


SHARED_DATASETS = REPO.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def rig_folder(tmp_path_factory):
    """A synthetic 3-camera rig (kit.cameras.synthetic): 25 board views, 40 frames (read only)."""
    from kit.cameras.synthetic import make_rig_project

    return make_rig_project(tmp_path_factory.mktemp("rig") / "rig", num_cameras=3, num_views=25,
                            num_frames=40, seed=0)


@pytest.fixture(scope="session")
def rig_folder_two_animals(tmp_path_factory):
    """The same rig with two animals apart (multi-animal tables), 1 board view (read only)."""
    from kit.cameras.synthetic import make_rig_project

    return make_rig_project(tmp_path_factory.mktemp("rig2") / "rig", num_cameras=3, num_views=1,
                            num_frames=40, seed=0, num_animals=2)


def shared_dataset(name: str) -> Path:
    """A folder of ../shared/datasets, or skip the test saying it is absent."""
    path = SHARED_DATASETS / name
    if not path.is_dir():
        pytest.skip(f"the shared dataset {name} is not at {path} (../shared absent)")
    return path


DLC_CHECK = REPO / "tests" / "interop" / "dlc_reads_kit.py"


def run_dlc_check(dlc_python: Path, *paths: Path) -> dict:
    """Run DeepLabCut's readers on a project (tests/interop/dlc_reads_kit.py) in its own
    environment; return the report it prints."""
    out = subprocess.run([str(dlc_python), str(DLC_CHECK), *map(str, paths)],
                         capture_output=True, text=True, timeout=900,
                         env={**os.environ, "MPLBACKEND": "Agg"})
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert out.returncode == 0 and lines, out.stderr[-3000:]
    return json.loads(lines[0][len("RESULT "):])


@pytest.fixture
def dlc_python() -> Path:
    """DeepLabCut 3's Python (its own venv, pandas 2), or skip saying how to install it."""
    python = Path(os.environ.get("KIT_DLC_PYTHON", REPO.parent / "venv-dlc" / "bin" / "python"))
    if not python.exists():
        pytest.skip(f"DeepLabCut's environment is not at {python} (set KIT_DLC_PYTHON; "
                    "install it with the recipe in ../shared/peer/README.md)")
    return python


@pytest.fixture(scope="session")
def eks_available() -> str:
    """eks's Python (kit.results.ensemble.eks_python: its own venv, made once); skips, saying
    why, where it cannot be had, except on CI, which must run eks."""
    from kit.results import ensemble

    try:
        return ensemble.eks_python()
    except RuntimeError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(e)[:500])
