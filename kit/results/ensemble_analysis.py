"""Videos analysed by an ensemble (``05_analyze_videos -p ensemble True``) and frames
extracted by its disagreement (``06_refine -p rank_by disagreement``).

The members of an ensemble (``03_train -p ensemble_size N``: the same shuffle, seeds
``seed`` ... ``seed + N - 1``) name their analyses alike (the analysis scorer holds no seed),
so each member writes into a folder of its own, ``<output>/ensemble/<model folder>/``, where
``<output>`` is ``output_dir`` or each video's folder. The members' analyses of a video are
then smoothed by eks (:func:`kit.results.ensemble.smooth_analyses`) into
``<output>/ensemble/<analysis name>_eks.h5`` (+ ``.csv``), which DeepLabCut's readers and
kit's filters, plots and refinement read like any analysis.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from kit.net.model_folder import ModelFolder
from kit.net.model_query import find_model, find_models, trained_with
from kit.net.predict import Predictor
from kit.project import Project
from kit.project.frame_picking import extracted_frame_indices
from kit.results.analyze import AnalysisResult, AnalyzeConfig, analyze_video
from kit.results.ensemble import (
    EnsembleConfig,
    rank_by_disagreement,
    smooth_analyses,
    smoothed_path,
)
from kit.results.outliers import extract_with_predictions
from kit.results.refine import analyze_with_model

ENSEMBLE_FOLDER = "ensemble"
RANK_BY = ("outliers", "disagreement")  # 06_refine's ways to choose frames to label


@dataclass(frozen=True)
class EnsembleAnalysis:
    """``members``: per member (in the order of the models given), its analysis of each
    video; ``smoothed``: per video, the smoothed analysis (``h5``: the ``_eks.h5``;
    ``metadata``: the first member's; ``skipped``: it was already there)."""

    members: list[list[AnalysisResult]]
    smoothed: list[AnalysisResult]


def ensemble_dir(video: str | os.PathLike, config: AnalyzeConfig) -> Path:
    """``<output_dir or the video's folder>/ensemble``: the members' folders and the
    smoothed analysis of ``video``."""
    return Path(config.output_dir or Path(video).parent) / ENSEMBLE_FOLDER


def analyze_ensemble(project: Project, models: Sequence[ModelFolder],
                     videos: Sequence[str | os.PathLike], config: AnalyzeConfig,
                     ensemble_config: EnsembleConfig = EnsembleConfig()) -> EnsembleAnalysis:
    """Analyse every video with every member (``config``'s settings, each member into
    ``ensemble_dir(video) / <its model folder's name>``), then smooth each video's member
    analyses with eks.

    A member's finished analysis is skipped as :func:`kit.results.analyze.analyze_video`
    skips it; the smoothed file is written again when a member's analysis is newer, or with
    ``config.overwrite``.

    Args:
        models: the members, e.g. ``find_models(project, shuffle=1, seed=-1)``; at least 2.
        videos: video files (:func:`kit.results.analyze.find_videos`).
    """
    if len(models) < 2:
        raise ValueError(
            f"An ensemble needs at least 2 trained models; the query found {len(models)}: "
            f"{[m.path.name for m in models]}. Train them with 03_train -p ensemble_size 2 "
            "(or more), or leave -p seed at -1.")
    members = [_analyze_member(project, model, videos, config) for model in models]
    smoothed = []
    for found in zip(*members, strict=True):
        h5s = [result.h5 for result in found]
        path = ensemble_dir(found[0].video, config) / smoothed_path(h5s[0]).name
        done = (not config.overwrite and path.is_file()
                and all(path.stat().st_mtime >= h5.stat().st_mtime for h5 in h5s))
        if not done:
            smooth_analyses(h5s, ensemble_config, path)
        smoothed.append(AnalysisResult(found[0].video, path, found[0].metadata, skipped=done))
    return EnsembleAnalysis(members, smoothed)


def _analyze_member(project: Project, model: ModelFolder, videos: Sequence[str | os.PathLike],
                    config: AnalyzeConfig) -> list[AnalysisResult]:
    """One member's analyses of the videos, each in ``ensemble_dir(video) / <model>``."""
    recorded = trained_with(model)
    config = dataclasses.replace(config, shuffle=recorded.shuffle,
                                 train_fraction=recorded.train_fraction, variant=model.variant)
    predictor = Predictor(model.path)
    return [analyze_video(project, video, dataclasses.replace(
                config, output_dir=str(ensemble_dir(video, config) / model.path.name)),
                predictor) for video in videos]


def models_to_analyze(project: Project, ensemble: bool, **query: Any) -> list[ModelFolder]:
    """The models ``05_analyze_videos`` analyses with: ``ensemble=False`` the one model of
    ``query`` (:func:`kit.net.model_query.find_model`, which raises, listing them, when
    several match); ``True`` every model that matches it, in name order (an ensemble's
    members; :func:`analyze_ensemble` checks there are at least 2).

    Args:
        query: :class:`kit.net.model_query.ModelQuery`'s fields, e.g. ``shuffle=1, seed=-1``.
    """
    if ensemble:
        return find_models(project, **query)
    return [find_model(project, **query)]


def member_table(analysis: EnsembleAnalysis) -> pd.DataFrame:
    """One row per (member, video): :func:`kit.results.analyze.results_table`'s columns
    and the member's model folder."""
    rows = []
    for results in analysis.members:
        for result in results:
            rows.append({"model": Path(result.metadata["model_dir"]).name,
                         "video": result.video.name, "skipped": result.skipped,
                         "frames_per_s": result.metadata.get("frames_per_s"),
                         "h5": result.h5.name})
    return pd.DataFrame(rows)


# --- 06_refine ---------------------------------------------------------------------------


def models_to_refine(project: Project, rank_by: str, **query: Any) -> list[ModelFolder]:
    """The models ``06_refine`` starts from: ``rank_by="outliers"`` the one model of
    ``query`` (:func:`kit.net.model_query.find_model`; in an ensemble, ``seed`` picks the
    member); ``"disagreement"`` every model that matches it, any seed (an ensemble's
    members, at least 2; the first one's weights start the next iteration).

    ``06_refine`` passes its ``model_seed`` as ``seed`` (its own ``seed`` seeds k-means), so
    the errors name ``model_seed``.
    """
    if rank_by not in RANK_BY:
        raise ValueError(f"rank_by is one of {RANK_BY}. Received: rank_by={rank_by!r}.")
    if rank_by == "outliers":
        try:
            return [find_model(project, **query)]
        except ValueError as error:  # its listing says `-p seed`, which in 06 seeds k-means
            raise ValueError(f"{error} In 06_refine the seed a model was trained with is "
                             "-p model_seed (its -p seed seeds k-means).") from error
    if query.get("seed", -1) != -1:
        raise ValueError(
            "rank_by='disagreement' takes every member of the ensemble, whatever its seed. "
            f"Received: seed={query['seed']!r} (06_refine's model_seed). Leave model_seed "
            "at -1, or use rank_by='outliers' to refine from that member alone.")
    models = find_models(project, **query)
    if len(models) < 2:
        raise ValueError(
            f"rank_by='disagreement' needs an ensemble (at least 2 trained models); found "
            f"{[m.path.name for m in models]}. Train one with 03_train -p ensemble_size 2.")
    return models


def extract_ensemble_disagreements(project: Project, model_dirs: Sequence[str | os.PathLike],
                                   video_path: str | os.PathLike, num_frames: int,
                                   ensemble_config: EnsembleConfig = EnsembleConfig()
                                   ) -> pd.DataFrame:
    """Each member analyses the video (:func:`kit.results.refine.analyze_with_model`, into
    its own refine folder), eks smooths them (unless done since), and the ``num_frames``
    frames the members disagree on most are extracted with the smoothed positions as
    machine labels (:func:`extract_disagreements`'s table)."""
    h5s = [analyze_with_model(project, model_dir, video_path) for model_dir in model_dirs]
    path = smoothed_path(h5s[0])
    if not (path.is_file() and all(path.stat().st_mtime >= h5.stat().st_mtime for h5 in h5s)):
        smooth_analyses(h5s, ensemble_config)
    return extract_disagreements(project, video_path, h5s, num_frames)


def extract_disagreements(project: Project, video_path: str | os.PathLike,
                          member_h5s: Sequence[str | os.PathLike], num_frames: int,
                          min_gap: int = 1) -> pd.DataFrame:
    """``06_refine`` on an ensemble: extract the ``num_frames`` frames not extracted before
    on which the members disagree most, for labeling, with the smoothed analysis'
    positions as machine labels (:func:`kit.results.outliers.extract_with_predictions`;
    the smoothed analysis is :func:`smoothed_path` of the first member, written by
    :func:`smooth_analyses`).

    Returns:
        :func:`rank_by_disagreement`'s table, with the extracted frames' ``image`` names.
    """
    smoothed = smoothed_path(member_h5s[0])
    if not smoothed.is_file():
        raise FileNotFoundError(f"No smoothed analysis at {smoothed}. Smooth the members' "
                                "analyses first (kit.results.ensemble.smooth_analyses).")
    done = extracted_frame_indices(project, Path(video_path).stem)
    table = rank_by_disagreement(member_h5s, num_frames, min_gap, exclude=done)
    chosen = sorted(table.frame[table.suggested].astype(int))
    images = extract_with_predictions(project, video_path, smoothed, chosen)
    table["image"] = table.frame.map(dict(zip(chosen, images, strict=True)))
    return table
