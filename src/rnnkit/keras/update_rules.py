r"""Keras 3's Adam and RMSprop update rules as ``torch.optim`` optimizers.

They differ from torch's only in where epsilon enters, which matters when gradients are small:

Adam (Keras adds epsilon to sqrt(v) before the bias correction; torch after):

.. math::
    m \leftarrow \beta_1 m + (1-\beta_1) g, \quad v \leftarrow \beta_2 v + (1-\beta_2) g^2, \quad
    \theta \leftarrow \theta - \eta \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t} \frac{m}{\sqrt{v} + \epsilon}

RMSprop (Keras puts epsilon inside the square root; torch outside):

.. math::
    v \leftarrow \rho v + (1-\rho) g^2, \quad \Delta = \frac{\eta g}{\sqrt{v - \bar g^2 + \epsilon}}
    \ (\bar g^2 \text{ only when centered}), \quad
    \mu \leftarrow \text{momentum}\cdot\mu + \Delta, \quad \theta \leftarrow \theta - \mu \text{ (or } \Delta)
"""

from __future__ import annotations

import math

import torch


class _PerParameterRule(torch.optim.Optimizer):
    """torch's ``step(closure)`` protocol around one update rule: ``_update(p, state, group)``
    is called, without autograd, for each parameter that has a gradient."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, self.state[p], group)
        return loss

    def _update(self, p: torch.Tensor, state: dict, group: dict) -> None:  # pragma: no cover
        raise NotImplementedError


class KerasAdam(_PerParameterRule):
    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-7, amsgrad=False):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "amsgrad": amsgrad})

    def _update(self, p, state, group):
        beta_1, beta_2 = group["betas"]
        if not state:
            state["step"] = 0
            state["m"], state["v"] = torch.zeros_like(p), torch.zeros_like(p)
            if group["amsgrad"]:
                state["v_hat"] = torch.zeros_like(p)
        state["step"] += 1
        t = state["step"]
        g, m, v = p.grad, state["m"], state["v"]
        m.add_((g - m) * (1 - beta_1))
        v.add_((g * g - v) * (1 - beta_2))
        if group["amsgrad"]:
            torch.maximum(state["v_hat"], v, out=state["v_hat"])
            v = state["v_hat"]
        alpha = group["lr"] * math.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
        p.sub_(m * alpha / (v.sqrt() + group["eps"]))


class KerasRMSprop(_PerParameterRule):
    def __init__(self, params, lr=0.001, alpha=0.9, momentum=0.0, eps=1e-7, centered=False):
        super().__init__(params, {"lr": lr, "alpha": alpha, "momentum": momentum, "eps": eps, "centered": centered})

    def _update(self, p, state, group):
        rho = group["alpha"]
        if not state:
            state["velocity"] = torch.zeros_like(p)
            if group["momentum"] > 0:
                state["momentum"] = torch.zeros_like(p)
            if group["centered"]:
                state["average_grad"] = torch.zeros_like(p)
        g, velocity = p.grad, state["velocity"]
        velocity.mul_(rho).add_((1 - rho) * g * g)
        if group["centered"]:
            average = state["average_grad"]
            average.mul_(rho).add_((1 - rho) * g)
            denominator = velocity - average * average + group["eps"]
        else:
            denominator = velocity + group["eps"]
        increment = group["lr"] * g / denominator.sqrt()
        if group["momentum"] > 0:
            state["momentum"].mul_(group["momentum"]).add_(increment)
            p.sub_(state["momentum"])
        else:
            p.sub_(increment)
