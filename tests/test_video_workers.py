"""The parallel reader gives exactly what one sequential FrameReader gives, in order."""

import cv2
import numpy as np
import pytest
from conftest import CLIP_HEIGHT, CLIP_WIDTH

from kit.net.data import scale_image
from kit.project.video import FrameReader, write_video
from kit.project.video_workers import ParallelFrameReader, default_read_workers


@pytest.fixture(scope="module")
def noise_video(tmp_path_factory):
    """100 frames of coarse noise: every frame differs, so a wrong frame is caught."""
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 256, (100, CLIP_HEIGHT // 8, CLIP_WIDTH // 8, 3), dtype=np.uint8)
    frames = [cv2.resize(b, (CLIP_WIDTH, CLIP_HEIGHT), interpolation=cv2.INTER_NEAREST)
              for b in blocks]
    return write_video(tmp_path_factory.mktemp("workers") / "noise.mp4", frames, fps=25)


def half(frame: np.ndarray) -> np.ndarray:
    return scale_image(frame, 0.5)


@pytest.mark.parametrize("num_workers", [1, 2, 3])
@pytest.mark.parametrize("num_decoders", [1, 2, 3])
@pytest.mark.parametrize(("start", "stop", "step"), [(0, None, 1), (13, 71, 1), (5, 97, 3),
                                                     (64, 100, 1), (99, None, 1)])
def test_frames_identical_and_in_order(noise_video, num_workers, num_decoders, start, stop,
                                       step):
    with FrameReader(noise_video, start, stop, step) as reader:
        expected = [(index, half(frame)) for index, frame in reader]
    with ParallelFrameReader(noise_video, start, stop, step, num_workers=num_workers,
                             transform=half, num_decoders=num_decoders,
                             chunk_frames=7) as parallel:
        got = list(parallel)
    assert [i for i, _ in got] == [i for i, _ in expected] != []
    for (_, frame), (_, want) in zip(got, expected, strict=True):
        np.testing.assert_array_equal(frame, want)
    assert parallel.num_read == len(expected) and not parallel.truncated


def test_untransformed_frames_and_an_early_stop(noise_video):
    expected = dict(FrameReader(noise_video, 20, 60))
    with ParallelFrameReader(noise_video, 20, 60, num_workers=2, num_decoders=2,
                             chunk_frames=5) as parallel:
        first = [next(parallel) for _ in range(12)]  # then closed with frames in flight
    assert [i for i, _ in first] == list(range(20, 32))
    for index, frame in first:
        np.testing.assert_array_equal(frame, expected[index])


def test_a_truncated_video_stops_where_the_frames_stop(tmp_path):
    rng = np.random.default_rng(0)
    full = tmp_path / "full.avi"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 25,
                             (CLIP_WIDTH, CLIP_HEIGHT))
    for _ in range(30):
        writer.write(rng.integers(0, 256, (CLIP_HEIGHT, CLIP_WIDTH, 3), dtype=np.uint8))
    writer.release()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with FrameReader(cut) as reader:
        expected = [index for index, _ in reader]
    for num_decoders in (1, 3):
        parallel = ParallelFrameReader(cut, num_workers=2, transform=half,
                                       num_decoders=num_decoders, chunk_frames=4)
        assert [index for index, _ in parallel] == expected
        assert parallel.truncated and parallel.num_read == len(expected) < 30


def test_bad_settings_name_the_value(noise_video):
    with pytest.raises(ValueError, match="num_workers=0"):
        ParallelFrameReader(noise_video, num_workers=0)
    with pytest.raises(ValueError, match="stop=3"):
        ParallelFrameReader(noise_video, start=5, stop=3)
    assert default_read_workers() >= 1
