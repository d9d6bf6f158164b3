"""Crash safety: a child process is killed (SIGKILL) at a random, seeded moment while it
trains or analyses a video; running the same call again must finish the job as if nothing
had happened, and no file may be left half-written.

The kill moment is drawn from ``random.Random(SEED)`` (set ``KIT_CRASH_SEED`` to try
others); every wait is bounded by a timeout. The training test is marked ``slow`` (two
processes each trace a ResNet-50 training step: about a minute of CPU, several on a busy
machine; ``make test-slow``); the analysis test uses an untrained network and runs always.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import make_blob_project

from kit.net.data import AugmentConfig
from kit.net.model import build_model
from kit.net.predict import Predictor
from kit.net.train import TrainConfig, list_checkpoints, read_train_log, train
from kit.project import create_project
from kit.project.analysis_file import load_poses
from kit.project.video import write_video
from kit.results import analyze

REPO = Path(__file__).resolve().parent.parent  # the children import this tree's kit
SEED = int(os.environ.get("KIT_CRASH_SEED", "8"))
TRAIN_STEPS = 3
CONFIG = TrainConfig(train_steps=TRAIN_STEPS, save_every=1, batch_size=1, train_fraction=0.75,
                     keep_checkpoints=True, weights=None, augment=AugmentConfig(crop_size=(64, 64)))
NUM_FRAMES = 120  # frames of the analysed video
START_TIMEOUT_S = 400  # a child's first checkpoint (TensorFlow import and tracing included)

TRAIN_CHILD = """
import json, sys
from kit.project import load_project
from kit.net.train import TrainConfig, train
train(load_project(sys.argv[1]), TrainConfig.from_dict(json.loads(sys.argv[2])), verbose=0)
"""

ANALYZE_CHILD = """
import sys
from kit.results.analyze import AnalyzeConfig, analyze_videos
from kit.project import load_project
config = AnalyzeConfig(train_fraction=0.75, batch_size=2, save_every=4, output_dir=sys.argv[3],
                       progress=False)
analyze_videos(load_project(sys.argv[1]), [sys.argv[2]], config)
"""


def _start(script: str, log: Path, *args: str) -> subprocess.Popen:
    """Run ``script`` in a new Python; its stderr goes to ``log`` (a full pipe would stall it)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with open(log, "wb") as stderr:
        return subprocess.Popen([sys.executable, "-c", script, *args], env=env, cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=stderr)


def _kill_after(child: subprocess.Popen, ready, delay_s: float, log: Path) -> float:
    """Wait (bounded) until ``ready()``, then ``delay_s`` more, then SIGKILL the child.
    Returns the seconds the child ran after ``ready()``."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if child.poll() is not None:
            pytest.fail(f"the child exited ({child.returncode}) before it was killed: "
                        f"{log.read_text(errors='replace')[-2000:]}")
        if time.monotonic() > deadline:
            child.kill()
            child.wait(timeout=30)
            pytest.fail(f"the child did not get ready within {START_TIMEOUT_S} s")
        time.sleep(0.05)
    began = time.monotonic()
    time.sleep(delay_s)
    child.kill()
    child.wait(timeout=30)
    return time.monotonic() - began


def _temporaries(folder: Path) -> list[Path]:
    return list(folder.rglob(".tmp*"))


@pytest.fixture(scope="module")
def killed_training(tmp_path_factory):
    """A training run killed after its first checkpoint, then run again to the end."""
    project = make_blob_project(tmp_path_factory.mktemp("crash") / "p", num_frames=8)
    model_dir = CONFIG.model_dir(project)
    first = model_dir / "checkpoints" / "ckpt-00000001.keras"
    log = project.root.parent / "child.log"
    child = _start(TRAIN_CHILD, log, str(project.root), json.dumps(CONFIG.to_dict()))
    delay = random.Random(SEED).uniform(0.0, 4.0)
    _kill_after(child, first.is_file, delay, log)
    assert child.returncode == -9, "the child finished before the kill: raise TRAIN_STEPS"
    state = {"checkpoints": [p.name for p in list_checkpoints(model_dir / "checkpoints")],
             "temporaries": [p.name for p in _temporaries(model_dir)], "delay_s": delay}
    assert not (model_dir / "model.keras").exists()
    train(project, CONFIG, verbose=0)  # resumes
    return project, model_dir, state


@pytest.mark.slow
def test_killed_training_resumes_to_the_same_number_of_steps(killed_training):
    _, model_dir, state = killed_training
    assert state["checkpoints"], "the kill came before the first checkpoint was complete"
    assert (model_dir / "model.keras").is_file()
    last = keras.saving.load_model(list_checkpoints(model_dir / "checkpoints")[-1])
    assert int(last.optimizer.iterations) == TRAIN_STEPS
    assert read_train_log(model_dir)["step"].tolist() == list(range(1, TRAIN_STEPS + 1))


@pytest.mark.slow
def test_killed_training_leaves_loadable_checkpoints_only(killed_training):
    model_dir = killed_training[1]
    checkpoints = list_checkpoints(model_dir / "checkpoints")
    assert [p.name for p in checkpoints] == [f"ckpt-{TRAIN_STEPS:08d}.keras"]  # only the newest
    for path in checkpoints:  # a whole file: model and optimizer at its step
        step = int(path.stem.split("-")[1])
        assert int(keras.saving.load_model(path).optimizer.iterations) == step
    assert not _temporaries(model_dir), "a temporary of the killed run was left behind"


@pytest.fixture(scope="module")
def untrained(tmp_path_factory):
    """A project and a saved, untrained network (analysis needs no training to be tested)."""
    project = create_project(tmp_path_factory.mktemp("crash") / "p", "t", "ann", ["a", "b"])
    model_dir = project.model_dir(1, 0.75)
    model_dir.mkdir(parents=True)
    keras.utils.set_random_seed(0)
    build_model(2, None).save(model_dir / "model.keras")
    pose = {"bodyparts": ["a", "b"], "global_scale": 0.8, "stride": 8, "locref_stdev": 7.2801,
            "train_steps": TRAIN_STEPS}
    (model_dir / "pose_config.json").write_text(json.dumps(pose))
    return project, model_dir, Predictor(model_dir)


def test_killed_analysis_resumes_to_the_same_output(untrained, tmp_path):
    project, _, predictor = untrained
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(NUM_FRAMES)]
    (tmp_path / "clips é ü").mkdir()  # spaces and non-ASCII in the path
    video = write_video(tmp_path / "clips é ü" / "clip 1.mp4", frames, fps=30)
    config = analyze.AnalyzeConfig(train_fraction=0.75, batch_size=2, save_every=4,
                                   output_dir=str(tmp_path / "killed"), progress=False)
    scorer = project.analysis_scorer(1, TRAIN_STEPS)
    partial = project.analysis_file(video, scorer, ".partial.h5", config.output_dir)
    log = tmp_path / "child.log"
    child = _start(ANALYZE_CHILD, log, str(project.root), str(video), config.output_dir)
    delay = random.Random(SEED + 1).uniform(0.0, 1.0)
    _kill_after(child, partial.is_file, delay, log)
    assert child.returncode == -9, "the analysis finished before the kill: use a longer video"
    assert partial.is_file()
    stale = partial.with_name(f".tmp999999-{partial.name}")  # as if killed while saving
    stale.write_bytes(b"half a file")
    (resumed,) = analyze.analyze_videos(project, [video], config, predictor)
    assert resumed.metadata["resumed_from_frame"] > 0
    reference_config = analyze.AnalyzeConfig(train_fraction=0.75, batch_size=2, progress=False,
                                             output_dir=str(tmp_path / "whole"))
    (whole,) = analyze.analyze_videos(project, [video], reference_config, predictor)
    got, expected = load_poses(resumed.h5)[0], load_poses(whole.h5)[0]
    assert got.shape == expected.shape == (NUM_FRAMES, 1, 2, 3)
    np.testing.assert_allclose(got[..., :2], expected[..., :2], rtol=0, atol=1e-4)
    np.testing.assert_allclose(got[..., 2], expected[..., 2], rtol=0, atol=1e-5)
    assert not partial.exists() and not _temporaries(tmp_path / "killed")


def test_corrupt_partial_analysis_starts_over(untrained, tmp_path):
    project, _, predictor = untrained
    video = write_video(tmp_path / "clip.mp4", [np.full((64, 64, 3), 40 * i, np.uint8)
                                                for i in range(4)], fps=10)
    config = analyze.AnalyzeConfig(train_fraction=0.75, save_every=2, progress=False)
    partial = project.analysis_file(video, project.analysis_scorer(1, TRAIN_STEPS), ".partial.h5")
    partial.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 50)  # a damaged sidecar
    with pytest.warns(UserWarning, match=r"partial.h5 cannot be read.*starting over"):
        (result,) = analyze.analyze_videos(project, [video], config, predictor)
    assert load_poses(result.h5)[0].shape == (4, 1, 2, 3) and not partial.exists()
