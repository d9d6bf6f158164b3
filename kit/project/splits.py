"""Train/test splits of the labeled frames: seeded, saved with the model, reused.

A split is drawn from ``(train_fraction, shuffle, seed)`` alone, so shuffle 2 of
a project is the same split on every machine, and evaluation and later runs
read the split stored beside the model instead of drawing it again.
"""

from __future__ import annotations

import json
import os
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
    training altogether (novel animals), sorted.
    """

    train: tuple[str, ...]
    test: tuple[str, ...]
    train_fraction: float
    shuffle: int
    seed: int
    novel: tuple[str, ...] = ()


def video_of(image: str) -> str:
    """The labeled-data folder of an image name (``labeled-data/<video>/img.png``)."""
    parts = image.split("/")
    return parts[1] if len(parts) > 2 else ""


def make_split(
    images: Sequence[str],
    train_fraction: float,
    shuffle: int = 1,
    seed: int = 0,
    test_videos: Sequence[str] = (),
) -> Split:
    """Split ``images`` into ``round(len * train_fraction)`` training images and the rest.

    The permutation depends on the sorted image names, ``shuffle`` and ``seed``
    only (not on the order given). ``train_fraction`` 1.0 gives an empty test set;
    any other fraction must leave at least one training and one test image.
    Frames of ``test_videos`` never enter training: they form ``novel``, and the
    fraction applies to the other videos' frames.
    """
    if not 0 < train_fraction <= 1:
        raise ValueError(f"train_fraction must be in (0, 1]. Received: {train_fraction!r}.")
    names = sorted(set(images))
    if len(names) != len(images):
        raise ValueError("Image names in a split must be unique.")
    unknown = set(test_videos) - {video_of(n) for n in names}
    if unknown:
        raise ValueError(f"test_videos {sorted(unknown)} have no labeled frames. "
                         f"Labeled videos: {sorted({video_of(n) for n in names})}.")
    novel = tuple(n for n in names if video_of(n) in set(test_videos))
    pool = [n for n in names if video_of(n) not in set(test_videos)]
    num_train = int(round(len(pool) * train_fraction))
    if num_train < 1 or (train_fraction < 1 and num_train == len(pool)):
        raise ValueError(
            f"train_fraction={train_fraction} of {len(pool)} labeled frames leaves "
            f"{num_train} training and {len(pool) - num_train} test frames. Label more frames "
            "or choose a fraction that leaves at least one of each (1.0 trains on all, no test)."
        )
    order = np.random.default_rng([seed, shuffle]).permutation(len(pool))
    train = tuple(pool[i] for i in order[:num_train])
    test = tuple(sorted(pool[i] for i in order[num_train:]))
    return Split(train, test, float(train_fraction), int(shuffle), int(seed), novel)


def save_split(split: Split, path: str | os.PathLike) -> None:
    """Write ``split`` to ``path`` as JSON (atomically; see :func:`load_split`)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(asdict(split), indent=1))


def load_split(path: str | os.PathLike) -> Split:
    """The split :func:`save_split` wrote to ``path``."""
    d = json.loads(Path(path).read_text(encoding="utf-8"))
    return Split(tuple(d["train"]), tuple(d["test"]), d["train_fraction"], d["shuffle"], d["seed"],
                 tuple(d.get("novel", ())))
