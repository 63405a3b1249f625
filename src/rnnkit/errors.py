"""Argument checks whose messages name the argument, what was expected and what was given."""

from __future__ import annotations

import numbers


def describe(value) -> str:
    """A short description of a received value for error messages."""
    try:
        import torch

        if isinstance(value, torch.Tensor):
            return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype} on {value.device}"
    except ImportError:  # pragma: no cover
        pass
    return repr(value)


def check_positive_int(value, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(
            f"Received an invalid value for argument `{argument}`: expected a positive integer, "
            f"got {describe(value)}."
        )
    return int(value)


def check_nonnegative_int(value, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(
            f"Received an invalid value for argument `{argument}`: expected a non-negative "
            f"integer, got {describe(value)}."
        )
    return int(value)


def check_probability(value, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value <= 1.0:
        raise ValueError(
            f"Received an invalid value for argument `{argument}`: expected a number in [0, 1], "
            f"got {describe(value)}."
        )
    return float(value)


def check_choice(value, choices, argument: str):
    if value not in choices:
        raise ValueError(
            f"Received an invalid value for argument `{argument}`: expected one of "
            f"{sorted(choices)}, got {value!r}."
        )
    return value
