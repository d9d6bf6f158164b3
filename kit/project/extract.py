"""Start labeling: create (or reopen) a project, add videos, pick frames to label.

Running the same step again is safe: videos already in the project are not
copied twice, and :func:`kit.frame_picking.extract_frames` never picks a frame already
extracted nor overwrites a file, so labeled frames stay as they are and new
frames are added beside them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from kit.project import Project, create_project, load_project, update_config
from kit.project.files import link_or_copy
from kit.project.frame_picking import ExtractConfig, extract_frames
from kit.project.video import video_info

__all__ = ["ExtractConfig", "add_videos", "extract_for_labeling", "open_or_create_project"]


def open_or_create_project(
    project_dir: str | os.PathLike, task: str, scorer: str, bodyparts: Sequence[str],
    individuals: Sequence[str] = (), unique_bodyparts: Sequence[str] = (),
) -> Project:
    """Open the project in ``project_dir``, or create it there if it has no config.yaml.

    ``individuals`` (animal names) make a new project multi-animal, as DeepLabCut writes
    it: ``bodyparts`` every animal has, ``unique_bodyparts`` found once per frame.

    Raises:
        ValueError: the project exists with other body parts or individuals than given
            (changing them would orphan the labels; edit config.yaml on purpose instead).
    """
    if not (Path(project_dir).expanduser() / "config.yaml").is_file():
        extra = {"individuals": list(individuals),
                 "uniquebodyparts": list(unique_bodyparts)} if individuals else {}
        return create_project(project_dir, task, scorer, list(bodyparts), **extra)
    project = load_project(project_dir)
    layout = project.layout
    have = (list(layout.multianimal_bodyparts), list(layout.individuals),
            list(layout.unique_bodyparts)) if layout else (project.bodyparts, [], [])
    given = (list(bodyparts), list(individuals), list(unique_bodyparts))
    if any(g and g != h for g, h in zip(given, have)):
        raise ValueError(
            f"{project.config_path} lists bodyparts={have[0]}, individuals={have[1]}, "
            f"uniquebodyparts={have[2]}. Received: bodyparts={given[0]}, individuals="
            f"{given[1]}, uniquebodyparts={given[2]}. Pass the project's, or edit config.yaml "
            "first if you really mean to change them."
        )
    return project


def add_videos(project: Project, videos: Sequence[str | os.PathLike],
               link: bool = False) -> Project:
    """Copy videos into ``videos/`` and list them in config.yaml's ``video_sets``.

    Videos already there are left alone. ``link`` puts a symbolic link there instead of a
    copy where the file system allows (:func:`kit.project.files.link_or_copy`): for videos
    that stay where they are. Returns the reopened project.

    Raises:
        ValueError: a video is missing or cannot be opened (see :func:`kit.video.video_info`).
    """
    video_sets = dict(project.config.get("video_sets") or {})
    for video in videos:
        src = Path(video).expanduser()
        info = video_info(src)  # raises with a clear message before anything is copied
        dst = project.videos_dir / src.name
        if link:
            link_or_copy(src, dst)
        elif not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        if str(dst) not in video_sets:
            video_sets[str(dst)] = {"crop": f"0, {info.width}, 0, {info.height}"}
        project.labeled_data_dir(src.stem).mkdir(parents=True, exist_ok=True)
    if video_sets != dict(project.config.get("video_sets") or {}):
        project = update_config(project, video_sets=video_sets)
    return project


def extract_for_labeling(
    project: Project, videos: Sequence[str | os.PathLike], config: ExtractConfig
) -> dict[str, list[Path]]:
    """Pick ``config.num_frames`` new frames of each video (its copy in ``videos/``).

    Returns ``{video name: paths written}``; frames extracted before are kept.
    """
    written = {}
    for video in videos:
        path = project.videos_dir / Path(video).name
        written[path.stem] = extract_frames(project, path, config)
    return written
