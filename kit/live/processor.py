"""Per-frame processors: what a closed-loop experiment does with each pose.

A processor is any object with ``process(pose, **kwargs) -> pose`` (DeepLabCut-Live's
``Processor`` interface): the live predictor calls it on every pose as soon as it is
decoded, with keyword arguments ``frame_index``, ``frame_time`` (s, ``time.perf_counter``),
``latency_s`` and ``pose_time`` (s, the time the pose is predicted for); what it returns
is what ``get_pose`` returns. A real one sends a TTL pulse or a serial command when, say,
the snout enters a zone; :class:`RecordingProcessor` only records.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Processor(Protocol):
    """What the live predictor calls with every pose (DeepLabCut-Live's processor)."""

    def process(self, pose: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Act on ``pose`` (e.g. trigger hardware) and return the pose to report."""


class RecordingProcessor:
    """Keeps every pose it receives and its keyword arguments; returns the pose unchanged.

    Attributes:
        poses: one (num_individuals, num_bodyparts, 3) array per call, in order.
        calls: the keyword arguments of each call.
    """

    def __init__(self) -> None:
        self.poses: list[np.ndarray] = []
        self.calls: list[dict[str, Any]] = []

    def process(self, pose: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Keep a copy of ``pose`` and the call's keywords; return ``pose`` unchanged."""
        self.poses.append(pose.copy())
        self.calls.append(dict(kwargs))
        return pose
