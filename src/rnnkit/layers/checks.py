"""Input checks for the runner and layers: each error names the argument, the expected and
the received value, before anything reaches torch's kernels."""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from rnnkit.errors import describe


def check_input(x, input_size: int, *, argument: str = "input", ranks: Sequence[int] = (3,)) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"Received an invalid value for argument `{argument}`: expected a torch.Tensor, got {type(x).__name__}.")
    if not x.is_floating_point():
        raise TypeError(
            f"Received an invalid value for argument `{argument}`: expected a floating-point tensor, "
            f"got dtype {x.dtype} (integer token ids need an embedding layer first)."
        )
    if x.dim() not in ranks:
        expected = " or ".join(f"{r}-D" for r in ranks)
        raise ValueError(
            f"Received an invalid value for argument `{argument}`: expected a {expected} tensor, "
            f"got {describe(x)}."
        )
    if x.shape[-1] != input_size:
        raise ValueError(
            f"Received an invalid value for argument `{argument}`: expected feature size "
            f"input_size={input_size} in the last dimension, got {describe(x)}."
        )
    if x.numel() == 0:
        raise ValueError(
            f"Received an invalid value for argument `{argument}`: expected a non-empty batch and "
            f"at least one time step, got {describe(x)}."
        )


def check_lengths(lengths, batch: int, steps: int, device) -> Optional[torch.Tensor]:
    """Validate per-sample lengths; return an int64 tensor on ``device``, or None when every
    sample uses all ``steps`` (nothing to mask)."""
    if lengths is None:
        return None
    if isinstance(lengths, (list, tuple)):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in lengths):
            raise TypeError(f"Received an invalid value for argument `lengths`: expected integers, got {lengths!r}.")
        lengths = torch.tensor(lengths, dtype=torch.int64)
    if not isinstance(lengths, torch.Tensor):
        raise TypeError(
            f"Received an invalid value for argument `lengths`: expected a 1-D integer tensor or list, "
            f"got {type(lengths).__name__}."
        )
    if lengths.dtype == torch.bool or lengths.is_floating_point() or lengths.is_complex():
        raise TypeError(
            f"Received an invalid value for argument `lengths`: expected an integer tensor, got dtype {lengths.dtype}."
        )
    if lengths.dim() != 1 or lengths.shape[0] != batch:
        raise ValueError(
            f"Received an invalid value for argument `lengths`: expected shape ({batch},) (one length per "
            f"sample), got shape {tuple(lengths.shape)}."
        )
    low, high = int(lengths.min()), int(lengths.max())
    if low < 1:
        raise ValueError(
            f"Received an invalid value for argument `lengths`: expected every length >= 1, got a length of {low}."
        )
    if high > steps:
        raise ValueError(
            f"Received an invalid value for argument `lengths`: expected every length <= the sequence "
            f"length {steps}, got a length of {high}."
        )
    if low == steps:
        return None
    return lengths.to(device=device, dtype=torch.int64)


def check_state(state, expected, *, argument: str = "state"):
    """Check ``state`` against a zero state of the expected structure; return it typed."""
    parts = tuple(state) if isinstance(state, (tuple, list)) else (state,)
    wanted = tuple(expected)
    if len(parts) != len(wanted):
        raise ValueError(
            f"Received an invalid value for argument `{argument}`: expected {len(wanted)} tensor(s) "
            f"{type(expected).__name__}{tuple(tuple(w.shape) for w in wanted)}, got {len(parts)}."
        )
    for got, want in zip(parts, wanted):
        if not isinstance(got, torch.Tensor):
            raise TypeError(f"Received an invalid value for argument `{argument}`: expected tensors, got {type(got).__name__}.")
        if got.shape != want.shape:
            raise ValueError(
                f"Received an invalid value for argument `{argument}`: expected shape {tuple(want.shape)}, "
                f"got shape {tuple(got.shape)}."
            )
        if got.device != want.device:
            raise ValueError(
                f"Received an invalid value for argument `{argument}`: expected a tensor on {want.device} "
                f"(the input's device), got one on {got.device}."
            )
        if got.dtype != want.dtype:
            raise TypeError(
                f"Received an invalid value for argument `{argument}`: expected dtype {want.dtype} "
                f"(the input's dtype), got {got.dtype}."
            )
    return type(expected)(*parts)
