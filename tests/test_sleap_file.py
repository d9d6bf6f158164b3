"""SLEAP files through sleap-io: the shared two-fly predictions, and round trips of kit poses."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_dataset

from kit.__main__ import main
from kit.project import load_project
from kit.project.analysis_file import predictions_frame
from kit.project.hdf import write_h5
from kit.project.labels import labels_to_array, load_labels
from kit.project.sleap_file import (
    SleapPoses,
    analysis_to_slp,
    import_slp,
    poses_from_arrays,
    read_slp,
    save_slp,
)
from kit.project.video import write_video


def test_shared_two_flies_read_as_slots_or_tracks():
    slp = shared_dataset("sleap-centered-pair") / "centered_pair_predictions.slp"
    poses = read_slp(slp)
    # 1100 frames, 24 nodes, 23 edges; tracks are fragments (27), so instances fill slots:
    # at most 5 instances in a frame (README of the dataset)
    assert poses.points.shape == (1100, 5, 24, 3)
    assert poses.individuals == tuple(f"animal{n}" for n in range(1, 6))
    assert poses.bodyparts[:3] == ("head", "neck", "thorax") and len(poses.skeleton) == 23
    assert not poses.user.any() and poses.video.name == "centered_pair_low_quality.mp4"
    present = np.isfinite(poses.points[..., 0]).any(axis=2)
    assert present[:, :2].mean() > 0.99 and present.sum() == 2274  # every predicted instance
    scores = poses.points[..., 2][np.isfinite(poses.points[..., 2])]
    assert 0 <= scores.min() and scores.max() <= 1.5  # SLEAP's point scores
    by_track = read_slp(slp, individuals="tracks")
    assert by_track.points.shape == (1100, 27, 24, 3)
    assert np.isfinite(by_track.points[..., 0]).any(axis=2).sum() == 2274


def _kit_poses(video) -> SleapPoses:
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.uniform(0, 100, (6, 2, 3, 2)), rng.uniform(0, 1, (6, 2, 3, 1))],
                            axis=3)
    points[1, 1] = np.nan  # the second mouse is not in frame 3
    points[2, 0, 1] = np.nan  # one body part not found
    return poses_from_arrays(video, [0, 3, 4, 7, 8, 9], points, ["snout", "ear", "tail"],
                             ["mouse1", "mouse2"], [("snout", "ear"), ("ear", "tail")])


def test_kit_poses_round_trip_with_tracks_and_user_instances(tmp_path):
    poses = _kit_poses(tmp_path / "video.mp4")
    user = poses.user.copy()
    user[0, 0] = True  # a human label among predictions
    poses = SleapPoses(poses.video, poses.frames, poses.points, poses.bodyparts, poses.skeleton,
                       poses.individuals, user)
    back = read_slp(save_slp(tmp_path / "out.slp", poses))
    assert back.individuals == ("mouse1", "mouse2") and back.bodyparts == poses.bodyparts
    assert back.skeleton == poses.skeleton and list(back.frames) == [0, 3, 4, 7, 8, 9]
    expected = poses.points.copy()
    expected[0, 0, :, 2] = 1.0  # a user instance has no score: 1
    np.testing.assert_allclose(back.points, expected, atol=1e-5)  # SLEAP stores float32
    assert back.user[0, 0] and back.user.sum() == 1
    assert read_slp(tmp_path / "out.slp", instances="user").points.shape == (1, 2, 3, 3)


def test_bad_arguments_name_the_choices(tmp_path):
    with pytest.raises(ValueError, match=r"instances must be one of \['user', 'predicted', 'all'\]"):
        read_slp(tmp_path / "x.slp", instances="human")
    with pytest.raises(FileNotFoundError, match="x.slp"):
        read_slp(tmp_path / "x.slp")
    poses = _kit_poses(tmp_path / "video.mp4")
    with pytest.raises(ValueError, match=r"points must have shape \(num_frames, 2, 3, 3\)"):
        save_slp(tmp_path / "y.slp", poses_from_arrays(poses.video, poses.frames,
                                                        poses.points[:, :, :2], poses.bodyparts,
                                                        poses.individuals))
    empty = save_slp(tmp_path / "z.slp", poses_from_arrays(poses.video, poses.frames,
                                                           np.full((6, 2, 3, 3), np.nan),
                                                           poses.bodyparts, poses.individuals))
    with pytest.raises(ValueError, match="no all instances|no video"):
        read_slp(empty)


def test_import_the_shared_pair_into_a_multianimal_project(tmp_path):
    slp = shared_dataset("sleap-centered-pair") / "centered_pair_predictions.slp"
    assert main(["import-slp", str(slp), str(tmp_path / "p"), "--instances", "predicted",
                 "--num-individuals", "2", "--max-frames", "6"]) == 0
    project = load_project(tmp_path / "p")
    assert project.layout.individuals == ("animal1", "animal2")
    assert len(project.bodyparts) == 24 and len(project.skeleton) == 23
    assert (project.videos_dir / "centered_pair_low_quality.mp4").is_file()
    labels = load_labels(project)
    assert labels.columns.nlevels == 4 and len(labels) == 6
    assert all((project.root / name).is_file() for name in labels.index)
    poses = read_slp(slp)
    frames = [int(name.rsplit("img", 1)[1].split(".")[0]) for name in labels.index]
    got = labels_to_array(labels, project.bodyparts, project.layout)
    for row, frame in enumerate(frames):  # each labeled animal is one of SLEAP's instances
        for animal in got[row]:
            if np.isfinite(animal).any():
                match = [np.allclose(np.nan_to_num(animal, nan=-1), np.nan_to_num(
                    p[:, :2], nan=-1), atol=1e-3) for p in poses.points[frame]]
                assert any(match), (frame, animal[:2])


def test_import_user_instances_with_tracks(tmp_path):
    video = write_video(tmp_path / "clip.mp4", [np.full((48, 64, 3), 9 * i, np.uint8)
                                                for i in range(10)], fps=10)
    poses = _kit_poses(video)
    user = np.zeros_like(poses.user)
    user[[0, 3]] = True  # two frames labeled by a person, the rest predictions
    poses = SleapPoses(poses.video, poses.frames, poses.points, poses.bodyparts,
                       poses.skeleton, poses.individuals, user)
    project = import_slp(save_slp(tmp_path / "labels.slp", poses), tmp_path / "p")
    assert project.layout.individuals == ("mouse1", "mouse2")
    assert project.skeleton == [("snout", "ear"), ("ear", "tail")]
    labels = load_labels(project)
    assert list(labels.index) == ["labeled-data/clip/img00.png", "labeled-data/clip/img07.png"]
    np.testing.assert_allclose(labels_to_array(labels, project.bodyparts, project.layout),
                               poses.points[[0, 3], :, :, :2], atol=1e-4)


def test_a_kit_analysis_exported_as_slp(tmp_path):
    points = np.random.default_rng(1).uniform(0, 1, (5, 1, 2, 3))
    h5 = tmp_path / "clipDLC_resnet50_x.h5"
    write_h5(predictions_frame(points, range(5), "DLC_resnet50_x", ["snout", "tail"]), h5)
    back = read_slp(analysis_to_slp(h5, tmp_path / "clip.mp4", tmp_path / "clip.slp",
                                    [("snout", "tail")]))
    assert back.individuals == ("animal",) and back.skeleton == (("snout", "tail"),)
    np.testing.assert_allclose(back.points, points, atol=1e-5)
