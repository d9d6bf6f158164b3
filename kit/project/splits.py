"""Train/test splits of the labeled frames: seeded, saved with the model, reused.

A split is drawn from ``(train_fraction, shuffle, seed, method)`` alone, so shuffle 2
of a project is the same split on every machine, and evaluation and later runs
read the split stored beside the model instead of drawing it again.

Two methods (``SPLIT_METHODS``):

- ``"random"`` (DeepLabCut's): test frames drawn at random from all labeled frames.
  Each test frame then usually lies a few frames from a training frame of the same
  video, so its error says how well the model interpolates, not how it does on the
  rest of the video.
- ``"blocks"``: in each video, the labeled frames ordered by frame number (read from
  the image name, ``img0042.png`` -> 42) and the last ``1 - train_fraction`` of them
  are the test set: a contiguous stretch the model never saw, which measures how it
  generalizes along the recording.

``validation_fraction`` sets apart a validation set from the frames before the test set
(the share of each video's labeled frames just before its test block, or drawn at random):
never trained on, never the test set, so settings can be chosen on it and the test error
stays an honest estimate. With the blocks split it lies between the training and the test
frames, farther from training than interleaved frames would be.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from kit.project import atomic_write_text


@dataclass(frozen=True)
class Split:
    """Image names (label-table index entries) of the training and test sets.

    ``train`` is in the shuffle's random order, so its first n names are a
    nested training set of size n (``train[:10]`` is inside ``train[:20]``);
    ``test`` is sorted. ``novel`` holds the frames of videos kept out of
    training altogether (novel animals), sorted. ``method`` is how the test set was
    chosen (``SPLIT_METHODS``: "random" or "blocks"). ``validation`` holds frames set apart
    from the training pool to choose settings on (sorted; empty unless asked for).
    """

    train: tuple[str, ...]
    test: tuple[str, ...]
    train_fraction: float
    shuffle: int
    seed: int
    novel: tuple[str, ...] = ()
    method: str = "random"
    validation: tuple[str, ...] = ()


def video_of(image: str) -> str:
    """The labeled-data folder of an image name (``labeled-data/<video>/img.png``)."""
    parts = image.split("/")
    return parts[1] if len(parts) > 2 else ""


_FRAME_NUMBER = re.compile(r"(\d+)\D*$")  # the last run of digits of the file name


def frame_number(image: str) -> int | None:
    """The frame number in an image name (``labeled-data/v/img0042.png`` -> 42), read as
    the file name's last run of digits; None if it has no digits."""
    match = _FRAME_NUMBER.search(image.rsplit("/", 1)[-1])
    return int(match.group(1)) if match else None


def frame_numbers(images: Sequence[str]) -> list[int]:
    """:func:`frame_number` of each image; raises naming those that hold no number."""
    numbers = [frame_number(n) for n in images]
    bad = [n for n, f in zip(images, numbers) if f is None]
    if bad:
        raise ValueError(
            f"Cannot read a frame number from {len(bad)} image name(s), e.g. {bad[:5]}: the "
            "blocks split orders each video's frames by the last number in the file name "
            "(img0042.png -> 42). Rename them so, or use split_method='random'.")
    return numbers  # type: ignore[return-value]


def make_split(  # size: TrainConfig's six split settings, as make_split has always taken them
    images: Sequence[str],
    train_fraction: float,
    shuffle: int = 1,
    seed: int = 0,
    test_videos: Sequence[str] = (),
    method: str = "random",
    validation_fraction: float = 0.0,
) -> Split:
    """Split ``images`` into ``round(len * train_fraction)`` training images and the rest.

    ``method`` "random": the test images are drawn at random; "blocks": each video's last
    ``len - round(len * train_fraction)`` labeled frames by frame number
    (:func:`frame_number`) are its test images. The permutation (and so the order of
    ``train``) depends on the sorted image names, ``shuffle`` and ``seed`` only (not on the
    order given). ``train_fraction`` 1.0 gives an empty test set;
    any other fraction must leave at least one training and one test image.
    Frames of ``test_videos`` never enter training: they form ``novel``, and the
    fraction applies to the other videos' frames. ``validation_fraction``: the frames the
    split method would make the test set at ``train_fraction - validation_fraction`` and
    does not at ``train_fraction`` form ``validation`` (blocks: each video's frames just
    before its test block); the test set does not change.
    """
    _check_settings(train_fraction, method, validation_fraction)
    names = sorted(set(images))
    if len(names) != len(images):
        raise ValueError("Image names in a split must be unique.")
    unknown = set(test_videos) - {video_of(n) for n in names}
    if unknown:
        raise ValueError(f"test_videos {sorted(unknown)} have no labeled frames. "
                         f"Labeled videos: {sorted({video_of(n) for n in names})}.")
    novel = tuple(n for n in names if video_of(n) in set(test_videos))
    pool = [n for n in names if video_of(n) not in set(test_videos)]
    order = np.random.default_rng([seed, shuffle]).permutation(len(pool))
    in_test = SPLIT_METHODS[method](pool, train_fraction, order)
    held_out = (SPLIT_METHODS[method](pool, train_fraction - validation_fraction, order)
                if validation_fraction else in_test)
    num_train = len(pool) - len(held_out)
    if num_train < 1 or (train_fraction < 1 and num_train == len(pool)):
        raise ValueError(
            f"train_fraction={train_fraction} of {len(pool)} labeled frames leaves "
            f"{num_train} training and {len(pool) - num_train} test"
            f"{' and validation' if validation_fraction else ''} frames ({method} split). "
            "Label more frames or choose a fraction that leaves at least one of each "
            "(1.0 trains on all, no test)."
        )
    train = tuple(pool[i] for i in order if pool[i] not in held_out)
    return Split(train, tuple(sorted(in_test)), float(train_fraction), int(shuffle), int(seed),
                 novel, method, tuple(sorted(held_out - in_test)))


def _check_settings(train_fraction: float, method: str, validation_fraction: float) -> None:
    """Raise ValueError for a fraction or method :func:`make_split` cannot use."""
    if not 0 < train_fraction <= 1:
        raise ValueError(f"train_fraction must be in (0, 1]. Received: {train_fraction!r}.")
    if not 0 <= validation_fraction < train_fraction:
        raise ValueError(f"validation_fraction must be in [0, train_fraction={train_fraction})."
                         f" Received: {validation_fraction!r}.")
    if method not in SPLIT_METHODS:
        raise ValueError(f"split method must be one of {sorted(SPLIT_METHODS)}. "
                         f"Received: {method!r}.")


def _random_test(pool: list[str], train_fraction: float, order: np.ndarray) -> set[str]:
    """The test frames of the random split: the end of the seeded permutation."""
    return {pool[i] for i in order[int(round(len(pool) * train_fraction)):]}


def _blocks_test(pool: list[str], train_fraction: float, order: np.ndarray) -> set[str]:
    """The test frames of the blocks split: each video's last frames by frame number."""
    numbers = dict(zip(pool, frame_numbers(pool)))
    test: set[str] = set()
    for video in sorted({video_of(n) for n in pool}):
        frames = sorted((n for n in pool if video_of(n) == video), key=lambda n: (numbers[n], n))
        test.update(frames[int(round(len(frames) * train_fraction)):])
    return test


# How each split method chooses the test frames of the pool (frames of test_videos
# are set apart before): (pool, train_fraction, seeded permutation) -> test names.
SPLIT_METHODS = {"random": _random_test, "blocks": _blocks_test}


def save_split(split: Split, path: str | os.PathLike) -> None:
    """Write ``split`` to ``path`` as JSON (atomically; see :func:`load_split`)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(asdict(split), indent=1))


def load_split(path: str | os.PathLike) -> Split:
    """The split :func:`save_split` wrote to ``path``."""
    d = json.loads(Path(path).read_text(encoding="utf-8"))
    return Split(tuple(d["train"]), tuple(d["test"]), d["train_fraction"], d["shuffle"], d["seed"],
                 tuple(d.get("novel", ())), d.get("method", "random"),
                 tuple(d.get("validation", ())))
