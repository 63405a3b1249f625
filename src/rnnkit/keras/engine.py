"""The Keras-style layer: a ``torch.nn.Module`` that builds its weights from the first input
shape it sees, and that can also be called on symbolic ``KerasTensor``s to wire a model.

Two ways to call a layer:

* on real tensors (eager): the layer builds itself from the tensor's shape on first use and
  runs ``call``; a Keras mask travels with the tensor as ``tensor._keras_mask`` ((B, T) bool),
  so masks from ``Embedding(mask_zero=True)`` or ``Masking`` reach the recurrent layers even in
  a subclassed model;
* on ``KerasTensor``s (from ``Input``): the layer builds from the symbolic shape, checks the
  shapes, infers the output shape with ``compute_output_shape`` and records a ``Node`` that a
  functional ``Model`` later replays.

Shape errors name the layer and the shapes, in Keras' words.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Optional

import torch
from torch import nn

from rnnkit.keras.structure import (as_tensor, flatten, format_shape, get_mask, map_structure,  # noqa: F401
                                   set_mask, shape_of)

_NAME_COUNTS: defaultdict = defaultdict(int)


def unique_name(base: str) -> str:
    """'lstm', 'lstm_1', 'lstm_2', ... as Keras names layers."""
    count = _NAME_COUNTS[base]
    _NAME_COUNTS[base] += 1
    return base if count == 0 else f"{base}_{count}"


def snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


class KerasTensor:
    """A symbolic tensor: a shape with ``None`` for unknown sizes, and the node that made it."""

    def __init__(self, shape, dtype: str = "float32", *, node=None, index: int = 0, name: Optional[str] = None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = dtype
        self.node = node
        self.index = index
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={format_shape(self.shape)}, dtype={self.dtype}, name={self.name}>"


class Node:
    """One call of a layer on symbolic inputs: ``layer(args, **kwargs) -> outputs``."""

    def __init__(self, layer, args, kwargs, outputs):
        self.layer, self.args, self.kwargs, self.outputs = layer, args, kwargs, outputs

    def input_tensors(self) -> list[KerasTensor]:
        return [t for t in flatten((self.args, self.kwargs)) if isinstance(t, KerasTensor)]


class Layer(nn.Module):
    """Base of every Keras-style layer.

    Subclasses implement ``build(input_shape)`` (create weights), ``call(inputs, mask=None,
    **kwargs)``, ``compute_output_shape(input_shape, **kwargs)``, optionally ``compute_mask``,
    ``check_input_shape`` and ``weight_shapes`` (the Keras layout of their weights, used for
    parameter counts, ``get_weights``/``set_weights`` and Keras weight import).
    """

    supports_masking = False  # True: the input mask passes through unchanged

    def __init__(self, *, name: Optional[str] = None, input_shape=None, batch_input_shape=None, batch_size=None,
                 input_dim=None, trainable: bool = True, dtype=None, **kwargs):
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        super().__init__()
        self.name = name if name is not None else unique_name(snake_case(type(self).__name__))
        self.built = False
        self.__dict__["_trainable"] = bool(trainable)
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            self._batch_input_shape = tuple(batch_input_shape)
        elif input_shape is not None:
            self._batch_input_shape = (batch_size, *tuple(input_shape))
        else:
            self._batch_input_shape = None
        self.__dict__["_inbound_nodes"] = []
        self.__dict__["output_shape_seen"] = None

    # ---- to override --------------------------------------------------------------------
    def build(self, input_shape) -> None:
        self.built = True

    def call(self, inputs, mask=None, **kwargs):
        raise NotImplementedError(f"Layer {self.name!r} ({type(self).__name__}) does not implement call().")

    def compute_output_shape(self, input_shape, **kwargs):
        return input_shape

    def compute_mask(self, inputs, mask=None):
        return mask if self.supports_masking else None

    def check_input_shape(self, input_shape) -> None:
        """Raise ValueError naming this layer when ``input_shape`` cannot be consumed."""

    def weight_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """(name, Keras shape) of each Keras weight, in Keras' order."""
        return []

    def get_weights(self) -> list:
        return []

    def set_weights(self, weights) -> None:
        if len(weights):
            raise ValueError(f"Layer {self.name!r} has no weights, got {len(weights)} arrays.")

    # ---- shared machinery ---------------------------------------------------------------
    def incompatible(self, expected: str, shape) -> ValueError:
        return ValueError(
            f'Input 0 of layer "{self.name}" ({type(self).__name__}) is incompatible with the layer: '
            f"expected {expected}, but received input with shape {format_shape(shape)}."
        )

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(
                f"You tried to call `count_params` on layer {self.name!r}, but the layer isn't built. "
                f"Build it first by calling it on data or with `build(input_shape)`."
            )
        total = 0
        for _, shape in self.weight_shapes():
            size = 1
            for d in shape:
                size *= d
            total += size
        return total

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Freeze (False) or unfreeze this layer's weights; takes effect at the next compile()."""
        self.__dict__["_trainable"] = bool(value)
        self._apply_trainable()

    def _apply_trainable(self) -> None:
        def walk(module, trainable):
            for p in module.parameters(recurse=False):
                p.requires_grad_(trainable and not getattr(p, "keras_frozen", False))
            for child in module.children():
                frozen = isinstance(child, Layer) and not child._trainable
                walk(child, trainable and not frozen)

        walk(self, self._trainable)

    def _maybe_build(self, input_shape, device=None) -> None:
        self.check_input_shape(input_shape)
        if not self.built:
            self.build(input_shape)
            self.built = True
            if device is not None and device.type != "cpu":
                self.to(device)
            if not self._trainable:
                self._apply_trainable()

    def forward(self, inputs, **kwargs):
        return self.call(inputs, **kwargs)

    def __call__(self, inputs, *args, **kwargs):
        if args:
            raise TypeError(
                f"Layer {self.name!r} takes its inputs as one argument (a tensor or a list of tensors) and options "
                f"as keywords, got {len(args) + 1} positional arguments."
            )
        if any(isinstance(t, KerasTensor) for t in flatten((inputs, kwargs))):
            return self._symbolic_call(inputs, kwargs)
        return self._eager_call(inputs, kwargs)

    def _eager_call(self, inputs, kwargs):
        inputs = map_structure(as_tensor, inputs)
        first = next((t for t in flatten(inputs) if isinstance(t, torch.Tensor)), None)
        self._maybe_build(shape_of(inputs), None if first is None else first.device)
        mask = kwargs.pop("mask", None)
        if mask is None:
            mask = get_mask(inputs)
            if isinstance(mask, list) and all(m is None for m in mask):
                mask = None
        outputs = nn.Module.__call__(self, inputs, mask=mask, **kwargs)
        out_mask = self.compute_mask(inputs, mask)
        if out_mask is not None:
            set_mask(outputs, out_mask)
        self.__dict__["output_shape_seen"] = map_structure(lambda s: s, _batchless(shape_of(outputs)))
        return outputs

    def _symbolic_call(self, inputs, kwargs):
        shapes = shape_of(inputs)
        self._maybe_build(shapes)
        shape_kwargs = {k: shape_of(v) if isinstance(v, (KerasTensor, list, tuple)) else v for k, v in kwargs.items()}
        out_shape = self.compute_output_shape(shapes, **shape_kwargs)
        node = Node(self, inputs, kwargs, None)
        multi = isinstance(out_shape, list)
        shapes_out = out_shape if multi else [out_shape]
        outputs = [KerasTensor(s, node=node, index=i, name=f"{self.name}_{i}" if multi else self.name)
                   for i, s in enumerate(shapes_out)]
        node.outputs = outputs
        self._inbound_nodes.append(node)
        self.__dict__["output_shape_seen"] = out_shape
        return outputs if multi else outputs[0]

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


def _batchless(shape):
    if isinstance(shape, list):
        return [_batchless(s) for s in shape]
    return (None, *shape[1:]) if len(shape) else shape


class InputLayer(Layer):
    """The layer behind ``Input``: it holds the batch shape and passes its input through."""

    def __init__(self, shape=None, batch_size=None, dtype="float32", batch_shape=None, name=None, sparse=False):
        if batch_shape is None:
            if shape is None:
                raise ValueError("Received an invalid value for argument `shape`: expected a tuple such as (10, 8) "
                                 "(without the batch axis), got None.")
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            batch_shape = (batch_size, *shape)
        super().__init__(name=name if name is not None else unique_name("input_layer"))
        self.batch_shape = tuple(batch_shape)
        self.input_dtype = dtype
        self.built = True
        tensor = KerasTensor(self.batch_shape, dtype=dtype, name=self.name)
        tensor.node = Node(self, None, {}, [tensor])
        self.output = tensor
        self.__dict__["output_shape_seen"] = self.batch_shape

    def call(self, inputs, mask=None, **kwargs):
        return inputs

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self.input_dtype, "name": self.name}


def Input(shape=None, batch_size=None, dtype="float32", batch_shape=None, name=None, sparse=False) -> KerasTensor:
    """A symbolic input: ``Input((timesteps, features))`` or ``Input(batch_shape=(32, 10, 8))``."""
    return InputLayer(shape, batch_size, dtype, batch_shape, name, sparse).output
