"""Prediction: body-part positions and likelihoods from a trained model, any image size.

A :class:`Predictor` is the network plus its decoder, chosen once from the model's pose
config (:mod:`kit.net.decoders`: ``single_animal`` or ``bottom_up``). Every method runs
the one path: images -> scaled -> the network's maps by head name (each head's
activation from its record, :mod:`kit.net.heads`) -> the decoder -> poses
(N, num_rows, K, 3) in the images' pixels. A multi-animal model's rows are its
assemblies in no particular order (tracking across frames gives them identities).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import keras
import numpy as np

from kit.net.assembly import AssemblyConfig
from kit.net.decoders import Decoded, get_decoder
from kit.net.heads import get_head
from kit.net.images import pad_to_stride, scale_image
from kit.net.model import fold_batchnorm  # also registers kit's layers for load_model
from kit.net.model_folder import (BOTTOM_UP_DECODER, SINGLE_ANIMAL_DECODER, ModelFolder,
                                  PoseConfig)
from kit.net.targets import TargetConfig, sigmoid  # sigmoid: re-exported
from kit.net.test_scales import decode_at_scales, has_passes, passes_text


ACTIVATIONS = {"sigmoid": sigmoid, None: lambda maps: maps}  # a head record's activation


def head_maps(outputs: dict[str, np.ndarray] | Sequence[np.ndarray],
              names: Sequence[str]) -> dict[str, np.ndarray]:
    """A network's outputs as maps by head name, each after its head's activation.

    Args:
        outputs: ``predict_on_batch``'s: a dict by head name, or a list (a model with
            positional outputs, kit's: in the pose config's order of heads).
        names: the list's head names in order (the model's ``output_names``).
    """
    if not isinstance(outputs, dict):
        outputs = dict(zip(names, outputs))
    return {name: ACTIVATIONS[get_head(name).activation](np.asarray(out, np.float32))
            for name, out in outputs.items()}


class Predictor:
    """A trained network and its decoder: images in, poses out.

    Args:
        model_dir: a model folder written by :func:`kit.net.train.train`.
        assembly: how a bottom-up model's maps become animals (other decoders ignore it).
        decoder: a name of :data:`kit.net.decoders.DECODERS`; None: the pose config's.
    """

    def __init__(self, model_dir: str | Path, assembly: AssemblyConfig = AssemblyConfig(),
                 decoder: str | None = None):
        folder = ModelFolder(model_dir)
        folder.check_trained()
        pose = folder.load_pose_config()  # a folder older than net_type: resnet_50
        self._set_up(_load_network(folder, pose), pose, assembly, decoder)
        self.model_dir: Path | None = folder.path

    @classmethod
    def of_network(cls, network: keras.Model, pose: PoseConfig,
                   assembly: AssemblyConfig = AssemblyConfig(), decoder: str | None = None
                   ) -> Predictor:
        """A predictor of a network in memory whose final model would have ``pose`` (a run's,
        mid-way: :mod:`kit.net.pseudo_labels`); its ``model_dir`` is None."""
        predictor = cls.__new__(cls)
        predictor._set_up(network, pose, assembly, decoder)
        predictor.model_dir = None
        return predictor

    def _set_up(self, network: keras.Model, pose: PoseConfig, assembly: AssemblyConfig,
                decoder: str | None) -> None:
        self.pose: PoseConfig = pose  # multi-animal: graph, individuals
        self.bodyparts: list[str] = list(pose.bodyparts)
        self.net_type, self.backbone_stride = pose.net_type, pose.backbone_stride
        self.global_scale: float = pose.global_scale
        # several passes (kit.net.test_scales): frames come at full size, scaled and turned there
        self.several_passes: bool = has_passes(pose)
        self.input_scale: float = 1.0 if self.several_passes else pose.global_scale
        self.train_steps: int = pose.train_steps
        self.multianimal: bool = pose.multianimal
        self.assembly = assembly
        self.decoder_name = decoder or pose.decoder
        self.decoder = get_decoder(self.decoder_name)
        # rows of a pose array: the animals, then `single` for unique body parts; or one
        self.num_rows: int = pose.num_rows
        self.targets = TargetConfig(stride=pose.stride, locref_stdev=pose.locref_stdev)
        self.model = network

    @property
    def decoding(self) -> str | None:
        """How maps become poses where it is not what every model did before kit could choose
        (one scale, ``single_animal`` or ``bottom_up``): e.g. "two_views", "single_animal at
        scales 0.85/1/1.15"; None otherwise (what an analysis records)."""
        if self.several_passes:
            return f"{self.decoder_name} at {passes_text(self.pose)}"
        if self.decoder_name not in (SINGLE_ANIMAL_DECODER, BOTTOM_UP_DECODER):
            return self.decoder_name
        return None

    def _scaled(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, h, w, 3) the images resized by ``input_scale`` (``global_scale``, as the network
        saw in training; 1 for a model predicting at several scales)."""
        return np.stack([scale_image(im, self.input_scale) for im in images])

    def maps_scaled(self, scaled: np.ndarray) -> dict[str, np.ndarray]:
        """Every head's maps for images already resized by ``scale_image(im, global_scale)``:
        ``{head: (N, h, w, C) float32}`` for the pose config's heads (``part_pred`` K,
        ``locref`` 2K, ``paf`` 2E, ``identity`` I), each after its head's activation
        (``part_pred`` and ``identity`` probabilities; ``locref`` ((dx, dy) /
        locref_stdev) and ``paf`` (unit vectors, channels as :mod:`kit.net.ma_targets`)
        raw). Map coordinates are in the SCALED image: cell (i, j) is centred at scaled
        pixel ``(j * stride + stride / 2, i * stride + stride / 2)``; the images are padded
        to multiples of the backbone's stride first (:func:`kit.net.images.pad_to_stride`),
        so the maps cover them whole and may extend past them."""
        padded = pad_to_stride(scaled, self.backbone_stride)
        outputs = self.model.predict_on_batch(padded.astype(np.float32))
        return head_maps(outputs, self.model.output_names)

    def decode_scaled(self, scaled: np.ndarray) -> Decoded:
        """The one prediction path: the decoder's poses of images already resized by
        ``scale_image(im, input_scale)`` (e.g. on a reader thread), x, y in the unscaled
        images' pixels (at several scales: the median of each scale's,
        :func:`kit.net.test_scales.decode_at_scales`)."""
        if self.several_passes:
            return decode_at_scales(self, scaled)
        decoded = self.decoder(self.maps_scaled(scaled), self.pose, self.assembly)
        decoded.poses[..., :2] /= self.global_scale
        return decoded

    def predict_maps(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """:meth:`maps_scaled` of a batch of equal-size images (N, H, W, 3) RGB 0-255,
        resized by ``global_scale`` first (divide positions by it for the original
        image's pixels)."""
        return self.maps_scaled(np.stack([scale_image(im, self.global_scale) for im in images]))

    def assemblies_scaled(self, scaled: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """:meth:`decode_scaled` as (poses (N, num_rows, K, 3), identity scores (N,
        num_rows, I) or None, animals dropped beyond the rows (N,))."""
        decoded = self.decode_scaled(scaled)
        return decoded.poses, decoded.identity, decoded.num_dropped

    def predict_assemblies(self, images: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """:meth:`assemblies_scaled` of a batch of equal-size images (N, H, W, 3) RGB 0-255."""
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
        return self.decode_scaled(self._scaled(images)).poses

    def predict_scaled(self, scaled: np.ndarray) -> np.ndarray:
        """:meth:`predict_batch` of images already resized by ``scale_image(im, input_scale)``
        (e.g. on a reader thread); returns positions in the unscaled images' pixels."""
        return self.decode_scaled(scaled).poses

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


def _load_network(folder: ModelFolder, pose: PoseConfig) -> keras.Model:
    """The folder's network, checked against its pose config's heads; BatchNorm folded into
    the convolutions (same outputs, about 5% faster on a CPU). Mixed-precision models are
    kept as they are: their bfloat16/float16 convolutions would round the folded weights."""
    model = keras.saving.load_model(folder.model_file, compile=False)
    if sorted(model.output_names) != sorted(pose.heads):
        raise ValueError(
            f"{folder.model_file} has the outputs {list(model.output_names)}, not the "
            f"heads {list(pose.heads)} its pose config lists. Train it again (03_train)."
        )
    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        model = fold_batchnorm(model)
    return model
