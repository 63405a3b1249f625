"""Activation functions that cells accept by name (Keras names, PyTorch functions)."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

Activation = Callable[[torch.Tensor], torch.Tensor]


def _linear(x: torch.Tensor) -> torch.Tensor:
    return x


ACTIVATIONS: dict[str, Activation] = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    # Keras 3 defines hard_sigmoid as relu6(x + 3) / 6, which is torch's hardsigmoid.
    "hard_sigmoid": F.hardsigmoid,
    "linear": _linear,
    "softsign": F.softsign,
    "elu": F.elu,
    "selu": F.selu,
    "gelu": F.gelu,
    "swish": F.silu,
    "silu": F.silu,
}


def get_activation(name: str | Activation, *, argument: str = "activation") -> Activation:
    """Return the activation function for ``name`` (a name from ACTIVATIONS or a callable)."""
    if callable(name):
        return name
    if name is None:
        return _linear
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(
            f"Received an invalid value for argument `{argument}`: expected one of "
            f"{sorted(ACTIVATIONS)} or a callable, got {name!r}."
        )
    return ACTIVATIONS[name]


def activation_name(fn: str | Activation) -> str:
    """A printable name for an activation given by name or function."""
    if isinstance(fn, str):
        return fn
    for key, value in ACTIVATIONS.items():
        if value is fn:
            return key
    return getattr(fn, "__name__", repr(fn))
