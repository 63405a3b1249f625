"""Run a fused ``torch.autograd.Function``'s forward alone, without autograd's bookkeeping.

Where no gradient can flow (under ``torch.no_grad()``, or when no tensor argument requires one)
autograd would record nothing, and skipping ``Function.apply`` saves tens of microseconds a
call, which is what counts when a whole batch-1 sequence costs well under a millisecond. The
caller decides whether a gradient can flow (``scan_fused`` asks ``gradient_can_flow`` once).
"""

from __future__ import annotations


class _NoGradContext:
    """Stands in for autograd's ctx when a Function's forward runs alone: keeps nothing."""

    def save_for_backward(self, *tensors) -> None:
        pass

    def set_materialize_grads(self, value: bool) -> None:
        pass


def forward_alone(function):
    """``function.forward`` with a ctx that keeps nothing, as a callable taking ``apply``'s
    arguments: for a caller that has already found that no gradient can flow."""
    return lambda *args: function.forward(_NoGradContext(), *args)
