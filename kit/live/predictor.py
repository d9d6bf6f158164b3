"""The live predictor: one frame in, one pose out, with the lowest latency
(DeepLabCut-Live's ``DLCLive.get_pose``).

    predictor = LivePredictor.load(model_dir, LiveConfig(runtime="onnx", dynamic=(True, 0.5, 20)))
    pose = predictor.get_pose(frame)   # (rows, num_bodyparts, 3)

A single-animal model gives one row. A multi-animal model gives every animal each frame,
assembled from its maps as video analysis does (:func:`kit.net.assembly.poses_from_maps`)
and tracked online (:class:`kit.live.animals.LiveAnimals`, video analysis's trackers): row
i is individual i as long as it is tracked, then ``single`` (unique body parts) if the
model has them; NaN where an animal or part is not found.

Batch 1, BatchNorm folded, the network compiled (Keras's predict function, or ONNX Runtime's
optimized graph) and warmed up at load, so the first frame of an experiment is not the slow one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kit.live.animals import LiveAnimals
from kit.live.forward import FORWARD_METHODS, make_forward
from kit.live.processor import Processor
from kit.live.runtimes import (Net, complete_info, decode_outputs, live_pose, load_net,
                               named_outputs)
from kit.net.assembly import AssemblyConfig
from kit.net.decoders import Decoded
from kit.net.images import pad_to_stride, scale_image
from kit.net.model_folder import PoseConfig
from kit.net.test_scales import at_offset, at_scale, decode_passes, has_passes
from kit.results.tracklets import TrackConfig


@dataclass(frozen=True)
class LiveConfig:
    """How the live predictor runs.

    Attributes:
        runtime: "keras" (the model folder's Keras model) or "onnx" (its exported file).
        resize: frames are scaled by this before the network (0.5: half width and height),
            on top of the model's global_scale; poses stay in full-frame pixels.
        dynamic: (on, pcutoff, margin_px), DeepLabCut-Live's dynamic cropping: when on, each
            frame is cropped to the bounding box of the previous pose's parts with likelihood
            >= pcutoff, enlarged by margin_px on each side; with no such part (the animal is
            lost, or the first frame) the whole frame is searched. Several animals: the
            union of their boxes, and the whole frame while any individual is not found.
            The pcutoff also decides which parts the forward predictor trusts.
        forward: "" (none), "constant_velocity" or "kalman" (:mod:`kit.live.forward`).
        lag_s: with a forward predictor, report the pose expected this many seconds after
            the frame was taken; -1: after the frame's measured latency.
        warmup_hw: (height, width) of the blank frame run at load; None: no warm-up.
        assembly: a multi-animal model: how peaks become animals (as in video analysis).
        track: a multi-animal model: the online tracker (``tracker``: "keypoints", "box"
            or "ellipse") and its settings, as in video analysis.
        test_passes: decode each frame at the model's ``test_scales``, ``test_rotations``
            and ``test_mirror`` (its pose config's, :mod:`kit.net.test_scales`), the median
            taken, as analysis does: as many times the latency as there are passes; off:
            one pass.
    """

    runtime: str = "keras"
    resize: float = 1.0
    dynamic: tuple[bool, float, int] = (False, 0.5, 10)
    forward: str = ""
    lag_s: float = -1.0
    warmup_hw: tuple[int, int] | None = (480, 640)
    assembly: AssemblyConfig = AssemblyConfig()
    track: TrackConfig = TrackConfig()
    test_passes: bool = False

    def __post_init__(self):
        on, pcutoff, margin = self.dynamic
        if not (0 < self.resize <= 4) or not (0 <= pcutoff <= 1) or margin < 0:
            raise ValueError(
                "Need 0 < resize <= 4, dynamic=(on, pcutoff in [0, 1], margin_px >= 0). "
                f"Received: resize={self.resize}, dynamic={self.dynamic}."
            )
        if self.forward not in FORWARD_METHODS:
            raise ValueError(f"Unknown forward {self.forward!r}. Valid choices: "
                             f"{sorted(FORWARD_METHODS)}.")
        if self.lag_s < 0 and self.lag_s != -1:
            raise ValueError(f"lag_s must be >= 0, or -1 (measured). Received: {self.lag_s}.")


def crop_box(pose: np.ndarray | None, frame_hw: tuple[int, int], pcutoff: float,
             margin_px: int) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1), full-frame pixels, of the parts of ``pose`` (I, K, 3) at or above
    ``pcutoff`` (every individual's: the union of their boxes) enlarged by ``margin_px`` and
    clipped to the frame; None if none is."""
    if pose is None:
        return None
    confident = pose[..., 2] >= pcutoff
    if not confident.any():
        return None
    xy = pose[..., :2][confident]
    height, width = frame_hw
    x0 = max(0, math.floor(xy[:, 0].min() - margin_px))
    y0 = max(0, math.floor(xy[:, 1].min() - margin_px))
    x1 = min(width, math.ceil(xy[:, 0].max() + margin_px) + 1)
    y1 = min(height, math.ceil(xy[:, 1].max() + margin_px) + 1)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


class LivePredictor:
    """One frame at a time: :meth:`get_pose`.

    Args:
        net: (1, h, w, 3) float32 -> the heads' maps (:mod:`kit.live.runtimes`).
        info: live_config.json's keys (bodyparts, stride, locref_stdev, global_scale; heads,
            multianimal, individuals, unique_bodyparts, paf_graph for several animals).
        config: how it runs.
        processor: called on every pose (:mod:`kit.live.processor`), or None.

    Attributes:
        latency_s: seconds from the frame's time to its decoded pose, last frame.
        box: the crop (x0, y0, x1, y1) of the last frame, None for the whole frame.
    """

    def __init__(self, net: Net, info: dict[str, Any], config: LiveConfig = LiveConfig(),
                 processor: Processor | None = None):
        info = complete_info(info)
        self.net, self.info, self.config, self.processor = net, info, config, processor
        self.bodyparts: list[str] = list(info["bodyparts"])
        self.individuals: list[str] = list(info["individuals"]) if info["multianimal"] else []
        self.num_multi = len(self.bodyparts) - len(info["unique_bodyparts"])
        self.animals = (LiveAnimals(len(self.individuals), self.num_multi, config.track)
                        if self.individuals else None)
        self.scale = config.resize * info["global_scale"]
        model_pose = live_pose(info)
        # the pose config of resized frames' maps (a two_views subspace in their pixels)
        self.pose_config = at_scale(model_pose, config.resize)
        # several passes (the pose config's) when asked and the model has them
        self.passes: bool = config.test_passes and has_passes(model_pose)
        self.forward = make_forward(config.forward, config.dynamic[1])
        self.pose: np.ndarray | None = None  # the last measured pose (rows, K, 3)
        self.box: tuple[int, int, int, int] | None = None
        self.latency_s = math.nan
        self.num_frames = 0
        if config.warmup_hw is not None:
            self.infer(np.zeros((*config.warmup_hw, 3), np.uint8))

    @classmethod
    def load(cls, path: str | Path, config: LiveConfig = LiveConfig(),
             processor: Processor | None = None) -> LivePredictor:
        """Load the model of ``path`` (a model folder; for "onnx" also an exported folder)
        once, for ``config.runtime``, and warm it up."""
        net, info = load_net(path, config.runtime)
        return cls(net, info, config, processor)

    def detect(self, image: np.ndarray, origin: tuple[int, int] = (0, 0)
               ) -> tuple[np.ndarray, np.ndarray | None]:
        """The network on one whole image, RGB uint8 (h, w, 3), cut from a frame at
        ``origin`` (x, y): poses (rows, K, 3), x, y in the image's pixels (the resize and
        global_scale undone), rows untracked (several animals: best assembly first);
        identity scores (rows, I) or None."""
        pose = at_offset(self.pose_config, origin[0] * self.scale, origin[1] * self.scale)
        if self.passes:
            decoded = decode_passes(image[None], pose, self._decode)
        else:
            decoded = self._decode(scale_image(image, self.scale)[None], pose)
            decoded.poses[..., :2] /= self.scale
        identity = decoded.identity
        return decoded.poses[0], None if identity is None else identity[0]

    def _decode(self, scaled: np.ndarray, pose: PoseConfig) -> Decoded:
        """The network's poses of resized frames (1, h, w, 3), in their pixels."""
        scaled = pad_to_stride(scaled.astype(np.float32), self.info["backbone_stride"])
        outputs = named_outputs(self.net(scaled), self.info["heads"])
        poses, identity = decode_outputs(outputs, self.info, self.config.assembly, pose)
        return Decoded(poses, identity, np.zeros(len(poses), np.int64))

    def infer(self, image: np.ndarray) -> np.ndarray:
        """:meth:`detect`'s poses (rows, K, 3)."""
        return self.detect(image)[0]

    def search_box(self, frame_hw: tuple[int, int]) -> tuple[int, int, int, int] | None:
        """Where to look in the next frame (:func:`crop_box` of the last pose, every row), or
        None for the whole frame: dynamic cropping off, nothing found yet, or an individual
        of a multi-animal model not found in the last frame."""
        on, pcutoff, margin = self.config.dynamic
        if not on or self.pose is None:
            return None
        animals = self.pose[:len(self.individuals)]
        if not (animals[..., 2] >= pcutoff).any(-1).all():
            return None  # an animal lost: it may be anywhere
        return crop_box(self.pose, frame_hw, pcutoff, margin)

    def _track(self, poses: np.ndarray, identity: np.ndarray | None) -> np.ndarray:
        """A multi-animal frame's assemblies (rows, K, 3) in the individuals' rows."""
        if self.animals is None:
            return poses
        num, multi = len(self.individuals), self.num_multi
        out = np.full_like(poses, np.nan)
        out[:num, :multi] = self.animals.update(poses[:num, :multi], None if identity is None
                                                else identity[:num])
        out[num:, multi:] = poses[num:, multi:]  # single: the unique body parts as found
        return out

    def get_pose(self, frame: np.ndarray, frame_time: float | None = None) -> np.ndarray:
        """The pose in ``frame``.

        Args:
            frame: RGB uint8 (H, W, 3).
            frame_time: when the frame was taken, ``time.perf_counter()`` seconds; default:
                now. Latency and forward prediction count from it.

        Returns:
            (rows, num_bodyparts, 3) float64: x, y in full-frame pixels (with a forward
            predictor: where each part is expected ``lag_s`` after ``frame_time``),
            likelihood; rows: 1 for one animal; the individuals in their tracked rows, then
            ``single``, for several (NaN where not found). What the processor returned, if
            there is one.
        """
        frame_time = time.perf_counter() if frame_time is None else frame_time
        self.box = self.search_box(frame.shape[:2])
        x0, y0, x1, y1 = self.box or (0, 0, frame.shape[1], frame.shape[0])
        poses, identity = self.detect(frame[y0:y1, x0:x1], (x0, y0))
        poses[..., 0] += x0
        poses[..., 1] += y0
        pose = self.pose = self._track(poses, identity)
        self.latency_s = time.perf_counter() - frame_time
        pose_time = frame_time
        if self.forward is not None:
            self.forward.update(pose, frame_time)
            pose_time = frame_time + (self.latency_s if self.config.lag_s == -1
                                      else self.config.lag_s)
            pose = self.forward.predict(pose, pose_time)
        if self.processor is not None:
            pose = self.processor.process(pose, frame_index=self.num_frames,
                                          frame_time=frame_time, latency_s=self.latency_s,
                                          pose_time=pose_time)
        self.num_frames += 1
        return pose
