"""kit.live: the live predictor, its export, dynamic cropping, processor and forward predictor."""

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from kit.live.export import ensure_exported, export_model, load_live_config, load_net
from kit.live.forward import ConstantVelocity, Kalman, make_forward
from kit.live.predictor import LiveConfig, LivePredictor, crop_box
from kit.live.processor import RecordingProcessor
from kit.live.stream import latency_summary
from kit.net.predict import Predictor
from kit.net.test_scales import use_test_scales
from kit.project.video import iter_frames

STRIDE = 8
INFO = {"bodyparts": ["red", "green"], "net_type": "fake", "stride": STRIDE,
        "backbone_stride": 16, "locref_stdev": 1.0, "global_scale": 1.0}


class DotNet:
    """A stand-in network that finds exactly one bright dot per part (part k: channel k is
    255, the others 0): logit +10 on the dot's cell, -10 elsewhere, locref the dot's offset
    from the cell centre. Decoding gives the dot's pixel centre (x + 0.5, y + 0.5) in any
    crop that holds it. Records the shape of every image it is given."""

    def __init__(self):
        self.shapes = []

    def __call__(self, images):
        self.shapes.append(images.shape[1:3])
        _, h, w, _ = images.shape
        mh, mw, k = math.ceil(h / STRIDE), math.ceil(w / STRIDE), len(INFO["bodyparts"])
        logits = np.full((1, mh, mw, k), -10.0, np.float32)
        locref = np.zeros((1, mh, mw, 2 * k), np.float32)
        for part in range(k):
            others = np.delete(images[0], part, axis=-1).max(-1)
            ys, xs = np.nonzero((images[0, ..., part] == 255) & (others == 0))
            for y, x in zip(ys, xs):
                i, j = y // STRIDE, x // STRIDE
                logits[0, i, j, part] = 10.0
                locref[0, i, j, 2 * part] = x + 0.5 - (j * STRIDE + STRIDE / 2)
                locref[0, i, j, 2 * part + 1] = y + 0.5 - (i * STRIDE + STRIDE / 2)
        return logits, locref


def dot_frame(red, green, hw=(120, 160)):
    """A black frame with a red dot at pixel ``red`` (x, y) and a green one at ``green``."""
    frame = np.zeros((*hw, 3), np.uint8)
    for channel, xy in enumerate((red, green)):
        if xy is not None:
            frame[xy[1], xy[0], channel] = 255
    return frame


def test_crop_box_bounds_confident_parts_plus_margin():
    pose = np.array([[[10.2, 20.0, 0.9], [30.0, 25.5, 0.8], [100.0, 100.0, 0.1]]])
    assert crop_box(pose, (120, 160), 0.5, 5) == (5, 15, 36, 32)
    assert crop_box(pose, (120, 160), 0.95, 5) is None  # nothing confident: whole frame
    assert crop_box(pose, (22, 160), 0.5, 100) == (0, 0, 131, 22)  # clipped to the frame


def test_dynamic_cropping_same_pose_as_full_frame_and_full_search_when_lost():
    net = DotNet()
    dynamic = LivePredictor(net, INFO, LiveConfig(dynamic=(True, 0.5, 12), warmup_hw=None))
    full = LivePredictor(DotNet(), INFO, LiveConfig(warmup_hw=None))
    track = [((40, 50), (60, 55)), ((43, 52), (63, 57)), ((47, 53), (66, 60)),
             (None, None), ((120, 90), (130, 100)), ((121, 91), (131, 99))]
    for red, green in track:
        frame = dot_frame(red, green)
        got, expected = dynamic.get_pose(frame), full.get_pose(frame)
        if red is not None:
            np.testing.assert_array_equal(got, expected)
            np.testing.assert_allclose(got[0, :, :2], np.array([red, green]) + 0.5)
    # Frame 0 has no previous pose, frame 4 follows the lost frame 3: whole frames (120, 160,
    # padded to the backbone stride's multiples: 128, 160); the others are crops around the
    # previous pose: frame 1's around frame 0's dots at (40.5, 50.5) and (60.5, 55.5): x from
    # floor(28.5) to ceil(72.5) + 1, y 38 to 69: 31 x 46, padded to 32 x 48.
    full_frames = [i for i, shape in enumerate(net.shapes) if shape == (128, 160)]
    assert full_frames == [0, 4]
    assert net.shapes[1] == (32, 48)
    assert dynamic.box is not None and dynamic.box[0] == 120 - 12


def test_resize_keeps_full_frame_pixels():
    predictor = LivePredictor(DotNet(), INFO, LiveConfig(resize=0.5, warmup_hw=None))
    pose = predictor.get_pose(dot_frame((40, 48), (80, 64)))
    # Half size: the dot at pixel (40, 48) is sampled exactly at half-pixel (20, 24), found at
    # its centre (20.5, 24.5), which is (41, 49) in the frame: half a half-size pixel off.
    np.testing.assert_allclose(pose[0, :, :2], [[41, 49], [81, 65]])
    assert (pose[0, :, 2] > 0.99).all()


def test_the_models_passes_only_when_asked():
    """A model whose pose config lists test_scales: one pass live by default (latency), every
    scale with test_passes, the median of the passes reported in full-frame pixels."""
    info = {**INFO, "test_scales": [0.5, 1.0]}
    frame = dot_frame((40, 48), (80, 64))
    one_pass = DotNet()
    LivePredictor(one_pass, info, LiveConfig(warmup_hw=None)).get_pose(frame)
    assert one_pass.shapes == [(128, 160)]
    net = DotNet()
    pose = LivePredictor(net, info, LiveConfig(warmup_hw=None, test_passes=True)).get_pose(frame)
    assert net.shapes == [(64, 80), (128, 160)]  # half size (60 x 80 padded), full size
    # half size finds (41, 49) (test_resize_keeps_full_frame_pixels), full size (40.5, 48.5)
    np.testing.assert_allclose(pose[0, :, :2], [[40.75, 48.75], [80.75, 64.75]])


def test_processor_receives_every_pose():
    processor = RecordingProcessor()
    predictor = LivePredictor(DotNet(), INFO, LiveConfig(warmup_hw=None), processor)
    returned = [predictor.get_pose(dot_frame((10 + i, 20), (30, 40 + i)), frame_time=float(i))
                for i in range(5)]
    assert len(processor.poses) == 5
    for got, sent in zip(returned, processor.poses):
        np.testing.assert_array_equal(got, sent)
    assert [c["frame_index"] for c in processor.calls] == [0, 1, 2, 3, 4]
    assert [c["frame_time"] for c in processor.calls] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert all(c["latency_s"] >= 0 for c in processor.calls)


def constant_velocity_track(times, start=(10.0, 200.0), velocity=(30.0, -12.0)):
    """(T, 1, 2, 3): two parts moving at constant velocity (px / s), likelihood 1."""
    t = np.asarray(times)[:, None, None]
    xy = np.array(start) + np.array(velocity) * t  # (T, 1, 2)
    xy = np.stack([xy, xy + 5.0], axis=2)  # (T, 1, 2 parts, 2)
    return np.concatenate([xy, np.ones(xy.shape[:-1] + (1,))], axis=-1)


def test_constant_velocity_extrapolates_exactly():
    times = [0.0, 0.033, 0.07, 0.1, 0.2]  # irregular frame times
    track = constant_velocity_track(times + [0.2 + 0.045])
    forward = ConstantVelocity(pcutoff=0.5)
    for t, pose in zip(times, track):
        forward.update(pose, t)
    np.testing.assert_allclose(forward.predict(track[-2], 0.245), track[-1], rtol=0, atol=1e-9)


def test_constant_velocity_ignores_low_likelihood_parts():
    track = constant_velocity_track([0.0, 0.1, 0.2, 0.3])
    forward = ConstantVelocity(pcutoff=0.5)
    forward.update(track[0], 0.0)
    forward.update(track[1], 0.1)
    lost = track[2].copy()
    lost[..., 1, :] = (999.0, 999.0, 0.1)  # part 1 misdetected, low likelihood
    forward.update(lost, 0.2)
    predicted = forward.predict(lost, 0.3)
    np.testing.assert_allclose(predicted[..., :2], track[3][..., :2], atol=1e-9)
    assert predicted[0, 1, 2] == 0.1  # likelihood kept as measured


def test_kalman_converges_to_constant_velocity_extrapolation():
    dt, lag = 1 / 30, 0.05
    times = np.arange(90) * dt
    track = constant_velocity_track(np.append(times, times[-1] + lag))
    forward = make_forward("kalman", 0.5)
    assert isinstance(forward, Kalman)
    errors = []
    for t, pose in zip(times, track):
        forward.update(pose, t)
        truth = constant_velocity_track([t + lag])[0]
        errors.append(np.abs(forward.predict(pose, t + lag) - truth).max())
    assert errors[-1] < 1e-3 and errors[2] < 1.0


def test_forward_predictor_in_get_pose_reports_the_pose_after_the_lag():
    config = LiveConfig(forward="constant_velocity", lag_s=0.5, warmup_hw=None)
    predictor = LivePredictor(DotNet(), INFO, config)
    predictor.get_pose(dot_frame((20, 30), (50, 30)), frame_time=0.0)
    pose = predictor.get_pose(dot_frame((24, 32), (50, 34)), frame_time=1.0)
    # 4 px/s and 2 px/s right, 0 and 4 px/s down: half a second later
    np.testing.assert_allclose(pose[0, :, :2], [[26.5, 33.5], [50.5, 36.5]])
    with pytest.raises(ValueError, match="kalman"):
        LiveConfig(forward="Kalman")


@pytest.fixture(scope="module")
def exported(trained_synthetic):
    project, predictor, video = trained_synthetic
    return predictor, export_model(predictor.model_dir), video


@pytest.mark.parametrize("runtime", ["keras", "onnx"])
def test_live_predictor_agrees_with_predictor(exported, runtime):
    predictor, folder, video = exported
    frames = [frame for _, frame in iter_frames(video, 0, 5)]
    expected = np.asarray(predictor.predict_batch(np.stack(frames)))
    expected = expected.reshape(len(frames), 1, len(predictor.bodyparts), 3)  # (N, 1, K, 3)
    path = folder if runtime == "onnx" else predictor.model_dir
    live = LivePredictor.load(path, LiveConfig(runtime=runtime, warmup_hw=frames[0].shape[:2]))
    got = np.stack([live.get_pose(frame) for frame in frames])
    assert live.bodyparts == predictor.bodyparts
    np.testing.assert_allclose(got[..., :2], expected[..., :2], atol=0.1)
    np.testing.assert_allclose(got[..., 2], expected[..., 2], atol=1e-3)


def test_live_decodes_at_the_models_scales_as_analysis_does(exported, tmp_path):
    """A decoding chosen after export (three scales): the export is renewed, and both
    runtimes with test_passes give the poses the Predictor gives at those scales."""
    predictor, _, video = exported
    folder = Path(shutil.copytree(predictor.model_dir, tmp_path / predictor.model_dir.name))
    use_test_scales(folder, (0.85, 1.0, 1.15))
    frames = np.stack([frame for _, frame in iter_frames(video, 0, 3)])
    expected = Predictor(folder).predict_batch(frames)  # (N, 1, K, 3)
    exported_dir = ensure_exported(folder)
    assert load_live_config(exported_dir)["test_scales"] == [0.85, 1.0, 1.15]
    for runtime, path in (("keras", folder), ("onnx", exported_dir)):
        live = LivePredictor.load(path, LiveConfig(runtime=runtime, warmup_hw=None,
                                                   test_passes=True))
        got = np.stack([live.get_pose(frame) for frame in frames])
        np.testing.assert_allclose(got[..., :2], expected[..., :2], atol=0.1)
        np.testing.assert_allclose(got[..., 2], expected[..., 2], atol=1e-3)


def test_latency_summary_leaves_out_the_first_call():
    summary = latency_summary(np.array([5.0, 0.010, 0.030, 0.020]))  # seconds
    assert summary["frames"] == 3
    np.testing.assert_allclose([summary["mean_ms"], summary["fps"]], [20.0, 50.0])
    np.testing.assert_allclose(summary["sd_ms"], np.std([10, 30, 20]))
    assert 29.0 < summary["p99_ms"] <= 30.0
    with pytest.raises(ValueError, match="at least 2 frames"):
        latency_summary(np.array([0.1]))


def test_load_net_names_the_runtimes_and_the_missing_export(tmp_path):
    with pytest.raises(ValueError, match=r"'tflite'.*\['keras', 'onnx'\]"):
        load_net(tmp_path, "tflite")
    with pytest.raises(FileNotFoundError, match="export_model"):
        load_net(tmp_path, "onnx")
    with pytest.raises(ValueError, match="resize"):
        LiveConfig(resize=0)


def test_efficientnet_exports_to_onnx_and_agrees(tmp_path):
    """EfficientNet holds its input normalization in the network; as Keras computes it (from
    tensors copied out of its weights) the ONNX file lacked them as inputs. Folded to
    constants, the exported model runs and predicts as kit does."""
    from kit.experiments.synthetic import SyntheticConfig, make_synthetic_project
    from kit.net.data import AugmentConfig
    from kit.net.train import TrainConfig, train

    project = make_synthetic_project(tmp_path / "p", SyntheticConfig(
        num_frames=20, num_labeled=4, image_size=(64, 64)))
    model_dir = train(project, TrainConfig(
        train_fraction=1.0, train_steps=2, batch_size=2, weights=None, batchnorm_batches=0,
        net_type="efficientnet-b0", augment=AugmentConfig(crop_size=(64, 64))), verbose=0)
    folder = export_model(model_dir)
    frames = [frame for _, frame in iter_frames(project.videos_dir / "animal0.mp4", 0, 3)]
    poses = {}
    for runtime, path in (("keras", model_dir), ("onnx", folder)):
        live = LivePredictor.load(path, LiveConfig(runtime=runtime,
                                                   warmup_hw=frames[0].shape[:2]))
        poses[runtime] = np.stack([live.get_pose(frame) for frame in frames])
    np.testing.assert_allclose(poses["onnx"][..., :2], poses["keras"][..., :2], atol=0.1)
    np.testing.assert_allclose(poses["onnx"][..., 2], poses["keras"][..., 2], atol=1e-3)
