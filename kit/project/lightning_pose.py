"""Lightning Pose projects and files (Biderman et al., Nature Methods 2024): import one as a
kit project, write the label CSV it trains on, read the predictions it writes.

The one module of kit that knows Lightning Pose's layout:

- a project folder: a label CSV (``data.csv_file`` of its config yaml, ``CollectedData.csv``
  by default) in DeepLabCut's single-animal CSV layout (header rows scorer, bodyparts,
  coords x/y; index: image paths relative to the folder, ``labeled-data/img03.png`` or
  ``labeled-data/<session>/img03.png``), the images, ``videos/``, and the config yaml
  (``data.keypoint_names`` the body parts, in order);
- its predictions, ``predictions.csv`` of the labeled frames and
  ``video_preds/<video>.csv``: the same three header rows with coords x, y, likelihood,
  and, in ``predictions.csv``, a last column ``set`` (header cells ``set``, "", "") saying
  whether the frame was in its train, validation or test set.

A DeepLabCut project needs ``labeled-data/<video>/<image>``: images directly in
``labeled-data/`` go into one folder named by ``video_name``. Images and videos are linked
into the project, not copied, where the file system allows
(:func:`kit.project.files.link_or_copy`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from kit.project.config import Project, create_project
from kit.project.dlc_tables import read_csv_table, table_coords, write_table
from kit.project.extract import add_videos
from kit.project.files import link_or_copy
from kit.project.labels import load_labels, read_labels_file, save_labels

PREDICTION_COORDS = ("x", "y", "likelihood")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")  # what Lightning Pose's videos/ may hold


@dataclass(frozen=True)
class LpProject:
    """What kit reads of a Lightning Pose project folder.

    Attributes:
        root: the folder; image paths of the label CSV are relative to it.
        csv_file: the label CSV.
        config_file: the config yaml (None if the folder has none).
        bodyparts: the config's ``data.keypoint_names`` (else the CSV's body parts), in order.
        videos: the videos of ``videos/``, sorted.
        view_pairs: a two-view rig's (a mirror's) body parts that are one point seen in both
            views, from ``data.mirrored_column_matches`` (two lists of indices into
            ``bodyparts``), for ``TrainConfig.view_pairs``; () without.
        pca_bodyparts: the body parts of its pose-subspace loss, from
            ``data.columns_for_singleview_pca`` (indices), for ``TrainConfig.pca_bodyparts``;
            () without (all).
    """

    root: Path
    csv_file: Path
    config_file: Path | None
    bodyparts: tuple[str, ...]
    videos: tuple[Path, ...]
    view_pairs: tuple[tuple[str, str], ...] = ()
    pca_bodyparts: tuple[str, ...] = ()


def _named_columns(data: dict, key: str, bodyparts: tuple[str, ...],
                   path: Path | None) -> tuple[str, ...]:
    """The body parts that ``data[key]`` (a list of indices into ``bodyparts``) names."""
    try:
        return tuple(bodyparts[int(i)] for i in data.get(key) or ())
    except (TypeError, ValueError, IndexError) as e:
        raise ValueError(f"{path}: data.{key} must be a list of indices into the "
                         f"{len(bodyparts)} keypoint_names. Received: {data.get(key)!r}.") from e


def _view_pairs(data: dict, bodyparts: tuple[str, ...], path: Path | None) -> tuple:
    """The pairs of ``data.mirrored_column_matches`` (see :class:`LpProject`)."""
    matches = data.get("mirrored_column_matches")
    if not matches:
        return ()
    try:
        first, second = ([bodyparts[int(i)] for i in view] for view in matches)
        if len(first) != len(second):
            raise ValueError
    except (TypeError, ValueError, IndexError) as e:
        raise ValueError(f"{path}: data.mirrored_column_matches must be two lists of as many "
                         f"indices into the {len(bodyparts)} keypoint_names. Received: "
                         f"{matches!r}.") from e
    return tuple(zip(first, second))


def _config_file(root: Path, config_file: str | os.PathLike | None) -> Path | None:
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise FileNotFoundError(f"No Lightning Pose config at {path}. Check the path.")
        return path
    found = sorted(root.glob("*.yaml")) + sorted(root.glob("*.yml"))
    if len(found) > 1:
        raise ValueError(f"{root} holds several yaml files {[p.name for p in found]}: pass "
                         "config_file= the Lightning Pose config among them.")
    return found[0] if found else None


def _data_section(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ValueError(f"{path} is not valid YAML ({e}). Fix the line it names.") from e
    data = config.get("data") if isinstance(config, dict) else None
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a Lightning Pose config: it has no 'data' section "
                         "(data: csv_file, keypoint_names, ...). Pass config_file= its config.")
    return data


def read_lp_project(folder: str | os.PathLike,
                    config_file: str | os.PathLike | None = None) -> LpProject:
    """Read a Lightning Pose project folder (see the module docstring); the config yaml is
    ``config_file``, else the folder's one ``*.yaml``. Raises naming the file at fault."""
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"No Lightning Pose project folder at {root}. Check the path.")
    config_path = _config_file(root, config_file)
    data = _data_section(config_path)
    csv_file = root / str(data.get("csv_file") or "CollectedData.csv")
    if not csv_file.is_file():
        raise FileNotFoundError(f"No label CSV at {csv_file} (data.csv_file of {config_path}). "
                                "Put the labels there or fix data.csv_file.")
    names = data.get("keypoint_names")
    if names is not None and (not isinstance(names, list)
                              or not all(isinstance(n, str) for n in names)):
        raise ValueError(f"{config_path}: data.keypoint_names must be a list of names. "
                         f"Received: {names!r}.")
    videos = tuple(sorted(p for p in (root / "videos").glob("*")
                          if p.suffix.lower() in VIDEO_SUFFIXES))
    bodyparts = tuple(names or dict.fromkeys(
        read_labels_file(csv_file).columns.get_level_values("bodyparts")))
    return LpProject(root, csv_file, config_path, bodyparts, videos,
                     _view_pairs(data, bodyparts, config_path),
                     _named_columns(data, "columns_for_singleview_pca", bodyparts, config_path))


def _kit_image(image: str, video_name: str) -> tuple[str, str]:
    """(video, kit image name) of a Lightning Pose image path: ``labeled-data/<s>/img.png``
    keeps its folder ``s``; an image without one goes to ``video_name``."""
    parts = image.split("/")
    video = parts[-2] if len(parts) > 2 else video_name
    return video, f"labeled-data/{video}/{parts[-1]}"


def read_lp_labels(lp: LpProject, video_name: str) -> pd.DataFrame:
    """The label CSV of ``lp`` as a kit label table: columns in ``lp.bodyparts`` order, the
    index renamed to kit's ``labeled-data/<video>/<image>`` (:func:`_kit_image`), the CSV's
    own image paths kept in ``df.attrs["lp_images"]``, in the same order."""
    labels = read_labels_file(lp.csv_file)
    found = list(dict.fromkeys(labels.columns.get_level_values("bodyparts")))
    if set(found) != set(lp.bodyparts):
        raise ValueError(f"{lp.csv_file}: its body parts {found} differ from data.keypoint_names "
                         f"{list(lp.bodyparts)} of {lp.config_file}. Make them the same.")
    missing = [i for i in labels.index if not (lp.root / i).is_file()]
    if missing:
        raise FileNotFoundError(f"{lp.csv_file} labels {len(missing)} image(s) that are not in "
                                f"{lp.root}, e.g. {missing[:3]}. Restore them or drop their rows.")
    renamed = [_kit_image(i, video_name)[1] for i in labels.index]
    if len(set(renamed)) != len(renamed):
        raise ValueError(f"{lp.csv_file}: images of different folders share a file name in "
                         f"labeled-data/{video_name}/. Pass another video_name, or put each "
                         "session's images in its own labeled-data/<session>/ folder.")
    scorer = labels.columns.get_level_values("scorer")[0]
    columns = pd.MultiIndex.from_product([[scorer], list(lp.bodyparts), ["x", "y"]],
                                         names=labels.columns.names)
    table = labels.reindex(columns=columns).set_axis(pd.Index(renamed))
    table.attrs["lp_images"] = list(labels.index)
    return table


def import_lp_project(folder: str | os.PathLike, project_dir: str | os.PathLike,
                      task: str = "", video_name: str = "",
                      config_file: str | os.PathLike | None = None) -> Project:
    """A new single-animal kit (DeepLabCut) project from a Lightning Pose project folder:
    its body parts, its labels (scorer: the CSV's) in ``labeled-data/<video>/``, its images
    and ``videos/`` linked in (copied where links cannot be made).

    Args:
        task: the project's Task (default: the folder's name).
        video_name: the labeled-data folder of images that sit directly in ``labeled-data/``
            (default: the folder's name).
        config_file: the Lightning Pose config (default: the folder's one yaml).
    """
    lp = read_lp_project(folder, config_file)
    labels = read_lp_labels(lp, video_name or lp.root.name)
    scorer = str(labels.columns.get_level_values("scorer")[0])
    project = create_project(project_dir, task or lp.root.name, scorer, list(lp.bodyparts))
    project = add_videos(project, lp.videos, link=True)
    for source, image in zip(labels.attrs["lp_images"], labels.index):
        link_or_copy(lp.root / source, project.image_path(image))
    for video in sorted({i.split("/")[1] for i in labels.index}):
        save_labels(project, video, labels[labels.index.str.startswith(f"labeled-data/{video}/")])
    return project


def write_lp_labels(project: Project, images: Sequence[str], path: str | os.PathLike) -> Path:
    """Write the labels of ``images`` (kit image names) as a Lightning Pose label CSV at
    ``path`` (atomically), index unchanged: train Lightning Pose on exactly these frames with
    ``data.data_dir`` the project's folder and ``data.csv_file`` this file."""
    labels = load_labels(project)
    unknown = [i for i in images if i not in labels.index]
    if unknown:
        raise ValueError(f"{len(unknown)} image(s) have no labels in {project.root}, e.g. "
                         f"{unknown[:3]}. Pass labeled frames (kit.project.labels.load_labels).")
    if project.layout is not None:
        raise ValueError(f"{project.config_path} is multi-animal; Lightning Pose's label CSV "
                         "holds one animal. Pass a single-animal project.")
    return write_table(labels.loc[list(images)], Path(path))


@dataclass(frozen=True)
class LpPredictions:
    """A Lightning Pose predictions file as kit reads it.

    Attributes:
        table: a single-animal pose table (scorer, bodyparts, coords x, y, likelihood;
            pixels of the full image), its index the file's (image paths or frame numbers).
        sets: per row, "train", "validation", "test" (or "unused"): the ``set`` column of
            ``predictions.csv``; None for a file without it (``video_preds/*.csv``).
    """

    table: pd.DataFrame
    sets: pd.Series | None


def read_lp_predictions(path: str | os.PathLike) -> LpPredictions:
    """Read Lightning Pose's ``predictions.csv`` or ``video_preds/<video>.csv``; raises naming
    the file when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No Lightning Pose predictions at {path}.")
    try:
        df = read_csv_table(path)
    except (ValueError, pd.errors.ParserError) as e:
        raise ValueError(f"{path} is not a Lightning Pose predictions file (three header rows "
                         f"scorer, bodyparts, coords x/y/likelihood): {e}") from e
    is_set = df.columns.get_level_values("scorer") == "set"
    sets = df.loc[:, is_set].iloc[:, 0].astype(str) if is_set.any() else None
    table = df.loc[:, ~is_set]
    table_coords(table, [PREDICTION_COORDS], path)  # raises naming the file
    try:
        table = table.astype("float64")
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path} has a value that is not a number ({e}). Fix that cell.") from e
    return LpPredictions(table, sets)
