"""Metrics by name: ``accuracy`` (binary, categorical or sparse, chosen from the shapes as Keras
does) and ``mae``. A metric is a callable ``(outputs, targets) -> scalar tensor`` giving the
batch mean; the trainer averages batches weighted by their number of samples."""

from __future__ import annotations

import torch

from rnnkit.errors import describe


class Accuracy:
    """Fraction of correct predictions, the kind chosen from the shapes as Keras' "accuracy":

    - binary when the outputs' last axis has size 1 (or outputs and targets are both 1-D):
      correct when ``(output > threshold) == target``;
    - sparse categorical when the targets have one axis fewer than the outputs (or a last axis
      of size 1) and the outputs' last axis is > 1: ``argmax(output) == target``;
    - categorical otherwise (one-hot targets of the outputs' shape): ``argmax(output) == argmax(target)``.

    ``threshold`` is 0.5 for probabilities; use 0.0 when the outputs are logits.
    """

    def __init__(self, threshold: float = 0.5, kind: str | None = None):
        self.threshold = float(threshold)
        self.kind = kind
        self.__name__ = "accuracy"

    def kind_for(self, outputs, targets) -> str:
        if self.kind is not None:
            return self.kind
        if outputs.dim() == 1 or outputs.shape[-1] == 1:
            return "binary"
        if targets.dim() < outputs.dim() or targets.shape[-1] == 1:
            return "sparse"
        return "categorical"

    def __call__(self, outputs, targets):
        if not isinstance(outputs, torch.Tensor) or not isinstance(targets, torch.Tensor):
            raise TypeError(f"accuracy: expected tensors, got outputs {describe(outputs)} and targets {describe(targets)}.")
        kind = self.kind_for(outputs, targets)
        with torch.no_grad():
            if kind == "binary":
                if targets.numel() != outputs.numel():
                    raise ValueError(f"accuracy (binary): expected targets with {outputs.numel()} values like the outputs "
                                     f"{tuple(outputs.shape)}, got {describe(targets)}.")
                predicted = (outputs > self.threshold).reshape(-1)
                correct = predicted == (targets.reshape(-1) > 0.5)
            elif kind == "sparse":
                if targets.dim() == outputs.dim():
                    targets = targets.squeeze(-1)
                if tuple(targets.shape) != tuple(outputs.shape[:-1]):
                    raise ValueError(f"accuracy (sparse): expected targets of shape {tuple(outputs.shape[:-1])}, "
                                     f"got {describe(targets)}.")
                correct = outputs.argmax(dim=-1) == targets.long()
            else:
                if targets.shape != outputs.shape:
                    raise ValueError(f"accuracy (categorical): expected one-hot targets of shape {tuple(outputs.shape)}, "
                                     f"got {describe(targets)}.")
                correct = outputs.argmax(dim=-1) == targets.argmax(dim=-1)
            return correct.to(torch.float32).mean()


class MeanAbsoluteError:
    """mean |output - target| (targets reshaped to the outputs' shape when they hold as many values)."""

    __name__ = "mae"

    def __call__(self, outputs, targets):
        with torch.no_grad():
            if outputs.shape != targets.shape and targets.numel() == outputs.numel():
                targets = targets.reshape(outputs.shape)
            if outputs.shape != targets.shape:
                raise ValueError(f"mae: expected targets of shape {tuple(outputs.shape)}, got {describe(targets)}.")
            return (outputs - targets.to(outputs.dtype)).abs().mean()


METRICS = {"accuracy": Accuracy, "acc": Accuracy, "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError}


def get_metrics(metrics, loss=None) -> dict:
    """Normalize ``metrics`` (None, a list of names/callables, or a dict name -> callable) into a
    dict name -> callable. With a logits loss, "accuracy" thresholds binary outputs at 0."""
    if metrics is None:
        return {}
    if isinstance(metrics, dict):
        items = list(metrics.items())
    elif isinstance(metrics, (list, tuple)):
        items = [(m if isinstance(m, str) else getattr(m, "__name__", type(m).__name__), m) for m in metrics]
    elif isinstance(metrics, str) or callable(metrics):
        return get_metrics([metrics], loss)
    else:
        raise TypeError(f"Received an invalid value for argument `metrics`: expected a list of names or callables "
                        f"or a dict name -> callable, got {describe(metrics)}.")
    resolved = {}
    for name, metric in items:
        if isinstance(metric, str):
            key = metric.lower()
            if key not in METRICS:
                raise ValueError(f"Received an invalid value for argument `metrics`: expected names among "
                                 f"{sorted(METRICS)} or callables, got {metric!r}.")
            if METRICS[key] is Accuracy:
                metric = Accuracy(threshold=0.0 if getattr(loss, "from_logits", False) else 0.5)
                name = "accuracy" if name in ("acc", "accuracy") else name
            else:
                metric = METRICS[key]()
                name = "mae" if name == "mean_absolute_error" else name
        elif not callable(metric):
            raise TypeError(f"Received an invalid value for argument `metrics` ({name!r}): expected a callable, "
                            f"got {describe(metric)}.")
        if name in ("loss",) or name.startswith("val_"):
            raise ValueError(f"Received an invalid metric name {name!r}: 'loss' and names starting with 'val_' are reserved.")
        resolved[str(name)] = metric
    return resolved
