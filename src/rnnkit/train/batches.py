"""Small helpers on batches: split ``(inputs, targets)``, move to a device, call the model,
count samples, and concatenate predictions."""

from __future__ import annotations

import torch

from rnnkit.errors import describe


def split_batch(batch):
    """``(inputs, targets)`` from a batch; a clear error for anything else."""
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise ValueError(f"Expected each training batch to be a pair (inputs, targets), got "
                     f"{type(batch).__name__}{'' if not isinstance(batch, (tuple, list)) else f' of length {len(batch)}'}.")


def to_device(value, device):
    if device is None:
        return value
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, (tuple, list)):
        return type(value)(to_device(v, device) for v in value)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    return value


def call_model(model, inputs, **kwargs):
    """``model(*inputs)`` for a tuple/list of inputs, else ``model(inputs)``."""
    if isinstance(inputs, (tuple, list)):
        return model(*inputs, **kwargs)
    return model(inputs, **kwargs)


def batch_size_of(value) -> int:
    """Number of samples: the first axis of the first tensor found."""
    if isinstance(value, torch.Tensor):
        return int(value.shape[0]) if value.dim() else 1
    if isinstance(value, (tuple, list)) and value:
        return batch_size_of(value[0])
    if isinstance(value, dict) and value:
        return batch_size_of(next(iter(value.values())))
    raise TypeError(f"Cannot count the samples of a batch: expected tensors, got {describe(value)}.")


def detach(value):
    """Detach every tensor of a nested value (tuples, NamedTuples, lists, dicts)."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # NamedTuple: positional fields
        return type(value)(*(detach(v) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(detach(v) for v in value)
    if isinstance(value, dict):
        return {k: detach(v) for k, v in value.items()}
    return value


def concat_outputs(chunks):
    """Concatenate per-batch predictions along the first axis (tuples element-wise)."""
    first = chunks[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(chunks, dim=0)
    if isinstance(first, (tuple, list)):
        return tuple(concat_outputs([c[i] for c in chunks]) for i in range(len(first)))
    raise TypeError(f"Cannot concatenate model outputs of type {type(first).__name__}: expected tensors or tuples of tensors.")


class WeightedMeans:
    """Running means of named values, each batch weighted by its number of samples."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, values: dict, weight: int):
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value) * weight
        self.count += weight

    def means(self) -> dict:
        return {key: total / max(self.count, 1) for key, total in self.sums.items()}
