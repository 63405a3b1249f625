"""Keras' Adam and RMSprop update rules against their equations (first step, float64), and
the ``step(closure)`` protocol of torch.optim that both share."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.keras.update_rules import KerasAdam, KerasRMSprop

GRAD = [0.5, -2.0, 1e-4, 0.0]
START = [1.0, -1.0, 0.25, 3.0]


def _one_step(rule, **options):
    p = torch.nn.Parameter(torch.tensor(START, dtype=torch.float64))
    p.grad = torch.tensor(GRAD, dtype=torch.float64)
    rule([p], **options).step()
    return p.detach().tolist()


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_first_step_follows_the_keras_equation(amsgrad):
    lr, beta_1, beta_2, eps = 0.01, 0.8, 0.95, 1e-3
    got = _one_step(KerasAdam, lr=lr, betas=(beta_1, beta_2), eps=eps, amsgrad=amsgrad)
    for theta, g, new in zip(START, GRAD, got):
        m, v = (1 - beta_1) * g, (1 - beta_2) * g * g
        step = lr * math.sqrt(1 - beta_2) / (1 - beta_1) * m / (math.sqrt(v) + eps)
        assert new == pytest.approx(theta - step, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_rmsprop_first_step_follows_the_keras_equation(centered, momentum):
    lr, rho, eps = 0.01, 0.9, 1e-3
    got = _one_step(KerasRMSprop, lr=lr, alpha=rho, momentum=momentum, eps=eps, centered=centered)
    for theta, g, new in zip(START, GRAD, got):
        v = (1 - rho) * g * g
        mean_g = (1 - rho) * g if centered else 0.0
        step = lr * g / math.sqrt(v - mean_g * mean_g + eps)  # = the momentum buffer's first value
        assert new == pytest.approx(theta - step, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("rule", [KerasAdam, KerasRMSprop])
def test_step_returns_the_closure_loss_and_skips_parameters_without_gradient(rule):
    used = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    unused = torch.nn.Parameter(torch.tensor([3.0]))
    optimizer = rule([used, unused], lr=0.1)

    def closure():
        optimizer.zero_grad()
        assert torch.is_grad_enabled()  # step() runs without autograd, the closure with it
        loss = (used ** 2).sum()
        loss.backward()
        return loss

    loss = optimizer.step(closure)
    assert loss.item() == pytest.approx(5.0)
    assert not torch.equal(used.detach(), torch.tensor([1.0, 2.0]))
    assert torch.equal(unused.detach(), torch.tensor([3.0]))
    assert unused not in optimizer.state
    assert optimizer.step() is None
