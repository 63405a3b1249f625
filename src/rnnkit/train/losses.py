"""Losses by name, Keras-style: the cross-entropies take *probabilities* by default (the output
of a softmax or sigmoid layer), as Keras does, and logits with ``from_logits=True``.

With p the predicted probabilities, y the targets and eps = 1e-7 (Keras' epsilon)::

    binary_crossentropy       = mean( -[y log p + (1 - y) log(1 - p)] ),  p clipped to [eps, 1 - eps]
    categorical_crossentropy  = mean over samples of -sum_c y_c log p_c,  p renormalized to sum 1, clipped
    sparse_categorical_crossentropy = mean( -log p[label] )
    mean_squared_error        = mean( (output - y)^2 ),  mean_absolute_error = mean |output - y|

Every loss is a callable ``loss(outputs, targets) -> scalar tensor``. Class scores sit on the
last axis of ``outputs`` (``(B, C)`` or ``(B, T, C)``), as in Keras.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rnnkit.errors import describe

EPSILON = 1e-7  # Keras' backend epsilon


def _check_same_shape(outputs, targets, name):
    if outputs.shape != targets.shape:
        raise ValueError(
            f"{name}: expected `targets` of the same shape as the model's outputs {tuple(outputs.shape)}, "
            f"got {describe(targets)}."
        )


class Loss:
    """Base class: subclasses implement ``forward(outputs, targets)``."""

    name = "loss"

    def __call__(self, outputs, targets):
        if not isinstance(outputs, torch.Tensor):
            raise TypeError(f"{self.name}: expected the model's outputs to be a tensor, got {type(outputs).__name__}.")
        if not isinstance(targets, torch.Tensor):
            raise TypeError(f"{self.name}: expected `targets` to be a tensor, got {type(targets).__name__}.")
        return self.forward(outputs, targets)

    def __repr__(self):
        return f"{type(self).__name__}()"


class MeanSquaredError(Loss):
    name = "mean_squared_error"

    def forward(self, outputs, targets):
        if outputs.shape != targets.shape and targets.numel() == outputs.numel():
            targets = targets.reshape(outputs.shape)  # (B,) targets against (B, 1) outputs, as Keras allows
        _check_same_shape(outputs, targets, self.name)
        return F.mse_loss(outputs, targets.to(outputs.dtype))


class MeanAbsoluteError(MeanSquaredError):
    name = "mean_absolute_error"

    def forward(self, outputs, targets):
        if outputs.shape != targets.shape and targets.numel() == outputs.numel():
            targets = targets.reshape(outputs.shape)
        _check_same_shape(outputs, targets, self.name)
        return F.l1_loss(outputs, targets.to(outputs.dtype))


class BinaryCrossentropy(Loss):
    """Binary cross-entropy on probabilities (``from_logits=False``, Keras' default) or logits."""

    name = "binary_crossentropy"

    def __init__(self, from_logits: bool = False):
        self.from_logits = bool(from_logits)

    def forward(self, outputs, targets):
        if outputs.shape != targets.shape and targets.numel() == outputs.numel():
            targets = targets.reshape(outputs.shape)  # (B,) labels against (B, 1) outputs
        _check_same_shape(outputs, targets, self.name)
        targets = targets.to(outputs.dtype)
        low, high = float(targets.min()), float(targets.max())
        if low < 0 or high > 1:
            raise ValueError(f"{self.name}: expected targets in [0, 1], got values in [{low}, {high}].")
        if self.from_logits:
            return F.binary_cross_entropy_with_logits(outputs, targets)
        probs = outputs.clamp(EPSILON, 1 - EPSILON)
        return -(targets * torch.log(probs) + (1 - targets) * torch.log1p(-probs)).mean()

    def __repr__(self):
        return f"{type(self).__name__}(from_logits={self.from_logits})"


class CategoricalCrossentropy(BinaryCrossentropy):
    """Cross-entropy against one-hot (or soft) targets of the outputs' shape ``(..., C)``."""

    name = "categorical_crossentropy"

    def forward(self, outputs, targets):
        _check_same_shape(outputs, targets, self.name)
        targets = targets.to(outputs.dtype)
        if self.from_logits:
            log_probs = torch.log_softmax(outputs, dim=-1)
        else:
            probs = outputs / outputs.sum(dim=-1, keepdim=True)  # as Keras: renormalize, then clip
            log_probs = torch.log(probs.clamp(EPSILON, 1 - EPSILON))
        return -(targets * log_probs).sum(dim=-1).mean()


class SparseCategoricalCrossentropy(BinaryCrossentropy):
    """Cross-entropy against integer labels: outputs ``(..., C)``, targets ``(...)`` or ``(..., 1)``."""

    name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits: bool = False, ignore_index: int | None = None):
        super().__init__(from_logits)
        self.ignore_index = ignore_index

    def forward(self, outputs, targets):
        if targets.dim() == outputs.dim() and targets.shape[-1] == 1:
            targets = targets.squeeze(-1)  # Keras accepts (B, 1) labels
        if tuple(targets.shape) != tuple(outputs.shape[:-1]):
            raise ValueError(
                f"{self.name}: expected integer `targets` of shape {tuple(outputs.shape[:-1])} (the outputs' "
                f"shape {tuple(outputs.shape)} without the class axis), got {describe(targets)}."
            )
        if targets.is_floating_point():
            if not torch.equal(targets, targets.round()):
                raise ValueError(f"{self.name}: expected integer class labels, got non-integer values in {describe(targets)}.")
        targets = targets.long()
        classes = outputs.shape[-1]
        valid = targets if self.ignore_index is None else targets[targets != self.ignore_index]
        if valid.numel():
            low, high = int(valid.min()), int(valid.max())
            if low < 0 or high >= classes:
                raise ValueError(
                    f"{self.name}: expected labels in [0, {classes - 1}] for {classes} classes, got labels in [{low}, {high}]."
                )
        flat_out = outputs.reshape(-1, classes)  # (N, C)
        flat_targets = targets.reshape(-1)  # (N,)
        if self.from_logits:
            log_probs = torch.log_softmax(flat_out, dim=-1)
        else:
            log_probs = torch.log(flat_out.clamp(EPSILON, 1 - EPSILON))
        ignore = -100 if self.ignore_index is None else self.ignore_index
        return F.nll_loss(log_probs, flat_targets, ignore_index=ignore)

    def __repr__(self):
        return f"{type(self).__name__}(from_logits={self.from_logits})"


LOSSES = {
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}


def get_loss(loss, argument: str = "loss"):
    """A loss callable from a name (Keras' names, e.g. "mse", "binary_crossentropy"), a ``Loss``,
    a ``torch.nn`` loss module or any callable ``(outputs, targets) -> scalar tensor``."""
    if isinstance(loss, str):
        key = loss.lower()
        if key not in LOSSES:
            raise ValueError(
                f"Received an invalid value for argument `{argument}`: expected one of {sorted(LOSSES)} "
                f"or a callable (outputs, targets) -> tensor, got {loss!r}."
            )
        return LOSSES[key]()
    if callable(loss):
        return loss
    raise TypeError(
        f"Received an invalid value for argument `{argument}`: expected a loss name or a callable, got {describe(loss)}."
    )
