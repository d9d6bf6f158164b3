"""Forward prediction: where each body part will be when the pose is used.

Between the camera's exposure and the moment a closed-loop experiment acts on a pose,
the animal moves on (DeepLabCut-Live's "forward prediction", Kane et al. 2020 used a
Kalman filter). Both predictors here keep, per individual and body part, a position and
a velocity in pixels and pixels per second, updated only by points at or above
``pcutoff``, and extrapolate with constant velocity.

Poses: (num_individuals, num_bodyparts, 3), x, y in pixels, likelihood; times in seconds.
"""

from __future__ import annotations

import numpy as np


class ConstantVelocity:
    """Velocity from the last two confident observations of each part; exact for a part
    moving at constant velocity."""

    def __init__(self, pcutoff: float):
        self.pcutoff = pcutoff
        self.position: np.ndarray | None = None  # (I, K, 2) px, NaN = never seen
        self.velocity: np.ndarray | None = None  # (I, K, 2) px / s
        self.time: np.ndarray | None = None  # (I, K) s, time of the last observation

    def update(self, pose: np.ndarray, t: float) -> None:
        """Take in ``pose`` observed at time ``t``."""
        if self.position is None:
            self.position = np.full(pose.shape[:-1] + (2,), np.nan)
            self.velocity = np.zeros_like(self.position)
            self.time = np.full(pose.shape[:-1], np.nan)
        seen = pose[..., 2] >= self.pcutoff
        known = seen & np.isfinite(self.time) & (t > np.nan_to_num(self.time, nan=-np.inf))
        dt = (t - self.time[known])[:, None]
        self.velocity[known] = (pose[..., :2][known] - self.position[known]) / dt
        self.position[seen] = pose[..., :2][seen]
        self.time[seen] = t

    def predict(self, pose: np.ndarray, t: float) -> np.ndarray:
        """``pose`` with x, y moved to where each part will be at time ``t`` (a copy);
        parts never seen keep their measured x, y."""
        out = pose.copy()
        if self.position is None:
            return out
        seen = np.isfinite(self.time)
        ahead = self.position + self.velocity * (t - np.nan_to_num(self.time))[..., None]
        out[..., :2][seen] = ahead[seen]
        return out


class Kalman(ConstantVelocity):
    """A constant-velocity Kalman filter per part (x and y independent, same noise).

    Args:
        pcutoff: parts below it are not measured this frame (the filter coasts).
        acceleration_noise: spectral density of the white-noise acceleration, px^2 / s^3.
        measurement_noise_px: standard deviation of a measured position, px.
    """

    def __init__(self, pcutoff: float, acceleration_noise: float = 1e4,
                 measurement_noise_px: float = 1.0):
        super().__init__(pcutoff)
        if acceleration_noise <= 0 or measurement_noise_px <= 0:
            raise ValueError(
                "acceleration_noise and measurement_noise_px must be positive. Received: "
                f"{acceleration_noise}, {measurement_noise_px}."
            )
        self.q = acceleration_noise
        self.r = measurement_noise_px**2
        self.covariance: np.ndarray | None = None  # (I, K, 2, 2) over (position, velocity)

    def update(self, pose: np.ndarray, t: float) -> None:
        """Predict every seen part to time ``t``, then correct it by ``pose``'s confident points."""
        if self.position is None:
            self.position = np.full(pose.shape[:-1] + (2,), np.nan)
            self.velocity = np.zeros_like(self.position)
            self.time = np.full(pose.shape[:-1], np.nan)
            self.covariance = np.zeros(pose.shape[:-1] + (2, 2))
        seen = pose[..., 2] >= self.pcutoff
        new = seen & ~np.isfinite(self.time)
        self.position[new] = pose[..., :2][new]
        self.covariance[new] = np.diag([self.r, 1e12])  # velocity unknown
        self.time[new] = t
        old = seen & ~new
        dt = t - self.time[old]  # (M,)
        f = np.zeros(dt.shape + (2, 2))
        f[:, 0, 0] = f[:, 1, 1] = 1.0
        f[:, 0, 1] = dt
        q = self.q * np.moveaxis(np.array([[dt**3 / 3, dt**2 / 2], [dt**2 / 2, dt]]), -1, 0)
        cov = f @ self.covariance[old] @ np.swapaxes(f, -1, -2) + q  # (M, 2, 2)
        state = np.stack([self.position[old], self.velocity[old]], -2)  # (M, 2 pos/vel, 2 xy)
        state = f @ state
        gain = cov[:, :, 0] / (cov[:, 0, 0] + self.r)[:, None]  # (M, 2)
        residual = pose[..., :2][old] - state[:, 0]  # (M, 2 xy)
        state = state + gain[:, :, None] * residual[:, None, :]
        self.covariance[old] = cov - gain[:, :, None] * cov[:, 0:1, :]
        self.position[old], self.velocity[old] = state[:, 0], state[:, 1]
        self.time[old] = t


def make_forward(method: str, pcutoff: float) -> ConstantVelocity | None:
    """The forward predictor named ``method``: "" (none), "constant_velocity" or "kalman"."""
    if method not in FORWARD_METHODS:
        raise ValueError(
            f"Unknown forward method {method!r}. Valid choices: {sorted(FORWARD_METHODS)}."
        )
    return FORWARD_METHODS[method](pcutoff)


FORWARD_METHODS = {"": lambda pcutoff: None, "constant_velocity": ConstantVelocity,
                   "kalman": Kalman}
