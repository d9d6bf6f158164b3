"""An ensemble of one shuffle (``03_train`` with ``ensemble_size``): members that differ by
their training seed only, each in a model folder of its own (the ``-seed<N>`` variant), all
tested on the same frames.

A split is drawn from the training seed (:func:`kit.project.splits.make_split`), so members
trained on their own would each draw another one; their disagreement on a test frame would
then mix "trained on it" with "not". The first member draws the split and every other
member starts from a copy of it (:func:`kit.net.train.get_split` takes a stored split as is).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kit.net.model_folder import ModelFolder
from kit.net.train import TrainConfig, train
from kit.project import Project
from kit.project.splits import Split


def member_configs(config: TrainConfig, ensemble_size: int) -> list[TrainConfig]:
    """The members' settings: ``config`` with seeds ``config.seed`` ... ``config.seed +
    ensemble_size - 1``; the first is ``config`` itself."""
    if ensemble_size < 1:
        raise ValueError(f"ensemble_size is the number of networks to train, at least 1. "
                         f"Received: ensemble_size={ensemble_size!r}.")
    return [dataclasses.replace(config, seed=config.seed + m) for m in range(ensemble_size)]


def train_ensemble(project: Project, config: TrainConfig, ensemble_size: int = 1,
                   verbose: int = 1, split: Split | None = None) -> list[Path]:
    """Train (or resume) the members of :func:`member_configs` one after the other; return
    their model folders, the first member's first. With ``ensemble_size=1`` this is
    :func:`kit.net.train.train` on ``config``.

    Every member after the first gets the first member's split (copied into its folder
    before it trains), or every member ``split`` where one is given (e.g. the split another
    seed drew, to compare an ensemble with a single model on the same frames); a member
    whose folder already holds another split raises, since its test frames would differ.
    """
    configs = member_configs(config, ensemble_size)
    if split is not None:
        _give_split(ModelFolder(configs[0].model_dir(project)), split, "the given split")
    model_dirs = [train(project, configs[0], verbose)]
    first = ModelFolder(model_dirs[0])
    split = first.load_split()
    for member in configs[1:]:
        _give_split(ModelFolder(member.model_dir(project)), split,
                    f"the ensemble's first member ({first.split_file})")
        model_dirs.append(train(project, member, verbose))
    return model_dirs


def _give_split(folder: ModelFolder, split: Split, source: str) -> None:
    """Save ``split`` into ``folder`` before it trains; raise if it holds another."""
    if not folder.has_split():
        folder.save_split(split)
    elif folder.load_split() != split:
        raise ValueError(
            f"{folder.split_file} holds another split than {source}: its test frames would "
            f"differ. Delete {folder.path} to train that member again.")
