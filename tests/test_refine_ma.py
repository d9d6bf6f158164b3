"""Refinement of multi-animal analyses: identity switches and jumps as outliers, machine
labels and merged corrections in the project's 4-level layout."""

import numpy as np
import pandas as pd
import pytest

from kit.project import create_project
from kit.project.analysis_file import POSE_COORDS, predictions_frame, save_analysis
from kit.project.labels import load_labels, make_labels_frame, write_labels_file
from kit.project.video import write_video
from kit.results import outliers, refine

ANIMALS, PARTS, UNIQUE = ["m1", "m2", "m3"], ["snout", "tail"], ["lamp"]
NUM_FRAMES, SWAP_AT, JUMP_AT = 40, 25, 10


def _tracks():
    """(T, 4, 3, 3) three animals walking side by side 60 px apart (rows m1 m2 m3 single;
    parts snout, tail, lamp), likelihood 0.9; m1 and m2 trade tracks from SWAP_AT on, and
    m3's snout jumps 40 px at JUMP_AT (back at JUMP_AT + 1)."""
    t = np.arange(NUM_FRAMES, dtype=float)
    poses = np.full((NUM_FRAMES, 4, 3, 3), np.nan)
    for i in range(3):
        poses[:, i, 0, :2] = np.stack([20 + 2 * t, 30 + 60.0 * i + 0 * t], -1)
        poses[:, i, 1, :2] = poses[:, i, 0, :2] + [-15, 0]
    poses[:, 3, 2, :2] = [150.0, 10.0]
    poses[..., 2] = np.where(np.isfinite(poses[..., 0]), 0.9, np.nan)
    poses[SWAP_AT:, [0, 1]] = poses[SWAP_AT:, [1, 0]].copy()
    poses[JUMP_AT, 2, 0, 1] += 40.0
    return poses


def test_identity_swap_and_jump_found_per_individual():
    poses = _tracks()
    table = outliers.outlier_scores(poses, outliers.OutlierConfig(pcutoff=0.5, jump_px=20))
    assert table.index[table.swap].tolist() == [SWAP_AT]
    # kept: m1 and m2 each move sqrt(60^2 + 2^2) px; re-paired: every animal moves 2 px
    assert table.swap_px[SWAP_AT] == pytest.approx(2 * np.hypot(60, 2) - 2 * 2.0)
    assert table.swap_px[1] == pytest.approx(0.0) and np.isnan(table.swap_px[0])
    assert table.index[table.jump].tolist() == [JUMP_AT, JUMP_AT + 1, SWAP_AT]
    assert not table.swap[JUMP_AT]  # a jump of one part is no identity switch
    only_swaps = outliers.OutlierConfig(criteria=("swap",), swap_px=30)
    assert outliers.outlier_scores(poses, only_swaps).outlier.sum() == 1
    # one individual (single-animal analyses): nothing to swap
    single = outliers.outlier_scores(poses[:, :1], only_swaps)
    assert single.swap_px.isna().all() and not single.outlier.any()
    with pytest.raises(ValueError, match="swap_px"):
        outliers.OutlierConfig(swap_px=0)


@pytest.fixture
def ma_project(tmp_path):
    frames = [np.full((200, 240, 3), 10 * (i % 20), np.uint8) for i in range(NUM_FRAMES)]
    video = write_video(tmp_path / "group.mp4", frames, fps=10)
    project = create_project(tmp_path / "p", "group", "me", PARTS, videos=[video],
                             individuals=ANIMALS, uniquebodyparts=UNIQUE)
    return project, project.videos_dir / "group.mp4"


@pytest.mark.parametrize("track_names", [[*ANIMALS, "single"], ["ind1", "ind2", "ind3", "single"]])
def test_outlier_frames_extracted_with_4_level_machine_labels(ma_project, tmp_path,
                                                              track_names):
    project, video = ma_project
    poses = _tracks()
    h5 = tmp_path / "groupDLC_resnet50_el.h5"
    save_analysis(h5, predictions_frame(poses, range(NUM_FRAMES), "DLC_net", [*PARTS, *UNIQUE],
                                        track_names))
    config = outliers.OutlierConfig(num_frames=5, pcutoff=0.5, jump_px=20)
    found = outliers.extract_outliers(project, video, h5, config)
    assert found.frames == [JUMP_AT, JUMP_AT + 1, SWAP_AT]
    assert found.summary()["swap"] == 1
    machine = pd.read_hdf(found.machine_labels)
    layout = project.layout
    assert machine.columns.equals(layout.columns("DLC_net", POSE_COORDS))
    assert machine.columns.nlevels == 4 and len(machine) == 3
    row = machine.loc[found.images[-1]]  # frame SWAP_AT
    np.testing.assert_allclose(row[("DLC_net", "m1", "snout", "x")], poses[SWAP_AT, 0, 0, 0])
    np.testing.assert_allclose(row[("DLC_net", "single", "lamp", "y")], 10.0)
    # the suggestions of the pending frames, then corrections merged as confirmed labels
    assert refine.load_suggestions(project, video.stem).shape == (3, 3 * 2 * 3 + 3)
    truth = poses[[JUMP_AT], ..., :2].copy()
    truth[0, 2, 0, 1] -= 40.0  # the corrected snout
    corrections = make_labels_frame(truth, found.images[:1], "someone", layout.bodyparts,
                                    layout)
    write_labels_file(corrections, tmp_path / "corrections.h5")
    merged = refine.merge_corrections(project, video.stem, tmp_path / "corrections.h5")
    assert merged == found.images[:1]
    labels = load_labels(project)
    assert labels.columns.nlevels == 4 and list(labels.index) == found.images[:1]
    assert labels.loc[found.images[0], ("me", "m3", "snout", "y")] == pytest.approx(150.0)
    assert refine.pending_images(project, video.stem) == found.images[1:]
    single_layout = make_labels_frame(truth[:, 0, :2], found.images[:1], "me", PARTS)
    write_labels_file(single_layout, tmp_path / "flat.h5")
    with pytest.raises(ValueError, match="column levels"):
        refine.merge_corrections(project, video.stem, tmp_path / "flat.h5")
