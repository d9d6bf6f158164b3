"""Several animals, live: each frame's assemblies tracked online and kept in fixed rows.

Video analysis tracks a whole video's assemblies into tracklets and stitches them at the
end (:mod:`kit.results.tracking`); live there is no end. :class:`LiveAnimals` uses the same
online tracker (:class:`kit.results.tracklets.Tracker`, with its ``keypoints``, ``box`` or
``ellipse`` matching) and gives each tracklet a row, one per individual, as soon as it
starts: a tracklet keeps its row while it lives; a new one (an animal found again, or a
tracker that lost it) takes the free row whose animal was last seen nearest, in body
lengths, plus, when the network scores identities, the identity disagreement with that
row's individual (rows are the individuals in the pose config's order). So an animal keeps
its row through a frame or two missed, and rows swap only when the tracker swaps.

Poses: (rows, K, 3) x, y (full-frame pixels), likelihood; NaN where an animal or part is
missing.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from kit.net.assembly import keypoint_distance
from kit.results.tracklets import (
    TrackConfig,
    Tracker,
    body_size,
    identity_disagreement,
)

_STAY = 0.0  # cost of a tracklet keeping its row
_MOVE = 1.0  # least cost of any other row
_FAR = 5.0  # body lengths: a row never used, or an animal too far to be the same


class LiveAnimals:
    """Per frame, the assembled animals in their rows (:meth:`update`).

    Args:
        num_individuals: rows (the model's individuals).
        num_multi: body parts every animal has (the first of the pose's body parts).
        config: the tracker and its settings (``identity_weight`` also weighs identity in
            choosing a row).

    The tracker keeps every detection for its tracklets (about 100 bytes per animal and
    frame: 40 MB for an hour of 3 animals at 30 frames/s).
    """

    def __init__(self, num_individuals: int, num_multi: int, config: TrackConfig):
        if num_individuals < 1 or num_multi < 1:
            raise ValueError(f"Need num_individuals >= 1 and num_multi >= 1. Received: "
                             f"{num_individuals}, {num_multi}.")
        self.config = config
        self.tracker = Tracker(config, num_multi)
        self.holder = np.full(num_individuals, -1)  # tracklet id in each row, -1: none
        self.last = np.full((num_individuals, num_multi, 2), np.nan)  # last seen, px

    def update(self, animals: np.ndarray, identity: np.ndarray | None = None) -> np.ndarray:
        """The next frame's assemblies in their rows.

        Args:
            animals: (M, num_multi, 3) assemblies in any order, M <= num_individuals; rows
                without a finite x are empty.
            identity: (M, I) identity scores of each assembly, or None.

        Returns:
            (num_individuals, num_multi, 3): row i holds the animal tracked as individual i,
            NaN if it is not found in this frame.
        """
        ids = self.tracker.update(animals, identity)
        found = np.flatnonzero(ids >= 0)
        out = np.full((len(self.holder), *animals.shape[1:]), np.nan)
        if not len(found):
            return out
        cost = self._cost(animals[found], ids[found], None if identity is None
                          else np.asarray(identity)[found])
        rows, cols = linear_sum_assignment(cost)  # every assembly gets a row (M <= rows)
        for r, c in zip(rows, cols):
            self.holder[self.holder == ids[found[r]]] = -1
            self.holder[c] = ids[found[r]]
            out[c] = animals[found[r]]
            seen = np.isfinite(animals[found[r], :, :2])
            self.last[c] = np.where(seen, animals[found[r], :, :2], self.last[c])
        return out

    def _cost(self, animals: np.ndarray, ids: np.ndarray, identity: np.ndarray | None
              ) -> np.ndarray:
        """(M, rows) cost of putting each assembly in each row."""
        distance = keypoint_distance(animals[:, :, :2], self.last) / body_size(animals)[:, None]
        cost = _MOVE + np.minimum(np.nan_to_num(distance, nan=_FAR, posinf=_FAR), _FAR)
        if identity is not None and identity.shape[1] == len(self.holder):
            cost += self.config.identity_weight * identity_disagreement(
                identity, np.eye(len(self.holder)))
        return np.where(self.holder[None] == ids[:, None], _STAY, cost)
