"""Watch the global gradient norm over training and name the step where it explodes."""

from __future__ import annotations

import math
import warnings
from typing import Optional

from rnnkit.diagnostics.flow import EXPLODING_JUMP, GradientFlowWarning


class ExplodingMonitor:
    """``update(step, norm)`` returns (and warns with) a message when ``norm`` is not finite or
    exceeds ``jump`` times the previous finite norm; every message is kept in ``messages``."""

    def __init__(self, jump: float = EXPLODING_JUMP, *, warn: bool = True):
        if not isinstance(jump, (int, float)) or isinstance(jump, bool) or not jump > 1:
            raise ValueError(f"Received an invalid value for argument `jump`: expected a number > 1, got {jump!r}.")
        self.jump = float(jump)
        self.warn = warn
        self.previous: Optional[float] = None
        self.messages: list[str] = []
        self.norms: list[tuple[int, float]] = []

    def update(self, step: int, norm: float) -> Optional[str]:
        norm = float(norm)
        self.norms.append((int(step), norm))
        message = None
        if not math.isfinite(norm):
            message = f"exploding gradient: the global gradient norm is {norm} at training step {step}."
        elif self.previous is not None and self.previous > 0 and norm > self.jump * self.previous:
            message = (f"exploding gradient: the global gradient norm jumped {norm / self.previous:.3g}x at training "
                       f"step {step} (from {self.previous:.4g} to {norm:.4g}).")
        if math.isfinite(norm):
            self.previous = norm
        if message:
            self.messages.append(message)
            if self.warn:
                warnings.warn(message, GradientFlowWarning, stacklevel=2)
        return message


def parameter_grad_norm(model) -> Optional[float]:
    """Global L2 norm of the parameters' current ``.grad`` (None when no parameter has one)."""
    total, seen = 0.0, False
    for p in model.parameters():
        if p.grad is not None:
            total += float(p.grad.detach().pow(2).sum())
            seen = True
    return math.sqrt(total) if seen else None
