"""Video analysis on a tiny trained synthetic project: files, equality with Predictor, resume."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import TRAINED_NUM_FRAMES as NUM_FRAMES

from kit import plots
from kit.experiments.synthetic import error_against_ground_truth, load_ground_truth
from kit.net.data import scale_image
from kit.project.analysis_file import load_poses, predictions_frame
from kit.project.drawing import PoseStyle, draw_pose
from kit.project.video import FrameReader, video_info
from kit.results import analyze


def _config(tmp_path, **kw) -> analyze.AnalyzeConfig:
    return analyze.AnalyzeConfig(train_fraction=0.75, output_dir=str(tmp_path), progress=False,
                                 **kw)


def _frames(video) -> list[np.ndarray]:
    with FrameReader(video) as reader:
        return [frame for _, frame in reader]


def test_output_has_deeplabcut_layout(trained_synthetic, tmp_path):
    project, predictor, video = trained_synthetic
    result = analyze.analyze_video(project, video, _config(tmp_path, save_csv=True), predictor)
    scorer = f"DLC_resnet50_synthetic{project.date}shuffle1_2"
    assert result.h5 == tmp_path / f"animal0{scorer}.h5" and not result.skipped
    df = pd.read_hdf(result.h5, key="df_with_missing")
    expected = pd.MultiIndex.from_product(
        [[scorer], project.bodyparts, ["x", "y", "likelihood"]],
        names=["scorer", "bodyparts", "coords"])
    assert df.columns.equals(expected)
    assert list(df.index) == list(range(NUM_FRAMES))
    points = df.to_numpy().reshape(NUM_FRAMES, -1, 3)
    assert np.isfinite(points[..., :2]).all()
    assert ((points[..., 2] >= 0) & (points[..., 2] <= 1)).all()
    assert (tmp_path / f"animal0{scorer}.csv").is_file()
    meta = json.loads((tmp_path / f"animal0{scorer}_meta.json").read_text())
    assert meta["num_frames"] == meta["num_frames_analyzed"] == NUM_FRAMES
    assert meta["truncated"] is False and meta["width"] == 64 and meta["fps"] == 30
    assert meta["frames_per_s"] > 0 and 0 <= meta["wait_fraction"] <= 1
    assert not list(tmp_path.glob("*partial*")) and not list(tmp_path.glob(".tmp*"))


@pytest.mark.parametrize("num_workers", [1, 3])
def test_threaded_batches_equal_predict_images(trained_synthetic, tmp_path, num_workers):
    project, predictor, video = trained_synthetic
    config = _config(tmp_path, batch_size=3, num_workers=num_workers)
    result = analyze.analyze_video(project, video, config, predictor)
    expected = predictor.predict_images(_frames(video), batch_size=8)
    got = load_poses(result.h5)[0]
    np.testing.assert_allclose(got[..., :2], expected[..., :2], atol=1e-3)
    np.testing.assert_allclose(got[..., 2], expected[..., 2], atol=1e-5)


def test_crop_and_downscale_map_back_to_full_frame(trained_synthetic, tmp_path):
    project, predictor, video = trained_synthetic
    crop = (8, 56, 4, 60)  # x1, x2, y1, y2
    config = _config(tmp_path, crop=crop, downscale=2.0, batch_size=8, num_workers=2)
    got = load_poses(analyze.analyze_video(project, video, config, predictor).h5)[0]
    small = [scale_image(np.ascontiguousarray(f[4:60, 8:56]), 0.5) for f in _frames(video)]
    expected = predictor.predict_images(small)
    expected[..., :2] = expected[..., :2] * 2 + [8, 4]
    np.testing.assert_allclose(got, expected, atol=1e-3)
    with pytest.raises(ValueError, match="outside"):
        analyze.analyze_video(project, video, _config(tmp_path, crop=(0, 65, 0, 64)), predictor)


class _Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_the_same_result(trained_synthetic, tmp_path):
    project, predictor, video = trained_synthetic
    whole = analyze.analyze_video(
        project, video, _config(tmp_path / "whole", batch_size=4, num_workers=1), predictor)

    def stop_after_two_batches(done: int) -> None:
        if done >= 8:
            raise _Interrupt

    config = _config(tmp_path / "resumed", batch_size=4, save_every=4, num_workers=3)
    with pytest.raises(_Interrupt):
        analyze.analyze_video(project, video, config, predictor, on_batch=stop_after_two_batches)
    assert len(list((tmp_path / "resumed").glob("*.partial.h5"))) == 1
    assert not list((tmp_path / "resumed").glob("*_meta.json"))
    resumed = analyze.analyze_video(project, video, config, predictor)
    assert resumed.metadata["resumed_from_frame"] == 8
    np.testing.assert_allclose(load_poses(resumed.h5)[0], load_poses(whole.h5)[0],
                               atol=1e-3)
    assert not list((tmp_path / "resumed").glob("*.partial.h5"))


def test_done_video_is_skipped_unless_overwrite(trained_synthetic, tmp_path):
    project, predictor, video = trained_synthetic
    first = analyze.analyze_videos(project, [video], _config(tmp_path), predictor)[0]
    again = analyze.analyze_videos(project, [video], _config(tmp_path), predictor)[0]
    assert again.skipped and again.metadata == first.metadata
    redone = analyze.analyze_video(project, video, _config(tmp_path, overwrite=True), predictor)
    assert not redone.skipped and redone.metadata["date"] != first.metadata["date"]
    with pytest.raises(ValueError, match="overwrite=True"):
        analyze.analyze_video(project, video, _config(tmp_path, downscale=2.0), predictor)


def test_truncated_video_is_flagged(trained_synthetic, tmp_path):
    project, predictor, video = trained_synthetic
    full = tmp_path / "full.avi"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 64))
    for frame in _frames(video):
        writer.write(frame[:, :, ::-1])
    writer.release()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    assert video_info(cut).num_frames == NUM_FRAMES
    with pytest.warns(UserWarning, match="cut.avi ended after"):
        result = analyze.analyze_video(project, cut, _config(tmp_path), predictor)
    assert result.metadata["truncated"] is True
    num_read = result.metadata["num_frames_analyzed"]
    assert 0 < num_read < NUM_FRAMES
    assert len(pd.read_hdf(result.h5)) == num_read


def test_unreadable_videos_and_missing_model_give_clear_errors(trained_synthetic, tmp_path):
    project, predictor, _ = trained_synthetic
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "notavideo.mp4").write_text("hello")
    for name in ("empty.mp4", "notavideo.mp4", "missing.mp4"):
        with pytest.raises(ValueError, match=name):
            analyze.analyze_video(project, tmp_path / name, _config(tmp_path), predictor)
    with pytest.raises(FileNotFoundError, match="Train it first"):
        analyze.analyze_videos(project, [tmp_path / "empty.mp4"],
                               _config(tmp_path, shuffle=7))
    assert not list(tmp_path.glob("*DLC_*"))


def test_find_videos(trained_synthetic, tmp_path):
    project, _, video = trained_synthetic
    assert analyze.find_videos(project) == [video]
    assert analyze.find_videos(project, str(video)) == [video]
    (tmp_path / f"{video.stem}DLC_x_labeled.mp4").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="No videos"):
        analyze.find_videos(project, tmp_path)


def test_error_against_ground_truth_is_the_offset(trained_synthetic, tmp_path):
    project, _, video = trained_synthetic
    truth = load_ground_truth(project, "animal0", include_occluded=True)
    points = np.concatenate([truth + [3.0, 4.0], np.ones((*truth.shape[:2], 1))], axis=2)
    h5 = tmp_path / "shifted.h5"
    predictions_frame(points[:, None], range(NUM_FRAMES), "s", project.bodyparts).to_hdf(
        h5, key="df_with_missing", format="table")
    assert error_against_ground_truth(project, video, h5) == pytest.approx(5.0)
    assert error_against_ground_truth(project, video, h5, [0, 3]) == pytest.approx(5.0)


def test_labeled_video_stills_and_figures(trained_synthetic, tmp_path):
    project, predictor, video = trained_synthetic
    result = analyze.analyze_video(project, video, _config(tmp_path), predictor)
    style = PoseStyle(pcutoff=0.0, skeleton=tuple(project.skeleton), trail_length=3)
    labeled = plots.create_labeled_video(video, result.h5, style)
    assert labeled.name == f"{result.h5.stem}_labeled.mp4"
    assert video_info(labeled).num_frames == NUM_FRAMES
    stills = plots.save_stills(video, result.h5, style, num_stills=2)
    assert [p.name[-15:] for p in stills] == ["_frame00000.png", "_frame00019.png"]
    figures = plots.save_analysis_figures(result.h5, 0.1)
    assert [p.name.rsplit("_", 1)[1] for p in figures] == [
        "trajectories.png", "likelihood.png", "jumps.png"]


def test_draw_pose_hides_or_fades_points_below_pcutoff():
    frame = np.zeros((40, 40, 3), np.uint8)
    points = np.array([[[[10.0, 10.0, 0.9], [30.0, 30.0, 0.1]]]])  # (1 frame, 1 individual, 2, 3)
    hidden = draw_pose(frame, points, 0, PoseStyle(pcutoff=0.5, dotsize=6), "ab")
    assert hidden[10, 10].any() and not hidden[30, 30].any() and not hidden[25:36, 25:36].any()
    faded = draw_pose(frame, points, 0, PoseStyle(pcutoff=0.5, dotsize=6,
                                                              low_likelihood="fade"), "ab")
    assert faded[27, 30].any() and not faded[30, 30].any()  # a ring: drawn edge, empty centre
    assert not frame.any()  # the input is not drawn on
    points[0, 0, 1, 2] = 0.9
    joined = draw_pose(frame, points, 0, PoseStyle(pcutoff=0.5, dotsize=2,
                                                               skeleton=(("a", "b"),)), "ab")
    assert joined[20, 20].all()  # the skeleton line, white, between (10, 10) and (30, 30)
    with pytest.raises(ValueError, match="'c'"):
        draw_pose(frame, points, 0, PoseStyle(skeleton=(("a", "c"),)), "ab")


def test_frame_jumps_count_only_confident_pairs():
    points = np.array([[[0, 0, 1.0]], [[3, 4, 1.0]], [[3, 4, 0.0]], [[0, 0, 1.0]]])[:, None]
    np.testing.assert_array_equal(plots.frame_jumps(points, 0.5)[:, 0, 0], [5.0, np.nan, np.nan])


def test_frame_roughness_takes_steady_motion_out():
    """A part moving 10 px a frame at a steady speed has no roughness, however far it moves
    (its jitter: 10 px); one that shakes between two places 2 px apart has roughness 2, as
    its move; an unsure frame leaves out the three triples it is in."""
    steady = np.zeros((5, 1, 1, 3))
    steady[:, 0, 0, 0], steady[..., 2] = 10.0 * np.arange(5), 1.0
    shaking = steady.copy()
    shaking[:, 0, 0, 0] = [0, 2, 0, 2, 0]
    np.testing.assert_allclose(plots.frame_roughness(steady, 0.5)[:, 0, 0], 0.0)
    np.testing.assert_allclose(plots.frame_roughness(shaking, 0.5)[:, 0, 0], 2.0)
    np.testing.assert_allclose(plots.frame_jumps(shaking, 0.5)[:, 0, 0], 2.0)
    shaking[2, 0, 0, 2] = 0.1
    assert np.isnan(plots.frame_roughness(shaking, 0.5)[:, 0, 0]).all()


def test_draw_pose_draws_every_individual_in_body_part_colours():
    frame = np.zeros((40, 40, 3), np.uint8)
    points = np.array([[[[10.0, 10.0, 0.9]], [[30.0, 30.0, 0.9]]]])  # 2 individuals, 1 part
    drawn = draw_pose(frame, points, 0, PoseStyle(pcutoff=0.5, dotsize=4), ["a"])
    assert drawn[10, 10].any() and (drawn[10, 10] == drawn[30, 30]).all()
    with pytest.raises(ValueError, match="num_individuals"):
        draw_pose(frame, points[:, 0], 0, PoseStyle(), ["a"])
