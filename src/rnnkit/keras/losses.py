"""Keras losses on model outputs: probabilities by default (``from_logits=False``), as Keras.

Each loss computes one value per output position (the last axis reduced: mean for MSE/MAE/
binary cross-entropy, sum for categorical cross-entropy) and averages them. When the model
output carries a Keras mask (``output._keras_mask``, e.g. a tagger after
``Embedding(mask_zero=True)``), the average runs over the valid positions only, as in Keras 3.

Each loss checks its labels and raises a ValueError naming the loss, the valid range and the
offending value (for example a class id >= the number of classes).
"""

from __future__ import annotations

import torch

EPSILON = 1e-7  # Keras' backend epsilon: probabilities are clipped to [eps, 1 - eps]


class Loss:
    name = "loss"

    def __init__(self, from_logits: bool = False, name=None):
        self.from_logits = bool(from_logits)
        if name:
            self.name = name

    def __call__(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(from_logits={self.from_logits})"


def reduce(values: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """Mean of per-position values (shape y_pred.shape[:-1]), over unmasked positions if masked."""
    mask = getattr(y_pred, "_keras_mask", None)
    if mask is None or tuple(mask.shape) != tuple(values.shape):
        return values.mean()
    weight = mask.to(values.dtype)
    return (values * weight).sum() / weight.sum().clamp(min=1.0)


def _match(y_true, y_pred, name):
    if y_true.dim() == y_pred.dim() - 1 and y_pred.shape[-1] == 1:
        y_true = y_true.unsqueeze(-1)
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ValueError(
            f"Loss {name!r}: expected targets of shape {tuple(y_pred.shape)} (the model output's shape), "
            f"got targets of shape {tuple(y_true.shape)}."
        )
    return y_true.to(y_pred.dtype)


class MeanSquaredError(Loss):
    name = "mean_squared_error"

    def __call__(self, y_pred, y_true):
        return reduce(((y_pred - _match(y_true, y_pred, self.name)) ** 2).mean(-1), y_pred)


class MeanAbsoluteError(Loss):
    name = "mean_absolute_error"

    def __call__(self, y_pred, y_true):
        return reduce((y_pred - _match(y_true, y_pred, self.name)).abs().mean(-1), y_pred)


class BinaryCrossentropy(Loss):
    name = "binary_crossentropy"

    def __call__(self, y_pred, y_true):
        y = _match(y_true, y_pred, self.name)
        if y.numel() and (float(y.min()) < 0 or float(y.max()) > 1):
            bad = float(y.min()) if float(y.min()) < 0 else float(y.max())
            raise ValueError(f"Loss 'binary_crossentropy': expected labels in [0, 1], got a label of {bad:g}.")
        if self.from_logits:
            values = torch.nn.functional.binary_cross_entropy_with_logits(y_pred, y, reduction="none")
        else:
            p = y_pred.clamp(EPSILON, 1 - EPSILON)
            values = -(y * torch.log(p) + (1 - y) * torch.log(1 - p))
        return reduce(values.mean(-1), y_pred)


class CategoricalCrossentropy(Loss):
    name = "categorical_crossentropy"

    def __call__(self, y_pred, y_true):
        y = _match(y_true, y_pred, self.name)
        if y.numel() and (float(y.min()) < 0 or float(y.max()) > 1):
            raise ValueError(
                f"Loss 'categorical_crossentropy': expected one-hot (or probability) targets in [0, 1], got values "
                f"in [{float(y.min()):g}, {float(y.max()):g}]; for integer class ids use sparse_categorical_crossentropy."
            )
        if self.from_logits:
            return reduce(-(y * torch.log_softmax(y_pred, dim=-1)).sum(-1), y_pred)
        p = y_pred / y_pred.sum(-1, keepdim=True)
        return reduce(-(y * torch.log(p.clamp(EPSILON, 1 - EPSILON))).sum(-1), y_pred)


class SparseCategoricalCrossentropy(Loss):
    name = "sparse_categorical_crossentropy"

    def __call__(self, y_pred, y_true):
        classes = y_pred.shape[-1]
        labels = y_true
        if labels.dim() == y_pred.dim() and labels.shape[-1] == 1:
            labels = labels.squeeze(-1)
        if tuple(labels.shape) != tuple(y_pred.shape[:-1]):
            raise ValueError(
                f"Loss 'sparse_categorical_crossentropy': expected integer labels of shape {tuple(y_pred.shape[:-1])} "
                f"for model outputs of shape {tuple(y_pred.shape)}, got labels of shape {tuple(y_true.shape)}."
            )
        if labels.is_floating_point():
            if not torch.equal(labels, labels.round()):
                raise ValueError("Loss 'sparse_categorical_crossentropy': expected integer class ids, got fractional labels.")
        labels = labels.long()
        if labels.numel():
            low, high = int(labels.min()), int(labels.max())
            if low < 0 or high >= classes:
                bad = low if low < 0 else high
                raise ValueError(
                    f"Loss 'sparse_categorical_crossentropy': expected labels in [0, {classes}) for a model with "
                    f"{classes} output classes, got a label of {bad}."
                )
        if self.from_logits:
            logp = torch.log_softmax(y_pred, dim=-1)
        else:
            logp = torch.log((y_pred / y_pred.sum(-1, keepdim=True)).clamp(EPSILON, 1 - EPSILON))
        return reduce(-logp.gather(-1, labels.unsqueeze(-1)).squeeze(-1), y_pred)


_BY_NAME = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError, "MeanSquaredError": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError, "MeanAbsoluteError": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy, "BinaryCrossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy, "CategoricalCrossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "SparseCategoricalCrossentropy": SparseCategoricalCrossentropy,
}


def get(identifier):
    """A loss from a Keras name or object, or a callable(y_pred, y_true)."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    if callable(identifier) and not isinstance(identifier, (str, type)):
        return identifier
    raise ValueError(
        f"Received an invalid value for argument `loss`: expected one of {sorted(k for k in _BY_NAME if k.islower())}, "
        f"a Loss object or a callable, got {identifier!r}."
    )
