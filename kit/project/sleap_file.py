"""SLEAP files (``.slp``), read and written with ``sleap-io``, the library SLEAP itself uses.

The one module of kit that knows SLEAP's layout. Inside kit a SLEAP file becomes arrays
with an individuals axis: ``points`` (num_frames, num_individuals, num_bodyparts, 3), x
and y in image pixels (SLEAP's and DeepLabCut's pixel convention), then a score
(SLEAP's point score for predicted instances, 1 for user instances), NaN where a point
or an instance is missing.

Individuals are SLEAP's tracks when each frame holds at most one instance per track.
Tracks that come and go (a tracker's fragments: 27 tracks for two flies in SLEAP's
``centered_pair`` example) cannot be DeepLabCut individuals, which keep their identity
over the whole video; then the instances of each frame fill generic slots ``animal1 ...
animalN`` in the file's order (N = most instances in one frame), as for files without
tracks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kit.project.analysis_file import load_poses
from kit.project.config import Project, create_project
from kit.project.frame_picking import frame_image_name
from kit.project.labels import make_labels_frame, save_labels
from kit.project.video import read_frames, save_image, video_info

INSTANCE_KINDS = {"user": ("Instance",), "predicted": ("PredictedInstance",),
                  "all": ("Instance", "PredictedInstance")}
INDIVIDUALS = ("auto", "tracks", "slots")


@dataclass(frozen=True)
class SleapPoses:
    """What kit takes from a SLEAP file.

    Attributes:
        video: the video the frames come from (as the file names it).
        frames: (num_frames,) frame indices in the video, ascending.
        points: (num_frames, num_individuals, num_bodyparts, 3) x, y (pixels), score;
            NaN = missing.
        bodyparts: the skeleton's node names, in order.
        skeleton: the skeleton's edges as pairs of node names.
        individuals: the names along the individuals axis.
        user: (num_frames, num_individuals) bool, True where the instance is a user's
            (a human label) rather than a prediction.
        tracked: whether the individuals are the file's tracks (else animal1..N slots).
    """

    video: Path
    frames: np.ndarray
    points: np.ndarray
    bodyparts: tuple[str, ...]
    skeleton: tuple[tuple[str, str], ...]
    individuals: tuple[str, ...]
    user: np.ndarray
    tracked: bool = True


def _sleap_io():
    try:
        import sleap_io
    except ImportError as e:  # a dependency of kit; say how to get it back
        raise ImportError("Reading and writing SLEAP files needs sleap-io: "
                          "pip install sleap-io (a dependency of kit).") from e
    return sleap_io


def _instances(frame, kinds: tuple[str, ...]) -> list:
    return [i for i in frame.instances if type(i).__name__ in kinds]


def _kept(instances: list) -> list:
    """User instances first, then the predictions no user instance was made from."""
    users = [i for i in instances if type(i).__name__ == "Instance"]
    corrected = {id(getattr(u, "from_predicted", None)) for u in users}
    return users + [i for i in instances
                    if type(i).__name__ != "Instance" and id(i) not in corrected]


def _instance_points(instance) -> np.ndarray:
    """(num_bodyparts, 3) x, y, score of a sleap-io instance (score 1 for a user's)."""
    xy = np.asarray(instance.numpy(), np.float64)
    if type(instance).__name__ == "Instance":
        score = np.ones(len(xy))
    else:
        score = np.asarray(instance.points["score"], np.float64)
    return np.column_stack([xy, np.where(np.isnan(xy[:, 0]), np.nan, score)])


def _use_tracks(labels, frames: list, kinds: tuple[str, ...], individuals: str) -> bool:
    """Tracks are individuals when set explicitly, or when every instance has one, no frame
    repeats one, and the file has no more tracks than animals in its fullest frame."""
    if individuals != "auto":
        return individuals == "tracks"
    for frame in frames:
        tracks = [i.track.name if i.track else None for i in _instances(frame, kinds)]
        if None in tracks or len(set(tracks)) < len(tracks):
            return False
    return len(labels.tracks) <= max(len(f.instances) for f in frames)


def read_slp(path: str | os.PathLike, instances: str = "all",
             individuals: str = "auto") -> SleapPoses:
    """Read a SLEAP file's poses of its first video.

    Args:
        instances: ``"user"`` (human labels), ``"predicted"`` or ``"all"`` (a user
            instance and the prediction it corrects both count; the user's is kept).
        individuals: ``"tracks"``, ``"slots"`` (animal1..N per frame in file order) or
            ``"auto"`` (tracks when they are consistent identities; see the module doc).
    """
    if instances not in INSTANCE_KINDS or individuals not in INDIVIDUALS:
        raise ValueError(f"instances must be one of {list(INSTANCE_KINDS)} and individuals one "
                         f"of {list(INDIVIDUALS)}. Received: {instances!r}, {individuals!r}.")
    sio, path = _sleap_io(), Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No SLEAP file at {path}.")
    labels = sio.load_slp(str(path))
    if not labels.videos or not labels.skeletons:
        raise ValueError(f"{path} holds no video or no skeleton: nothing to import.")
    kinds, video = INSTANCE_KINDS[instances], labels.videos[0]
    frames = sorted((f for f in labels.labeled_frames if f.video is video and
                     _instances(f, kinds)), key=lambda f: f.frame_idx)
    if not frames:
        raise ValueError(f"{path} has no {instances} instances in {video.filename}. "
                         "Pass instances='all' or 'predicted' to import predictions.")
    skeleton = labels.skeletons[0]
    use_tracks = _use_tracks(labels, frames, kinds, individuals)
    if use_tracks:
        names = [t.name for t in labels.tracks]  # every track of the file, in its order
    else:
        names = [f"animal{n + 1}" for n in range(max(len(_instances(f, kinds)) for f in frames))]
    points = np.full((len(frames), len(names), len(skeleton.nodes), 3), np.nan)
    user = np.zeros(points.shape[:2], bool)
    for row, frame in enumerate(frames):
        for slot, instance in enumerate(_kept(_instances(frame, kinds))):
            column = names.index(instance.track.name) if use_tracks else slot
            points[row, column] = _instance_points(instance)
            user[row, column] = type(instance).__name__ == "Instance"
    return SleapPoses(Path(video.filename), np.array([f.frame_idx for f in frames]), points,
                      tuple(skeleton.node_names), tuple((e.source.name, e.destination.name)
                                                        for e in skeleton.edges),
                      tuple(names), user, use_tracks)


def save_slp(path: str | os.PathLike, poses: SleapPoses) -> Path:
    """Write ``poses`` as a SLEAP file of predicted instances, one track per individual
    (``user`` instances are written as user instances); return the path.

    The video is referenced by its path, not embedded. Instances whose points are all
    NaN are left out.
    """
    sio, path = _sleap_io(), Path(path)
    points = np.asarray(poses.points, np.float64)
    if points.ndim != 4 or points.shape[1:] != (len(poses.individuals), len(poses.bodyparts), 3):
        raise ValueError(
            f"points must have shape (num_frames, {len(poses.individuals)}, "
            f"{len(poses.bodyparts)}, 3). Received: {points.shape}.")
    nodes = [sio.Node(name) for name in poses.bodyparts]
    skeleton = sio.Skeleton(nodes=nodes, edges=[
        sio.Edge(nodes[poses.bodyparts.index(a)], nodes[poses.bodyparts.index(b)])
        for a, b in poses.skeleton])
    tracks = [sio.Track(name) for name in poses.individuals]
    video = sio.Video(filename=str(poses.video), open_backend=False)
    frames = []
    for row, index in enumerate(poses.frames):
        instances = [_instance(sio, points[row, n], skeleton, tracks[n], poses.user[row, n])
                     for n in range(len(tracks)) if np.isfinite(points[row, n, :, :2]).any()]
        frames.append(sio.LabeledFrame(video=video, frame_idx=int(index), instances=instances))
    labels = sio.Labels(labeled_frames=frames, videos=[video], skeletons=[skeleton],
                        tracks=tracks)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp{os.getpid()}-{path.name}")
    try:
        sio.save_slp(labels, str(tmp), verbose=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _instance(sio, points: np.ndarray, skeleton, track, is_user: bool):
    """One sleap-io instance from (num_bodyparts, 3) x, y, score."""
    if is_user:
        return sio.Instance.from_numpy(points[:, :2], skeleton=skeleton, track=track)
    scores = np.nan_to_num(points[:, 2], nan=0.0)
    return sio.PredictedInstance.from_numpy(points[:, :2], skeleton=skeleton,
                                            point_scores=scores,
                                            score=float(np.nanmean(points[:, 2]))
                                            if np.isfinite(points[:, 2]).any() else 0.0,
                                            track=track)


def poses_from_arrays(video: str | os.PathLike, frames: Sequence[int], points: np.ndarray,
                      bodyparts: Sequence[str], individuals: Sequence[str],
                      skeleton: Sequence[Sequence[str]] = ()) -> SleapPoses:
    """:class:`SleapPoses` of kit's predictions (all predicted, none a user's)."""
    points = np.asarray(points, np.float64)
    return SleapPoses(Path(video), np.asarray(frames, int), points, tuple(bodyparts),
                      tuple((a, b) for a, b in skeleton), tuple(individuals),
                      np.zeros(points.shape[:2], bool))


def _best_first(poses: SleapPoses, num_individuals: int | None) -> SleapPoses:
    """Slots sorted by mean point score within each frame (the best animal first), then the
    first ``num_individuals`` kept; tracks are kept as they are, in the file's order."""
    points, user = poses.points, poses.user
    if poses.tracked:
        order = np.broadcast_to(np.arange(points.shape[1]), points.shape[:2])
    else:
        scores = points[..., 2]
        found = np.isfinite(scores).sum(axis=2)
        mean = np.where(found > 0, np.nansum(scores, axis=2) / np.maximum(found, 1), -1.0)
        score = np.where(user, np.inf, mean)
        order = np.argsort(-score, axis=1, kind="stable")
    keep = points.shape[1] if num_individuals is None else num_individuals
    rows = np.arange(len(points))[:, None]
    return SleapPoses(poses.video, poses.frames, points[rows, order][:, :keep],
                      poses.bodyparts, poses.skeleton, poses.individuals[:keep],
                      user[rows, order][:, :keep], poses.tracked)


def _find_video(poses: SleapPoses, slp: Path) -> Path:
    for candidate in (poses.video, slp.parent / poses.video.name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{slp} names the video {poses.video}, which is neither there nor "
                            f"beside the file. Copy the video to {slp.parent}.")


def import_slp(slp: str | os.PathLike, project_dir: str | os.PathLike, scorer: str = "sleap",
               instances: str = "user", num_individuals: int | None = None,
               max_frames: int | None = None) -> Project:
    """A new multi-animal project from a SLEAP file: its video copied in, the frames with
    instances extracted into ``labeled-data/<video>/``, its skeleton as the config's, its
    tracks (or animal1..N) as the individuals, and its instances as the labels.

    Args:
        instances: which instances become labels: ``"user"`` (human labels, SLEAP's
            training data), ``"predicted"`` or ``"all"`` (see :func:`read_slp`).
        num_individuals: keep at most this many individuals (slots: the best-scored
            instances of each frame; tracks: the first in the file).
        max_frames: extract at most this many frames, spread evenly over those with
            instances (None: all of them).
    """
    slp = Path(slp)
    poses = _best_first(read_slp(slp, instances), num_individuals)
    video = _find_video(poses, slp)
    if max_frames is not None and max_frames < len(poses.frames):
        pick = np.unique(np.linspace(0, len(poses.frames) - 1, max_frames).round().astype(int))
        poses = SleapPoses(poses.video, poses.frames[pick], poses.points[pick], poses.bodyparts,
                           poses.skeleton, poses.individuals, poses.user[pick], poses.tracked)
    project = create_project(project_dir, slp.stem, scorer, list(poses.bodyparts), [video],
                             individuals=list(poses.individuals),
                             skeleton=[list(edge) for edge in poses.skeleton])
    name, num_video_frames = video.stem, video_info(video).num_frames
    folder = project.labeled_data_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for index, image in read_frames(video, poses.frames).items():
        save_image(folder / frame_image_name(index, num_video_frames), image)
        images.append(f"labeled-data/{name}/{frame_image_name(index, num_video_frames)}")
    labels = make_labels_frame(poses.points[..., :2], images, scorer, project.bodyparts,
                               project.layout)
    save_labels(project, name, labels)
    return project


def analysis_to_slp(h5: str | os.PathLike, video: str | os.PathLike, path: str | os.PathLike,
                    skeleton: Sequence[Sequence[str]] = ()) -> Path:
    """Write a kit (DeepLabCut-layout) analysis of ``video`` as a SLEAP file of predicted
    instances, one track per individual (``animal`` for a single-animal analysis), so that
    SLEAP opens kit's results; return the path."""
    poses, bodyparts, individuals = load_poses(h5)
    return save_slp(path, poses_from_arrays(video, range(len(poses)), poses, bodyparts,
                                            individuals or ["animal"], skeleton))
