"""Picking frames to label and extracting them into a project."""


import cv2
import numpy as np
import pytest
from conftest import CLIP_HEIGHT, CLIP_WIDTH

from kit.project import create_project
from kit.project.frame_picking import (
    ExtractConfig,
    extract_frames,
    extracted_frame_indices,
    frame_image_name,
    pick_frames,
)
from kit.project.video import read_frames, save_image, write_video


@pytest.mark.parametrize("method", ["uniform", "kmeans"])
def test_pick_frames_sorted_distinct_within_range(coloured_clip, method):
    picks = pick_frames(coloured_clip, 5, method=method, span=(0.2, 0.8))
    assert picks == sorted(set(picks)) and len(picks) == 5
    assert all(6 <= i < 24 for i in picks)
    assert pick_frames(coloured_clip, 5, method=method, span=(0.2, 0.8)) == picks  # seeded
    assert not set(pick_frames(coloured_clip, 5, method=method, exclude=picks)) & set(picks)


def test_pick_frames_rejects_bad_arguments(coloured_clip):
    with pytest.raises(ValueError, match="uniform"):
        pick_frames(coloured_clip, 3, method="random")
    with pytest.raises(ValueError, match="num_frames=31"):
        pick_frames(coloured_clip, 31)
    with pytest.raises(ValueError, match="start"):
        pick_frames(coloured_clip, 3, span=(0.5, 0.5))


def test_kmeans_picks_one_frame_per_scene(tmp_path):
    # Three scenes of unequal length; uniform picks would land twice in the long one.
    scenes = [0] * 20 + [1] * 4 + [2] * 6
    rng = np.random.default_rng(1)
    looks = [rng.integers(0, 256, (CLIP_HEIGHT // 8, CLIP_WIDTH // 8, 3), dtype=np.uint8) for _ in range(3)]
    frames = [
        cv2.resize(looks[s], (CLIP_WIDTH, CLIP_HEIGHT), interpolation=cv2.INTER_NEAREST) for s in scenes
    ]
    path = write_video(tmp_path / "scenes.mp4", frames, fps=25)
    picks = pick_frames(path, 3, method="kmeans")
    assert sorted(scenes[i] for i in picks) == [0, 1, 2]


def test_extract_frames_names_like_deeplabcut_and_never_overwrites(tmp_path, coloured_clip):
    project = create_project(tmp_path / "p", "t", "me", ["snout"])
    first = extract_frames(project, coloured_clip, ExtractConfig(num_frames=3))
    assert [p.name for p in first] == ["img05.png", "img15.png", "img25.png"]
    assert all(p.parent == project.labeled_data_dir("clip") for p in first)
    image = cv2.cvtColor(cv2.imread(str(first[0])), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(image, read_frames(coloured_clip, [5])[5])
    # A "labeled" frame must survive a rerun untouched.
    marker = np.zeros((CLIP_HEIGHT, CLIP_WIDTH, 3), np.uint8)
    save_image(first[0], marker)
    second = extract_frames(project, coloured_clip, ExtractConfig(num_frames=3))
    assert not {p.name for p in second} & {p.name for p in first}
    assert len(second) == 3
    np.testing.assert_array_equal(cv2.imread(str(first[0])), marker)
    assert extracted_frame_indices(project, "clip") == sorted(
        int(p.stem[3:]) for p in first + second
    )


def test_frame_image_name_pads_to_frame_count_digits():
    assert frame_image_name(42, 1000) == "img0042.png"
    assert frame_image_name(7, 200) == "img007.png"
    assert frame_image_name(3, 9) == "img3.png"
