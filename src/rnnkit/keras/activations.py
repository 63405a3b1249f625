"""Activations by Keras name: the cells' set plus ``softmax`` (over the last axis) and friends."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnnkit.cells.activations import ACTIVATIONS

KERAS_ACTIVATIONS = dict(ACTIVATIONS)
KERAS_ACTIVATIONS.update({
    "softmax": lambda x: torch.softmax(x, dim=-1),
    "log_softmax": lambda x: torch.log_softmax(x, dim=-1),
    "softplus": F.softplus,
    "exponential": torch.exp,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "relu6": F.relu6,
    "mish": F.mish,
    "hard_swish": F.hardswish,
})


def get(identifier, *, argument: str = "activation", layer: str = ""):
    """The function for a name, a callable, or None (linear)."""
    if identifier is None:
        return KERAS_ACTIVATIONS["linear"]
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in KERAS_ACTIVATIONS:
        return KERAS_ACTIVATIONS[identifier]
    where = f" of layer {layer!r}" if layer else ""
    raise ValueError(
        f"Received an invalid value for argument `{argument}`{where}: expected one of "
        f"{sorted(KERAS_ACTIVATIONS)}, a callable or None, got {identifier!r}."
    )


def name_of(identifier) -> str:
    if identifier is None:
        return "linear"
    if isinstance(identifier, str):
        return identifier
    for key, fn in KERAS_ACTIVATIONS.items():
        if fn is identifier:
            return key
    return getattr(identifier, "__name__", repr(identifier))
