"""The backbones of the pose network, by DeepLabCut's ``net_type`` name.

A new backbone is one module here declaring a :class:`Backbone` (builder, ImageNet
weights, preprocessing, output stride) and one line in :data:`BACKBONES`; code outside
kit (or a test) adds one with :func:`register_backbone`. The heads
(:mod:`kit.net.heads`) take any backbone's features.
"""

from __future__ import annotations

from kit.net.backbones.base import Backbone
from kit.net.backbones.resnet import RESNET_50

BACKBONES: dict[str, Backbone] = {
    "resnet_50": RESNET_50,
}

__all__ = ["BACKBONES", "Backbone", "get_backbone", "register_backbone"]


def get_backbone(net_type: str) -> Backbone:
    """The backbone named ``net_type`` (exact name)."""
    try:
        return BACKBONES[net_type]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown net_type {net_type!r}. Valid choices: {sorted(BACKBONES)}."
        ) from None


def register_backbone(backbone: Backbone) -> None:
    """Add ``backbone`` under its ``name``; a name already taken by another backbone raises."""
    if BACKBONES.get(backbone.name, backbone) is not backbone:
        raise ValueError(
            f"net_type {backbone.name!r} is already registered. Choose another name; taken: "
            f"{sorted(BACKBONES)}."
        )
    BACKBONES[backbone.name] = backbone
