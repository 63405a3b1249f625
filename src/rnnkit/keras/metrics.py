"""Keras metrics by name: ``accuracy`` (binary, categorical or sparse chosen from the loss, as
Keras does), ``mae``, ``mse``."""

from __future__ import annotations

from rnnkit.keras import losses


def binary_accuracy(y_pred, y_true, threshold=0.5):
    y = y_true.reshape(y_pred.shape) if y_true.numel() == y_pred.numel() else y_true
    return ((y_pred > threshold).to(y_pred.dtype) == y.to(y_pred.dtype)).float().mean()


def categorical_accuracy(y_pred, y_true):
    return (y_pred.argmax(-1) == y_true.argmax(-1)).float().mean()


def sparse_categorical_accuracy(y_pred, y_true):
    labels = y_true.squeeze(-1) if y_true.dim() == y_pred.dim() else y_true
    return (y_pred.argmax(-1) == labels.long()).float().mean()


def mean_absolute_error(y_pred, y_true):
    return (y_pred - y_true.reshape(y_pred.shape).to(y_pred.dtype)).abs().mean()


def mean_squared_error(y_pred, y_true):
    return ((y_pred - y_true.reshape(y_pred.shape).to(y_pred.dtype)) ** 2).mean()


_BY_NAME = {
    "binary_accuracy": binary_accuracy, "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "mae": mean_absolute_error, "mean_absolute_error": mean_absolute_error,
    "mse": mean_squared_error, "mean_squared_error": mean_squared_error,
}


def get(identifier, loss) -> tuple[str, object]:
    """(name shown in logs, callable(y_pred, y_true)) for a metric name or callable."""
    if identifier in ("accuracy", "acc"):
        if isinstance(loss, losses.SparseCategoricalCrossentropy):
            return identifier, sparse_categorical_accuracy
        if isinstance(loss, losses.CategoricalCrossentropy):
            return identifier, categorical_accuracy
        return identifier, binary_accuracy
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return identifier, _BY_NAME[identifier]
    if callable(identifier) and not isinstance(identifier, str):
        return getattr(identifier, "__name__", "metric"), identifier
    raise ValueError(
        f"Received an invalid value for argument `metrics`: expected names from "
        f"{sorted(['accuracy', 'acc', *_BY_NAME])} or callables, got {identifier!r}."
    )
