"""``Sequential``: a plain stack of layers, each fed the previous one's output.

When the first layer knows its input shape (``input_shape=``, ``batch_input_shape=``,
``Embedding(input_length=)`` or an ``Input`` added first), the model is built at once by a
symbolic pass, so shape mistakes are reported when the model is defined, naming the layer and
the shapes. Otherwise it builds on the first batch it sees, or with ``build(input_shape)``.
"""

from __future__ import annotations

from torch import nn

from rnnkit.keras.engine import InputLayer, KerasTensor, Layer
from rnnkit.keras.models.model import Model


class Sequential(Model):
    def __init__(self, layers=None, name=None, trainable=True):
        Model.__init__(self, name=name, trainable=trainable)
        self.stack = nn.ModuleList()
        self.__dict__["_input_layer"] = None
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self):
        return list(self.stack)

    def add(self, layer) -> None:
        if isinstance(layer, KerasTensor):
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if len(self.stack) or self._input_layer is not None:
                raise ValueError("An Input can only be added to a Sequential model as its first element.")
            self.__dict__["_input_layer"] = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Received an invalid value for Sequential.add: expected a Keras layer, got {type(layer).__name__}."
            )
        self.stack.append(layer)
        shape = self._declared_input_shape()
        if shape is not None:
            self._symbolic_build(shape)

    def pop(self) -> Layer:
        return self.stack.pop(-1) if hasattr(self.stack, "pop") else self.stack[-1]

    def _declared_input_shape(self):
        if self._input_layer is not None:
            return self._input_layer.batch_shape
        if len(self.stack) and self.stack[0]._batch_input_shape is not None:
            return self.stack[0]._batch_input_shape
        return None

    def _symbolic_build(self, batch_shape) -> None:
        x = KerasTensor(batch_shape, name="sequential_input")
        for layer in self.stack:
            x = layer(x)
            if isinstance(x, list):
                raise ValueError(
                    f"Layer {layer.name!r} in a Sequential model returns {len(x)} tensors; Sequential layers must "
                    f"return one (use the functional Model for return_state=True)."
                )
        self.__dict__["_built_shape"] = tuple(batch_shape)
        self.built = True

    def build(self, input_shape=None) -> None:
        """Build every layer for ``input_shape`` (batch axis included, e.g. ``(None, 10)``)."""
        shape = input_shape if input_shape is not None else self._declared_input_shape()
        if shape is None:
            raise ValueError(f"Sequential model {self.name!r} needs an input shape to build, e.g. build((None, 10)).")
        self._symbolic_build(tuple(shape))

    def _maybe_build(self, input_shape, device=None) -> None:
        self.built = True

    def call(self, inputs, mask=None, **kwargs):
        if "_built_shape" not in self.__dict__:
            stateful = any(getattr(layer, "stateful", False) for layer in self.stack)
            self.__dict__["_built_shape"] = (inputs.shape[0] if stateful else None, *inputs.shape[1:])
        x = inputs
        for layer in self.stack:
            x = layer(x)
        return x

    def compute_output_shape(self, input_shape, **kwargs):
        shape = input_shape
        for layer in self.stack:
            shape = layer.compute_output_shape(shape)
        return shape

    def get_config(self):
        from rnnkit.keras.saving import sequential_config

        return sequential_config(self)
