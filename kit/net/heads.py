"""The heads of the pose network, each one named record: score maps, location refinement,
part-affinity fields, identities; on any backbone.

A :class:`Head` says how many channels it has for a network (:class:`HeadSpec`), its
initial bias, the loss it trains with and where that loss's weight comes from, and the
activation that turns its outputs into maps. :data:`HEADS_BY_NAME` lists them in the
model's output order; adding a head is one record there (:func:`register_head`).

Each head is one transposed convolution from the backbone's features (stride 16 for the
atrous ResNets: 2x; stride 32 for MobileNetV2 and EfficientNet: 4x) to the maps' stride
(8, ``kit.net.targets.STRIDE``), as DeepLabCut's. A multi-animal network adds, the same
way, part-affinity fields ``paf`` (2 channels per edge of its graph) and optionally
``identity`` (one channel per animal); see :mod:`kit.net.ma_targets` for what they hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
from keras import layers

from kit.net.losses import identity_loss, locref_loss, paf_loss, scoremap_loss
from kit.net.targets import STRIDE

# A prior of ~1% positives on score maps keeps the first steps from being spent on
# unlearning "everything is a body part" (focal-loss init).
SCORE_PRIOR_BIAS = -4.6
ACTIVATIONS = ("sigmoid", None)  # "sigmoid": the outputs are logits; None: maps as they are


@dataclass(frozen=True)
class HeadSpec:
    """What the heads' channel counts depend on: K body parts, E graph edges (0: no
    part-affinity fields), I identities (0: no identity head)."""

    num_bodyparts: int
    num_limbs: int = 0
    num_identities: int = 0


@dataclass(frozen=True)
class Head:
    """One output of the pose network.

    Attributes:
        name: the output's (and its layer's, loss's and maps') name.
        channels: its channels for a network (0: the network has no such head).
        loss: the Keras loss it trains with (``y_true`` packs targets | weights).
        loss_weight: a constant, or the name of the ``TrainConfig`` field holding it.
        activation: "sigmoid" (the outputs are logits; maps are probabilities) or None.
        bias: initial bias of its convolution.
    """

    name: str
    channels: Callable[[HeadSpec], int]
    loss: Callable
    loss_weight: float | str = 1.0
    activation: str | None = None
    bias: float = 0.0

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"Head {self.name!r}: activation must be one of {ACTIVATIONS}. "
                             f"Received: {self.activation!r}.")


# The model's outputs, in this order (a saved model's outputs follow it).
HEADS_BY_NAME: dict[str, Head] = {head.name: head for head in (
    Head("part_pred", lambda s: s.num_bodyparts, scoremap_loss, 1.0, "sigmoid",
         SCORE_PRIOR_BIAS),
    Head("locref", lambda s: 2 * s.num_bodyparts, locref_loss, "locref_loss_weight"),
    Head("paf", lambda s: 2 * s.num_limbs, paf_loss, "pairwise_loss_weight"),
    Head("identity", lambda s: s.num_identities, identity_loss, 1.0, "sigmoid",
         SCORE_PRIOR_BIAS),
)}
HEADS = ("part_pred", "locref")  # a single-animal network's heads
PAF, IDENTITY = "paf", "identity"  # a multi-animal model's further outputs, in this order


def register_head(head: Head) -> None:
    """Add a head after the others (its outputs follow theirs); its name must be new."""
    if head.name in HEADS_BY_NAME:
        raise ValueError(f"A head named {head.name!r} exists: {sorted(HEADS_BY_NAME)}. "
                         "Choose another name.")
    HEADS_BY_NAME[head.name] = head


def get_head(name: str) -> Head:
    """The head record named ``name``; raises listing the valid names."""
    if name not in HEADS_BY_NAME:
        raise ValueError(f"Unknown head {name!r}. Valid: {sorted(HEADS_BY_NAME)}.")
    return HEADS_BY_NAME[name]


def head_names(num_limbs: int = 0, num_identities: int = 0) -> list[str]:
    """The model's outputs in order: ``part_pred``, ``locref``, then ``paf`` if it has
    part-affinity fields (``num_limbs`` edges) and ``identity`` if ``num_identities``."""
    spec = HeadSpec(1, num_limbs, num_identities)
    return [name for name, head in HEADS_BY_NAME.items() if head.channels(spec) > 0]


def upsampling_factor(backbone_stride: int, stride: int = STRIDE) -> int:
    """How much the heads enlarge the features: ``backbone_stride / stride``."""
    if backbone_stride < stride or backbone_stride % stride:
        raise ValueError(
            f"The backbone's output stride must be a multiple of the maps' stride {stride}. "
            f"Received: backbone_stride={backbone_stride}."
        )
    return backbone_stride // stride


def _deconv(features, filters: int, factor: int, name: str, bias: float):
    # A 3x3 kernel covers stride 1 and 2 (today's head); larger strides need a kernel of at
    # least the stride, or cells are left out. float32: stable losses under mixed precision.
    return layers.Conv2DTranspose(
        filters, 3 if factor <= 2 else 2 * factor, strides=factor, padding="same", name=name,
        dtype="float32",
        **({"bias_initializer": keras.initializers.Constant(bias)} if bias else {}),
    )(features)


def pose_heads(features, num_bodyparts: int, backbone_stride: int, stride: int = STRIDE,
               num_limbs: int = 0, num_identities: int = 0) -> dict:
    """The heads on a backbone's features, at ``stride`` input pixels per cell, in the order
    of :func:`head_names`, keyed by name: score-map logits (N, h, w, K) ``part_pred``,
    location refinement (N, h, w, 2K) ``locref``; with ``num_limbs``, part-affinity fields
    (N, h, w, 2E) ``paf``; with ``num_identities``, identity logits (N, h, w, I)
    ``identity``."""
    if num_bodyparts < 1 or num_limbs < 0 or num_identities < 0:
        raise ValueError(f"num_bodyparts must be >= 1, num_limbs and num_identities >= 0. "
                         f"Received: {num_bodyparts}, {num_limbs}, {num_identities}.")
    factor = upsampling_factor(backbone_stride, stride)
    spec = HeadSpec(num_bodyparts, num_limbs, num_identities)
    return {head.name: _deconv(features, head.channels(spec), factor, head.name, head.bias)
            for head in HEADS_BY_NAME.values() if head.channels(spec) > 0}


def head_losses(names, weights: Callable[[str], float]) -> tuple[dict, dict]:
    """Keras's ``loss`` and ``loss_weights`` by output name for the heads ``names``;
    ``weights(field)`` reads a weight a head names (``getattr(train_config, field)``)."""
    heads = [get_head(name) for name in names]
    return ({h.name: h.loss for h in heads},
            {h.name: weights(h.loss_weight) if isinstance(h.loss_weight, str)
             else float(h.loss_weight) for h in heads})
