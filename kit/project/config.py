"""A DeepLabCut-compatible project on disk: config.yaml and every path inside it.

All project paths are built here and only here. Paths are resolved relative to
the folder holding config.yaml; its ``project_path`` key is never trusted
(DeepLabCut's example projects ship it as a placeholder).
"""

from __future__ import annotations

import datetime as _dt
import numbers
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kit.project.files import atomic_write_text
from kit.project.multianimal import AnimalLayout, multianimal_keys, read_layout

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "data-templates"
# DeepLabCut's net_type -> its name inside analysis file names (DLC_<name>_<Task>...). The
# networks themselves are kit.net.backbones' registry; this is only the file-naming convention.
ANALYSIS_NETWORK_NAMES = {
    "resnet_50": "resnet50", "resnet_101": "resnet101", "resnet_152": "resnet152",
    "mobilenet_v2_1.0": "mobnet_100", "mobilenet_v2_0.75": "mobnet_75",
    "mobilenet_v2_0.5": "mobnet_50", "mobilenet_v2_0.35": "mobnet_35",
    "mobilenet_v2_1.0_fpn": "mobnet_100_fpn",  # kit's own (its stride-8 features added back)
    **{f"efficientnet-b{n}": f"effnet_b{n}" for n in range(7)},
}
DEFAULT_PCUTOFF = 0.6  # DeepLabCut's: a config without pcutoff, and every setting's default

# key -> (expected types, human description); checked when a project is opened.
_REQUIRED_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "Task": ((str,), "a task name, e.g. Task: openfield"),
    "scorer": ((str,), "the labeler's name, e.g. scorer: Pranav"),
    "bodyparts": ((list,), "a list of body part names, e.g. bodyparts: [snout, tailbase]"),
}
_OPTIONAL_KEYS: dict[str, tuple[tuple[type, ...], Any]] = {
    "date": ((str,), ""),
    "TrainingFraction": ((list,), [0.95]),
    "iteration": ((int,), 0),
    "pcutoff": ((float, int), DEFAULT_PCUTOFF),
    "skeleton": ((list,), []),
    "default_net_type": ((str,), "resnet_50"),
    "video_sets": ((dict,), {}),
    "colormap": ((str,), "rainbow"),
    "dotsize": ((int, float), 8),
}


def check_pcutoff(pcutoff: float) -> float:
    """``pcutoff`` as a float, checked: a likelihood in [0, 1] (NaN fails)."""
    if isinstance(pcutoff, bool) or not isinstance(pcutoff, numbers.Real) \
            or not 0 <= pcutoff <= 1:
        raise ValueError(f"pcutoff must be in [0, 1] (a pcutoff is a likelihood, in [0, 1], like "
                         f"the network's). Received: pcutoff={pcutoff!r}. Pass e.g. the config's "
                         f"pcutoff ({DEFAULT_PCUTOFF}), or None for it.")
    return float(pcutoff)


def resolve_pcutoff(pcutoff: float | None, project: Project) -> float:
    """The p-cutoff to use: ``pcutoff`` if given, else the project config's (checked either way).

    None is kit's one way of saying "the config's"; notebooks, whose command line cannot
    pass None, turn their negative ``pcutoff`` parameter into None before calling this.
    """
    return check_pcutoff(project.pcutoff if pcutoff is None else pcutoff)


@dataclass(frozen=True)
class Project:
    """An opened project. ``config`` is the parsed config.yaml (do not mutate it)."""

    root: Path
    config: Mapping[str, Any]

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    @property
    def task(self) -> str:
        return self.config["Task"]

    @property
    def scorer(self) -> str:
        return self.config["scorer"]

    @property
    def date(self) -> str:
        return str(self.config.get("date") or "")

    @property
    def bodyparts(self) -> list[str]:
        return list(self.config["bodyparts"])

    @property
    def layout(self) -> AnimalLayout | None:
        """The individuals and their body parts of a multi-animal project; None for one animal."""
        return read_layout(self.config, self.config_path)

    @property
    def iteration(self) -> int:
        return int(self.config.get("iteration", 0))

    @property
    def training_fractions(self) -> list[float]:
        return [float(f) for f in self.config.get("TrainingFraction", [0.95])]

    @property
    def pcutoff(self) -> float:
        return float(self.config.get("pcutoff", DEFAULT_PCUTOFF))

    @property
    def skeleton(self) -> list[tuple[str, str]]:
        return [tuple(pair) for pair in self.config.get("skeleton") or []]

    # --- paths -----------------------------------------------------------------
    @property
    def labeled_data_root(self) -> Path:
        return self.root / "labeled-data"

    @property
    def videos_dir(self) -> Path:
        return self.root / "videos"

    def labeled_data_dir(self, video: str) -> Path:
        """Folder of the extracted frames of one video (named by the video's stem)."""
        return self.labeled_data_root / video

    def labels_file(self, video: str, suffix: str = ".h5") -> Path:
        """``labeled-data/<video>/CollectedData_<scorer><suffix>`` of this project's scorer."""
        return self.labeled_data_dir(video) / f"CollectedData_{self.scorer}{suffix}"

    def machine_labels_file(self, video: str, iteration: int | None = None) -> Path:
        """A network's predictions for extracted frames, not yet confirmed by a person
        (DeepLabCut's ``machinelabels-iter<i>.h5``; x, y, likelihood; never training labels)."""
        it = self.iteration if iteration is None else iteration
        return self.labeled_data_dir(video) / f"machinelabels-iter{it}.h5"

    def check_labels_dir(self, video: str) -> Path:
        """Drawings of the labeled frames of one video (DeepLabCut's ``<video>_labeled``)."""
        return self.labeled_data_root / f"{video}_labeled"

    def ground_truth_file(self, video: str) -> Path:
        """Exact positions of every frame of a synthetic video (see kit.experiments.synthetic)."""
        return self.videos_dir / f"{video}_groundtruth.h5"

    def labeled_videos(self) -> list[str]:
        """Names of the labeled-data folders, sorted."""
        if not self.labeled_data_root.is_dir():
            return []
        return sorted(p.name for p in self.labeled_data_root.iterdir() if p.is_dir())

    def model_name(self, shuffle: int, train_fraction: float, variant: str = "") -> str:
        """DeepLabCut's ``<Task><date>-trainset<pct>shuffle<k>``, plus kit's variant suffix
        (e.g. ``-n54`` for a model trained on 54 frames; see ``TrainConfig.variant``)."""
        pct = round(train_fraction * 100)
        return f"{self.task}{self.date}-trainset{pct}shuffle{shuffle}{variant}"

    def _per_iteration(self, top: str, shuffle: int, train_fraction: float,
                       iteration: int | None, variant: str) -> Path:
        it = self.iteration if iteration is None else iteration
        return self.root / top / f"iteration-{it}" / self.model_name(shuffle, train_fraction, variant)

    def model_dir(
        self, shuffle: int, train_fraction: float, iteration: int | None = None,
        variant: str = "",
    ) -> Path:
        """Folder of one trained network: split, settings, checkpoints, logs."""
        return self._per_iteration("kit-models", shuffle, train_fraction, iteration, variant)

    def evaluation_dir(
        self, shuffle: int, train_fraction: float, iteration: int | None = None,
        variant: str = "",
    ) -> Path:
        """Folder of one network's evaluation: table, predictions, figures."""
        return self._per_iteration("evaluation-results-kit", shuffle, train_fraction, iteration,
                                   variant)

    def refine_analysis_dir(
        self, shuffle: int, train_fraction: float, iteration: int | None = None,
        variant: str = "",
    ) -> Path:
        """Analyses of videos by one iteration's network, made to refine it (kit.results.refine):
        kept per iteration, as analysis file names do not say the iteration."""
        return self.evaluation_dir(shuffle, train_fraction, iteration, variant) / "analyzed-videos"

    def pretrained_weights_file(self, net_type: str, tag: str) -> Path:
        """A backbone pretrained on the project's frames (``kit.net.pretrain``), by net_type
        and a tag naming how: ``kit-models/pretrained/<net_type>-<tag>.weights.h5``."""
        return self.root / "kit-models" / "pretrained" / f"{net_type}-{tag}.weights.h5"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def image_path(self, relative: str) -> Path:
        """Absolute path of an image named as in the label index (``labeled-data/v/img.png``)."""
        return self.root / Path(*relative.replace("\\", "/").split("/"))

    def analysis_scorer(self, shuffle: int, train_steps: int, net_type: str = "resnet_50") -> str:
        """DeepLabCut's scorer of video analyses: ``DLC_resnet50_<Task><date>shuffle<k>_<steps>``
        (the network's name from the model's ``net_type``)."""
        if net_type not in ANALYSIS_NETWORK_NAMES:
            raise ValueError(f"No DeepLabCut file name for net_type={net_type!r}. Known: "
                             f"{sorted(ANALYSIS_NETWORK_NAMES)}.")
        network = ANALYSIS_NETWORK_NAMES[net_type]
        return f"DLC_{network}_{self.task}{self.date}shuffle{shuffle}_{train_steps}"

    def analysis_file(
        self, video: str | os.PathLike, scorer: str, suffix: str = ".h5",
        folder: str | os.PathLike | None = None,
    ) -> Path:
        """``<video stem><scorer><suffix>`` beside the video (or in ``folder``), as DeepLabCut
        names analysis outputs (suffixes: ``.h5``, ``.csv``, ``_filtered.h5``, ``_labeled.mp4``...)."""
        video = Path(video)
        return (video.parent if folder is None else Path(folder)) / f"{video.stem}{scorer}{suffix}"


def _check_config(config: Any, path: Path) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise ValueError(
            f"{path} is not a project configuration (a YAML mapping of keys to values). "
            f"Received: {type(config).__name__}. Create one with kit.project.create_project."
        )
    layout = read_layout(config, path)
    if layout is not None:  # bodyparts: MULTI! on disk; in memory, every body part
        config = {**config, "bodyparts": layout.bodyparts}
    for key, (types, example) in _REQUIRED_KEYS.items():
        if key not in config or config[key] is None:
            raise ValueError(f"{path} has no {key!r} key. Add {example}.")
        if not isinstance(config[key], types):
            raise ValueError(
                f"{path}: {key!r} must be {example}. Received: {key}={config[key]!r}."
            )
    out = dict(config)
    for key, (types, default) in _OPTIONAL_KEYS.items():
        if out.get(key) is None:
            out[key] = default
        elif not isinstance(out[key], types) or isinstance(out[key], bool):
            raise ValueError(
                f"{path}: {key!r} has the wrong type. Received: {key}={out[key]!r}; "
                f"expected {' or '.join(t.__name__ for t in types)}, e.g. {key}: {default!r}."
            )
    bodyparts = out["bodyparts"]
    if not bodyparts or not all(isinstance(b, str) and b for b in bodyparts):
        raise ValueError(f"{path}: bodyparts must be a non-empty list of names. Received: {bodyparts!r}.")
    if len(set(bodyparts)) != len(bodyparts):
        raise ValueError(f"{path}: bodyparts has duplicates. Received: {bodyparts!r}.")
    for f in out["TrainingFraction"]:
        if not isinstance(f, (int, float)) or not 0 < f <= 1:
            raise ValueError(
                f"{path}: every TrainingFraction must be in (0, 1]. Received: {out['TrainingFraction']!r}."
            )
    if not 0 <= out["pcutoff"] <= 1:  # not check_pcutoff: this error names the file
        raise ValueError(f"{path}: pcutoff must be in [0, 1]. Received: pcutoff={out['pcutoff']!r}.")
    unknown = sorted({str(n) for pair in out["skeleton"] for n in pair} - set(bodyparts))
    if unknown:
        raise ValueError(f"{path}: the skeleton names body parts {unknown} that are not among "
                         f"{bodyparts}. Fix the skeleton's pairs (or add the body parts).")
    return out


def load_project(path: str | os.PathLike) -> Project:
    """Open a project from its folder or its config.yaml, without changing anything on disk.

    Raises:
        FileNotFoundError: no config.yaml there.
        ValueError: config.yaml is not valid YAML, or a key is missing or of the wrong type.
    """
    path = Path(path).expanduser()
    config_path = path if path.suffix in (".yaml", ".yml") else path / "config.yaml"
    if not config_path.is_file():
        raise FileNotFoundError(
            f"No project configuration at {config_path}. Pass the folder that holds "
            "config.yaml, or create a project with kit.project.create_project."
        )
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ValueError(f"{config_path} is not valid YAML ({e}). Fix the line it names.") from e
    return Project(root=config_path.parent.resolve(), config=_check_config(config, config_path))


def _replace_top_level(text: str, key: str, value: Any) -> str:
    """Replace the value of top-level ``key`` in YAML ``text``, keeping comments elsewhere."""
    dumped = yaml.safe_dump({key: value}, default_flow_style=False, sort_keys=False)
    lines = text.splitlines()
    for start, line in enumerate(lines):
        if line.startswith(f"{key}:"):
            end = start + 1
            while end < len(lines) and lines[end].startswith((" ", "-", "\t")):
                end += 1
            lines[start:end] = dumped.rstrip("\n").splitlines()
            return "\n".join(lines) + "\n"
    return text.rstrip("\n") + "\n" + dumped


def update_config(project: Project, **updates: Any) -> Project:
    """Set top-level keys of config.yaml (atomically, comments kept); return the reopened project."""
    text = project.config_path.read_text(encoding="utf-8")
    for key, value in updates.items():
        text = _replace_top_level(text, key, value)
    _check_config(yaml.safe_load(text), project.config_path)
    atomic_write_text(project.config_path, text)
    return load_project(project.root)


def create_project(
    project_dir: str | os.PathLike,
    task: str,
    scorer: str,
    bodyparts: Sequence[str],
    videos: Sequence[str | os.PathLike] = (),
    **config: Any,
) -> Project:
    """Create a new project folder from ``data-templates/config.yaml``.

    Videos are copied into ``videos/``. Extra keyword arguments set further
    config keys (e.g. ``skeleton=[["snout", "tailbase"]]``, ``TrainingFraction=[0.8]``,
    ``date="Oct30"``; the date defaults to today's, as DeepLabCut writes it).
    An existing config.yaml is never overwritten. ``individuals=[...]`` (with optional
    ``uniquebodyparts=[...]`` and ``identity=True``) makes a multi-animal project, as
    DeepLabCut writes it: ``bodyparts`` become its ``multianimalbodyparts``.
    """
    root = Path(project_dir).expanduser().resolve()
    if (root / "config.yaml").exists():
        raise FileExistsError(
            f"{root / 'config.yaml'} already exists. Open it with kit.project.load_project, "
            "or choose another project_dir."
        )
    _check_bodypart_names(bodyparts)
    template = TEMPLATE_DIR / "config.yaml"
    if not template.is_file():
        raise FileNotFoundError(f"The config template {template} is missing; reinstall kit.")
    values = {
        "Task": task,
        "scorer": scorer,
        "date": config.pop("date", None) or _dt.date.today().strftime("%b%d"),
        "project_path": str(root),
        "video_sets": _copy_videos(root, videos),
        "bodyparts": list(bodyparts),
        **config,
    }
    if "individuals" in config:
        _check_bodypart_names(config.get("uniquebodyparts", ()))
        values.update(multianimal_keys(bodyparts, config["individuals"],
                                       config.get("uniquebodyparts", ()),
                                       bool(config.get("identity", False))))
    text = template.read_text(encoding="utf-8")
    for key, value in values.items():
        text = _replace_top_level(text, key, value)
    _check_config(yaml.safe_load(text), root / "config.yaml")
    atomic_write_text(root / "config.yaml", text)
    return load_project(root)


def _check_bodypart_names(bodyparts: Sequence[str]) -> None:
    for name in bodyparts:
        if not isinstance(name, str) or not name or any(c in name for c in " ,/\\"):
            raise ValueError(
                f"Body part names must be non-empty words without spaces, commas or slashes. "
                f"Received: {name!r}."
            )


def _copy_videos(root: Path, videos: Sequence[str | os.PathLike]) -> dict[str, dict[str, str]]:
    """Make the project's folders, copy ``videos`` into ``videos/``; return ``video_sets``."""
    (root / "videos").mkdir(parents=True, exist_ok=True)
    (root / "labeled-data").mkdir(exist_ok=True)
    video_sets = {}
    for video in videos:
        src = Path(video)
        if not src.is_file():
            raise FileNotFoundError(f"Video {src} does not exist. Check the path.")
        dst = root / "videos" / src.name
        if not dst.exists():
            shutil.copy2(src, dst)
        video_sets[str(dst)] = {"crop": _video_crop(dst)}
        (root / "labeled-data" / src.stem).mkdir(exist_ok=True)
    return video_sets


def _video_crop(path: Path) -> str:
    import cv2  # local: only needed when adding videos

    cap = cv2.VideoCapture(str(path))
    width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    cap.release()
    return f"0, {width}, 0, {height}"
