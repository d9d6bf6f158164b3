"""How the animals of a synthetic group walk (kit.experiments.synthetic_group): numbers only.

Each animal walks towards a goal with momentum: a random place in its arena, or another
animal, which it follows until their centres are within half a body length (they touch or
overlap), then it leaves for a new goal. Goals also expire (30-120 frames). Animals turn
away from the walls and are clipped to their arena, the box where every body part stays
inside the frame.
"""

from __future__ import annotations

import numpy as np

MAX_TURN = 0.35  # radians per frame


def _new_goals(rng: np.random.Generator, renew: np.ndarray, low: np.ndarray, high: np.ndarray,
               approach_rate: float, state: dict[str, np.ndarray]) -> None:
    """New goals (in ``state``, in place) for the animals where ``renew``: another animal to
    walk up to (``leader``, for 30-90 frames) or a random place (``goal``, 40-120 frames)."""
    num = len(renew)
    for i in np.flatnonzero(renew):
        if rng.random() < approach_rate:
            state["leader"][i] = (i + rng.integers(1, num)) % num
            state["timer"][i] = rng.integers(30, 90)
        else:
            state["leader"][i] = -1
            state["goal"][i] = rng.uniform(low[i], high[i])
            state["timer"][i] = rng.integers(40, 120)


def _targets(pos: np.ndarray, state: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 2) where each animal is heading: its leader's centre, or its goal."""
    leader = state["leader"]
    return np.where(leader[:, None] >= 0, pos[np.maximum(leader, 0)], state["goal"])


def walk(rng: np.random.Generator, num_frames: int, arena: tuple[np.ndarray, np.ndarray],
         lengths: np.ndarray, reach: np.ndarray, approach_rate: float
         ) -> tuple[np.ndarray, np.ndarray]:
    """The walk of N animals: centres (num_frames, N, 2), x then y pixels, and headings
    (num_frames, N), radians in image axes (x right, y down).

    Args:
        arena: (low, high), each (N, 2) pixels: the box each animal's centre stays in.
        lengths: (N,) body ellipse lengths, pixels (speeds scale with them: at most 0.12
            lengths per frame).
        reach: (N,) snout-to-tailbase lengths, pixels ("one body length").
        approach_rate: fraction of new goals that are another animal.
    """
    low, high = arena
    num = len(lengths)
    pos, heading = rng.uniform(low, high), rng.uniform(0, 2 * np.pi, num)
    turn, speed, max_speed = np.zeros(num), np.zeros(num), 0.12 * np.asarray(lengths)
    state = {"leader": np.full(num, -1), "goal": pos.copy(), "timer": np.zeros(num, int)}
    centres, headings = np.empty((num_frames, num, 2)), np.empty((num_frames, num))
    for t in range(num_frames):
        reached = np.linalg.norm(_targets(pos, state) - pos, axis=1) < 0.5 * reach
        _new_goals(rng, reached | (state["timer"] <= 0), low, high, approach_rate, state)
        target = _targets(pos, state)
        to_goal = np.arctan2(target[:, 1] - pos[:, 1], target[:, 0] - pos[:, 0])
        to_centre = (low + high) / 2 - pos
        wall = np.max(np.abs(to_centre) / np.maximum((high - low) / 2, 1e-6), axis=1)
        away = np.sin(np.arctan2(to_centre[:, 1], to_centre[:, 0]) - heading)
        turn = np.clip(0.8 * turn + rng.normal(0, 0.04, num) + 0.08 * np.sin(to_goal - heading)
                       + 0.3 * away * np.maximum(0, wall - 0.6), -MAX_TURN, MAX_TURN)
        heading = heading + turn
        cruise = np.where(state["leader"] >= 0, 0.9, 0.6) * max_speed
        speed = np.clip(0.9 * speed + 0.1 * cruise + rng.normal(0, 0.1, num) * max_speed, 0,
                        max_speed)
        pos = np.clip(pos + speed[:, None] * np.stack([np.cos(heading), np.sin(heading)], 1),
                      low, high)
        state["timer"] -= 1
        centres[t], headings[t] = pos, heading
    return centres, headings


def body_motion(rng: np.random.Generator, num_frames: int, num_animals: int,
                size_change: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What each animal does besides walking, (num_frames, num_animals) each: its scale
    (1 +- ``size_change``, slowly: rearing), head yaw (radians, a damped random walk), tail
    phase, and the drawing order (animal indices bottom to top, following slowly changing
    depths)."""
    num, frames = num_animals, np.arange(num_frames)[:, None]
    phases = rng.uniform(0, 2 * np.pi, (3, num))
    periods = rng.uniform([[60.0] * num, [80.0] * num], [[150.0] * num, [240.0] * num])
    scales = 1 + size_change * np.sin(2 * np.pi * frames / periods[0] + phases[0])
    depth = np.sin(2 * np.pi * frames / periods[1] + phases[1])
    yaw, yaws = np.zeros(num), np.empty((num_frames, num))
    for t in range(num_frames):
        yaw = np.clip(0.9 * yaw + rng.normal(0, 0.08, num), -0.5, 0.5)
        yaws[t] = yaw
    tails = 0.35 * frames + phases[2]
    return scales, yaws, tails, np.argsort(depth, axis=1, kind="stable")
