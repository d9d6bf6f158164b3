"""Ensembles: several networks (seeds or backbones) of one shuffle, smoothed together by the
ensemble Kalman smoother of ``eks`` (Biderman et al. 2024, the ``ensemble-kalman-smoother``
package), and their disagreement as a measure of which frames to label next.

eks treats the members' median as a noisy observation of each body part, with their
(confidence-weighted) variance as the observation noise, and a random walk as the motion:
where the members agree the smoothed path follows them, where they disagree it leans on
the neighbouring frames. It returns, per frame and body part, the posterior mean and
variance of the position. kit writes them as an analysis file DeepLabCut and kit both read
(:func:`save_smoothed_analysis`): DeepLabCut's x, y, likelihood columns, then eks's own
extra coords (``x_ens_median``, ``y_ens_median``, ``x_ens_var``, ``y_ens_var``,
``x_posterior_var``, ``y_posterior_var``). The likelihood is derived from the posterior
variance (:func:`likelihood_from_variance`), so pcutoff, kit's filters and outlier frames
keep their meaning.

eks runs in a process of its own (:mod:`kit.results.eks_worker` says why), by default in a
venv of its own made on first use (:func:`eks_python`), since its dependencies would replace
kit's; ``pip install 'kit[ensemble]'`` puts it beside kit instead.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kit.project import atomic_path
from kit.project.analysis_file import (
    COLUMN_NAMES,
    MULTI_COLUMN_NAMES,
    analysis_bodyparts,
    load_poses,
    read_analysis,
    save_analysis,
    table_individuals,
)
from kit.project.venvs import own_venv
from kit.results.eks_worker import EKS_COORDS
from kit.results.outliers import SuggestConfig, rank_frames

WORKER = Path(__file__).with_name("eks_worker.py")
AVG_MODES = ("median", "mean")  # eks's avg_mode
VAR_MODES = ("confidence_weighted_var", "var")  # eks's var_mode
FILL_VAR_PX2 = 1e4  # eks's observation variance where no member has a point (see _fill_unobserved)
MIN_LIKELIHOOD = 1e-3
INSTALL = "pip install 'kit[ensemble]' (or pip install ensemble-kalman-smoother)"
EKS_VENV = Path.home() / ".cache" / "kit" / "venv-eks"


@dataclass(frozen=True)
class EnsembleConfig:
    """Settings of :func:`smooth_ensemble`.

    Attributes:
        smooth_param: eks's smoothing parameter (the random walk's variance per frame,
            squared pixels; smaller smooths more); None: eks chooses it per body part by
            maximising the data's likelihood.
        radius_px: the likelihood written is the posterior probability that the body part
            lies within this many pixels of the smoothed position (see
            :func:`likelihood_from_variance`).
        avg_mode: the members' ``"median"`` (eks's default, robust to one wrong member) or
            ``"mean"``.
        var_mode: ``"confidence_weighted_var"`` (eks's default: the members' variance divided
            by their mean likelihood, so members unsure together count less) or ``"var"``.
    """

    smooth_param: float | None = None
    radius_px: float = 5.0
    avg_mode: str = "median"
    var_mode: str = "confidence_weighted_var"

    def __post_init__(self):
        if self.smooth_param is not None and not self.smooth_param > 0:
            raise ValueError(f"smooth_param must be positive, or None to let eks choose it. "
                             f"Received: smooth_param={self.smooth_param!r}.")
        if not self.radius_px > 0:
            raise ValueError(f"radius_px must be positive. Received: radius_px={self.radius_px!r}.")
        if self.avg_mode not in AVG_MODES or self.var_mode not in VAR_MODES:
            raise ValueError(f"avg_mode must be one of {AVG_MODES} and var_mode one of "
                             f"{VAR_MODES}. Received: avg_mode={self.avg_mode!r}, "
                             f"var_mode={self.var_mode!r}.")


@dataclass(frozen=True)
class SmoothedPoses:
    """What :func:`smooth_ensemble` returns; arrays per frame, individual and body part.

    Attributes:
        poses: (num_frames, num_individuals, num_bodyparts, 3) smoothed x, y (image pixels)
            and the likelihood derived from ``posterior_var``; NaN where no member has a value.
        ensemble_median: (..., 2) the members' median (or mean) x, y: what eks smoothed.
        ensemble_var: (..., 2) x, y variance eks used as observation noise (squared pixels).
        posterior_var: (..., 2) x, y posterior variance of the smoothed position (squared px).
        smooth_params: (num_individuals, num_bodyparts) eks's smoothing parameters.
    """

    poses: np.ndarray
    ensemble_median: np.ndarray
    ensemble_var: np.ndarray
    posterior_var: np.ndarray
    smooth_params: np.ndarray

    def extra_coords(self) -> np.ndarray:
        """(num_frames, num_individuals, num_bodyparts, 9): every coord of ``EKS_COORDS``."""
        return np.concatenate([self.poses, self.ensemble_median, self.ensemble_var,
                               self.posterior_var], axis=-1)


def likelihood_from_variance(posterior_var: np.ndarray, radius_px: float) -> np.ndarray:
    """The posterior probability that a body part lies within ``radius_px`` of its smoothed
    position: ``1 - exp(-radius_px**2 / (var_x + var_y))``.

    That is the chance a 2-D Gaussian error with the mean of the two variances on each axis
    lands in the disc (Rayleigh's distribution; exact when var_x == var_y). It is a
    probability in [0, 1] that falls as the posterior widens, as a network's likelihood
    falls when it is unsure, so ``pcutoff`` reads the same way: with the default 5 px and
    pcutoff 0.6, a point is confident when its posterior standard deviation is below 3.7 px.
    NaN variance gives NaN.

    Args:
        posterior_var: (..., 2) x then y posterior variance, squared pixels.
    """
    total = np.asarray(posterior_var, np.float64).sum(axis=-1)
    with np.errstate(divide="ignore"):
        return -np.expm1(-(radius_px**2) / total)


def load_members(members: Sequence[np.ndarray | str | os.PathLike]
                 ) -> tuple[np.ndarray, list[str] | None, list[str] | None]:
    """The members' poses stacked: ``(poses, bodyparts, individuals)``.

    Args:
        members: at least two pose arrays (num_frames, num_individuals, num_bodyparts, 3),
            or analysis files (the same video analysed by each member; read with
            :func:`kit.project.analysis_file.load_poses`).

    Returns:
        poses (num_members, num_frames, num_individuals, num_bodyparts, 3); the body parts
        and individuals of the first file (None for arrays, and individuals None for a
        single-animal file).
    """
    if len(members) < 2:
        raise ValueError(f"An ensemble needs at least 2 members. Received {len(members)}.")
    names: tuple = (None, None)
    arrays = []
    for member in members:
        if isinstance(member, (str, os.PathLike)):
            poses, *found = load_poses(member)
            if arrays and tuple(found) != names:
                raise ValueError(f"{member} has body parts {found[0]} and individuals "
                                 f"{found[1]}; the first member has {names[0]} and "
                                 f"{names[1]}. Analyse the video with models of one project.")
            names = tuple(found)
            arrays.append(poses)
        else:
            arrays.append(np.asarray(member, np.float64))
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or len(arrays[0].shape) != 4 or arrays[0].shape[-1] != 3:
        raise ValueError("Every member must have the shape (num_frames, num_individuals, "
                         f"num_bodyparts, 3), the same for all. Received: {sorted(shapes)}.")
    return np.stack(arrays), *names


def _fill_unobserved(members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Members ready for eks, and where no member has a value: (F, I, K) bool.

    eks needs a value in every frame. Where no member has one, the members are spread
    symmetrically about the straight line between the neighbouring medians, with variance
    ``FILL_VAR_PX2`` on each axis and likelihood 1: eks's median (or mean) is the line and its
    observation noise (either var_mode) 100 px of standard deviation, so the line barely
    pulls the path; those frames are NaN in the result. Likelihoods are clipped to at least
    ``MIN_LIKELIHOOD`` (0 where a member has no point): eks divides by their mean, and
    members that all say 0 would give an infinite noise. Body parts no member ever sees
    stay NaN (the worker skips them).
    """
    members = members.copy()
    seen = np.isfinite(members[..., :2]).all(axis=-1)  # (M, F, I, K)
    likelihood = np.clip(np.nan_to_num(members[..., 2], nan=0.0), MIN_LIKELIHOOD, 1.0)
    members[..., 2] = np.where(seen, likelihood, 0.0)
    unobserved = ~seen.any(axis=0)  # (F, I, K)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames: filled below
        median = np.nanmedian(members[..., :2], axis=0)  # (F, I, K, 2)
    spread = np.linspace(-1.0, 1.0, len(members))
    spread *= np.sqrt(FILL_VAR_PX2 / np.mean(spread**2))  # symmetric: median and mean 0
    frames = np.arange(members.shape[1])
    for i, k in np.ndindex(*unobserved.shape[1:]):
        gaps, known = unobserved[:, i, k], ~unobserved[:, i, k]
        if gaps.any() and known.any():
            for axis in (0, 1):
                line = np.interp(frames[gaps], frames[known], median[known, i, k, axis])
                members[:, gaps, i, k, axis] = line + spread[:, None]
            members[:, gaps, i, k, 2] = 1.0
    return members, unobserved


def eks_python() -> str:
    """The Python that runs eks: ``$KIT_EKS_PYTHON`` if set; this one if eks is installed here;
    else a venv of its own, ``~/.cache/kit/venv-eks``, made on first use (``pip install
    ensemble-kalman-smoother``, a minute or two from the package index;
    :func:`kit.project.venvs.own_venv`). A venv of its own because eks's dependencies would
    replace kit's (see ``pyproject.toml``'s ``ensemble``)."""
    if os.environ.get("KIT_EKS_PYTHON"):
        return os.environ["KIT_EKS_PYTHON"]
    if importlib.util.find_spec("eks") is not None:
        return sys.executable
    try:
        return str(own_venv(EKS_VENV, ["ensemble-kalman-smoother>=4.6"]))
    except (subprocess.SubprocessError, OSError) as e:
        raise RuntimeError(
            f"Smoothing an ensemble needs eks (ensemble-kalman-smoother); making its venv in "
            f"{EKS_VENV} failed:\n{str(getattr(e, 'stderr', '') or e)[-2000:]}\nInstall it "
            f"yourself: {INSTALL}, or set KIT_EKS_PYTHON to a Python that has it.") from e


def _run_eks(members: np.ndarray, config: EnsembleConfig) -> dict[str, np.ndarray]:
    """:mod:`kit.results.eks_worker` on ``members`` (M, F, I, K, 3), in a fresh interpreter
    (:func:`eks_python`)."""
    python = eks_python()
    env = {**os.environ, "JAX_ENABLE_X64": "1", "JAX_PLATFORMS": "cpu",
           "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    with tempfile.TemporaryDirectory(prefix="kit-eks-") as folder:
        source, target = Path(folder) / "in.npz", Path(folder) / "out.npz"
        param = np.nan if config.smooth_param is None else config.smooth_param
        np.savez(source, members=members, smooth_param=param, avg_mode=config.avg_mode,
                 var_mode=config.var_mode)
        # -P: the worker's folder (kit/results) must not shadow modules eks imports
        done = subprocess.run([python, "-P", str(WORKER), str(source), str(target)],
                              capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"eks failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        with np.load(target) as out:
            return {name: out[name] for name in out.files}


def smooth_ensemble(members: Sequence[np.ndarray | str | os.PathLike],
                    config: EnsembleConfig = EnsembleConfig()) -> SmoothedPoses:
    """Smooth an ensemble's poses with eks's single-camera ensemble Kalman smoother, each
    individual's body parts on their own (see the module docstring).

    Args:
        members: at least two pose arrays (num_frames, num_individuals, num_bodyparts, 3),
            x, y (image pixels), likelihood, NaN = missing; or the members' analysis files
            of one video (see :func:`load_members`).
        config: eks's settings and the likelihood's radius.

    Returns:
        The smoothed poses with their variances; NaN where no member has a value. Identical
        members give themselves back (eks trusts an observation of zero variance fully).
    """
    poses = load_members(members)[0]
    if poses.shape[1] < 2:
        raise ValueError(f"eks needs at least 2 frames. Received {poses.shape[1]}.")
    ready, unobserved = _fill_unobserved(poses)
    out = _run_eks(ready, config)
    hidden = unobserved[..., None]
    xy, ens_median, ens_var, posterior_var = (np.where(hidden, np.nan, out[name]) for name in
                                              ("xy", "ens_median", "ens_var", "posterior_var"))
    likelihood = likelihood_from_variance(posterior_var, config.radius_px)
    return SmoothedPoses(np.concatenate([xy, likelihood[..., None]], axis=-1), ens_median,
                         ens_var, posterior_var, out["smooth_params"])


# --- files -----------------------------------------------------------------------------


def smoothed_path(h5_path: str | os.PathLike, suffix: str = ".h5") -> Path:
    """Where the smoothed analysis of the members goes, named after one member's analysis
    as DeepLabCut names a filtered one: ``<name>_eks.h5`` (``.csv`` beside)."""
    h5_path = Path(h5_path)
    return h5_path.with_name(f"{h5_path.stem}_eks{suffix}")


def smoothed_table(smoothed: SmoothedPoses, index: Sequence, scorer: str,
                   bodyparts: Sequence[str], individuals: Sequence[str] | None = None
                   ) -> pd.DataFrame:
    """An analysis table in DeepLabCut's layout (single-animal when ``individuals`` is None)
    with eks's coords per body part: x, y, likelihood, then ``EKS_COORDS``' extra six."""
    values = smoothed.extra_coords()
    if values.shape[1:3] != (len(individuals or [None]), len(bodyparts)):
        raise ValueError(f"The smoothed poses have {values.shape[1]} individuals and "
                         f"{values.shape[2]} body parts. Received individuals={individuals!r}, "
                         f"bodyparts={list(bodyparts)!r}.")
    if individuals is None:
        levels, names = [[scorer], list(bodyparts), list(EKS_COORDS)], COLUMN_NAMES
    else:
        levels = [[scorer], list(individuals), list(bodyparts), list(EKS_COORDS)]
        names = MULTI_COLUMN_NAMES
    columns = pd.MultiIndex.from_product(levels, names=names)
    return pd.DataFrame(values.reshape(len(values), -1), index=pd.Index(list(index)),
                        columns=columns)


def save_smoothed_analysis(path: str | os.PathLike, table: pd.DataFrame,
                           save_csv: bool = True) -> Path:
    """Write a :func:`smoothed_table` as an analysis ``.h5`` (kit's writer: pandas 2 and 3
    read it) and, with ``save_csv``, the ``.csv`` beside it; atomically. Returns the .h5."""
    path = Path(path)
    save_analysis(path, table)
    if save_csv:
        with atomic_path(path.with_suffix(".csv")) as tmp:
            table.to_csv(tmp)
    return path


def smooth_analyses(member_h5s: Sequence[str | os.PathLike],
                    config: EnsembleConfig = EnsembleConfig(),
                    path: str | os.PathLike | None = None) -> Path:
    """Smooth the members' analyses of one video and write the result (``05_analyze_videos``
    on an ensemble): the first member's index, scorer, body parts and individuals, and only
    the (individual, body part) columns it has. ``path`` defaults to
    :func:`smoothed_path` of the first member. Returns the ``.h5`` written."""
    first = read_analysis(member_h5s[0])
    members, bodyparts, individuals = load_members(member_h5s)
    smoothed = smooth_ensemble(members, config)
    scorer = first.columns.get_level_values(0)[0]
    table = smoothed_table(smoothed, first.index, scorer, bodyparts, individuals)
    pairs = set(first.columns.droplevel(-1))  # DeepLabCut's unique body parts: no NaN padding
    table = table.loc[:, [column[:-1] in pairs for column in table.columns]]
    return save_smoothed_analysis(smoothed_path(member_h5s[0]) if path is None else path, table)


def load_smoothed_analysis(path: str | os.PathLike) -> SmoothedPoses:
    """A smoothed analysis file's arrays (the inverse of :func:`save_smoothed_analysis`);
    ``smooth_params`` are NaN: the file keeps positions and variances only."""
    df = read_analysis(path)
    if list(dict.fromkeys(df.columns.get_level_values(-1))) != list(EKS_COORDS):
        raise ValueError(f"{path} is not a smoothed analysis: its coords are not "
                         f"{list(EKS_COORDS)}. Write it with save_smoothed_analysis.")
    individuals, bodyparts = table_individuals(df), analysis_bodyparts(df)
    levels = [[df.columns.get_level_values(0)[0]], *([individuals] if individuals else []),
              bodyparts, list(EKS_COORDS)]
    values = df.reindex(columns=pd.MultiIndex.from_product(levels)).to_numpy(np.float64)
    values = values.reshape(len(df), len(individuals or [None]), len(bodyparts), -1)
    return SmoothedPoses(values[..., 0:3], values[..., 3:5], values[..., 5:7], values[..., 7:9],
                         np.full(values.shape[1:3], np.nan))


# --- what to label next ----------------------------------------------------------------


def ensemble_disagreement(members: Sequence[np.ndarray | str | os.PathLike]) -> np.ndarray:
    """Per frame, how far the members are apart: the root-mean-square distance of the
    members' points to their mean (``sqrt(var_x + var_y)``, image pixels), averaged over
    individuals and body parts. 0 when the members agree; it grows in proportion to their
    spread. Members without a point are left out of its variance.

    Args:
        members: as :func:`smooth_ensemble`'s.

    Returns:
        (num_frames,) pixels; NaN for a frame where no point has a value.
    """
    xy = load_members(members)[0][..., :2]  # (M, F, I, K, 2)
    seen = np.isfinite(xy).all(axis=-1).any(axis=0)  # (F, I, K)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN points and frames: NaN
        spread = np.sqrt(np.nanvar(xy, axis=0).sum(axis=-1))
        spread[~seen] = np.nan
        return np.nanmean(spread.reshape(len(spread), -1), axis=1)


def rank_by_disagreement(members: Sequence[np.ndarray | str | os.PathLike], num_frames: int,
                         min_gap: int = 1, exclude: Sequence[int] = ()) -> pd.DataFrame:
    """Frames to label next: the ensemble's most disagreed-on frames, best first.

    Frames are taken greedily by :func:`ensemble_disagreement`, at least ``min_gap`` frames
    apart, skipping ``exclude`` (e.g. frames already extracted), with
    :func:`kit.results.outliers.rank_frames`.

    Returns:
        Every ranked frame, best first: ``frame``, ``disagreement_px``, ``score`` (the
        disagreement over the largest, in [0, 1]), ``suggested`` (the chosen ones).
    """
    disagreement = ensemble_disagreement(members)
    skip = set(map(int, exclude))
    frames = np.array([f for f in range(len(disagreement))
                       if f not in skip and np.isfinite(disagreement[f])], dtype=int)
    config = SuggestConfig(num_frames=num_frames, novelty_weight=0.0, min_gap=min_gap)
    px = disagreement[frames]
    scaled = px / px.max() if len(px) and px.max() > 0 else np.zeros(len(px))
    table = rank_frames(scaled, np.zeros(len(frames)), frames, config)
    table.insert(1, "disagreement_px", disagreement[table.frame.to_numpy(int)])
    return table.drop(columns=["uncertainty", "novelty"])

