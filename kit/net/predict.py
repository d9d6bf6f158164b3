"""Prediction: body-part positions and likelihoods from a trained model, any image size.

A multi-animal model (``pose_config.json`` says ``multianimal``) gives its maps
(:meth:`Predictor.predict_maps`), and poses of every animal in a frame assembled from them
by :func:`kit.net.assembly.poses_from_maps` (rows in no particular order: tracking across
frames gives them identities).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import keras
import numpy as np

from kit.net.assembly import AssemblyConfig, poses_from_maps
from kit.net.heads import IDENTITY
from kit.net.images import scale_image
from kit.net.model import fold_batchnorm  # also registers kit's layers for load_model
from kit.net.pose_config import load_pose_config
from kit.net.targets import TargetConfig, decode, sigmoid  # sigmoid: re-exported


SIGMOID_HEADS = ("part_pred", IDENTITY)  # logits; the other heads' maps are used as they are


class Predictor:
    """A trained network and what it needs to turn images into positions.

    Args:
        model_dir: a model folder written by :func:`kit.net.train.train`.
        assembly: how a multi-animal model's maps become animals (ignored for one animal).
    """

    def __init__(self, model_dir: str | Path, assembly: AssemblyConfig = AssemblyConfig()):
        self.model_dir = Path(model_dir)
        model_file = self.model_dir / "model.keras"
        if not model_file.is_file():
            raise FileNotFoundError(
                f"No trained model at {model_file}. Train it first (notebooks/03_train.ipynb "
                "or kit.net.train.train), or check shuffle and train_fraction."
            )
        pose = load_pose_config(self.model_dir)  # a folder older than net_type: resnet_50
        self.bodyparts: list[str] = pose["bodyparts"]
        self.net_type: str = pose["net_type"]
        self.backbone_stride: int = pose["backbone_stride"]
        self.global_scale: float = pose["global_scale"]
        self.train_steps: int = pose["train_steps"]
        self.pose = pose  # the whole pose_config.json (multi-animal: graph, individuals)
        self.multianimal: bool = bool(pose["multianimal"])
        self.assembly = assembly
        # rows of a pose array: the animals, then `single` for unique body parts; or one
        self.num_rows: int = (len(pose["individuals"]) + bool(pose["unique_bodyparts"])
                              if self.multianimal else 1)
        self.targets = TargetConfig(stride=pose["stride"], locref_stdev=pose["locref_stdev"])
        model = keras.saving.load_model(model_file, compile=False)
        if list(model.output_names) != pose["heads"]:
            raise ValueError(
                f"{model_file} has the outputs {list(model.output_names)}, not the heads "
                f"{pose['heads']} its pose_config.json lists. Train it again (03_train)."
            )
        # BatchNorm folded into the convolutions: same outputs, about 5% faster on a CPU.
        # (Mixed-precision models are kept as they are: their bfloat16/float16 convolutions
        # would round the folded weights.)
        if all(layer.dtype_policy.name == "float32" for layer in model.layers):
            model = fold_batchnorm(model)
        self.model = model

    def predict_maps(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Every head's maps for a batch of equal-size images (any model, one or several
        animals).

        Args:
            images: (N, H, W, 3) RGB, 0-255. They are resized by ``global_scale`` first
                (:func:`kit.net.data.scale_image`), as in training.

        Returns:
            ``{head: (N, h, w, C) float32}`` for the heads of ``pose_config.json``
            (``part_pred`` K, ``locref`` 2K, ``paf`` 2E, ``identity`` I), h, w =
            ``targets.map_shape`` of the scaled size. ``part_pred`` and ``identity`` after
            a sigmoid (probabilities); ``locref`` ((dx, dy) / locref_stdev) and ``paf``
            (unit vectors, channels as :mod:`kit.net.ma_targets`) raw. Map coordinates are
            in the SCALED image: cell (i, j) is centred at scaled pixel
            ``(j * stride + stride / 2, i * stride + stride / 2)``; divide positions (after
            locref) by ``global_scale`` for the original image's pixels.
        """
        return self.maps_scaled(self._scaled(images))

    def _scaled(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, h, w, 3) the images resized by ``global_scale``, as the network saw in training."""
        return np.stack([scale_image(im, self.global_scale) for im in images])

    def maps_scaled(self, scaled: np.ndarray) -> dict[str, np.ndarray]:
        """:meth:`predict_maps` of images already resized by ``scale_image(im, global_scale)``."""
        outputs = self.model.predict_on_batch(scaled.astype(np.float32))
        maps = {}
        for name, out in zip(self.pose["heads"], outputs):
            out = np.asarray(out, dtype=np.float32)
            maps[name] = sigmoid(out) if name in SIGMOID_HEADS else out
        return maps

    def assemblies_scaled(self, scaled: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Poses (N, num_rows, K, 3) in the unscaled images' pixels, identity scores (N,
        num_rows, I) or None, and the assemblies dropped per image (N,) beyond the
        individuals (the best are kept), for images already resized by ``scale_image``."""
        if not self.multianimal:
            return self.predict_scaled(scaled), None, np.zeros(len(scaled), int)
        poses, identity, dropped = poses_from_maps(self.maps_scaled(scaled), self.pose,
                                                   self.assembly)
        poses[..., :2] /= self.global_scale
        return poses, identity, dropped

    def predict_assemblies(self, images: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """:meth:`assemblies_scaled` of a batch of equal-size images (N, H, W, 3) RGB 0-255.
        A single-animal model gives :meth:`predict_batch`, None and zeros."""
        return self.assemblies_scaled(self._scaled(images))

    def predict_batch(self, images: np.ndarray) -> np.ndarray:
        """Positions for a batch of equal-size images.

        Args:
            images: (N, H, W, 3) RGB, 0-255.

        Returns:
            (N, num_rows, K, 3) float64 poses (num_images, individuals, num_bodyparts, 3): x,
            y in image pixels, likelihood in [0, 1]. One row for a single-animal network; a
            multi-animal one's rows are its assemblies (best first, NaN rows empty), then
            ``single`` (unique body parts) if it has them.
        """
        return self.predict_scaled(self._scaled(images))

    def predict_scaled(self, scaled: np.ndarray) -> np.ndarray:
        """:meth:`predict_batch` of images already resized by ``scale_image(im, global_scale)``
        (e.g. on a reader thread); returns positions in the unscaled images' pixels."""
        if self.multianimal:
            return self.assemblies_scaled(scaled)[0]
        logits, locref = self.model.predict_on_batch(scaled.astype(np.float32))
        out = decode(sigmoid(np.asarray(logits)), np.asarray(locref), self.targets)
        out[..., :2] /= self.global_scale
        return out[:, None]  # the individuals axis: one individual

    def predict_images(self, images: Sequence[np.ndarray], batch_size: int = 8) -> np.ndarray:
        """Positions for images of any sizes (grouped by size into batches); (N, num_rows,
        K, 3)."""
        out = np.empty((len(images), self.num_rows, len(self.bodyparts), 3))
        by_shape: dict[tuple, list[int]] = {}
        for i, image in enumerate(images):
            by_shape.setdefault(image.shape, []).append(i)
        for indices in by_shape.values():
            for start in range(0, len(indices), batch_size):
                chunk = indices[start:start + batch_size]
                out[chunk] = self.predict_batch(np.stack([images[i] for i in chunk]))
        return out

    def predict_stream(
        self, frames: Iterable[np.ndarray], batch_size: int = 8
    ) -> Iterator[np.ndarray]:
        """Yield (num_rows, K, 3) per frame of a stream of equal-size frames, batching them."""
        batch: list[np.ndarray] = []
        for frame in frames:
            batch.append(frame)
            if len(batch) == batch_size:
                yield from self.predict_batch(np.stack(batch))
                batch = []
        if batch:
            yield from self.predict_batch(np.stack(batch))
