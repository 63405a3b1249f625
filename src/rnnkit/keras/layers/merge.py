"""``Concatenate`` / ``concatenate``: join tensors along one axis."""

from __future__ import annotations

import torch

from rnnkit.keras.engine import Layer, format_shape


class Concatenate(Layer):
    """Concatenate a list of tensors along ``axis``; every other axis must agree.

    A time-step mask survives when the concatenation is along the feature axis: a step is
    valid only where every masked input is valid.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def check_input_shape(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) < 2:
            raise ValueError(
                f'Layer "{self.name}" (Concatenate) expects a list of at least 2 inputs, got input shape '
                f"{format_shape(input_shape) if not isinstance(input_shape, list) else input_shape}."
            )
        ranks = {len(s) for s in input_shape}
        if len(ranks) != 1:
            raise ValueError(
                f'Layer "{self.name}" (Concatenate) requires inputs of the same rank, got inputs with shapes '
                f"{format_shape(input_shape)}."
            )
        rank = ranks.pop()
        axis = self.axis % rank
        for d in range(rank):
            if d == axis or d == 0:
                continue
            sizes = {s[d] for s in input_shape if s[d] is not None}
            if len(sizes) > 1:
                raise ValueError(
                    f'Layer "{self.name}" (Concatenate) requires inputs with matching shapes except for the '
                    f"concatenation axis {self.axis}, got inputs with shapes {format_shape(input_shape)}."
                )

    def call(self, inputs, mask=None, **kwargs):
        return torch.cat(list(inputs), dim=self.axis)

    def compute_output_shape(self, input_shape, **kwargs):
        rank = len(input_shape[0])
        axis = self.axis % rank
        sizes = [s[axis] for s in input_shape]
        out = list(input_shape[0])
        out[axis] = None if any(v is None for v in sizes) else sum(sizes)
        for d in range(rank):
            if d != axis and out[d] is None:
                out[d] = next((s[d] for s in input_shape if s[d] is not None), None)
        return tuple(out)

    def compute_mask(self, inputs, mask=None):
        if mask is None or not isinstance(mask, (list, tuple)) or all(m is None for m in mask):
            return None
        rank = inputs[0].dim()
        if self.axis % rank != rank - 1:
            return None
        present = [m for m in mask if m is not None]
        out = present[0]
        for m in present[1:]:
            out = out & m
        return out

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form: ``concatenate([a, b])``."""
    return Concatenate(axis=axis, **kwargs)(inputs)
