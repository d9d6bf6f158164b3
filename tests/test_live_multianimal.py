"""kit.live with a multi-animal model: every animal each frame, assembled and tracked online
in fixed rows, dynamic cropping to the union of the animals, the exported ONNX file agreeing
with Keras, and the ONNX path running where Keras and TensorFlow cannot be imported."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

from kit.experiments.synthetic_group import GroupConfig, group_trajectories
from kit.live.animals import LiveAnimals
from kit.live.predictor import LiveConfig, LivePredictor, crop_box
from kit.live.processor import RecordingProcessor
from kit.live.stream import run_stream
from kit.net.ma_targets import make_multianimal_targets
from kit.net.targets import TargetConfig
from kit.results.evaluate_ma import tracking_metrics
from kit.results.tracklets import TrackConfig

STRIDE = 8
PARTS = ["snout", "leftear", "rightear", "tailbase", "feeder"]  # feeder: a unique part
INFO = {"bodyparts": PARTS, "net_type": "fake", "stride": STRIDE, "backbone_stride": 16,
        "locref_stdev": 1.0, "global_scale": 1.0, "heads": ["part_pred", "locref", "paf"],
        "multianimal": True, "individuals": ["m1", "m2"], "unique_bodyparts": ["feeder"],
        "paf_graph": [[0, 1], [0, 2], [0, 3]], "identity": False}
NUM_MULTI = 4


class GroupDotNet:
    """A stand-in multi-animal network that sees dots: pixel (R, G, B) = (255, 40 (part + 1),
    40 (animal + 1)) is body part ``part`` of animal ``animal``. Score logit +10 on each dot's
    cell, -10 elsewhere; locref the dot's offset; part-affinity fields as training's targets
    (so assembly joins each animal's dots). Outputs in the heads' order, as ONNX gives them."""

    def __init__(self, num_parts=len(PARTS)):
        self.shapes, self.num_parts = [], num_parts

    def __call__(self, images):
        self.shapes.append(images.shape[1:3])
        _, h, w, _ = images.shape
        mh, mw, k = math.ceil(h / STRIDE), math.ceil(w / STRIDE), self.num_parts
        logits = np.full((1, mh, mw, k), -10.0, np.float32)
        locref = np.zeros((1, mh, mw, 2 * k), np.float32)
        points = np.full((4, k, 2), np.nan)
        for y, x in zip(*np.nonzero(images[0, ..., 0] == 255)):
            part, animal = round(images[0, y, x, 1] / 40) - 1, round(images[0, y, x, 2] / 40) - 1
            i, j = min(y // STRIDE, mh - 1), min(x // STRIDE, mw - 1)
            logits[0, i, j, part] = 10.0
            locref[0, i, j, 2 * part:2 * part + 2] = (x + 0.5 - (j * STRIDE + STRIDE / 2),
                                                      y + 0.5 - (i * STRIDE + STRIDE / 2))
            points[animal, part] = (x + 0.5, y + 0.5)
        paf = make_multianimal_targets(points, (mh, mw), INFO["paf_graph"], 0,
                                       TargetConfig(locref_stdev=1.0, paf_width=6))["paf"][0]
        return [logits, locref, paf[None].astype(np.float32)]


def dot_frame(animals, feeder=None, hw=(160, 240)):
    """A black frame with the dots of ``animals`` (A, 4, 2) x, y pixels (NaN: not drawn)."""
    frame = np.zeros((*hw, 3), np.uint8)
    for a, parts in enumerate(np.asarray(animals, float)):
        for p, (x, y) in enumerate(parts):
            if np.isfinite(x):
                frame[int(y), int(x)] = (255, 40 * (p + 1), 40 * (a + 1))
    if feeder is not None:
        frame[feeder[1], feeder[0]] = (255, 40 * 5, 40)
    return frame


def animal_at(x, y):
    """(4, 2): snout at (x, y), ears behind it, tail base further back (pixels)."""
    return np.array([[x, y], [x - 6, y + 8], [x + 6, y + 8], [x, y + 24]], float)


def test_crop_box_of_two_animals_far_apart_is_the_union_of_their_boxes():
    pose = np.full((3, 5, 3), np.nan)  # m1, m2, single
    pose[0, :4] = np.c_[animal_at(20, 10), np.ones(4)]  # x 14..26, y 10..34
    pose[1, :4] = np.c_[animal_at(200, 100), np.ones(4)]  # x 194..206, y 100..124
    pose[1, 3, 2] = 0.1  # its tail base unsure: left out
    assert crop_box(pose, (160, 240), 0.5, 5) == (9, 5, 212, 114)


def test_two_animals_stream_in_their_rows_with_the_union_crop():
    net = GroupDotNet()
    processor = RecordingProcessor()
    predictor = LivePredictor(net, INFO, LiveConfig(dynamic=(True, 0.5, 10), warmup_hw=None),
                              processor)
    paths = [(animal_at(30 + 3 * t, 20 + t), animal_at(200 - 2 * t, 110)) for t in range(8)]
    frames = [dot_frame(np.stack(p), feeder=(120, 150)) for p in paths]
    frames[4] = dot_frame(paths[4][:1], feeder=(120, 150))  # m2 hidden in frame 4
    result = run_stream(predictor, frames, report_every=0)
    assert result.poses.shape == (8, 3, 5, 3) and len(processor.poses) == 8
    row = [int(np.argmin(np.nanmean(np.abs(result.poses[0, :2, :4, :2] - p), (1, 2))))
           for p in paths[0]]
    assert sorted(row) == [0, 1]  # each animal in a row of its own, kept in every frame
    for t, (first, second) in enumerate(paths):
        np.testing.assert_allclose(result.poses[t, row[0], :4, :2], first + 0.5)
        if t != 4:
            np.testing.assert_allclose(result.poses[t, row[1], :4, :2], second + 0.5)
        np.testing.assert_allclose(result.poses[t, 2, 4, :2], [120.5, 150.5])  # single
        assert np.isnan(result.poses[t, :2, 4]).all() and np.isnan(result.poses[t, 2, :4]).all()
    assert np.isnan(result.poses[4, row[1]]).all()
    # frame 0: whole; 1-4: crops to the union (both animals and the feeder); 5 follows the
    # frame where m2 was lost: whole; 6, 7: crops again
    assert result.cropped.tolist() == [False, True, True, True, True, False, True, True]
    # frame 0's dots: x 24.5 (m1's left ear) to 206.5 (m2's right ear), y 20.5 (m1's snout)
    # to 150.5 (the feeder); 10 px more each way, clipped: x 14 to 218, y 10 to 160: 150 x
    # 204, padded to multiples of the backbone's stride 16: 160 x 208
    assert net.shapes[1] == (160, 208)


def well_separated_truth(num_frames=60):
    """Two synthetic animals walking (kit's synthetic group, no approaches, 320x240)."""
    truth = group_trajectories(GroupConfig(num_animals=2, num_frames=num_frames,
                                           image_size=(320, 240), approach_rate=0.0, seed=3,
                                           animal_size=0.15))
    return truth.poses  # (T, 2, 4, 2)


@pytest.mark.parametrize("tracker", ["ellipse", "box", "keypoints"])
def test_identities_against_the_synthetic_groups_truth(tracker):
    """A stand-in network finds every visible part exactly; the live tracker's rows, scored
    against the truth as video analysis is (MOTA, identity switches)."""
    truth = well_separated_truth()
    frames = [dot_frame(p, hw=(240, 320)) for p in truth]
    config = LiveConfig(dynamic=(True, 0.5, 20), warmup_hw=None, track=TrackConfig(tracker))
    predictor = LivePredictor(GroupDotNet(4), {**INFO, "unique_bodyparts": [],
                                              "bodyparts": PARTS[:4]}, config)
    result = run_stream(predictor, frames, report_every=0)
    assert result.poses.shape == (60, 2, 4, 3)
    scores = tracking_metrics(result.poses, np.floor(truth) + 0.5)
    assert scores["num_switches"] == 0 and scores["mota"] > 0.95, scores  # 1.0 here


def test_live_animals_keep_rows_through_a_missed_frame_and_take_the_nearest_free_row():
    animals = LiveAnimals(2, 4, TrackConfig("keypoints", max_age=1))
    a, b = np.c_[animal_at(30, 30), np.ones(4)], np.c_[animal_at(150, 30), np.ones(4)]
    first = animals.update(np.stack([b, a]))
    row_a = int(np.flatnonzero(first[:, 0, 0] == 30)[0])
    empty = np.full((1, 4, 3), np.nan)
    animals.update(np.concatenate([b[None], empty]))  # a missed
    animals.update(np.concatenate([b[None], empty]))  # a missed again: its tracklet closes
    back = animals.update(np.stack([a + [2, 0, 0], b]))  # a new tracklet, near a's last place
    assert back[row_a, 0, 0] == 32 and back[1 - row_a, 0, 0] == 150


@pytest.fixture(scope="module")
def tiny_group_model(tmp_path_factory):
    """A multi-animal MobileNetV2-0.35 trained 2 steps on a tiny synthetic group, exported."""
    from kit.experiments.synthetic_group import make_synthetic_group_project
    from kit.live.export import export_model
    from kit.net.data import AugmentConfig
    from kit.net.train import TrainConfig, train

    project = make_synthetic_group_project(
        tmp_path_factory.mktemp("group") / "p",
        GroupConfig(num_animals=2, num_frames=12, image_size=(96, 96)), num_labeled=4)
    model_dir = train(project, TrainConfig(
        net_type="mobilenet_v2_0.35", weights=None, train_steps=2, batch_size=2,
        train_fraction=0.75, batchnorm_batches=1, augment=AugmentConfig(crop_size=(96, 96))),
        verbose=0)
    return project, model_dir, export_model(model_dir)


def test_exported_multi_animal_model_agrees_with_keras_and_video_analysis(tiny_group_model):
    from kit.live.export import load_live_config
    from kit.live.runtimes import load_net
    from kit.net.predict import Predictor
    from kit.project.video import iter_frames

    project, model_dir, folder = tiny_group_model
    config = load_live_config(folder)
    assert config["heads"] == ["part_pred", "locref", "paf"] and config["multianimal"]
    assert config["individuals"] == ["animal1", "animal2"] and config["paf_graph"]
    frame = next(iter_frames(project.videos_dir / "group0.mp4", 0, 1))[1]
    image = frame[None].astype(np.float32)
    keras_maps, onnx_maps = load_net(model_dir, "keras")[0](image), load_net(folder, "onnx")[0](image)
    for head in config["heads"]:
        np.testing.assert_allclose(onnx_maps[head], keras_maps[head], atol=1e-3)
    live = LivePredictor.load(model_dir, LiveConfig(runtime="keras", warmup_hw=None))
    poses, _ = live.detect(frame)
    expected, _, _ = Predictor(model_dir).predict_assemblies(frame[None])
    np.testing.assert_array_equal(poses, expected[0])
    onnx_live = LivePredictor.load(folder, LiveConfig(runtime="onnx", warmup_hw=None))
    assert onnx_live.get_pose(frame).shape == (2, 4, 3)


def test_onnx_live_predictor_runs_where_keras_and_tensorflow_cannot_be_imported(
        tiny_group_model):
    project, _, folder = tiny_group_model
    video = project.videos_dir / "group0.mp4"
    script = (
        "import sys\n"
        "sys.modules['keras'] = None\nsys.modules['tensorflow'] = None\n"
        "from kit.live.predictor import LiveConfig, LivePredictor\n"
        "from kit.project.video import iter_frames\n"
        f"frame = next(iter_frames({str(video)!r}, 0, 1))[1]\n"
        f"live = LivePredictor.load({str(folder)!r}, LiveConfig(runtime='onnx'))\n"
        "print('pose', live.get_pose(frame).shape)\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow')\n"
        "            and sys.modules[m] is not None]\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "pose (2, 4, 3)" in done.stdout


def test_live_notebook_streams_every_animal_and_scores_them(tiny_group_model, tmp_path):
    import pandas as pd

    from kit.experiments.runner import run_notebook

    project, trained, _ = tiny_group_model
    model_dir = trained  # 08 finds it: the project's one trained model
    result = run_notebook(REPO / "notebooks" / "08_live.ipynb", {
        "project_dir": str(project.root), "num_frames": 8,
        "report_every": 4, "num_stills": 2, "tracker": "box", "pcutoff": 0.3},
        runs_dir=tmp_path / "runs", log_to_console=False)
    text = result.notebook.read_text()
    assert "8 frames, 8 poses given to the processor, each (2, 4, 3)" in text
    assert "of 2 rows found" in text or "frame 4: latency" in text
    assert "num_switches" in text  # scored against the group video's truth
    table = pd.read_csv(model_dir / "live" / "latency.csv", index_col="stream")
    assert table.iloc[0].frames == 7
    assert len(list((model_dir / "live").glob("live_frame*.png"))) == 2


def test_live_animals_put_new_animals_in_the_rows_their_identity_scores_name():
    animals = LiveAnimals(2, 4, TrackConfig("ellipse"))
    a, b = np.c_[animal_at(30, 30), np.ones(4)], np.c_[animal_at(150, 30), np.ones(4)]
    rows = animals.update(np.stack([a, b]), identity=np.array([[0.1, 0.9], [0.8, 0.2]]))
    assert rows[1, 0, 0] == 30 and rows[0, 0, 0] == 150  # a scores as individual 2
    rows = animals.update(np.stack([b + [1, 0, 0], a + [1, 0, 0]]))  # no scores: by motion
    assert rows[1, 0, 0] == 31 and rows[0, 0, 0] == 151
