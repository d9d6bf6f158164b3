"""The poses of one video's analysis as it goes (:mod:`kit.results.analyze`): one animal's
(:class:`SingleAnimalPoses`), or several animals' (:class:`MultiAnimalPoses`): assemblies per
batch, tracked online, stitched at the end, written as DeepLabCut's ``<video><scorer>_el.h5``.

Per batch the predictor gives ``predict_assemblies(frames) -> (poses (N, I_table, K, 3),
identity (N, I_table, I) | None)``, rows in no particular order (the animals' rows, then
``single`` with the unique body parts). The animals' rows, with the multi-animal body
parts only, go to a :class:`kit.results.tracking.Tracker` one frame at a time; at the end
the tracklets are stitched into the project's individuals (:func:`kit.results.tracking.stitch`);
the unique body parts are kept as found.

The ``_el.partial.h5`` sidecar holds the assemblies as found (untracked, rows as given) and,
when the network scores identities, the scores as extra body parts ``identity/<animal>``
(x = score): resuming feeds them to a new tracker, so a resumed video is tracked exactly as
an uninterrupted one.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from kit.project.analysis_file import POSE_COORDS, predictions_frame
from kit.project.multianimal import AnimalLayout
from kit.results.tracking import Tracker, TrackConfig, stitch
from kit.results.tracklets import quiet_nan

EL_SUFFIX = "_el"  # DeepLabCut's name of a tracked and stitched analysis: <video><scorer>_el.h5
_IDENTITY_PREFIX = "identity/"  # no body part name holds a "/"


class MultiAnimalPoses:
    """One video's assemblies as analysed so far, and their online tracker.

    Memory: the assemblies of the whole video (num_frames, I_table, K, 3), plus the tracker's
    copy of the detections (about the same), however long the video; no frames are kept.
    """

    input_scale = 1.0  # predict_assemblies takes frames at their size and scales them itself

    def __init__(self, layout: AnimalLayout, num_frames: int, track_config: TrackConfig,
                 video: Path, transform: Callable, predict: Callable):
        """``transform(xy (..., 2))``: network frame pixels -> full-frame pixels;
        ``predict(frames (N, H, W, 3))``: the predictor's ``predict_assemblies``."""
        self.layout, self.track_config, self.video = layout, track_config, video
        self.transform, self.predict = transform, predict
        self.num_animals = len(layout.individuals)
        self.num_multi = len(layout.multianimal_bodyparts)
        self.poses = np.full((num_frames, len(layout.table_individuals), len(layout.bodyparts),
                              3), np.nan)
        self.identity: np.ndarray | None = None  # (num_frames, num_animals, I) once seen
        self.tracker = Tracker(track_config, self.num_multi)
        self.done = 0
        self._warned = False

    def resume(self, previous: np.ndarray | None) -> int:
        """Take a partial analysis' (num_done, I_table, K [+ I], 3) table back; frames done."""
        if previous is None or not len(previous):
            return 0
        num_parts = len(self.layout.bodyparts)
        identity = previous[:, :self.num_animals, num_parts:, 0]
        self._store(0, previous[:, :, :num_parts], identity if identity.shape[-1] else None)
        return len(previous)

    def add(self, indices: list[int], out) -> None:
        """Store and track one batch of ``predict_assemblies``' output (poses, identity[,
        num_dropped]) for frames ``indices``."""
        poses, identity, *dropped = out
        poses = np.array(poses, np.float64)
        expected = (len(indices), len(self.layout.bodyparts), 3)
        if poses.ndim != 4 or (poses.shape[0], *poses.shape[2:]) != expected:
            raise ValueError(f"predict_assemblies must return poses (N, rows, K, 3) = "
                             f"({expected[0]}, rows, {expected[1]}, 3). Received: {poses.shape}.")
        poses, identity = self._best_rows(indices, poses, identity, dropped)
        poses[..., :2] = self.transform(poses[..., :2])
        self._store(indices[0], poses, identity)

    def _best_rows(self, indices, poses, identity, dropped):
        """Keep the animal rows with the best mean likelihood when there are more than the
        individuals (the unique-parts row stays last); warn once per video."""
        has_single = len(self.layout.table_individuals) > self.num_animals
        animals = poses[:, :poses.shape[1] - has_single]
        extra = animals.shape[1] - self.num_animals
        found = np.isfinite(animals[..., 0]).any(-1).sum(-1)  # (N,) assemblies per frame
        crowded = np.flatnonzero((found > self.num_animals)
                                 | (np.asarray(dropped[0]) > 0 if dropped else False))
        if len(crowded) and not self._warned:
            self._warned = True
            warnings.warn(f"{self.video.name}: frame {indices[crowded[0]]} (and maybe others) "
                          f"has more assemblies than the {self.num_animals} individuals; the "
                          "best are kept. Warned once per video.", stacklevel=4)
        if extra < 0:  # fewer rows than individuals: empty rows after the animals
            pad = np.full((len(poses), -extra, *poses.shape[2:]), np.nan)
            poses = np.concatenate([animals, pad, poses[:, animals.shape[1]:]], 1)
            if identity is not None:
                identity = np.concatenate([np.asarray(identity)[:, :animals.shape[1]], np.full(
                    (len(poses), -extra, np.shape(identity)[-1]), np.nan)], 1)
        if extra <= 0:
            return poses, None if identity is None else np.asarray(identity)[:, :self.num_animals]
        with quiet_nan():
            score = np.nan_to_num(np.nanmean(animals[..., :self.num_multi, 2], -1), nan=-1.0)
        best = np.sort(np.argsort(-score, axis=1, kind="stable")[:, :self.num_animals], axis=1)
        keep = np.take_along_axis(animals, best[:, :, None, None], 1)
        rows = [keep, poses[:, -1:]] if has_single else [keep]
        if identity is not None:
            identity = np.take_along_axis(np.asarray(identity), best[:, :, None], 1)
        return np.concatenate(rows, 1), identity

    def _store(self, start: int, poses: np.ndarray, identity: np.ndarray | None) -> None:
        stop = start + len(poses)
        self.poses[start:stop] = poses
        if identity is not None:
            identity = np.asarray(identity, np.float64)[:, :self.num_animals]
            if self.identity is None:
                self.identity = np.full((len(self.poses), *identity.shape[1:]), np.nan)
            self.identity[start:stop] = identity
        for t in range(start, stop):
            self.tracker.update(self.poses[t, :self.num_animals, :self.num_multi],
                                None if identity is None else self.identity[t])
        self.done = stop

    def partial_table(self, scorer: str) -> pd.DataFrame:
        """The frames done, untracked (see the module docstring), for the partial sidecar."""
        parts, poses = list(self.layout.bodyparts), self.poses[:self.done]
        if self.identity is not None:
            identity = np.full((self.done, poses.shape[1], self.identity.shape[-1], 3), np.nan)
            identity[:, :self.num_animals, :, 0] = self.identity[:self.done]
            poses = np.concatenate([poses, identity], axis=2)
            parts += [f"{_IDENTITY_PREFIX}{i}" for i in range(self.identity.shape[-1])]
        return predictions_frame(poses, range(self.done), scorer, parts,
                                 self.layout.table_individuals)

    def tracked(self) -> np.ndarray:
        """(num_done, I_table, K, 3): the animals stitched into the individuals, in the
        config's order; the unique body parts as found."""
        result = stitch(self.tracker.tracklets(), self.num_animals, self.track_config,
                        num_frames=self.done, num_bodyparts=self.num_multi)
        out = np.full_like(self.poses[:self.done], np.nan)
        out[:, :self.num_animals, :self.num_multi] = result.poses
        if len(self.layout.table_individuals) > self.num_animals:
            out[:, -1, self.num_multi:] = self.poses[:self.done, -1, self.num_multi:]
        return out

    def table(self, scorer: str) -> pd.DataFrame:
        """DeepLabCut's multi-animal analysis table of the frames done (4 column levels;
        each individual only with its own body parts)."""
        df = predictions_frame(self.tracked(), range(self.done), scorer, self.layout.bodyparts,
                               self.layout.table_individuals)
        return df.reindex(columns=self.layout.columns(scorer, POSE_COORDS))


class SingleAnimalPoses:
    """A single-animal video's poses (num_frames, 1, num_bodyparts, 3) as analysed so far
    (the multi-animal counterpart: :class:`MultiAnimalPoses`)."""

    def __init__(self, predictor, num_frames: int, transform):
        self.predictor, self.transform = predictor, transform
        self.input_scale = predictor.input_scale  # the reader thread scales frames
        self.bodyparts = predictor.bodyparts
        self.poses = np.full((num_frames, 1, len(self.bodyparts), 3), np.nan)
        self.done = 0

    def resume(self, previous: np.ndarray | None) -> int:
        """Take the ``previous`` run's poses, if any; return the first frame still to analyze."""
        if previous is not None:
            self.poses[:len(previous)] = previous
            self.done = len(previous)
        return self.done

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """The network's poses for a batch of frames, in the network's (scaled) pixels."""
        return self.predictor.predict_scaled(batch)

    def add(self, indices: list[int], out: np.ndarray) -> None:
        """Store the poses ``out`` of frames ``indices``, mapped back to full-frame pixels."""
        out[..., :2] = self.transform(out[..., :2])
        self.poses[indices[0]:indices[-1] + 1] = out
        self.done = indices[-1] + 1

    def partial_table(self, scorer: str) -> pd.DataFrame:
        """The poses analyzed so far as a DeepLabCut table (for resuming)."""
        return self.table(scorer)

    def table(self, scorer: str) -> pd.DataFrame:
        """The analysis table of the frames done (single-animal layout)."""
        return predictions_frame(self.poses[:self.done], range(self.done), scorer, self.bodyparts)
