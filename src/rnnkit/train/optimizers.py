"""Optimizers by name or object, with Keras' defaults.

``Adam``, ``RMSprop`` and ``SGD`` here are *specifications*: they hold the hyper-parameters
(and Keras' ``clipvalue``/``clipnorm``) and build the torch optimizer once the trainer knows the
model's parameters, so ``Trainer(model, optimizer=Adam(learning_rate=1e-3, clipnorm=1.0))`` and
``optimizer="adam"`` both work. A ready ``torch.optim.Optimizer`` is used as given.

Keras defaults: Adam lr 1e-3, beta_1 0.9, beta_2 0.999, epsilon 1e-7; RMSprop lr 1e-3,
rho 0.9, epsilon 1e-7; SGD lr 1e-2, momentum 0. (torch's Adam adds epsilon to sqrt(v_hat)
where Keras adds it to sqrt(v) before the bias correction; the difference is of order epsilon.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from rnnkit.errors import describe


def _check_clip(value, argument):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"Received an invalid value for argument `{argument}`: expected a positive number or None, got {value!r}.")
    return float(value)


@dataclass
class OptimizerSpec:
    """Hyper-parameters of an optimizer, built later with ``build(params)``."""

    learning_rate: float = 1e-3
    clipvalue: float | None = None
    clipnorm: float | None = None
    weight_decay: float = 0.0
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.learning_rate, bool) or not isinstance(self.learning_rate, (int, float)) or not self.learning_rate > 0:
            raise ValueError(f"Received an invalid value for argument `learning_rate`: expected a positive number, "
                             f"got {self.learning_rate!r}.")
        self.clipvalue = _check_clip(self.clipvalue, "clipvalue")
        self.clipnorm = _check_clip(self.clipnorm, "clipnorm")

    def build(self, params) -> torch.optim.Optimizer:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class Adam(OptimizerSpec):
    torch_class: ClassVar[type] = torch.optim.Adam  # not a field; AdamW builds torch.optim.AdamW
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    amsgrad: bool = False

    def build(self, params):
        return self.torch_class(params, lr=self.learning_rate, betas=(self.beta_1, self.beta_2),
                                eps=self.epsilon, weight_decay=self.weight_decay,
                                amsgrad=self.amsgrad, **self.extra)


@dataclass
class RMSprop(OptimizerSpec):
    rho: float = 0.9
    momentum: float = 0.0
    epsilon: float = 1e-7
    centered: bool = False

    def build(self, params):
        return torch.optim.RMSprop(params, lr=self.learning_rate, alpha=self.rho, eps=self.epsilon,
                                   momentum=self.momentum, centered=self.centered, weight_decay=self.weight_decay,
                                   **self.extra)


@dataclass
class SGD(OptimizerSpec):
    learning_rate: float = 1e-2
    momentum: float = 0.0
    nesterov: bool = False

    def build(self, params):
        return torch.optim.SGD(params, lr=self.learning_rate, momentum=self.momentum, nesterov=self.nesterov,
                               weight_decay=self.weight_decay, **self.extra)


@dataclass
class AdamW(Adam):
    torch_class: ClassVar[type] = torch.optim.AdamW  # Adam's settings, decoupled weight decay
    weight_decay: float = 0.004  # Keras' AdamW default


OPTIMIZERS = {"adam": Adam, "rmsprop": RMSprop, "sgd": SGD, "adamw": AdamW}


def get_optimizer(optimizer, params):
    """Return ``(torch_optimizer, clipvalue, clipnorm)`` from a name, a spec, a torch optimizer,
    or a callable ``params -> torch optimizer`` (e.g. ``functools.partial(torch.optim.SGD, lr=0.1)``)."""
    params = list(params)
    if isinstance(optimizer, str):
        key = optimizer.lower()
        if key not in OPTIMIZERS:
            raise ValueError(f"Received an invalid value for argument `optimizer`: expected one of {sorted(OPTIMIZERS)}, "
                             f"an optimizer object or a callable params -> optimizer, got {optimizer!r}.")
        optimizer = OPTIMIZERS[key]()
    if isinstance(optimizer, OptimizerSpec):
        return optimizer.build(params), optimizer.clipvalue, optimizer.clipnorm
    if isinstance(optimizer, torch.optim.Optimizer):
        owned = {id(p) for group in optimizer.param_groups for p in group["params"]}
        missing = sum(1 for p in params if p.requires_grad and id(p) not in owned)
        if owned and missing == len([p for p in params if p.requires_grad]):
            raise ValueError("Received an invalid value for argument `optimizer`: the optimizer holds none of the "
                             "model's parameters; build it from model.parameters() or pass a name such as 'adam'.")
        return optimizer, None, None
    if callable(optimizer):
        built = optimizer(params)
        if not isinstance(built, torch.optim.Optimizer):
            raise TypeError(f"Received an invalid value for argument `optimizer`: the callable returned "
                            f"{describe(built)}, expected a torch.optim.Optimizer.")
        return built, None, None
    raise TypeError(f"Received an invalid value for argument `optimizer`: expected a name, an optimizer or a callable, "
                    f"got {describe(optimizer)}.")
