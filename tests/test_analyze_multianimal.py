"""Multi-animal video analysis with a fake predictor (noisy truth, rows shuffled): the tracked
``_el.h5``, resume, the warn-once, filtering per individual, the labeled video's colours."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kit import plots
from kit.project import create_project
from kit.project.analysis_file import load_poses
from kit.project.drawing import PoseStyle, draw_pose
from kit.project.video import write_video
from kit.results import analyze
from kit.results.filters import FilterConfig, filter_analysis
from kit.results.evaluate_ma import tracking_metrics as mot_scores

NUM_FRAMES, WIDTH, HEIGHT = 48, 96, 80
PARTS = ["snout", "leftear", "rightear", "tailbase"]
INDIVIDUALS = ["mouse1", "mouse2", "mouse3"]
LEVEL_STEP = 5  # frame t is a flat grey of level 8 + LEVEL_STEP * t: the fake reads t from it


def _truth() -> np.ndarray:
    """(T, 3, 4, 2): three animals (body 12 px) on lanes 10 px apart, two passing head-on."""
    t = np.arange(NUM_FRAMES)[:, None]
    x = np.array([8.0, 88.0, 20.0]) + np.array([1.5, -1.5, 0.8]) * t
    y = np.broadcast_to([30.0, 40.0, 50.0], x.shape)
    sign = np.sign([1.5, -1.5, 0.8])[None, :, None]
    offsets = np.array([[6, 0], [2, -3], [2, 3], [-6, 0]], float)  # facing +x
    return np.stack([x, y], -1)[:, :, None] + offsets[None, None] * np.concatenate(
        [sign, np.ones_like(sign)], -1)[:, :, None]


FEEDER = np.array([70.0, 10.0])


class FakePredictor:
    """What analyze uses of a multi-animal Predictor; predict_assemblies returns the truth
    of each frame (read from its grey level) + 0.5 px noise (the same for a frame each time),
    rows shuffled, the feeder in the last row; ``extra``: one more (spurious, low likelihood)
    animal row in frames 10-19; ``identity``: noisy identity scores."""

    bodyparts = [*PARTS, "feeder"]
    net_type, train_steps, global_scale = "resnet_50", 7, 0.5
    decoder_name, decoding = "bottom_up", None

    def __init__(self, root: Path, extra: bool = False, identity: bool = False):
        self.model_dir = root / "dlc-models" / "fake"
        self.extra, self.identity, self.truth = extra, identity, _truth()
        self.frames_seen: list[int] = []

    def predict_assemblies(self, frames: np.ndarray):
        assert frames.shape[1:] == (HEIGHT, WIDTH, 3)  # full-size frames: we scale ourselves
        levels = (frames.mean(axis=(1, 2, 3)) - 8) / LEVEL_STEP  # mp4v: t - 0.5 to t - 0.75
        times = np.rint(levels + 0.6).astype(int)
        self.frames_seen += list(times)
        rows = 4 + self.extra
        poses = np.full((len(frames), rows, 5, 3), np.nan)
        identity = np.zeros((len(frames), rows, 3))
        for n, t in enumerate(times):
            rng = np.random.default_rng(t)
            order = rng.permutation(3)
            poses[n, :3, :4, :2] = self.truth[t, order] + rng.normal(0, 0.5, (3, 4, 2))
            poses[n, :3, :4, 2] = 0.9
            identity[n, np.arange(3), order] = 0.8
            if self.extra and 10 <= t < 20:
                poses[n, 3, :4] = [[5, 70, 0.3]] * 4
            poses[n, -1, 4] = [*FEEDER, 0.95]
        return poses, identity if self.identity else None


@pytest.fixture
def project(tmp_path):
    frames = [np.full((HEIGHT, WIDTH, 3), 8 + LEVEL_STEP * t, np.uint8) for t in range(NUM_FRAMES)]
    video = write_video(tmp_path / "group.mp4", frames, fps=30)
    return create_project(tmp_path / "proj", "group", "me", PARTS, videos=[video],
                          individuals=INDIVIDUALS, uniquebodyparts=["feeder"], date="Nov28")


def _config(tmp_path, **kw) -> analyze.AnalyzeConfig:
    return analyze.AnalyzeConfig(output_dir=str(tmp_path / "out"), progress=False,
                                 batch_size=8, **kw)


def _analyze(project, tmp_path, predictor=None, **kw) -> analyze.AnalysisResult:
    predictor = predictor or FakePredictor(tmp_path)
    return analyze.analyze_video(project, project.videos_dir / "group.mp4",
                                 _config(tmp_path, **kw), predictor)


def test_el_file_has_individuals_and_tracks_without_switches(project, tmp_path):
    result = _analyze(project, tmp_path, save_csv=True)
    scorer = f"DLC_resnet50_group{project.date}shuffle1_7"
    assert result.h5 == tmp_path / "out" / f"group{scorer}_el.h5"
    assert (tmp_path / "out" / f"group{scorer}_el.csv").is_file()
    assert not list((tmp_path / "out").glob("*partial*"))
    df = pd.read_hdf(result.h5, key="df_with_missing")
    assert df.columns.names == ["scorer", "individuals", "bodyparts", "coords"]
    assert df.columns.equals(project.layout.columns(scorer, ("x", "y", "likelihood")))
    poses, bodyparts, individuals = load_poses(result.h5)
    assert individuals == [*INDIVIDUALS, "single"] and bodyparts == [*PARTS, "feeder"]
    assert poses.shape == (NUM_FRAMES, 4, 5, 3)
    truth = _truth()
    scores = mot_scores(poses[:, :3, :4], truth)
    assert scores["num_switches"] == 0 and scores["mota"] == 1.0, scores
    first = [int(np.argmin(np.linalg.norm(truth[0] - poses[0, i, :4, :2], axis=-1).mean(-1)))
             for i in range(3)]
    assert sorted(first) == [0, 1, 2]
    np.testing.assert_allclose(poses[:, :3, :4, :2], truth[:, first], atol=2.5)
    np.testing.assert_allclose(poses[:, 3, 4, :2], np.broadcast_to(FEEDER, (NUM_FRAMES, 2)))
    assert np.isnan(poses[:, :3, 4]).all() and np.isnan(poses[:, 3, :4]).all()
    assert result.metadata["tracking"]["max_age"] == 100


def test_identity_scores_put_each_animal_in_its_column(project, tmp_path):
    result = _analyze(project, tmp_path, predictor=FakePredictor(tmp_path, identity=True))
    poses = load_poses(result.h5)[0]
    np.testing.assert_allclose(poses[:, :3, :4, :2], _truth(), atol=2.5)


class _Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_the_same_tracks(project, tmp_path):
    whole = _analyze(project, tmp_path / "whole")

    def stop(done: int) -> None:
        if done >= 24:
            raise _Interrupt

    predictor = FakePredictor(tmp_path, identity=True)
    config = _config(tmp_path / "resumed", save_every=8)
    video = project.videos_dir / "group.mp4"
    with pytest.raises(_Interrupt):
        analyze.analyze_video(project, video, config, predictor, on_batch=stop)
    assert len(list((tmp_path / "resumed" / "out").glob("*_el.partial.h5"))) == 1
    predictor.frames_seen.clear()
    resumed = analyze.analyze_video(project, video, config, predictor)
    assert resumed.metadata["resumed_from_frame"] == 24
    assert predictor.frames_seen == list(range(24, NUM_FRAMES))  # the network ran once per frame
    once = _analyze(project, tmp_path / "once", predictor=FakePredictor(tmp_path, identity=True))
    np.testing.assert_allclose(load_poses(resumed.h5)[0], load_poses(once.h5)[0], atol=1e-6)
    assert load_poses(whole.h5)[0].shape == load_poses(resumed.h5)[0].shape
    assert not list((tmp_path / "resumed" / "out").glob("*partial*"))


def test_more_assemblies_than_individuals_warns_once_and_keeps_the_best(project, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _analyze(project, tmp_path, predictor=FakePredictor(tmp_path, extra=True))
    messages = [str(w.message) for w in caught if "more assemblies" in str(w.message)]
    assert len(messages) == 1 and "frame 10" in messages[0], messages
    poses = load_poses(result.h5)[0]
    assert mot_scores(poses[:, :3, :4], _truth())["num_false_positives"] == 0
    assert (poses[:, :3, :4, 2] == 0.9).all()  # the spurious row (likelihood 0.3) never kept


def test_filter_each_individual_and_label_video_per_individual(project, tmp_path):
    result = _analyze(project, tmp_path)
    filtered = filter_analysis(result.h5, FilterConfig(method="median", window=5))
    assert filtered.name == result.h5.stem + "_filtered.h5"
    raw, _, individuals = load_poses(result.h5)
    smooth, _, same = load_poses(filtered)
    assert same == individuals and smooth.shape == raw.shape
    truth = _truth()
    first = [int(np.argmin(np.linalg.norm(truth[0] - raw[0, i, :4, :2], axis=-1).mean(-1)))
             for i in range(3)]
    inner = slice(2, NUM_FRAMES - 2)  # each individual filtered on its own: still on its animal
    assert np.abs(smooth[inner, :3, :4, :2] - truth[inner][:, first]).max() < 1.5
    style = PoseStyle(pcutoff=0.5, dotsize=4, color_by="individual")
    video = plots.create_labeled_video(project.videos_dir / "group.mp4", result.h5, style)
    assert video.is_file() and video.name.endswith("_el_labeled.mp4")


def test_draw_pose_colours_per_individual_or_per_bodypart():
    frame = np.zeros((40, 40, 3), np.uint8)
    points = np.array([[[[5.0, 5, 0.9], [15, 5, 0.9]], [[5, 30, 0.9], [15, 30, 0.9]]]])
    by_animal = draw_pose(frame, points, 0, PoseStyle(pcutoff=0.5, dotsize=4,
                                                      color_by="individual"), ["a", "b"])
    assert (by_animal[5, 5] == by_animal[5, 15]).all()  # one animal, one colour
    assert (by_animal[5, 5] != by_animal[30, 5]).any()  # two animals, two colours
    by_part = draw_pose(frame, points, 0, PoseStyle(pcutoff=0.5, dotsize=4), ["a", "b"])
    assert (by_part[5, 5] == by_part[30, 5]).all() and (by_part[5, 5] != by_part[5, 15]).any()
    with pytest.raises(ValueError, match="color_by"):
        PoseStyle(color_by="animal")


def test_single_animal_model_on_multianimal_project_is_refused(project, tmp_path):
    class SingleAnimal:
        bodyparts, net_type, train_steps, global_scale = PARTS, "resnet_50", 7, 1.0
        model_dir, decoder_name, decoding = tmp_path / "m", "single_animal", None

    with pytest.raises(ValueError, match="predict_assemblies"):
        _analyze(project, tmp_path, predictor=SingleAnimal())
