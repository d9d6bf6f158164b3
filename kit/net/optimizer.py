"""The optimizer a :class:`~kit.net.train_config.TrainConfig` stands for: its learning-rate
schedule and, with ``ema_span``, the moving average of the weights that the run saves.

The average is Keras's own (``use_ema``: each step's weights folded into a copy the optimizer
keeps and saves with its checkpoints); :func:`finalize_weights` writes it into the model
once the last step is taken, before BatchNorm's statistics are recomputed for it.
"""

from __future__ import annotations

import keras

from kit.net.train_config import TrainConfig

# DeepLabCut's multi-step schedule for 1,030,000 steps, as (learning rate, until step).
DLC_MULTI_STEP = ((0.005, 10_000), (0.02, 430_000), (0.002, 730_000), (0.001, 1_030_000))


def learning_rate_schedule(config: TrainConfig):
    """The learning rate as a function of the step (a Keras schedule)."""
    n = config.train_steps
    if config.optimizer == "sgd":
        peak = config.learning_rate or 0.02
        scale = n / DLC_MULTI_STEP[-1][1]
        bounds = [max(1, int(until * scale)) for _, until in DLC_MULTI_STEP[:-1]]
        values = [lr * peak / 0.02 for lr, _ in DLC_MULTI_STEP]
    else:
        lr = config.learning_rate or 1e-3
        bounds, values = [int(0.8 * n), int(0.95 * n)], [lr, lr / 10, lr / 100]
    bounds = sorted({max(1, b) for b in bounds})
    values = values[-len(bounds) - 1:]
    return keras.optimizers.schedules.PiecewiseConstantDecay(bounds, values)


def ema_momentum(config: TrainConfig) -> float:
    """The moving average's momentum: its time constant, ``1 / (1 - momentum)`` steps, is
    ``ema_span`` of the run (at least one step: momentum 0 keeps the last weights)."""
    return 1.0 - 1.0 / max(1.0, config.ema_span * config.train_steps)


def make_optimizer(config: TrainConfig) -> keras.optimizers.Optimizer:
    """SGD (momentum 0.9, weight decay 1e-4) or Adam, on :func:`learning_rate_schedule`,
    keeping the moving average of the weights where ``config.ema_span`` is set."""
    schedule = learning_rate_schedule(config)
    average = {"use_ema": True, "ema_momentum": ema_momentum(config)} if config.ema_span else {}
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=1e-4, **average)
    return keras.optimizers.Adam(schedule, **average)


def finalize_weights(model: keras.Model) -> None:
    """After the last step: the model's weights become the optimizer's moving average of
    them, where it keeps one (nothing changes otherwise)."""
    model.optimizer.finalize_variable_values(model.trainable_variables)
