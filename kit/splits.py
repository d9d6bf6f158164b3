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
    """Image names (label-table index entries) of the training and test sets."""

    train: tuple[str, ...]
    test: tuple[str, ...]
    train_fraction: float
    shuffle: int
    seed: int


def make_split(
    images: Sequence[str], train_fraction: float, shuffle: int = 1, seed: int = 0
) -> Split:
    """Split ``images`` into ``round(len * train_fraction)`` training images and the rest.

    The permutation depends on the sorted image names, ``shuffle`` and ``seed``
    only (not on the order given). ``train_fraction`` 1.0 gives an empty test set;
    any other fraction must leave at least one training and one test image.
    """
    if not 0 < train_fraction <= 1:
        raise ValueError(f"train_fraction must be in (0, 1]. Received: {train_fraction!r}.")
    names = sorted(set(images))
    if len(names) != len(images):
        raise ValueError("Image names in a split must be unique.")
    num_train = int(round(len(names) * train_fraction))
    if num_train < 1 or (train_fraction < 1 and num_train == len(names)):
        raise ValueError(
            f"train_fraction={train_fraction} of {len(names)} labeled frames leaves "
            f"{num_train} training and {len(names) - num_train} test frames. Label more frames "
            "or choose a fraction that leaves at least one of each (1.0 trains on all, no test)."
        )
    order = np.random.default_rng([seed, shuffle]).permutation(len(names))
    train = tuple(sorted(names[i] for i in order[:num_train]))
    test = tuple(sorted(names[i] for i in order[num_train:]))
    return Split(train, test, float(train_fraction), int(shuffle), int(seed))


def save_split(split: Split, path: str | os.PathLike) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(asdict(split), indent=1))


def load_split(path: str | os.PathLike) -> Split:
    d = json.loads(Path(path).read_text(encoding="utf-8"))
    return Split(tuple(d["train"]), tuple(d["test"]), d["train_fraction"], d["shuffle"], d["seed"])
