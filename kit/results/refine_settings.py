"""The settings of one refinement round (``06_refine``), built once from the notebook's flat
parameters: how outlier frames are found, how the next iteration trains and which frames
are suggested for labeling next."""

from __future__ import annotations

import os
from dataclasses import dataclass

from kit.net.train_config import TrainConfig
from kit.project import Project
from kit.project.config import resolve_pcutoff
from kit.results.outliers import OutlierConfig, SuggestConfig
from kit.results.refine import next_train_config


@dataclass(frozen=True)
class RefineSettings:
    """``outliers``: how the previous model's outlier frames are found and chosen;
    ``train``: the next iteration's training (the previous model's settings, from its
    weights); ``suggest``: what to label next; ``pcutoff``: resolved (the config's if
    negative), shared by all three."""

    outliers: OutlierConfig
    train: TrainConfig
    suggest: SuggestConfig
    pcutoff: float

    @classmethod
    def from_parameters(cls, project: Project, previous_model_dir: str | os.PathLike,
                        **flat) -> RefineSettings:
        """From ``06_refine``'s parameters: ``pcutoff`` negative the config's;
        ``num_frames``, ``jump_px``, ``filter_px``, ``swap_px`` and ``seed`` (k-means) as
        :class:`kit.results.outliers.OutlierConfig`'s; ``train_steps`` 0 as many as the
        previous model (:func:`kit.results.refine.next_train_config`); ``num_suggestions``
        and ``novelty_weight`` as :class:`kit.results.outliers.SuggestConfig`'s
        ``num_frames`` and ``novelty_weight``."""
        pcutoff = resolve_pcutoff(None if flat["pcutoff"] < 0 else flat["pcutoff"], project)
        outliers = OutlierConfig(
            num_frames=flat["num_frames"], pcutoff=pcutoff, jump_px=flat["jump_px"],
            filter_px=flat["filter_px"], swap_px=flat["swap_px"], seed=flat["seed"])
        train = next_train_config(previous_model_dir, flat["train_steps"])
        suggest = SuggestConfig(num_frames=flat["num_suggestions"],
                                novelty_weight=flat["novelty_weight"], pcutoff=pcutoff)
        return cls(outliers, train, suggest, pcutoff)
