"""The backbones of the pose network, by DeepLabCut's ``net_type`` name.

A new backbone is one module here declaring a :class:`Backbone` (builder, ImageNet
weights, preprocessing, output stride) and one line in :data:`BACKBONES`; code outside
kit (or a test) adds one with :func:`register_backbone`. The heads
(:mod:`kit.net.heads`) take any backbone's features.
"""

from __future__ import annotations

from kit.net.backbones.base import Backbone, is_pretrained_file
from kit.net.backbones.efficientnet import (
    EFFICIENTNET_B0,
    EFFICIENTNET_B1,
    EFFICIENTNET_B2,
    EFFICIENTNET_B3,
)
from kit.net.backbones.fused import MOBILENET_V2_1_0_FPN
from kit.net.backbones.mobilenet import MOBILENET_V2_0_5, MOBILENET_V2_0_35, MOBILENET_V2_1_0
from kit.net.backbones.resnet import RESNET_50, RESNET_101

BACKBONES: dict[str, Backbone] = {
    "resnet_50": RESNET_50,
    "resnet_101": RESNET_101,
    "mobilenet_v2_1.0": MOBILENET_V2_1_0,
    "mobilenet_v2_0.5": MOBILENET_V2_0_5,
    "mobilenet_v2_0.35": MOBILENET_V2_0_35,
    "mobilenet_v2_1.0_fpn": MOBILENET_V2_1_0_FPN,  # its stride-8 features added back
    "efficientnet-b0": EFFICIENTNET_B0,
    "efficientnet-b1": EFFICIENTNET_B1,
    "efficientnet-b2": EFFICIENTNET_B2,
    "efficientnet-b3": EFFICIENTNET_B3,
}

__all__ = ["BACKBONES", "Backbone", "get_backbone", "is_pretrained_file", "register_backbone"]


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
