"""Gradient checks and clipping, applied between ``backward()`` and ``optimizer.step()``.

- the global norm ||g|| = sqrt(sum_p ||g_p||^2) is measured first, so a non-finite gradient is
  caught before clipping could hide an infinity;
- ``clip_value`` clamps every gradient entry to [-v, v];
- ``clip_norm`` rescales all gradients by min(1, c / ||g||) (global, as torch's
  ``clip_grad_norm_``), or with ``per_tensor=True`` each tensor by min(1, c / ||g_p||) (Keras'
  ``clipnorm``).
"""

from __future__ import annotations

import torch


def grads_of(parameters):
    return [p.grad for p in parameters if p.grad is not None]


def global_norm(grads) -> torch.Tensor:
    if not grads:
        return torch.tensor(0.0)
    norms = torch.stack([torch.linalg.vector_norm(g.detach().float()) for g in grads])
    return torch.linalg.vector_norm(norms)


def clip_gradients(grads, clip_value=None, clip_norm=None, per_tensor=False) -> None:
    with torch.no_grad():
        if clip_value is not None:
            for g in grads:
                g.clamp_(-clip_value, clip_value)
        if clip_norm is not None:
            if per_tensor:
                for g in grads:
                    norm = torch.linalg.vector_norm(g.float())
                    g.mul_(torch.clamp(clip_norm / (norm + 1e-6), max=1.0).to(g.dtype))
            else:
                norm = global_norm(grads)
                scale = torch.clamp(clip_norm / (norm + 1e-6), max=1.0)
                for g in grads:
                    g.mul_(scale.to(device=g.device, dtype=g.dtype))


class NonFiniteError(FloatingPointError):
    """A loss or gradient became NaN or infinite; ``epoch`` and ``step`` say where (1-based)."""

    def __init__(self, message, *, epoch, step, global_step, what):
        super().__init__(message)
        self.epoch, self.step, self.global_step, self.what = epoch, step, global_step, what
