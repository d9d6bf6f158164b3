from pathlib import Path

import cv2
import numpy as np
import pytest

from kit.project import create_project
from kit.video import (
    FrameReader,
    extract_frames,
    extracted_frame_indices,
    frame_image_name,
    iter_frames,
    pick_frames,
    read_frames,
    save_image,
    video_info,
    write_video,
)

WIDTH, HEIGHT = 64, 48


def _frames(num_frames: int) -> list[np.ndarray]:
    """Flat frames whose colour encodes the index, so a decoded frame tells which it is."""
    return [
        np.full((HEIGHT, WIDTH, 3), (8 * i % 256, 255 - 8 * i % 256, 100), np.uint8)
        for i in range(num_frames)
    ]


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("v") / "clip.mp4", _frames(30), fps=25)


def test_write_then_read_round_trip(video):
    info = video_info(video)
    assert (info.num_frames, info.width, info.height) == (30, WIDTH, HEIGHT)
    assert info.fps == pytest.approx(25)
    expected = _frames(30)
    reader = iter_frames(video)
    indices = []
    for index, frame in reader:
        assert frame.dtype == np.uint8 and frame.shape == (HEIGHT, WIDTH, 3)
        assert np.abs(frame.astype(int) - expected[index]).mean() < 4  # mp4 is lossy
        indices.append(index)
    assert indices == list(range(30))
    assert reader.num_read == 30 and not reader.truncated
    assert not list(video.parent.glob(".*tmp*"))  # no temporary file left


def test_iter_frames_start_stop_step_and_read_frames(video):
    with FrameReader(video, start=5, stop=20, step=4) as reader:
        got = dict(reader)
    assert list(got) == [5, 9, 13, 17]
    sparse = read_frames(video, [28, 2, 9, 2])
    assert list(sparse) == [2, 9, 28]
    for index, frame in sparse.items():
        assert np.abs(frame.astype(int) - _frames(30)[index]).mean() < 4
    np.testing.assert_array_equal(sparse[9], got[9])
    with pytest.raises(ValueError, match="30"):
        read_frames(video, [30])


def test_seeking_lands_on_the_right_frame(tmp_path):
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 256, (100, HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
    frames = [cv2.resize(b, (WIDTH, HEIGHT), interpolation=cv2.INTER_NEAREST) for b in blocks]
    path = write_video(tmp_path / "noise.mp4", frames, fps=25)
    sequential = dict(iter_frames(path))
    for index, frame in read_frames(path, [3, 57, 90, 99]).items():
        np.testing.assert_array_equal(frame, sequential[index])
    for index, frame in iter_frames(path, start=70, step=10):
        np.testing.assert_array_equal(frame, sequential[index])


def test_unopenable_and_empty_videos_name_the_file(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(ValueError, match="junk.mp4"):
        video_info(junk)
    empty = tmp_path / "empty.mp4"
    writer = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"mp4v"), 25, (WIDTH, HEIGHT))
    writer.release()  # a container with zero frames
    with pytest.raises(ValueError, match="empty.mp4"):
        iter_frames(empty)
    with pytest.raises(ValueError, match="missing.mp4"):
        video_info(tmp_path / "missing.mp4")
    with pytest.raises(ValueError, match="No frames"):
        write_video(tmp_path / "none.mp4", [], fps=25)


def test_truncated_video_is_flagged(tmp_path, video):
    # mp4 keeps its index at the end: half a file cannot be opened at all.
    half = tmp_path / "half.mp4"
    half.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    with pytest.raises(ValueError, match="half.mp4"):
        video_info(half)
    # AVI (MJPG) opens and declares 30 frames, but only about half can be read.
    rng = np.random.default_rng(0)
    full = tmp_path / "full.avi"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 25, (WIDTH, HEIGHT))
    for _ in range(30):
        writer.write(rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8))
    writer.release()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    reader = iter_frames(cut)
    assert reader.info.num_frames == 30
    frames = list(reader)
    assert reader.truncated and reader.num_read == len(frames) < 30
    with pytest.raises(ValueError, match="truncated"):
        read_frames(cut, [29])


@pytest.mark.parametrize("method", ["uniform", "kmeans"])
def test_pick_frames_sorted_distinct_within_range(video, method):
    picks = pick_frames(video, 5, method=method, start=0.2, stop=0.8)
    assert picks == sorted(set(picks)) and len(picks) == 5
    assert all(6 <= i < 24 for i in picks)
    assert pick_frames(video, 5, method=method, start=0.2, stop=0.8) == picks  # seeded
    assert not set(pick_frames(video, 5, method=method, exclude=picks)) & set(picks)


def test_pick_frames_rejects_bad_arguments(video):
    with pytest.raises(ValueError, match="uniform"):
        pick_frames(video, 3, method="random")
    with pytest.raises(ValueError, match="num_frames=31"):
        pick_frames(video, 31)
    with pytest.raises(ValueError, match="start"):
        pick_frames(video, 3, start=0.5, stop=0.5)


def test_kmeans_picks_one_frame_per_scene(tmp_path):
    # Three scenes of unequal length; uniform picks would land twice in the long one.
    scenes = [0] * 20 + [1] * 4 + [2] * 6
    rng = np.random.default_rng(1)
    looks = [rng.integers(0, 256, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8) for _ in range(3)]
    frames = [
        cv2.resize(looks[s], (WIDTH, HEIGHT), interpolation=cv2.INTER_NEAREST) for s in scenes
    ]
    path = write_video(tmp_path / "scenes.mp4", frames, fps=25)
    picks = pick_frames(path, 3, method="kmeans")
    assert sorted(scenes[i] for i in picks) == [0, 1, 2]


def test_extract_frames_names_like_deeplabcut_and_never_overwrites(tmp_path, video):
    project = create_project(tmp_path / "p", "t", "me", ["snout"])
    first = extract_frames(project, video, 3)
    assert [p.name for p in first] == ["img05.png", "img15.png", "img25.png"]
    assert all(p.parent == project.labeled_data_dir("clip") for p in first)
    image = cv2.cvtColor(cv2.imread(str(first[0])), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(image, read_frames(video, [5])[5])
    # A "labeled" frame must survive a rerun untouched.
    marker = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    save_image(first[0], marker)
    second = extract_frames(project, video, 3)
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
