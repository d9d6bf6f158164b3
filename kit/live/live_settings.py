"""The settings of one live stream (``08_live``), built once from the notebook's flat
parameters: the source, the live predictor's config, which frames become stills and how
poses are drawn."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kit.live.predictor import LiveConfig
from kit.live.stream import frame_hw
from kit.project import Project
from kit.project.drawing import PoseStyle
from kit.results.analyze import find_videos
from kit.results.tracklets import TrackConfig

LIVE_FOLDER = "live"  # in the model folder: the latency table and the stills


@dataclass(frozen=True)
class LiveSettings:
    """``source``: a video file, or a camera index as a string of digits; ``config``: the
    live predictor's; ``keep``: indices of the streamed frames kept as stills; ``style``:
    how they are drawn (one colour per individual when the project has several, per body
    part otherwise); ``num_animals``: the project's individuals (1: a single-animal
    project); ``out_dir``: ``<model folder>/live``, for the latency table and the stills."""

    source: str
    config: LiveConfig
    keep: frozenset[int]
    style: PoseStyle
    num_animals: int
    out_dir: Path

    @classmethod
    def from_parameters(cls, project: Project, model_dir: str | os.PathLike,
                        **flat) -> LiveSettings:
        """From ``08_live``'s parameters: ``source`` "" the project's first video;
        ``pcutoff`` -1 the config's; ``dynamic`` and ``margin_px`` with it make
        :class:`kit.live.predictor.LiveConfig`'s ``dynamic``; ``runtime``, ``resize``,
        ``forward``, ``lag_s``, ``test_passes`` as its own, ``tracker`` as its ``track``'s;
        ``num_stills`` frames spread evenly over the first ``num_frames`` are kept. The
        predictor is warmed up on a blank frame of the source's size (a camera is opened to
        read it)."""
        source = flat["source"] or str(find_videos(project)[0])
        pcutoff = project.pcutoff if flat["pcutoff"] == -1.0 else flat["pcutoff"]
        config = LiveConfig(
            runtime=flat["runtime"], resize=flat["resize"],
            dynamic=(flat["dynamic"], pcutoff, flat["margin_px"]), forward=flat["forward"],
            lag_s=flat["lag_s"], warmup_hw=frame_hw(source),
            track=TrackConfig(tracker=flat["tracker"]), test_passes=flat["test_passes"])
        keep = np.linspace(0, flat["num_frames"] - 1, flat["num_stills"]).astype(int)
        num_animals = len(project.layout.individuals) if project.layout else 1
        style = PoseStyle(pcutoff=pcutoff, colormap=project.config["colormap"],
                          dotsize=project.config["dotsize"], skeleton=tuple(project.skeleton),
                          color_by="individual" if num_animals > 1 else "bodypart")
        return cls(source, config, frozenset(keep.tolist()), style, num_animals,
                   Path(model_dir) / LIVE_FOLDER)
