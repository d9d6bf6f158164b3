"""A differentiable readout of body-part positions from score maps: the spatial soft-argmax.

:func:`kit.net.targets.decode` takes each part's arg-max cell plus its location
refinement: exact for a confident map, but a step function of the network's output, so
no loss can be put on the positions it reads. :func:`soft_argmax` reads the same
positions as a softmax-weighted mean, smooth in the score maps and in the locref maps,
so a loss in pixels (or a model exported end to end) can use it on any backbone: it
works on the heads' maps only, written with ``keras.ops`` alone (TensorFlow, JAX and
PyTorch).

The mean is local: each part's softmax is taken over a square window of cells around
its arg-max cell (``window`` cells each way), not over the whole map, so a second,
fainter peak elsewhere (another animal, a similar-looking body part) does not pull the
position towards it, as a global soft-argmax would. Within the window the weights are
``softmax(beta * logits)``: for a confident map (one cell far above its neighbours) the
result is :func:`~kit.net.targets.decode`'s; for a broad peak it interpolates between
cells. The window's choice (the arg-max) passes no gradient; the weights inside it do.
Several animals have several peaks per map: :func:`soft_argmax_at` reads one position per
given cell (each assembled animal's keypoint), in the same window around it.
"""

from __future__ import annotations

from typing import Any

from keras import ops

from kit.net.targets import STRIDE, TargetConfig

WINDOW = 2  # cells each way: DeepLabCut's 17 px disk at stride 8 spans about 2 cells


def soft_argmax(logits: Any, locref: Any = None, stride: int = STRIDE,
                locref_stdev: float = TargetConfig.locref_stdev, beta: float = 1.0,
                window: int | None = WINDOW) -> Any:
    """Positions of the K body parts as the softmax-weighted mean of the cells' positions.

    Cell (row i, column j) stands for input pixel ``(j * stride + stride / 2 + dx,
    i * stride + stride / 2 + dy)``, ``(dx, dy)`` its locref offset times
    ``locref_stdev`` (:mod:`kit.net.targets`' convention); the weights are
    ``softmax(beta * logits)`` over the ``(2 window + 1)``-cell square around each part's
    arg-max cell (clipped at the map's edges).

    Args:
        logits: (N, h, w, K) score-map logits (the head's output before the sigmoid);
            a static map size.
        locref: (N, h, w, 2K) location refinement, channels (dx_0, dy_0, dx_1, ...) in
            units of ``locref_stdev``; None: cell centres only.
        stride: input pixels per map cell.
        locref_stdev: the locref maps' scale (``TargetConfig.locref_stdev``).
        beta: inverse temperature: higher follows the arg-max more closely.
        window: half-width of the window in cells; None: the whole map (a global
            soft-argmax, which a second peak biases).

    Returns:
        (N, K, 2) x then y in input pixels, the dtype of ``logits``.
    """
    if window is not None and window < 0:
        raise ValueError(f"window must be >= 0 cells or None (the whole map). Received: {window}.")
    _, h, w, k = ops.shape(logits)
    weight_logits = beta * logits[:, None]  # (N, 1, h, w, K): one instance of each part
    if window is not None:
        best = ops.argmax(ops.reshape(logits, (-1, h * w, k)), axis=1)  # (N, K), row-major
        cells = ops.stack([ops.floor_divide(best, w), ops.mod(best, w)], axis=-1)[:, None]
        weight_logits = ops.where(_near(cells, h, w, window), weight_logits, float("-inf"))
    return _weighted_mean(weight_logits, logits, locref, stride, locref_stdev)[:, 0]


def soft_argmax_at(logits: Any, cells: Any, locref: Any = None, stride: int = STRIDE,
                   locref_stdev: float = TargetConfig.locref_stdev, beta: float = 1.0) -> Any:
    """:func:`soft_argmax` around given cells: positions (N, A, K, 2) of A instances of each
    body part (several animals), each the softmax-weighted mean over the ``(2 WINDOW + 1)``
    cells around ``cells[n, a, k]`` (row, column; clipped into the map), not around the
    part's arg-max. The cells (e.g. the assembled animals' keypoints) pass no gradient."""
    _, h, w, _ = ops.shape(logits)
    cells = ops.stack([ops.clip(ops.cast(cells[..., 0], "int32"), 0, h - 1),
                       ops.clip(ops.cast(cells[..., 1], "int32"), 0, w - 1)], axis=-1)
    weight_logits = ops.where(_near(cells, h, w, WINDOW), beta * logits[:, None], float("-inf"))
    return _weighted_mean(weight_logits, logits, locref, stride, locref_stdev)


def _weighted_mean(weight_logits, logits, locref, stride: int, locref_stdev: float):
    """(N, A, K, 2): the cells' positions (and locref offsets) weighted by the softmax of
    ``weight_logits`` (N, A, h, w, K) over each map."""
    _, a, h, w, k = ops.shape(weight_logits)
    weights = ops.reshape(ops.softmax(ops.reshape(weight_logits, (-1, a, h * w, k)), axis=2),
                          (-1, a, h, w, k))
    dtype = ops.dtype(logits)  # a name every backend reads (torch.float32 is not)
    x = ops.cast(ops.arange(w), dtype)[None, None, :, None] * stride + stride / 2
    y = ops.cast(ops.arange(h), dtype)[None, :, None, None] * stride + stride / 2
    if locref is not None:
        offsets = ops.reshape(ops.cast(locref, dtype), (-1, h, w, k, 2)) * locref_stdev
        x, y = x + offsets[..., 0], y + offsets[..., 1]
    x, y = (ops.broadcast_to(c, ops.shape(logits))[:, None] for c in (x, y))  # (N, 1, h, w, K)
    return ops.stack([ops.sum(weights * x, axis=(2, 3)), ops.sum(weights * y, axis=(2, 3))],
                     axis=-1)


def _near(cells, h: int, w: int, window: int):
    """(N, A, h, w, K) bool: the map cells within ``window`` rows and columns of ``cells``
    (N, A, K, 2) (row, column)."""
    rows, cols = cells[..., 0], cells[..., 1]  # (N, A, K)
    near_row = ops.abs(ops.arange(h)[None, None, :, None] - rows[:, :, None, :]) <= window
    near_col = ops.abs(ops.arange(w)[None, None, :, None] - cols[:, :, None, :]) <= window
    return ops.logical_and(near_row[:, :, :, None, :], near_col[:, :, None, :, :])
