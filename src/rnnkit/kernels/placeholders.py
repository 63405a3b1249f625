"""Stand-ins for absent arguments of the C++ kernels: empty tensors and zero gradients.

The kernels in ``csrc/fused.cpp`` take every optional tensor (a mask, the recurrent-dropout
mask, a bias, the layer-norm gains) as a tensor and treat an empty one as absent (``present``
there: defined and numel > 0); they never read or write its data. Building a fresh empty tensor
for each absent argument costs about a microsecond, and a batch-1 training step passes up to
eight of them. So each dtype gets one empty tensor, made once and shared by every call.
The fused kernels run on the CPU only, so the device is always the CPU.

An absent gradient (an output that the loss does not use; ``ProjectedScan`` does not have
autograd materialize zeros for it) must act as zeros in the backward kernels. The gradient of
a final state goes to C++ as the empty placeholder, which the kernels read as zeros, and so
does an absent initial state in the forward kernels. ``output_grad`` builds the zeros of an
absent output gradient (T, B, H) in Python, only when it is absent.
"""

from __future__ import annotations

from typing import Optional

import torch

_EMPTY: dict = {}


def empty(dtype: torch.dtype) -> torch.Tensor:
    """A shared, empty CPU tensor of ``dtype``: an absent optional argument."""
    found = _EMPTY.get(dtype)
    if found is None:
        with torch.inference_mode(False), torch.no_grad():
            found = _EMPTY[dtype] = torch.empty(0, dtype=dtype)
    return found


def optional(t: Optional[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    """``t`` as a contiguous tensor, or the empty placeholder of ``like``'s dtype when absent."""
    return t.contiguous() if t is not None else empty(like.dtype)


def optional_mask(mask: Optional[torch.Tensor]) -> torch.Tensor:
    """A (T, B) bool step mask, or the empty bool placeholder when every step is valid."""
    return mask if mask is not None else empty(torch.bool)


def output_grad(grad: Optional[torch.Tensor], states: torch.Tensor) -> torch.Tensor:
    """The gradient of the outputs (T, B, H), contiguous, or zeros when absent;
    ``states`` is the (T+1, B, H) stack of states the forward saved."""
    if grad is not None:
        return grad.contiguous()
    return states.new_zeros((states.shape[0] - 1, *states.shape[1:]))


def state_grad(grad: Optional[torch.Tensor], states: torch.Tensor) -> torch.Tensor:
    """The gradient of a final state (B, H), contiguous, or the empty placeholder when absent:
    the backward kernels start from zeros then (``state_gradient`` in ``csrc/fused.cpp``)."""
    return grad.contiguous() if grad is not None else empty(states.dtype)
