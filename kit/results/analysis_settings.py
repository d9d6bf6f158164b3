"""The settings of one video-analysis run (``05_analyze_videos``), built once from the
notebook's flat parameters: the analysis, the filter, how poses are drawn and how an
ensemble's analyses are smoothed."""

from __future__ import annotations

from dataclasses import dataclass

from kit.net.model_folder import ModelFolder
from kit.net.model_query import trained_with
from kit.project import Project
from kit.project.config import resolve_pcutoff
from kit.project.drawing import PoseStyle
from kit.project.settings_text import parse_settings
from kit.results.analyze import AnalyzeConfig
from kit.results.ensemble import EnsembleConfig
from kit.results.filters import FilterConfig
from kit.results.tracking import TrackConfig

# 05_analyze_videos' parameters that AnalysisSettings reads, as the notebook writes their
# defaults; those not in its parameters cell go in its ``analysis_settings`` ("name=value").
FLAT_DEFAULTS = {"batch_size": 8, "max_frames": 0, "num_workers": -1, "tracker": "keypoints",
                 "crop": "", "downscale": 1.0, "output_dir": "", "overwrite": False,
                 "save_csv": True, "filter": "median", "filter_window": 5, "max_gap": 10,
                 "pcutoff": -1.0, "trail_length": 0, "smooth_param": 0.0}


@dataclass(frozen=True)
class AnalysisSettings:
    """``analyze``: which model and how; ``filter``: None for no filtering; ``style``: how
    stills and labeled videos are drawn (one colour per individual in a multi-animal project,
    per body part otherwise); ``pcutoff``: resolved (the config's if negative); ``ensemble``:
    how eks smooths an ensemble's analyses (``05_analyze_videos -p ensemble True``)."""

    analyze: AnalyzeConfig
    filter: FilterConfig | None
    style: PoseStyle
    pcutoff: float
    ensemble: EnsembleConfig = EnsembleConfig()

    @classmethod
    def from_parameters(cls, project: Project, model: ModelFolder | None = None,
                        **flat) -> AnalysisSettings:
        """From ``05_analyze_videos``' parameters: ``model`` the model folder
        (:func:`kit.net.model_query.find_model`'s), else ``shuffle`` and ``train_fraction``
        (-1: the config's first) name a plain shuffle's; ``pcutoff`` negative the config's, ``crop`` "x1,x2,y1,y2" or "", ``filter``
        a method name or "" (none), ``output_dir`` "" beside each video, ``max_frames`` 0
        all, ``num_workers`` -1 one per core, ``tracker`` (several animals) as
        :class:`kit.results.tracking.TrackConfig`'s, ``smooth_param`` (an ensemble; absent
        or 0: eks fits it) as :class:`kit.results.ensemble.EnsembleConfig`'s. Those not
        given take :data:`FLAT_DEFAULTS`; ``settings`` "name=value ..." holds any of them
        not given on their own (``-p analysis_settings "downscale=2 num_workers=1"``)."""
        text = flat.pop("settings", "")
        flat = {**FLAT_DEFAULTS, **flat, **parse_settings(
            text, FLAT_DEFAULTS, "05_analyze_videos' analysis_settings", own=flat)}
        pcutoff = resolve_pcutoff(None if flat["pcutoff"] < 0 else flat["pcutoff"], project)
        shuffle, train_fraction, variant = _which_model(project, model, flat)
        crop = tuple(int(v) for v in flat["crop"].split(",")) if flat["crop"] else None
        analyze = AnalyzeConfig(
            shuffle=shuffle, train_fraction=train_fraction, variant=variant,
            batch_size=flat["batch_size"], crop=crop, downscale=flat["downscale"],
            save_csv=flat["save_csv"], overwrite=flat["overwrite"],
            output_dir=flat["output_dir"] or None, max_frames=flat["max_frames"] or None,
            track=TrackConfig(tracker=flat["tracker"]),
            **({"num_workers": flat["num_workers"]} if flat["num_workers"] > 0 else {}))
        filter_config = FilterConfig(
            method=flat["filter"], window=flat["filter_window"], pcutoff=pcutoff,
            max_gap=flat["max_gap"], save_csv=flat["save_csv"]) if flat["filter"] else None
        style = PoseStyle(pcutoff=pcutoff, colormap=project.config["colormap"],
                          dotsize=project.config["dotsize"], skeleton=tuple(project.skeleton),
                          trail_length=flat["trail_length"],
                          color_by="bodypart" if project.layout is None else "individual")
        ensemble = EnsembleConfig(smooth_param=flat["smooth_param"] or None)
        return cls(analyze, filter_config, style, pcutoff, ensemble)


def _which_model(project: Project, model: ModelFolder | None, flat) -> tuple[int, float, str]:
    """shuffle, train_fraction and folder suffix of the model analysing the videos."""
    if model is not None:
        recorded = trained_with(model)
        return recorded.shuffle, recorded.train_fraction, model.variant
    train_fraction = flat["train_fraction"]
    if train_fraction == -1.0:
        train_fraction = project.training_fractions[0]
    return flat["shuffle"], train_fraction, ""
