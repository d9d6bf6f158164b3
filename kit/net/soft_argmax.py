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
    weight_logits = beta * logits
    if window is not None:
        weight_logits = ops.where(_window(logits, window), weight_logits, float("-inf"))
    weights = ops.reshape(ops.softmax(ops.reshape(weight_logits, (-1, h * w, k)), axis=1),
                          (-1, h, w, k))
    dtype = ops.dtype(logits)  # a name every backend reads (torch.float32 is not)
    x = ops.cast(ops.arange(w), dtype)[None, None, :, None] * stride + stride / 2
    y = ops.cast(ops.arange(h), dtype)[None, :, None, None] * stride + stride / 2
    if locref is not None:
        offsets = ops.reshape(ops.cast(locref, dtype), (-1, h, w, k, 2)) * locref_stdev
        x, y = x + offsets[..., 0], y + offsets[..., 1]
    return ops.stack([ops.sum(weights * x, axis=(1, 2)), ops.sum(weights * y, axis=(1, 2))],
                     axis=-1)


def _window(logits, window: int):
    """(N, h, w, K) bool: the cells within ``window`` rows and columns of each part's arg-max."""
    _, h, w, k = ops.shape(logits)
    best = ops.argmax(ops.reshape(logits, (-1, h * w, k)), axis=1)  # (N, K), row-major
    rows, cols = ops.floor_divide(best, w), ops.mod(best, w)
    near_row = ops.abs(ops.arange(h)[None, :, None] - rows[:, None, :]) <= window  # (N, h, K)
    near_col = ops.abs(ops.arange(w)[None, :, None] - cols[:, None, :]) <= window  # (N, w, K)
    return ops.logical_and(near_row[:, :, None, :], near_col[:, None, :, :])
