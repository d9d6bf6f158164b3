
import cv2
import numpy as np
import pytest
from conftest import CLIP_HEIGHT, CLIP_WIDTH, coloured_frames

from kit.project.video import (
    FrameReader,
    iter_frames,
    read_frames,
    video_info,
    write_video,
)


def test_write_then_read_round_trip(coloured_clip):
    info = video_info(coloured_clip)
    assert (info.num_frames, info.width, info.height) == (30, CLIP_WIDTH, CLIP_HEIGHT)
    assert info.fps == pytest.approx(25)
    expected = coloured_frames(30)
    reader = iter_frames(coloured_clip)
    indices = []
    for index, frame in reader:
        assert frame.dtype == np.uint8 and frame.shape == (CLIP_HEIGHT, CLIP_WIDTH, 3)
        assert np.abs(frame.astype(int) - expected[index]).mean() < 4  # mp4 is lossy
        indices.append(index)
    assert indices == list(range(30))
    assert reader.num_read == 30 and not reader.truncated
    assert not list(coloured_clip.parent.glob(".*tmp*"))  # no temporary file left


def test_iter_frames_start_stop_step_and_read_frames(coloured_clip):
    with FrameReader(coloured_clip, start=5, stop=20, step=4) as reader:
        got = dict(reader)
    assert list(got) == [5, 9, 13, 17]
    sparse = read_frames(coloured_clip, [28, 2, 9, 2])
    assert list(sparse) == [2, 9, 28]
    for index, frame in sparse.items():
        assert np.abs(frame.astype(int) - coloured_frames(30)[index]).mean() < 4
    np.testing.assert_array_equal(sparse[9], got[9])
    with pytest.raises(ValueError, match="30"):
        read_frames(coloured_clip, [30])


def test_seeking_lands_on_the_right_frame(tmp_path):
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 256, (100, CLIP_HEIGHT // 8, CLIP_WIDTH // 8, 3), dtype=np.uint8)
    frames = [cv2.resize(b, (CLIP_WIDTH, CLIP_HEIGHT), interpolation=cv2.INTER_NEAREST) for b in blocks]
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
    writer = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"mp4v"), 25, (CLIP_WIDTH, CLIP_HEIGHT))
    writer.release()  # a container with zero frames
    with pytest.raises(ValueError, match="empty.mp4"):
        iter_frames(empty)
    with pytest.raises(ValueError, match="missing.mp4"):
        video_info(tmp_path / "missing.mp4")
    with pytest.raises(ValueError, match="No frames"):
        write_video(tmp_path / "none.mp4", [], fps=25)


def test_truncated_video_is_flagged(tmp_path, coloured_clip):
    # mp4 keeps its index at the end: half a file cannot be opened at all.
    half = tmp_path / "half.mp4"
    half.write_bytes(coloured_clip.read_bytes()[: coloured_clip.stat().st_size // 2])
    with pytest.raises(ValueError, match="half.mp4"):
        video_info(half)
    # AVI (MJPG) opens and declares 30 frames, but only about half can be read.
    rng = np.random.default_rng(0)
    full = tmp_path / "full.avi"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 25, (CLIP_WIDTH, CLIP_HEIGHT))
    for _ in range(30):
        writer.write(rng.integers(0, 256, (CLIP_HEIGHT, CLIP_WIDTH, 3), dtype=np.uint8))
    writer.release()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    reader = iter_frames(cut)
    assert reader.info.num_frames == 30
    frames = list(reader)
    assert reader.truncated and reader.num_read == len(frames) < 30
    with pytest.raises(ValueError, match="truncated"):
        read_frames(cut, [29])
