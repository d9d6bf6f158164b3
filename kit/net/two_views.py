"""Decoding the two views of a mirror rig together (the ``two_views`` decoder).

A rig that films an animal and its mirror image in one frame (Lightning Pose's mirror mouse:
a side view above, the view from below under it) sees each body part twice, and the two
positions are not free: one point in 3D seen in two views has 3 degrees of freedom, so the
four coordinates (x1, y1, x2, y2) of a pair lie near a 3-dimensional subspace, the PCA of
the labeled pairs (:func:`kit.net.subspaces.fit_view_subspace`, the one the views
loss reads). A network that finds a paw in one view but takes the other paw in the other view
breaks it by tens of pixels.

The decoder keeps each body part's score-map argmax (``single_animal``), then for each pair
finds again the body part of the view it is less sure of: the cell that maximizes the log of
its score minus a penalty on the pair's distance r from the subspace beyond the labels' own
residual (tolerance t, the 95th percentile of the labels' residuals, and of the pair's own
where its labels scatter more: a tail's middle, which a labeler places on other points of
the tail in the two views, is held to its own labels' spread, not the paws'):
``log p - max(0, r - t)**2 / (2 t**2)``. A pair that already agrees keeps its argmax (no
penalty there, and nothing scores higher); a pair that does not moves the weaker view to
the best-scoring place that agrees with the stronger one. Its likelihood is the score map's
there. The subspace holds a pair's x together (a mirror's views share it) and leaves each
view's y free, so it cannot tell a paw seen from below that the network finds in the side
view above: where the labels' two views lie apart (a line between them,
:func:`fit_view_boundary`, ``PoseConfig.view_boundary``), a view's body part whose argmax
lies in the other view is the one of its pair found again (the other kept, however sure),
and every part is found again only in its own view.
Training writes it into the pose config of a single-animal model trained with
``view_pairs`` (``TrainConfig.view_pairs``), fitted on the model's training frames;
:func:`use_two_views` does it for a model trained before.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from kit.net.model_folder import TWO_VIEWS_DECODER, ModelFolder, PoseConfig
from kit.net.subspaces import VIEW_COMPONENTS, fit_view_subspace
from kit.project import Project
from kit.project.labels import labels_to_array, load_labels


def with_view_prior(pose: PoseConfig, points: np.ndarray,
                    view_pairs: tuple[tuple[str, str], ...]) -> PoseConfig:
    """``pose`` with the ``two_views`` decoder and its subspace, fitted on ``points`` (N, K,
    2), the training labels in image pixels (the pose config's ``global_scale`` applied here:
    the decoder works on the network's maps); ``pose`` itself, with a warning, where fewer
    than 6 pairs are labeled in both views."""
    first, second = ([pose.bodyparts.index(p[i]) for p in view_pairs] for i in (0, 1))
    try:
        subspace = fit_view_subspace(np.asarray(points, float) * pose.global_scale, first,
                                     second)
    except ValueError:  # too few pairs labeled in both views to fit: the argmax
        warnings.warn(f"view_pairs={view_pairs}: fewer than {2 * VIEW_COMPONENTS} pairs are "
                      "labeled in both views on the training frames, so the model decodes "
                      "each body part on its own (single_animal). Label more frames and "
                      "train again to decode the views together.", stacklevel=2)
        return pose
    return dataclasses.replace(
        pose, decoder=TWO_VIEWS_DECODER, view_pairs=tuple(tuple(p) for p in view_pairs),
        view_mean=tuple(float(v) for v in subspace.mean),
        view_components=tuple(tuple(float(v) for v in row) for row in subspace.components),
        view_tolerance_px=float(subspace.tolerance_px),
        view_tolerances_px=subspace.pair_tolerances_px,
        view_boundary=fit_view_boundary(np.asarray(points, float) * pose.global_scale, first,
                                        second) or ())


def training_points(project: Project, folder: ModelFolder, bodyparts) -> np.ndarray:
    """(N, K, 2) the labels of the frames the model in ``folder`` trained on (its split)."""
    labels = load_labels(project)
    frames = [name for name in folder.load_split().train if name in labels.index]
    return labels_to_array(labels.loc[frames], list(bodyparts), None)


def use_two_views(project: Project, folder: ModelFolder,
                  view_pairs: tuple[tuple[str, str], ...] | None = None) -> PoseConfig:
    """Make a trained single-animal model predict with the ``two_views`` decoder (its pose
    config rewritten; fitted on its training frames): for a model trained before kit had it.
    ``view_pairs``: default, those it was trained with (``TrainConfig.view_pairs``)."""
    folder = ModelFolder(folder)
    pose = folder.load_pose_config()
    pairs = view_pairs or folder.load_train_config().view_pairs
    if not pairs or pose.multianimal:
        raise ValueError(f"{folder.path}: the two_views decoder needs view_pairs (pairs of "
                         "body parts that are one point seen in two views) and one animal. "
                         f"Received: view_pairs={pairs!r}, multianimal={pose.multianimal}.")
    pose = with_view_prior(pose, training_points(project, folder, pose.bodyparts), pairs)
    folder.save_pose_config(pose)
    return pose


def fit_view_boundary(points: np.ndarray, first: list[int], second: list[int]
                      ) -> tuple[float, float, float] | None:
    """The line between the two views: (nx, ny, c) with every labeled point of the first
    view's body parts (``first``; ``points`` (N, K, 2)) at n . p < c and every one of the
    second's beyond it, c halfway across the widest gap of three directions (the views'
    means' difference, x, y); None where the labels of the two views overlap (no line)."""
    ones, twos = (points[:, parts].reshape(-1, 2) for parts in (first, second))
    ones, twos = ones[np.isfinite(ones).all(1)], twos[np.isfinite(twos).all(1)]
    if not len(ones) or not len(twos):
        return None
    best = None
    for direction in (twos.mean(0) - ones.mean(0), np.array([1.0, 0.0]), np.array([0.0, 1.0])):
        norm = np.linalg.norm(direction)
        if norm == 0:
            continue
        direction = direction / norm * np.sign(direction @ (twos.mean(0) - ones.mean(0)) or 1)
        top, bottom = float((ones @ direction).max()), float((twos @ direction).min())
        if bottom > top and (best is None or bottom - top > best[0]):
            best = (bottom - top, (float(direction[0]), float(direction[1]), (top + bottom) / 2))
    return None if best is None else best[1]


def _own_side(points: np.ndarray, boundary: tuple[float, ...], first_view) -> np.ndarray:
    """Whether ``points`` (..., 2) lie in their view (``first_view``: the first of a pair);
    all True without a ``boundary``."""
    if not boundary:
        return np.ones(points.shape[:-1], bool)
    nx, ny, c = boundary
    return (points[..., 0] * nx + points[..., 1] * ny < c) == first_view


def _cells(part_pred: np.ndarray, locref: np.ndarray, pose: PoseConfig, parts: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Every map cell's score (N, hw) and refined position (N, hw, 2) for body part
    ``parts[i]`` of frame i."""
    n, h, w, _ = part_pred.shape
    rows, cols = np.divmod(np.arange(h * w), w)
    centres = np.stack([cols, rows], axis=-1) * pose.stride + pose.stride / 2  # (hw, 2)
    frames, cells = np.arange(n)[:, None], np.arange(h * w)
    scores = part_pred.reshape(n, h * w, -1)[frames, cells, parts[:, None]]
    offsets = locref.reshape(n, h * w, -1, 2)[frames, cells, parts[:, None]]
    return scores, centres + offsets * pose.locref_stdev


def _into_own_view(out: np.ndarray, part_pred: np.ndarray, locref: np.ndarray,
                   pose: PoseConfig, part: int, first_view: bool) -> np.ndarray:
    """A body part found in the other view (its argmax across ``pose.view_boundary``) found
    again at its best cell in its own view, in place; (N,) where it was."""
    wrong = ~_own_side(out[:, part, :2], pose.view_boundary, first_view)
    if not wrong.any():
        return wrong
    scores, candidates = _cells(part_pred, locref, pose, np.full(len(out), part))
    best = np.where(_own_side(candidates, pose.view_boundary, first_view), scores, -1.0)
    best = best.argmax(axis=1)
    frames = np.arange(len(out))
    out[wrong, part, :2] = candidates[frames, best][wrong]
    out[wrong, part, 2] = scores[frames, best][wrong]
    return wrong


def refine_views(poses: np.ndarray, part_pred: np.ndarray, locref: np.ndarray,
                 pose: PoseConfig) -> np.ndarray:
    """``poses`` (N, K, 3) (the argmax decoder's, map pixels) with each body part found in
    the other view found again in its own (where the labels' views are apart:
    ``pose.view_boundary``), then each view pair's weaker view (or the one found in the
    other view) found again, in its own view, under the pair's subspace (module docstring);
    ``part_pred`` (N, h, w, K) probabilities, ``locref`` (N, h, w, 2K) as the model's maps."""
    out = np.array(poses, dtype=np.float64)
    n = len(out)
    mean = np.asarray(pose.view_mean)
    basis = np.asarray(pose.view_components).reshape(len(mean), -1)
    away = np.eye(len(mean)) - basis @ basis.T  # a row's part off the subspace
    tolerances = pose.view_tolerances_px or (pose.view_tolerance_px,) * len(pose.view_pairs)
    for (first_name, second_name), tolerance in zip(pose.view_pairs, tolerances):
        tolerance = max(tolerance, 1e-6)
        first, second = pose.bodyparts.index(first_name), pose.bodyparts.index(second_name)
        moved_first = _into_own_view(out, part_pred, locref, pose, first, True)
        moved_second = _into_own_view(out, part_pred, locref, pose, second, False)
        fix_first = np.where(moved_first != moved_second, moved_first,  # (N,) which view
                             out[:, first, 2] < out[:, second, 2])  # to find again
        fix = np.where(fix_first, first, second)
        keep = out[np.arange(n), np.where(fix_first, second, first), :2]  # (N, 2)
        scores, candidates = _cells(part_pred, locref, pose, fix)
        kept = np.broadcast_to(keep[:, None], candidates.shape)
        pair = np.where(fix_first[:, None, None], np.concatenate([candidates, kept], -1),
                        np.concatenate([kept, candidates], -1))  # (N, hw, 4) x1, y1, x2, y2
        residual = np.linalg.norm((pair - mean) @ away, axis=-1)
        score = (np.log(np.maximum(scores, 1e-12))
                 - np.maximum(residual - tolerance, 0.0) ** 2 / (2 * tolerance**2))
        score = np.where(_own_side(candidates, pose.view_boundary, fix_first[:, None]), score,
                         -np.inf)
        best = score.argmax(axis=1)
        out[np.arange(n), fix, :2] = candidates[np.arange(n), best]
        out[np.arange(n), fix, 2] = scores[np.arange(n), best]
    return out
