"""Keras optimizers as descriptions that build a ``torch.optim`` optimizer for a model's
parameters: ``Adam``, ``RMSprop``, ``SGD`` with Keras defaults and Keras gradient clipping.

Clipping follows Keras 3: ``clipvalue`` clips every gradient element to [-v, v];
``clipnorm`` rescales each weight's gradient whose own L2 norm exceeds the limit (a Keras weight
that rnnkit keeps as two tensors, such as a GRU's (2, 3H) bias, is clipped as one);
``global_clipnorm`` rescales all gradients together. It runs inside ``step()``, so any loop
that calls ``optimizer.step()`` gets it.

Adam and RMSprop follow Keras 3's update rules exactly (``rnnkit.keras.update_rules``: epsilon
where Keras puts it), so a run matches Keras step for step; SGD is torch's, which is Keras'.
"""

from __future__ import annotations

import torch

from rnnkit.keras.update_rules import KerasAdam, KerasRMSprop


class Optimizer:
    torch_class = None

    def __init__(self, learning_rate=0.001, clipvalue=None, clipnorm=None, global_clipnorm=None, name=None, **kwargs):
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        for arg, value in (("clipvalue", clipvalue), ("clipnorm", clipnorm), ("global_clipnorm", global_clipnorm)):
            if value is not None and (not isinstance(value, (int, float)) or value <= 0):
                raise ValueError(f"Received an invalid value for argument `{arg}`: expected a positive number, got {value!r}.")
        if sum(v is not None for v in (clipvalue, clipnorm, global_clipnorm)) > 1:
            raise ValueError("Only one of `clipvalue`, `clipnorm` and `global_clipnorm` can be set.")
        self.learning_rate = float(learning_rate)
        self.clipvalue, self.clipnorm, self.global_clipnorm = clipvalue, clipnorm, global_clipnorm

    def torch_kwargs(self) -> dict:
        raise NotImplementedError

    def build(self, params) -> torch.optim.Optimizer:
        params = [p for p in params if p.requires_grad]
        optimizer = _clipped(self.torch_class)(params, **self.torch_kwargs())
        optimizer.keras_clip = (self.clipvalue, self.clipnorm, self.global_clipnorm)
        return optimizer

    def get_config(self) -> dict:
        return {"learning_rate": self.learning_rate, "clipvalue": self.clipvalue, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm}

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


class Adam(Optimizer):
    torch_class = KerasAdam

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    def torch_kwargs(self):
        return {"lr": self.learning_rate, "betas": (self.beta_1, self.beta_2), "eps": self.epsilon,
                "amsgrad": self.amsgrad}


class RMSprop(Optimizer):
    torch_class = KerasRMSprop

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    def torch_kwargs(self):
        return {"lr": self.learning_rate, "alpha": self.rho, "momentum": self.momentum, "eps": self.epsilon,
                "centered": self.centered}


class SGD(Optimizer):
    torch_class = torch.optim.SGD

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum, self.nesterov = momentum, nesterov

    def torch_kwargs(self):
        return {"lr": self.learning_rate, "momentum": self.momentum, "nesterov": self.nesterov}


_CLIPPED = {}


def _clipped(cls):
    """A subclass of the torch optimizer that applies Keras clipping before each step."""
    if cls not in _CLIPPED:
        def step(self, closure=None):
            clipvalue, clipnorm, global_clipnorm = getattr(self, "keras_clip", (None, None, None))
            params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
            with torch.no_grad():
                if clipvalue is not None:
                    for p in params:
                        p.grad.clamp_(-clipvalue, clipvalue)
                if clipnorm is not None:  # per Keras weight: parameters sharing a keras_group are one weight
                    groups = {}
                    for p in params:
                        groups.setdefault(getattr(p, "keras_group", id(p)), []).append(p)
                    for group in groups.values():
                        torch.nn.utils.clip_grad_norm_(group, clipnorm)
                if global_clipnorm is not None and params:
                    torch.nn.utils.clip_grad_norm_(params, global_clipnorm)
            return cls.step(self, closure)

        _CLIPPED[cls] = type(f"Keras{cls.__name__}", (cls,), {"step": step})
    return _CLIPPED[cls]


_BY_NAME = {"adam": Adam, "rmsprop": RMSprop, "sgd": SGD}


def get(identifier) -> Optimizer | torch.optim.Optimizer:
    if isinstance(identifier, (Optimizer, torch.optim.Optimizer)):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(
        f"Received an invalid value for argument `optimizer`: expected one of {sorted(_BY_NAME)} or an optimizer "
        f"object (Adam(...), RMSprop(...), SGD(...)), got {identifier!r}."
    )
