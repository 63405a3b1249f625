"""Nested Python state (optimizer, scheduler and callback state dicts) as JSON plus a flat dict of
tensors for safetensors, so that checkpoints never need pickle.

``encode(obj)`` returns ``(json_value, tensors)``: each tensor is replaced by
``{"__tensor__": key}`` and stored in ``tensors[key]``; tuples become ``{"__tuple__": [...]}``
and dicts with non-string keys ``{"__items__": [[key, value], ...]}``, so ``decode`` restores the
exact types (an optimizer's integer parameter ids, Adam's ``betas`` tuple). Anything else that
JSON cannot hold raises ``TypeError`` naming where it sits.
"""

from __future__ import annotations

import torch

_SCALARS = (str, int, float, bool, type(None))


def encode(obj, prefix: str = "t"):
    tensors: dict[str, torch.Tensor] = {}

    def walk(value, path):
        if isinstance(value, torch.Tensor):
            key = f"{prefix}.{len(tensors)}"
            tensors[key] = value.detach().cpu().contiguous().clone()
            return {"__tensor__": key}
        if isinstance(value, _SCALARS):
            return value
        if isinstance(value, tuple):
            return {"__tuple__": [walk(v, f"{path}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in value):
                return {k: walk(v, f"{path}.{k}") for k, v in value.items()}
            for k in value:
                if not isinstance(k, (str, int, float, bool)):
                    raise TypeError(f"Cannot store {path} in a checkpoint: dict key {k!r} of type {type(k).__name__} is not a "
                                    f"string or number.")
            return {"__items__": [[k, walk(v, f"{path}[{k!r}]")] for k, v in value.items()]}
        if hasattr(value, "item") and hasattr(value, "dtype"):  # numpy scalars
            return value.item()
        raise TypeError(f"Cannot store {path} in a checkpoint without pickle: values of type {type(value).__name__} "
                        f"are not supported (expected tensors, numbers, strings, lists, tuples, dicts).")

    return walk(obj, "state"), tensors


def decode(value, tensors: dict):
    if isinstance(value, list):
        return [decode(v, tensors) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__tensor__"}:
            return tensors[value["__tensor__"]]
        if set(value) == {"__tuple__"}:
            return tuple(decode(v, tensors) for v in value["__tuple__"])
        if set(value) == {"__items__"}:
            return {k: decode(v, tensors) for k, v in value["__items__"]}
        return {k: decode(v, tensors) for k, v in value.items()}
    return value
