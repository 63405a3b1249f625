"""Nested structures of tensors (lists, tuples, dicts) and the Keras mask that rides on a tensor
as ``tensor._keras_mask``."""

from __future__ import annotations

import numpy as np
import torch


def format_shape(shape) -> str:
    if isinstance(shape, list):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def flatten(structure) -> list:
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for key in structure for leaf in flatten(structure[key])]
    return [structure]


def map_structure(fn, structure):
    if isinstance(structure, list):
        return [map_structure(fn, s) for s in structure]
    if isinstance(structure, tuple):
        return tuple(map_structure(fn, s) for s in structure)
    if isinstance(structure, dict):
        return {k: map_structure(fn, v) for k, v in structure.items()}
    return fn(structure)


def shape_of(value):
    """Shapes of a structure of tensors (KerasTensors carry None for unknown sizes)."""
    if isinstance(value, (list, tuple)):
        return [shape_of(v) for v in value]
    return tuple(value.shape)  # a tensor's or a KerasTensor's


def get_mask(value):
    if isinstance(value, (list, tuple)):
        return [get_mask(v) for v in value]
    return getattr(value, "_keras_mask", None)


def set_mask(value, mask) -> None:
    if isinstance(value, (list, tuple)):
        masks = mask if isinstance(mask, (list, tuple)) else [mask] * len(value)
        for v, m in zip(value, masks):
            set_mask(v, m)
    elif isinstance(value, torch.Tensor):
        value._keras_mask = mask


def as_tensor(value):
    """Data given to a layer as a tensor: numpy float64 becomes float32, as Keras' floatx."""
    if value is None or isinstance(value, (torch.Tensor, str, bool)):
        return value
    tensor = torch.as_tensor(np.ascontiguousarray(value))
    return tensor.float() if tensor.dtype == torch.float64 else tensor
