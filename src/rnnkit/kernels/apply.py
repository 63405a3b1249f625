"""Call a fused ``torch.autograd.Function`` without autograd's bookkeeping when no gradient can flow."""

from __future__ import annotations

import torch


class _NoGradContext:
    """Stands in for autograd's ctx when a Function's forward runs alone: keeps nothing."""

    def save_for_backward(self, *tensors) -> None:
        pass


def apply_function(function, *args):
    """``function.apply(*args)``, or its forward alone where no gradient can flow (under
    ``torch.no_grad()``, or when no tensor argument requires one): autograd would record nothing,
    and skipping its bookkeeping saves tens of microseconds a call, which is what counts when a
    whole batch-1 sequence costs well under a millisecond."""
    if torch.is_grad_enabled() and any(isinstance(a, torch.Tensor) and a.requires_grad for a in args):
        return function.apply(*args)
    return function.forward(_NoGradContext(), *args)
