"""Which trained model: found by what it was trained with, never by a folder suffix.

``find_model(project, shuffle=1, net_type="mobilenet_v2_0.35")`` lists the iteration's
finished model folders, reads what each was trained with (its saved settings; a folder
without them, by its name), and takes the one that matches; several raise before any work,
listing the notebook parameters that select each.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from kit.net.backbones import is_pretrained_file
from kit.net.model_folder import ModelFolder, name_parts
from kit.project import Project
from kit.project.settings_text import parse_settings

# ModelQuery fields the notebooks that find a model (04_evaluate, 08_live) take as parameters
# of their own; the others go in their one ``model_settings`` text (:func:`query_settings`).
NOTEBOOK_PARAMETERS = ("shuffle", "train_fraction", "net_type", "train_size", "bodyparts",
                       "test_videos", "augment", "split_method", "seed")
_ANY = {"train_fraction": -1.0, "net_type": "", "train_size": -1, "bodyparts": "",
        "test_videos": "", "augment": -1, "split_method": "", "seed": -1, "unlabeled_pairs": -1,
        "rotation_deg": -1.0, "pretrained": -1, "pseudo_label_frames": -1,
        "validation_fraction": -1.0, "mirror": -1, "elastic": -1.0, "pose_balance": -1.0,
        "ema_span": -1.0}


@dataclass(frozen=True)
class ModelQuery:
    """A trained model named by what it was trained with (``03_train``'s parameters).

    The values that mean "any" (-1, "") are simple, so a notebook takes them as parameters.

    Attributes:
        shuffle: the shuffle trained.
        train_fraction: its training fraction; -1: any.
        net_type: the backbone (``kit.net.backbones.BACKBONES``); "": any.
        train_size: frames trained on (a point of a learning curve); 0: the whole training
            set; -1: any.
        bodyparts: "a,b": trained on these body parts only; "all": on every body part;
            "": any.
        test_videos: "v1,v2": these videos kept out of training; "none": none; "": any.
        augment: 1 trained with augmentation, 0 without, -1 any.
        iteration: the project iteration; -1: the config's current one.
        split_method: "random" or "blocks" (``kit.project.splits``); "": any.
        seed: the training seed (an ensemble's members differ by it); -1: any.
        unlabeled_pairs: unlabeled frame pairs per batch (losses on unlabeled frames; 0: none,
            ``kit.net.unlabeled``); -1: any.
        rotation_deg: the augmentation's largest rotation (DeepLabCut's 25; 180: the full
            circle); -1: any.
        pretrained: 1 started from a backbone pretrained on the project's frames
            (``kit.net.pretrain``), 0 not, -1 any.
        pseudo_label_frames: video frames it labeled itself and trained on (self-training,
            ``kit.net.pseudo_labels``; 0: none); -1: any.
        validation_fraction: the share of labeled frames kept out as a validation set (0:
            none); -1: any.
        mirror: 1 trained on mirrored crops too, 0 not, -1 any.
        elastic, pose_balance, ema_span: the training's elastic deformation (px), rare poses'
            draw power and weights' moving average (``TrainConfig``; 0: none); -1: any.
    """

    shuffle: int = 1
    train_fraction: float = -1.0
    net_type: str = ""
    train_size: int = -1
    bodyparts: str = ""
    test_videos: str = ""
    augment: int = -1
    iteration: int = -1
    split_method: str = ""
    seed: int = -1
    unlabeled_pairs: int = -1
    rotation_deg: float = -1.0
    pretrained: int = -1
    pseudo_label_frames: int = -1
    validation_fraction: float = -1.0
    mirror: int = -1
    elastic: float = -1.0
    pose_balance: float = -1.0
    ema_span: float = -1.0

    def matches(self, recorded: ModelQuery) -> bool:
        """Whether a model trained as ``recorded`` (no "any" values) is one asked for."""
        return recorded.shuffle == self.shuffle and all(
            getattr(self, name) in (any_value, getattr(recorded, name))
            for name, any_value in _ANY.items())

    def flags(self, names: list[str]) -> str:
        """``-p name value`` of ``names``, as ``python -m kit run`` takes them (those not
        notebook parameters of their own in one ``-p model_settings "name=value ..."``)."""
        own = [f"-p {n} {getattr(self, n)}" for n in names if n in NOTEBOOK_PARAMETERS]
        more = " ".join(f"{n}={getattr(self, n)}" for n in names if n not in NOTEBOOK_PARAMETERS)
        return " ".join(own + ([f'-p model_settings "{more}"'] if more else []))


def query_settings(text: str) -> dict[str, Any]:
    """A notebook's ``model_settings`` ("rotation_deg=180 pseudo_label_frames=200") as
    :func:`find_model`'s further fields (those not notebook parameters of their own)."""
    defaults = {f.name: f.default for f in dataclasses.fields(ModelQuery)}
    return parse_settings(text, defaults, "model_settings", own=NOTEBOOK_PARAMETERS)


def query_of(settings: dict[str, Any], iteration: int = -1) -> ModelQuery:
    """What a run was trained with, from its settings (``TrainConfig.to_dict()``, as saved;
    older runs lack newer keys: today's defaults, as ``TrainConfig.from_dict`` reads them):
    the query that finds its model."""
    augment = settings.get("augment", {})
    augmented = augment.get("enabled", True)  # if not, no crop was mirrored or bent
    return ModelQuery(
        shuffle=int(settings.get("shuffle", 1)),
        train_fraction=float(settings.get("train_fraction", 0.95)),
        net_type=settings.get("net_type", "resnet_50"),
        train_size=int(settings.get("train_size", 0)),
        bodyparts=",".join(settings.get("bodyparts", ())) or "all",
        test_videos=",".join(settings.get("test_videos", ())) or "none",
        augment=int(augmented),
        split_method=settings.get("split_method", "random"),
        seed=int(settings.get("seed", 0)),
        unlabeled_pairs=int(settings.get("unlabeled_pairs", 0)),
        rotation_deg=float(augment.get("rotation_deg", 25.0)),
        pretrained=int(bool(settings.get("weights")) and is_pretrained_file(settings["weights"])),
        pseudo_label_frames=int(settings.get("pseudo_label_frames", 0)),
        validation_fraction=float(settings.get("validation_fraction", 0.0)),
        mirror=int(augmented and augment.get("mirror", False)),
        elastic=float(augment.get("elastic", 0.0)) if augmented else 0.0,
        pose_balance=float(settings.get("pose_balance", 0.0)),
        ema_span=float(settings.get("ema_span", 0.0)), iteration=iteration)


def _query_from_name(name: str, iteration: int) -> ModelQuery | None:
    """What a folder's name says (``...-trainset95shuffle1-n12-mobilenet_v2_0.35``): for a
    folder without saved settings; None for a name kit did not make."""
    try:
        shuffle, train_fraction, variant = name_parts(name)
    except ValueError:
        return None
    values: dict[str, Any] = {"train_size": 0, "bodyparts": "all", "test_videos": "none",
                              "augment": 1, "split_method": "random", "seed": 0,
                              "unlabeled_pairs": 0, "rotation_deg": 25.0, "pretrained": 0,
                              "pseudo_label_frames": 0, "validation_fraction": 0.0, "mirror": 0,
                              "elastic": 0.0, "pose_balance": 0.0, "ema_span": 0.0}
    tokens, net_type = variant.split("-")[1:], []
    while tokens:  # TrainConfig.variant's order: n<N>, parts-, novel-, blocks, val<f>, seed<N>,
        # noaug or rot<deg>, mirror, elastic<f>, balance<f>, ema<f>, pretrained, unlabeled<N>,
        # pseudo<N>, net_type
        token = tokens.pop(0)
        if re.fullmatch(r"n\d+", token) and not net_type:
            values["train_size"] = int(token[1:])
        elif token in ("parts", "novel") and tokens and not net_type:
            key = "bodyparts" if token == "parts" else "test_videos"
            values[key] = tokens.pop(0).replace("+", ",")
        elif token == "noaug" and not net_type:
            values["augment"] = 0
        elif token == "blocks" and not net_type:
            values["split_method"] = token
        elif re.fullmatch(r"seed\d+", token) and not net_type:
            values["seed"] = int(token[4:])
        elif re.fullmatch(r"rot[\d.]+", token) and not net_type:
            values["rotation_deg"] = float(token[3:])
        elif token == "mirror" and not net_type:
            values["mirror"] = 1
        elif (match := re.fullmatch(r"(elastic|balance|ema)([\d.]+)", token)) and not net_type:
            key = {"balance": "pose_balance", "ema": "ema_span"}.get(match[1], match[1])
            values[key] = float(match[2])
        elif token == "pretrained" and not net_type:
            values["pretrained"] = 1
        elif re.fullmatch(r"unlabeled\d+(views)?", token) and not net_type:
            values["unlabeled_pairs"] = int(token[9:].removesuffix("views"))
        elif re.fullmatch(r"pseudo\d+", token) and not net_type:
            values["pseudo_label_frames"] = int(token[6:])
        elif re.fullmatch(r"val[\d.]+", token) and not net_type:
            values["validation_fraction"] = float(token[3:])
        else:  # the rest: a net_type, which may hold '-' (efficientnet-b0)
            net_type.append(token)
    values["net_type"] = "-".join(net_type) or "resnet_50"
    return ModelQuery(shuffle, train_fraction, iteration=iteration, **values)


def trained_with(folder: ModelFolder, iteration: int = 0) -> ModelQuery | None:
    """What the model of ``folder`` was trained with (its saved settings, else its name)."""
    if folder.has_train_config():
        return query_of(folder.load_train_config_dict(), iteration)
    return _query_from_name(folder.path.name, iteration)


def find_model(project: Project, query: ModelQuery | None = None, **parameters: Any
               ) -> ModelFolder:
    """The trained model asked for by what it was trained with; with one candidate, it.

    ``find_model(project, shuffle=1, net_type="mobilenet_v2_0.35")`` (the fields of
    :class:`ModelQuery`), or ``find_model(project, ModelQuery(...))``. Every finished model
    folder of the iteration is read (its saved settings; a folder without them, by its
    name) and compared with the values given; values meaning "any" match all.

    Raises:
        FileNotFoundError: no finished model matches; names those that exist.
        ValueError: several match (before any work is done); lists each with the values
            that select it, or an unknown parameter name.
    """
    query = _make_query(query, parameters)
    root, found, chosen = _search(project, query)
    if len(chosen) == 1:
        return chosen[0][0]
    if not chosen:
        raise FileNotFoundError(
            f"No trained model in {root} matches {_given(query)}. Trained there: "
            f"{_listing(found) or 'none'}. Train it first (notebooks/03_train.ipynb), or "
            "pass the values of one listed.")
    raise ValueError(
        f"{len(chosen)} trained models in {root} match {_given(query)}:{_listing(chosen)}. "
        "Pass the values that select one (notebook parameters, e.g. `python -m kit run "
        "<notebook> -p net_type <name>`).")


def find_models(project: Project, query: ModelQuery | None = None, **parameters: Any
                ) -> list[ModelFolder]:
    """Every trained model that matches (as :func:`find_model` compares), in name order:
    e.g. an ensemble's members, ``find_models(project, shuffle=1, seed=-1)``. Raises
    FileNotFoundError, naming those that exist, when none does."""
    query = _make_query(query, parameters)
    root, found, chosen = _search(project, query)
    if not chosen:
        raise FileNotFoundError(
            f"No trained model in {root} matches {_given(query)}. Trained there: "
            f"{_listing(found) or 'none'}. Train them first (notebooks/03_train.ipynb).")
    return [folder for folder, _ in chosen]


def _search(project: Project, query: ModelQuery):
    """(the iteration's folder of models, every finished model there with what it was
    trained with, those that match ``query``)."""
    iteration = project.iteration if query.iteration == -1 else query.iteration
    # (model_dir's parent: the iteration's folder of models; the fraction does not matter)
    root = project.model_dir(query.shuffle, 1.0, iteration=iteration).parent
    found = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        folder = ModelFolder(path)
        recorded = trained_with(folder, iteration)
        if recorded is not None and folder.is_trained():
            found.append((folder, recorded))
    return root, found, [(f, r) for f, r in found if query.matches(r)]


def _make_query(query: ModelQuery | None, parameters: dict[str, Any]) -> ModelQuery:
    valid = [f.name for f in dataclasses.fields(ModelQuery)]
    unknown = sorted(set(parameters) - set(valid))
    if unknown or (query is not None and parameters):
        raise ValueError(f"find_model takes a ModelQuery or its fields {valid}, not both. "
                         f"Received: query={query!r}, parameters {sorted(parameters)}.")
    return query if query is not None else ModelQuery(**parameters)


def _given(query: ModelQuery) -> str:
    given = {n: getattr(query, n) for n in ("shuffle", *_ANY) if getattr(query, n) != _ANY.get(n)}
    return ", ".join(f"{n}={v!r}" for n, v in given.items())


def _listing(found: list[tuple[ModelFolder, ModelQuery]]) -> str:
    """Each folder with the values that tell it from the others."""
    differ = [n for n in _ANY if len({getattr(r, n) for _, r in found}) > 1] or ["net_type"]
    return "".join(f"\n  {f.path.name}: {r.flags(['shuffle', *differ])}" for f, r in found)
